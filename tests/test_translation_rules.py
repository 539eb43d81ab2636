"""The alignment rules of transforms/dedup/alignment.py on constructed vectors (the model is
tested on real text in test_copies.py and test_embedding.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from transforms.dedup import alignment, similarity, stories
from transforms.dedup.alignment import ordered_chain, pair_score, translation_edges
from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import WEAK_TRANSLATION, Member
from transforms.dedup.pools import PoolDoc

RNG = np.random.default_rng(7)
COMMON = np.ones(64) / 8  # sentence embeddings share a large common direction (cosines ~.75)


def sentences(n: int) -> np.ndarray:
    return COMMON + RNG.normal(scale=0.072, size=(n, 64))


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def doc(aid: str, lang: str, vectors: np.ndarray, numbers: tuple[str, ...] = ()) -> PoolDoc:
    member = Member(aid, 0.0, 0.0, True, True, False, None, lang)
    return PoolDoc(member, lang, unit(vectors), frozenset("#" + n for n in numbers), 0, True)


def pool(copy_rows: int, source_numbers, copy_numbers) -> list[PoolDoc]:
    """An English document, its Croatian version sharing ``copy_rows`` of 5 segments, and
    unrelated documents in both languages (the margins' neighbourhood)."""
    source, copy = sentences(5), sentences(5)
    copy[:copy_rows] = source[:copy_rows] + RNG.normal(scale=0.03, size=(copy_rows, 64))
    docs = [doc("en-source", "en", source, source_numbers),
            doc("hr-copy", "hr", copy, copy_numbers)]
    for i in range(12):
        docs.append(doc(f"en-{i}", "en", sentences(5)))
        docs.append(doc(f"hr-{i}", "hr", sentences(5)))
    return docs


def linked(docs: list[PoolDoc]) -> set[tuple[str, str]]:
    """Links of the two documents under test (random distractors may pair among themselves)."""
    return {(e.a.article_id, e.b.article_id)
            for e in translation_edges(docs, TranslationConfig(), None)
            if {"en-source", "hr-copy"} & {e.a.article_id, e.b.article_id}}


def test_converted_units_do_not_veto_a_clear_translation():
    # "130 miles ... 10 miles offshore" became "210 kilometara ... 16 kilometara"
    assert linked(pool(5, ("130", "10"), ("210", "16"))) == {("en-source", "hr-copy")}


def test_disagreeing_numbers_veto_a_borderline_pair():
    assert linked(pool(2, ("130", "10"), ("210", "16"))) == set()
    assert linked(pool(2, ("130", "10"), ("130", "16"))) == {("en-source", "hr-copy")}


def test_one_aligned_segment_of_five_is_not_enough():
    assert linked(pool(1, (), ())) == set()


def margins_with(diagonal: list[float], off: float = 0.95, order: list[int] | None = None):
    """A 5x5 segment-margin matrix: segment i of one document matches segment order[i]."""
    order = order if order is not None else list(range(len(diagonal)))
    sub = np.full((5, 5), off)
    for i, value in enumerate(diagonal):
        sub[i, order[i]] = value
    return sub


def score(sub: np.ndarray) -> float | None:
    a, b = doc("a", "en", sentences(5)), doc("b", "ha", sentences(5))
    return pair_score(sub, a, b, TranslationConfig())


def test_segments_in_order_at_low_margins_are_a_borderline_link():
    in_order = [1.01, 1.0, 1.02, 1.005, 1.01]  # none reaches segment_margin (1.025)
    assert score(margins_with([1.03] * 5)) == 1.0  # clear
    weak = score(margins_with(in_order))
    assert weak is not None and weak < WEAK_TRANSLATION
    # the same matches out of order are chance
    assert score(margins_with(in_order, order=[4, 3, 2, 1, 0])) is None
    # three in order need one strong pair
    assert score(margins_with([1.01, 1.0, 1.02, 0.9, 0.9])) is None
    assert score(margins_with([1.01, 1.0, 1.06, 0.9, 0.9])) is not None


def test_two_segment_documents_need_one_pair_at_the_one_sentence_margin():
    def two(first: float, second: float, longer: int = 3) -> np.ndarray:
        sub = np.full((2, longer), 0.95)
        sub[0, 0], sub[1, 1] = first, second
        return sub

    assert score(two(1.03, 1.03)) == 1.0  # both turns aligned
    assert score(two(1.06, 0.9)) is not None  # one turn, clearly
    assert score(two(1.03, 0.9)) is None  # one turn at the usual margin: chance
    assert score(two(0.99, 0.9)) is None
    # against a five-segment document one turn is a chance match (a list item, a date line)
    assert score(two(1.06, 0.9, longer=5)) is None
    assert score(two(1.03, 1.03, longer=5)) == 1.0


def test_short_documents_of_equal_length_align_at_the_short_pair_margin():
    config = TranslationConfig()
    base = sentences(2)
    near = [doc("a", "en", base), doc("b", "uk", base + RNG.normal(scale=0.01, size=(2, 64)))]
    far = [doc("a", "en", base), doc("b", "uk", RNG.normal(size=(2, 64)))]  # cosine ~0
    between = (config.short_pair_margin + config.short_margin) / 2  # 1.035
    one = np.array([[between]])
    assert pair_score(one, near[0], near[1], config) == 1.0  # two chat turns, one sentence each
    assert pair_score(one, far[0], far[1], config) is None  # vectors apart: the cascade's gate
    assert pair_score(np.array([[between, 0.9]]), near[0], near[1], config) is None  # 1 vs 2
    assert pair_score(np.array([[config.short_margin + 0.01, 0.9]]), near[0], near[1],
                      config) == 1.0
    two = np.array([[between, 0.95], [0.95, 0.99]])  # two turns, one aligned
    assert pair_score(two, near[0], near[1], config) is not None
    assert pair_score(np.array([[config.short_pair_margin - 0.005, 0.95], [0.95, 0.99]]),
                      near[0], near[1], config) is None


def test_ordered_chain():
    assert ordered_chain([]) == 0
    assert ordered_chain([(0, 0), (1, 2), (2, 1), (3, 3)]) == 3
    assert ordered_chain([(0, 4), (1, 3), (2, 2)]) == 1


def test_pools_run_block_by_block_with_the_same_result(monkeypatch):
    queries, items = unit(sentences(23)), unit(sentences(31))
    index, value = similarity.top_k(queries, items, 4)
    sims = queries @ items.T
    assert np.allclose(np.sort(value, axis=1), np.sort(sims, axis=1)[:, -4:], atol=1e-6)
    assert np.allclose(np.take_along_axis(sims, index, axis=1), value, atol=1e-6)
    knn = similarity.knn_mean(queries, items, 4)
    assert np.allclose(knn, np.sort(sims, axis=1)[:, -4:].mean(axis=1), atol=1e-6)
    docs = pool(3, (), ())
    whole = {(e.a.article_id, e.b.article_id, e.score)
             for e in translation_edges(docs, TranslationConfig(), None)}
    found = set(stories.story_edges(docs, TranslationConfig(story_threshold=0.3)))
    assert found
    monkeypatch.setattr(similarity, "BLOCK_CELLS", 40)  # one or two rows per block
    blocked = similarity.top_k(queries, items, 4)
    assert np.array_equal(np.sort(blocked[0], axis=1), np.sort(index, axis=1))
    assert np.allclose(similarity.knn_mean(queries, items, 4), knn, atol=1e-6)
    assert {(e.a.article_id, e.b.article_id, e.score)
            for e in translation_edges(docs, TranslationConfig(), None)} == whole
    assert set(stories.story_edges(docs, TranslationConfig(story_threshold=0.3))) == found
    assert ("en-source", "hr-copy", 0.6) in {(a, b, round(s, 1)) for a, b, s in whole}


def test_a_run_against_earlier_articles_only_scores_pairs_with_new_ones():
    docs = pool(4, (), ())
    earlier = [PoolDoc(d.member._replace(existing=True), d.language, d.vectors, d.anchors,
                       d.day, d.home) if d.member.article_id != "hr-copy" else d for d in docs]
    edges = list(translation_edges(earlier, TranslationConfig(), None))
    assert ("en-source", "hr-copy") in {(e.a.article_id, e.b.article_id) for e in edges}
    assert all(not (e.a.existing and e.b.existing) for e in edges)


def test_the_cascade_names_candidates_and_earlier_articles_stored_with_their_headline_only():
    import dataclasses

    from transforms.dedup.cascade import needs_segments

    def pool_doc(aid: str, lang: str, vectors: np.ndarray, existing: bool = False) -> PoolDoc:
        member = Member(aid, 0.0, 0.0, True, True, existing, aid if existing else None, lang)
        return PoolDoc(member, lang, unit(vectors), frozenset(), 0, True)

    rng = np.random.default_rng(11)

    def far(n: int) -> np.ndarray:  # headline cosines ~.6 to anything else
        return COMMON + rng.normal(scale=0.1, size=(n, 64))

    config = TranslationConfig()
    story = far(5)
    close = story + rng.normal(scale=0.01, size=story.shape)  # its translation
    unrelated = far(5)
    docs = [pool_doc("new-de", "de", close),
            pool_doc("old-en", "en", story[:1], existing=True),  # headline only, stored earlier
            pool_doc("old-fr", "fr", close, existing=True),  # stored with all its segments
            pool_doc("old-cs", "cs", unrelated[:1], existing=True),  # headline only, not close
            pool_doc("new-ja", "ja", far(5))]
    assert float(unit(close)[0] @ unit(story)[0]) >= config.gate_cosine
    assert list(needs_segments(docs, config)) == ["new-de", "old-en"]
    # with the cascade off every new article is a candidate (a stream); earlier articles only
    # when close, as above
    off = dataclasses.replace(config, cascade=False)
    assert list(needs_segments(docs, off)) == ["new-de", "new-ja", "old-en"]
    assert list(needs_segments(docs[4:], off)) == ["new-ja"]  # alone in its pool
    assert list(needs_segments(docs[4:], config)) == []
    assert list(needs_segments(docs[1:4], config)) == []  # no new article: nothing to decide
    # the nearest headlines are searched per language: an earlier article's translation
    # counts however many closer headlines the new article's own language holds
    crowd = [pool_doc(f"old-de-{n}", "de", close + rng.normal(scale=0.002, size=close.shape),
                      existing=True) for n in range(config.candidates + 2)]
    assert list(needs_segments([docs[0], docs[1], *crowd], config)) == ["new-de", "old-en"]


def test_the_cascade_story_gate_needs_more_than_a_close_headline():
    """Headlines of one language lie close whatever they report (a raw cosine gate passed
    them all); two reports of one event share their centred direction and rare names."""
    from transforms.dedup.cascade import needs_segments

    rng = np.random.default_rng(5)
    config = TranslationConfig()
    common = np.ones(384) / np.sqrt(384)
    n = config.story_min_pool + 4
    heads = unit_rows(common + rng.normal(scale=0.02, size=(n, 384)))
    heads[1] = unit_rows(heads[0] + rng.normal(scale=0.01, size=384))[0]  # the same event
    names = [("obm", "brln", f"x{k}") for k in range(2)] + [(f"y{k}",) for k in range(n - 2)]
    docs = [PoolDoc(Member(f"a{k:02d}", 0.0, 0.0, True, True, False, None, "en"), "en",
                    heads[k:k + 1], frozenset(), 0, True, names[k]) for k in range(n)]
    raw = heads @ heads.T
    assert raw[np.triu_indices(n, 1)].min() >= 0.82  # what the raw same-language gate took
    assert list(needs_segments(docs, config)) == ["a00", "a01"]


def test_the_story_gate_of_a_thin_day_takes_headlines_that_share_rare_names():
    """A pool too small to centre (under story_min_pool) cannot tell an event from a topic by
    the headline alone: different outlets' headlines of one event stay under the stories' raw
    threshold (BASIL's thin days). Headlines close by ``gate_small_cosine`` that share names
    the rest of the pool does not are candidates; as close headlines without them are not."""
    from transforms.dedup.cascade import needs_segments

    rng = np.random.default_rng(7)
    config = TranslationConfig()
    n = config.story_min_pool - 4
    common = np.ones(384) / np.sqrt(384)
    heads = unit_rows(common + rng.normal(scale=0.02, size=(n, 384)))
    for k in (1, 3):  # a00-a01 one event, a02-a03 two stories on one topic
        heads[k] = unit_rows(heads[k - 1] + rng.normal(scale=0.026, size=384))[0]
    names = [("bck", "cpc", "x0"), ("bck", "cpc", "x1"), ("ttl",), ("ttl2",),
             *[(f"y{k}",) for k in range(n - 4)]]
    docs = [PoolDoc(Member(f"a{k:02d}", 0.0, 0.0, True, True, False, None, "en"), "en",
                    heads[k:k + 1], frozenset(), 0, True, names[k]) for k in range(n)]
    raw = heads @ heads.T
    for a, b in ((0, 1), (2, 3)):
        assert config.gate_small_cosine <= raw[a, b] < config.story_raw_threshold
    assert list(needs_segments(docs, config)) == ["a00", "a01"]
    # without shared names nothing in the pool is a candidate
    bare = [dataclasses.replace(d, names=()) for d in docs]
    assert list(needs_segments(bare, config)) == []
    # a headline at the stories' raw threshold is a candidate without names
    heads[3] = unit_rows(heads[2] + rng.normal(scale=0.005, size=384))[0]
    near = [dataclasses.replace(d, vectors=heads[k:k + 1]) for k, d in enumerate(bare)]
    assert list(needs_segments(near, config)) == ["a02", "a03"]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.atleast_2d(vectors)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def every_pair_scored(docs: list[PoolDoc], config: TranslationConfig) -> set[tuple[str, str]]:
    """The alignment without its shortcuts: exact kNN means of every segment (floored, at the
    thin floor where the other side has fewer documents than k), every candidate pair (each
    new document's nearest by mean vector, both ways) scored by ``pair_score``, mutual best
    pairs kept."""
    from transforms.dedup.pools import pair_allowed

    en, hr = ([d for d in docs if d.language == lang] for lang in ("en", "hr"))
    seg = [np.vstack([d.vectors for d in side]) for side in (en, hr)]
    k = config.neighbours

    def knn_means(mine: np.ndarray, theirs: np.ndarray, their_docs: int) -> np.ndarray:
        best = np.sort(mine @ theirs.T, axis=1)[:, -k:]
        floor = config.margin_floor if their_docs >= k else config.thin_margin_floor
        if floor is None:
            return best.mean(axis=1)
        return (np.maximum(best, floor).sum(axis=1) + floor * (k - best.shape[1])) / k

    knn = [knn_means(seg[0], seg[1], len(hr)), knn_means(seg[1], seg[0], len(en))]
    means = [unit(np.vstack([d.vectors.mean(axis=0) for d in side])) for side in (en, hr)]
    sims = means[0] @ means[1].T
    pairs = {(i, int(j)) for i in range(len(en))
             for j in np.argsort(-sims[i])[:config.candidates]}
    pairs |= {(int(i), j) for j in range(len(hr))
              for i in np.argsort(-sims[:, j])[:config.candidates]}
    scores = {}
    for i, j in pairs:
        if not pair_allowed(en[i], hr[j], config):
            continue
        rows, cols = np.arange(5 * i, 5 * i + 5), np.arange(5 * j, 5 * j + 5)
        sub = (seg[0][rows] @ seg[1][cols].T) / ((knn[0][rows, None] + knn[1][None, cols]) / 2)
        found = pair_score(sub, en[i], hr[j], config)
        if found is not None:
            scores[(i, j)] = found + 0.001 * float(means[0][i] @ means[1][j])
    best_en = {i: max((s, j) for (a, j), s in scores.items() if a == i) for i, _ in scores}
    best_hr = {j: max((s, i) for (i, b), s in scores.items() if b == j) for _, j in scores}
    return {(en[i].member.article_id, hr[j].member.article_id)
            for i, (_, j) in best_en.items() if best_hr[j][1] == i}


def translated_pool(n: int, seed: int = 11) -> list[PoolDoc]:
    """n English documents of 5 segments and n Croatian ones, each sharing 0 (unrelated) to 5
    translated segments with its English one, at a little noise."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        source = sentences(5)
        docs.append(doc(f"en-{i}", "en", source, ("1", "2")))
        copy = sentences(5)
        shared = int(rng.integers(0, 6))  # 0 (unrelated) to 5 segments translated
        noise = rng.choice([0.02, 0.05, 0.08])
        copy[:shared] = source[:shared] + rng.normal(scale=noise, size=(shared, 64))
        docs.append(doc(f"hr-{i}", "hr", copy, ("1", "2")))
    return docs


def pairs_found(docs: list[PoolDoc], config: TranslationConfig) -> set[tuple[str, str]]:
    return {(e.a.article_id, e.b.article_id) for e in translation_edges(docs, config, None)}


@pytest.mark.parametrize(("pair_chunk", "size"), [(4096, 150), (16, 150), (4096, 6)])
def test_the_bounded_alignment_finds_what_scoring_every_candidate_finds(pair_chunk, size,
                                                                        monkeypatch):
    """Pairs are dropped on upper bounds of their margins and kNN means computed only for
    the rest (alignment._lower_bounds, _may_score): the edges must be those of scoring every
    candidate pair with exact kNN means, on a pool with clear, borderline and chance pairs
    (and on a thin one, whose means are floored); with chunks of 16 pairs the two sides'
    bounds are merged on two threads, chunk by chunk."""
    monkeypatch.setattr(alignment, "PAIR_CHUNK", pair_chunk)
    docs = translated_pool(size)
    config = TranslationConfig()
    expected = every_pair_scored(docs, config)
    assert len(expected) > size // 8 and pairs_found(docs, config) == expected


def test_the_thin_floor_applies_only_where_the_other_side_is_thin():
    """A side of k (8) documents or more is a real neighbourhood: its kNN means are not
    given the thin floor, so even an absurd one changes no edge there; a side of fewer is,
    so that floor (above every cosine: no margin reaches even the chain rule's 0.995)
    leaves no edge."""
    config = dataclasses.replace(TranslationConfig(), margin_floor=None)
    absurd = dataclasses.replace(config, thin_margin_floor=1.01)
    unfloored = dataclasses.replace(config, thin_margin_floor=None)
    full = translated_pool(config.neighbours, seed=13)
    assert pairs_found(full, absurd) == pairs_found(full, unfloored) != set()
    thin = translated_pool(config.neighbours - 1, seed=13)
    assert pairs_found(thin, unfloored) and not pairs_found(thin, absurd)
    one_thin = [d for d in full if d.language == "en" or d.member.article_id < "hr-7"]
    assert len(one_thin) == 2 * config.neighbours - 1  # the Croatian side thin, English not
    assert pairs_found(one_thin, unfloored) != pairs_found(one_thin, absurd)


@pytest.mark.parametrize("floor", [None, 0.82])
def test_bounds_merged_on_two_threads_equal_the_serial_ones_and_stay_below_the_knn_means(
        floor, monkeypatch):
    """``alignment._lower_bounds``: kNN means among a sample plus the paired documents'
    segments, never above the exact kNN means (else pairs are dropped wrongly), floored as
    they are; the two sides merged on two threads (chunks of 16 pairs) give the serial
    arrays exactly."""
    rng = np.random.default_rng(12)
    docs = [doc(f"{lang}-{i}", lang, sentences(int(rng.integers(2, 6))))
            for lang, count in (("en", 140), ("hr", 110)) for i in range(count)]
    sl, sr = (alignment._Side([d for d in docs if d.language == lang]) for lang in ("en", "hr"))
    left = rng.integers(0, len(sl.docs), 600)
    right = rng.integers(0, len(sr.docs), 600)
    config = TranslationConfig(margin_floor=floor)
    monkeypatch.setattr(alignment, "BOUND_SAMPLE", 64)  # the merges decide most bounds
    monkeypatch.setattr(alignment, "PAIR_CHUNK", 4096)
    serial = alignment._lower_bounds(sl, sr, left, right, config)
    monkeypatch.setattr(alignment, "PAIR_CHUNK", 16)
    threaded = alignment._lower_bounds(sl, sr, left, right, config)
    k = config.neighbours
    for ours, side, other, mine in ((serial[0], sl, sr, left), (serial[1], sr, sl, right)):
        rows = np.concatenate([side.rows(d) for d in np.unique(mine).tolist()])
        low = -np.inf if floor is None else floor
        exact = np.maximum(np.sort(side.segments[rows] @ other.segments.T, axis=1)[:, -k:],
                           low).mean(axis=1)
        assert (ours[rows] <= exact + 1e-6).all()
        assert floor is None or (ours[rows] >= floor - 1e-6).all()
        step = -(-len(other.segments) // 64)
        sampled = np.maximum(np.sort(side.segments[rows] @ other.segments[::step].T,
                                     axis=1)[:, -k:], low).mean(axis=1)
        assert (ours[rows] > sampled + 1e-6).mean() > 0.1  # the pairs' merge raised them
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded, strict=True))
