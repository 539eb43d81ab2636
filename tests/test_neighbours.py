"""The k-nearest search pools use (transforms/dedup/similarity.py): exact under its size
threshold, inverted lists (transforms/dedup/ivf.py) from there on. On a small real set (e5
vectors of WMT segments) the lists must find exactly the neighbours all pairs find when every
list is probed, and most of them with a few lists probed, at their exact cosines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transforms.dedup import ivf, similarity
from transforms.dedup.config import TranslationConfig
from transforms.dedup.segments import segments
from transforms.dedup.similarity import Neighbours
from transforms.embedding import load_embedder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, np.ndarray]:
    """e5 vectors of the segments of the WMT fixtures (Hausa, Japanese, English and the
    slice's languages): queries are one half, items the other."""
    texts = []
    for name in ("wmt_ha_ja.jsonl", "wmt_en_stories.jsonl", "wmt_slice.jsonl"):
        for line in (FIXTURES / name).open(encoding="utf-8"):
            texts += segments(None, json.loads(line)["text"], TranslationConfig())
    vectors = load_embedder("e5").embed(texts[:240])
    assert len(vectors) == 240
    return vectors[::2], vectors[1::2]


def brute_force(queries: np.ndarray, items: np.ndarray, k: int):
    sims = queries @ items.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_every_list_probed_finds_the_exact_nearest_on_real_vectors(real):
    queries, items = real
    lists = Neighbours(items, exact_below=0, min_queries=0)
    exact_index, exact_value = brute_force(queries, items, 8)
    index, value = lists.top_k(queries, 8)
    assert lists.lists is not None
    assert [set(row) for row in index.tolist()] == [set(row) for row in exact_index.tolist()]
    assert np.allclose(np.sort(value, axis=1), np.sort(exact_value, axis=1), atol=1e-5)
    assert np.allclose(lists.knn_mean(queries, 8), exact_value.mean(axis=1), atol=1e-5)
    margins_first = Neighbours(items, exact_below=0, min_queries=0)  # kNN means build it too
    assert np.allclose(margins_first.knn_mean(queries, 8), exact_value.mean(axis=1), atol=1e-5)
    assert margins_first.lists is not None


def test_probing_a_few_lists_finds_most_neighbours_at_their_exact_cosines(real, monkeypatch):
    """With 3 of the ~11 lists probed a query misses some neighbours, never invents one: the
    cosines are the exact ones of the items returned, so a kNN mean can only come out lower
    than the exact one, and a query's own item (a copy of it among the items) is found."""
    queries, items = real
    monkeypatch.setattr(ivf, "PROBES", 3)
    lists = Neighbours(items, exact_below=0, min_queries=0)
    index, value = lists.top_k(queries, 8)
    assert len(lists.lists.centroids) > ivf.PROBES
    assert np.allclose(np.einsum("qd,qkd->qk", queries, items[index]), value, atol=1e-6)
    exact_index, exact_value = brute_force(queries, items, 8)
    found = np.mean([len(set(a) & set(b)) / 8
                     for a, b in zip(index.tolist(), exact_index.tolist(), strict=True)])
    assert 0.3 < found < 1.0  # approximate, and not far off (0.66 on these 120 vectors)
    assert (value.mean(axis=1) <= exact_value.mean(axis=1) + 1e-6).all()
    copies = Neighbours(np.vstack([items, queries]), exact_below=0, min_queries=0)
    own = copies.top_k(queries, 1)[0][:, 0]
    assert (own == len(items) + np.arange(len(queries))).all()


def test_crowded_vectors_get_lists_of_even_size():
    """Vectors crowded around one direction (the bench's synthetic segments) would fill a few
    huge lists; those are clustered again, so no list holds far more than the mean."""
    rng = np.random.default_rng(5)
    items = np.ones((4000, 32), np.float32) + rng.normal(scale=0.2, size=(4000, 32))
    items[:3000] += 3 * np.eye(32, dtype=np.float32)[0]  # three quarters in one crowd
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    lists = ivf.build(items)
    sizes = np.diff(lists.bounds)
    assert sizes.sum() == len(items) and sorted(lists.order.tolist()) == list(range(4000))
    assert sizes.max() <= 3 * len(items) / len(sizes)


def test_small_sets_are_searched_exactly(real):
    queries, items = real
    assert len(items) < similarity.EXACT_BELOW
    small = Neighbours(items, min_queries=0)
    index, value = similarity.top_k(queries, small, 5)
    assert small.lists is None
    sims = queries @ items.T
    assert np.array_equal(np.take_along_axis(sims, index, axis=1), value)
    assert np.array_equal(np.sort(value, axis=1), np.sort(sims, axis=1)[:, -5:])


def test_one_index_serves_many_query_sets_and_builds_the_same_every_time():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(3000, 48)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[:400] + rng.normal(scale=0.05, size=(400, 48)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    first, second = (Neighbours(items, exact_below=0, min_queries=100) for _ in range(2))
    few_queries = first.top_k(queries[:99], 6)
    assert first.lists is None  # fewer queries than lists are worth: searched exactly
    a, b = first.top_k(queries, 6), second.top_k(queries, 6)
    assert first.lists is not None
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # same lists, same answer
    assert np.array_equal(first.top_k(queries[:50], 6)[0], a[0][:50])  # queried again
    exact = [set(r) for r in few_queries[0].tolist()]  # most of the exact neighbours found
    found = [len(e & set(r)) / 6 for e, r in zip(exact, a[0][:99].tolist(), strict=True)]
    assert np.mean(found) > 0.8
    assert (a[0] == np.arange(400)[:, None]).any(axis=1).all()  # each query's source found
    few = Neighbours(items[:40], exact_below=0, min_queries=0)
    assert [set(row) for row in few.top_k(queries, 40)[0].tolist()] == [set(range(40))] * 400


def test_a_language_pair_gets_both_margins_from_one_product(real):
    """cross_knn_means: both directions from one blocked product (every row a candidate),
    or two searches (few rows); either way the cosines of two exact searches."""
    left, right = (Neighbours(side) for side in real)
    every_left, every_right = np.arange(len(left)), np.arange(len(right))
    some_left, some_right = every_left[::7], every_right[3::11]
    for k in (8, len(right) + 5):  # more neighbours than the other side holds: all of them
        expected_left = brute_force(left.items, right.items, min(k, len(right)))[1].mean(axis=1)
        expected_right = brute_force(right.items, left.items, min(k, len(left)))[1].mean(axis=1)
        for rows_left, rows_right in ((every_left, every_right), (some_left, some_right)):
            means_left, means_right = similarity.cross_knn_means(left, right, rows_left,
                                                                 rows_right, k)
            assert np.allclose(means_left, expected_left[rows_left], atol=1e-6)
            assert np.allclose(means_right, expected_right[rows_right], atol=1e-6)
    assert left.lists is None and right.lists is None


def test_the_shared_product_runs_in_bounded_blocks(real, monkeypatch):
    """A block of fewer rows than k still merges its column maxima right."""
    left, right = (Neighbours(side) for side in real)
    monkeypatch.setattr(similarity, "BLOCK_CELLS", 3 * len(right))  # 3 rows a block, k 8
    means_left, means_right = similarity.cross_knn_means(
        left, right, np.arange(len(left)), np.arange(len(right)), 8)
    assert np.allclose(means_left, brute_force(left.items, right.items, 8)[1].mean(axis=1),
                       atol=1e-6)
    assert np.allclose(means_right, brute_force(right.items, left.items, 8)[1].mean(axis=1),
                       atol=1e-6)
