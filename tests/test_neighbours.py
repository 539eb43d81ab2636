"""The k-nearest search pools use (transforms/dedup/similarity.py): exact under its size
threshold, an HNSW graph (transforms/dedup/hnsw.py) from there on. On a small real set (e5
vectors of WMT segments) the graph must find exactly the neighbours all pairs find."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transforms.dedup import similarity
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


def test_the_graph_finds_the_exact_nearest_on_real_vectors(real):
    queries, items = real
    graph = Neighbours(items, exact_below=0, min_queries=0)
    exact_index, exact_value = brute_force(queries, items, 8)
    index, value = graph.top_k(queries, 8)
    assert graph.graph is not None
    assert [set(row) for row in index.tolist()] == [set(row) for row in exact_index.tolist()]
    assert np.allclose(np.sort(value, axis=1), np.sort(exact_value, axis=1), atol=1e-5)
    assert np.allclose(graph.knn_mean(queries, 8), exact_value.mean(axis=1), atol=1e-5)
    margins_first = Neighbours(items, exact_below=0, min_queries=0)  # kNN means build it too
    assert np.allclose(margins_first.knn_mean(queries, 8), exact_value.mean(axis=1), atol=1e-5)
    assert margins_first.graph is not None


def test_small_sets_are_searched_exactly(real):
    queries, items = real
    assert len(items) < similarity.EXACT_BELOW
    small = Neighbours(items, min_queries=0)
    index, value = similarity.top_k(queries, small, 5)
    assert small.graph is None
    sims = queries @ items.T
    assert np.array_equal(np.take_along_axis(sims, index, axis=1), value)
    assert np.array_equal(np.sort(value, axis=1), np.sort(sims, axis=1)[:, -5:])


def test_one_graph_serves_many_query_sets_and_builds_the_same_every_time():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(3000, 48)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[:400] + rng.normal(scale=0.05, size=(400, 48)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    first, second = (Neighbours(items, exact_below=0, min_queries=100) for _ in range(2))
    few_queries = first.top_k(queries[:99], 6)
    assert first.graph is None  # fewer queries than a graph is worth: searched exactly
    a, b = first.top_k(queries, 6), second.top_k(queries, 6)
    assert first.graph is not None
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # same graph, same answer
    assert np.array_equal(first.top_k(queries[:50], 6)[0], a[0][:50])  # queried again
    assert [set(r) for r in few_queries[0].tolist()] == [set(r) for r in a[0][:99].tolist()]
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
    assert left.graph is None and right.graph is None


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
