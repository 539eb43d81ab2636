"""Story linking rules of transforms/dedup/stories.py on constructed vectors (no runner, no
model; real text is tested in test_copies.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import Member
from transforms.dedup.pools import PoolDoc
from transforms.dedup.similarity import unit_rows
from transforms.dedup.stories import (
    attach_lone_reports,
    average_linkage,
    name_vectors,
    resolve_stories,
    story_edges,
    story_pair_allowed,
    story_vectors,
)

RNG = np.random.default_rng(3)
COMMON = np.ones(64) / 8


def doc(aid: str, vectors: np.ndarray, day: int = 0, home: bool = True,
        names: tuple[str, ...] = (), existing: bool = False) -> PoolDoc:
    member = Member(aid, float(day), 0.0, True, True, existing, None, "en")
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return PoolDoc(member, "en", rows, frozenset(), day, home, names)


def topic(noise: float = 0.0, base: np.ndarray | None = None) -> np.ndarray:
    """Three segment vectors around one topic direction (``base``) plus noise."""
    base = RNG.normal(size=64) if base is None else base
    return COMMON + 0.1 * base + RNG.normal(scale=noise, size=(3, 64)) * 0.1


def background(n: int, day: int = 0) -> list[PoolDoc]:
    return [doc(f"bg-{day}-{i}", topic(1.0)) for i in range(n)]


def pool_of(pair_days: tuple[int, int], noise: float) -> list[PoolDoc]:
    """Two reports of one event (``pair_days`` apart, the later one a guest of the earlier
    day's pool) among unrelated documents."""
    event = RNG.normal(size=64)
    first, second = pair_days
    return [doc("a", topic(noise, event), first),
            doc("b", topic(noise, event), second, home=second == first),
            *background(40)]


def linked(docs: list[PoolDoc], config: TranslationConfig) -> bool:
    stories = resolve_stories(story_edges(docs, config))
    return "a" in stories and stories.get("a") == stories.get("b")


def test_a_pair_is_decided_once_in_the_pool_of_its_earlier_day():
    config = TranslationConfig(story_window_days=3)
    v = topic()
    home, guest = doc("a", v, 10), doc("b", v, 12, home=False)
    assert story_pair_allowed(home, guest, config) and story_pair_allowed(guest, home, config)
    assert not story_pair_allowed(doc("a", v, 10, home=False), guest, config)  # two guests
    assert not story_pair_allowed(home, doc("b", v, 14, home=False), config)  # beyond
    assert not story_pair_allowed(doc("a", v, 10, existing=True),
                                  doc("b", v, 10, existing=True), config)  # decided before
    assert not story_pair_allowed(home, guest, TranslationConfig(story_window_days=1))


def test_reports_days_apart_join_within_the_story_window_only():
    docs = pool_of((0, 3), noise=0.3)
    assert linked(docs, TranslationConfig(story_window_days=3))
    assert not linked(docs, TranslationConfig(story_window_days=2))


def look_alike_events(size: int) -> np.ndarray:
    """Two events of one kind (a shared topic direction), ``size`` reports each: reports of
    one event at cosine ~.8, of the other event at ~.45."""
    topic_direction, first, second = np.eye(3)
    rows = [0.67 * topic_direction + 0.74 * event + RNG.normal(scale=0.15, size=3)
            for event in (first, second) for _ in range(size)]
    padded = np.hstack([np.array(rows), RNG.normal(scale=0.05, size=(2 * size, 5))])
    return padded / np.linalg.norm(padded, axis=1, keepdims=True)


def test_two_tight_look_alike_events_stay_apart_though_their_average_passes():
    vectors = look_alike_events(6)
    links = [(i, j) for i in range(12) for j in range(i + 1, 12)]
    cross = float((vectors[:6] @ vectors[6:].T).mean())
    assert 0.3 < cross < 0.6
    merged = average_linkage(vectors, links, threshold=0.3)
    assert len(set(merged)) == 1  # average linkage alone joins the two events
    apart = average_linkage(vectors, links, threshold=0.3, cohesion=0.7, tight=5)
    assert len(set(apart[:6])) == len(set(apart[6:])) == 1 and apart[0] != apart[6]
    # small clusters are not held to it: one report joins a cluster on the average alone
    few = average_linkage(look_alike_events(2), [(0, 1), (1, 2), (2, 3)], threshold=0.3,
                          cohesion=0.7, tight=5)
    assert len(set(few)) == 1


def test_numbers_a_text_names_tell_look_alike_events_apart():
    """Two elections in one country five years apart: the same names, other years."""
    v = topic()
    docs = [doc(f"{year}-{i}", v, names=("trkmn", "mjls"))
            for year in (2008, 2013) for i in range(2)]
    docs = [dataclasses.replace(d, anchors=frozenset({"#" + d.member.article_id[:4]}))
            for d in docs] + [doc(f"bg-{i}", topic(1.0), names=(f"n{i}", "trkmn"))
                              for i in range(8)]
    plain, numbered = name_vectors(docs), name_vectors(docs, numbers=True)
    assert plain[0] @ plain[2] == plain[0] @ plain[1]
    assert numbered[0] @ numbered[1] > numbered[0] @ numbered[2] + 0.3


def spread_story_with_lone_reports() -> np.ndarray:
    """Unit vectors with set cosines: six reports of one story at .55 to each other; ``r``
    (row 6) at .5 to the first of them and .28 to the rest (its average to the story .317,
    under a .36 threshold); ``d`` (row 7) at .4 to the first and .1 to the rest (average .15);
    ``e`` and ``f`` (rows 8, 9) at .5 to each other only."""
    gram = np.full((10, 10), 0.0)
    gram[:6, :6] = 0.55
    gram[6, :6] = gram[:6, 6] = 0.28
    gram[7, :6] = gram[:6, 7] = 0.1
    gram[6, 0] = gram[0, 6] = 0.5
    gram[7, 0] = gram[0, 7] = 0.4
    gram[8, 9] = gram[9, 8] = 0.5
    np.fill_diagonal(gram, 1.0)
    return np.linalg.cholesky(gram)


def test_a_lone_report_joins_the_spread_story_its_nearest_report_is_in():
    vectors = spread_story_with_lone_reports()
    links = [(i, j) for i in range(6) for j in range(i + 1, 6)] + [(0, 6), (0, 7), (8, 9)]
    labels = average_linkage(vectors, links, threshold=0.36, cohesion=0.7, tight=5)
    assert len(set(labels[:6])) == 1 and labels[6] != labels[0]  # the average falls short
    attached = attach_lone_reports(vectors, links, labels, 0.36, 0.8, range(10))
    assert attached[6] == attached[0]  # .5 to one member, .317 >= .8 x .36 on average
    assert attached[7] not in (attached[0], attached[6])  # one close member, the rest far
    assert attached[8] == attached[9] != attached[0]  # a pair is linkage's own decision
    # an earlier run's article is never moved; without the rule nothing moves
    assert attach_lone_reports(vectors, links, labels, 0.36, 0.8, [7, 8, 9]) == labels
    assert attach_lone_reports(vectors, links, labels, 0.36, 0.9, range(10)) == labels


def test_story_vectors_of_given_headlines_are_those_of_the_documents_cut_to_them():
    """The cascade passes the pool's headline rows as ``means`` instead of a one-segment copy
    of every document: the same vectors and threshold, and not the mean-segment ones."""
    config = TranslationConfig()
    docs = [dataclasses.replace(d, names=("obm", "brln") if i % 3 else ("mrkl",))
            for i, d in enumerate(pool_of((0, 0), 0.3) + background(config.story_min_pool))]
    cut = [dataclasses.replace(d, vectors=d.vectors[:1]) for d in docs]
    heads = unit_rows(np.stack([d.vectors[0] for d in docs]).astype(np.float32))
    given, threshold = story_vectors(docs, config, heads)
    expected, expected_threshold = story_vectors(cut, config)
    assert threshold == expected_threshold == config.story_threshold
    np.testing.assert_array_equal(given, expected)
    assert not np.allclose(given, story_vectors(docs, config)[0])
