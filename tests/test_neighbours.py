"""The k-nearest search pools use (transforms/dedup/similarity.py): exact under its size
threshold, inverted lists (transforms/dedup/ivf.py) from there on. On a small real set (e5
vectors of WMT segments) the lists must find exactly the neighbours all pairs find when every
list is probed, and most of them with a few lists probed, at their exact cosines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transforms.blas import small_products
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


def test_floored_kNN_means_count_each_neighbour_at_least_the_floor(real):
    """``floors``: each of the k nearest counts at least the floor, and missing ones (a side
    with fewer than k items) count as the floor, on both paths of ``cross_knn_means``; each
    side's floor applies to its own rows only (the other side's means stay plain)."""
    left, right = (Neighbours(side) for side in real)
    few = Neighbours(real[1][:3])
    floor = float(np.median(real[0] @ real[1].T))
    for items, k in ((right, 8), (few, 8)):
        found = brute_force(left.items, items.items, min(k, len(items)))[1]
        expected = (np.maximum(found, floor).sum(axis=1) + floor * (k - found.shape[1])) / k
        for rows in (np.arange(len(left)), np.arange(len(left))[::7]):  # one product; searches
            means, theirs = similarity.cross_knn_means(left, items, rows,
                                                       np.arange(len(items)), k, (floor, None))
            assert np.allclose(means, expected[rows], atol=1e-6)
            plain = brute_force(items.items, left.items, k)[1].mean(axis=1)
            assert np.allclose(theirs, plain, atol=1e-6)
        assert (expected > found.mean(axis=1) + 1e-4).any()  # the floor changed some means
    assert np.allclose(similarity.floored_means(np.full((2, 0), -np.inf, np.float32), 8, .8),
                       .8)


def _pool(n: int, new: int, seed: int = 11):
    """PoolDocs of three languages, ``n - new`` earlier ones then ``new``; every third a
    translation (its segments with a little noise) of the one two places before it, the
    others unrelated at e5-like cosines (as bench/dedup_scale.py's)."""
    from transforms.dedup.members import Member
    from transforms.dedup.pools import PoolDoc

    rng = np.random.default_rng(seed)
    dim, common = 64, np.ones(64) / 8.0
    docs, planted = [], set()
    for d in range(n):
        lang = ("en", "de", "fr")[d % 3]
        if d % 3 == 2:
            vectors = docs[d - 2].vectors + rng.normal(scale=0.02, size=docs[d - 2].vectors.shape)
            planted.add((str(d - 2), str(d)))
        else:
            topic = rng.normal(scale=0.5 / 8, size=dim)
            vectors = common + topic + rng.normal(scale=0.45 / 8,
                                                  size=(int(rng.integers(1, 6)), dim))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        member = Member(str(d), 0.0, 0.0, True, True, d < n - new, None, lang)
        docs.append(PoolDoc(member, lang, vectors, frozenset(), 0, True))
    return docs, planted


def test_translations_through_the_lists_with_every_list_probed_are_the_exact_ones(monkeypatch):
    """A later run's pool (earlier articles and new ones) aligned through inverted lists
    (``EXACT_BELOW`` lowered, every list probed, so the lists' answer is the exact one) gives
    the edges of the exact search: list-by-list products, the bounds and the one-thread
    BLAS contexts change how, not what; no pair of two earlier articles is decided again."""
    from transforms.dedup.alignment import translation_edges

    docs, planted = _pool(600, 90)
    config = TranslationConfig()

    def edges():
        return sorted((e.a.article_id, e.b.article_id, e.score)
                      for e in translation_edges(docs, config, None))

    exact = edges()
    monkeypatch.setattr(similarity, "EXACT_BELOW", 100)
    monkeypatch.setattr(similarity, "GRAPH_QUERIES", 0)
    monkeypatch.setattr(ivf, "PROBES", 10_000)
    built = []
    build = ivf.build
    monkeypatch.setattr(ivf, "build", lambda items: built.append(len(items)) or build(items))
    through_lists = edges()
    assert built  # the lists answered
    assert through_lists == exact
    new = {d.member.article_id for d in docs if not d.member.existing}
    found = {tuple(sorted((a, b), key=int)) for a, b, _ in exact}
    assert all(a in new or b in new for a, b in found)
    wanted = {p for p in planted if p[1] in new}
    assert wanted and wanted <= found


def test_mean_vectors_of_a_language_are_each_documents_unit_mean():
    from transforms.dedup.similarity import unit, unit_means

    rng = np.random.default_rng(2)
    docs = [rng.normal(size=(int(n), 16)).astype(np.float32) for n in rng.integers(1, 7, 50)]
    docs[7] = np.zeros((3, 16), np.float32)  # a zero mean stays zero, not NaN
    offsets = np.cumsum([0] + [len(d) for d in docs])
    stacked = np.concatenate(docs)
    means = unit_means([stacked[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)])
    assert np.allclose(means, np.vstack([unit(d.mean(axis=0)) for d in docs]), atol=1e-6)
    assert not means[7].any()


def test_unit_means_of_documents_are_each_documents_unit_mean_across_chunks(monkeypatch):
    from transforms.dedup.similarity import unit, unit_means

    monkeypatch.setattr(similarity, "MEANS_CHUNK", 4)  # several chunks per segment count
    rng = np.random.default_rng(3)
    docs = [rng.normal(size=(int(n), 16)).astype(np.float32) for n in rng.integers(1, 7, 50)]
    docs[11] = np.zeros((2, 16), np.float32)  # a zero mean stays zero, not NaN
    means = unit_means(docs)
    assert means.dtype == np.float32 and means.shape == (50, 16)
    assert np.allclose(means, np.vstack([unit(d.mean(axis=0)) for d in docs]), atol=1e-6)
    assert not means[11].any()
    assert unit_means([]).shape == (0, 0)


def test_small_products_run_blas_on_one_thread_and_give_the_same_answer():
    from threadpoolctl import threadpool_info

    rng = np.random.default_rng(4)
    items = rng.normal(size=(2000, 32)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    lists = ivf.build(items)
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with small_products():
        inside = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        one = ivf._search(lists, items, items[:300], 5)
    assert inside and set(inside) == {1}
    assert [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"] == before  # restored
    threads = ivf._search(lists, items, items[:300], 5)
    assert np.array_equal(np.sort(one[0], axis=1), np.sort(threads[0], axis=1))
    assert np.allclose(np.sort(one[1], axis=1), np.sort(threads[1], axis=1), atol=1e-6)


def test_parts_searched_on_several_threads_give_the_serial_answer(monkeypatch):
    rng = np.random.default_rng(9)
    items = rng.normal(size=(3000, 24)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[:1000] + 0.2 * rng.normal(size=(1000, 24)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    lists = ivf.build(items)
    whole = ivf._search(lists, items, queries, 6)  # one part: every row at once
    monkeypatch.setattr(ivf, "QUERY_CHUNK", 97)  # 11 parts, the last one short
    serial = ivf.search(lists, items, queries, 6, threads=1)
    threaded = ivf.search(lists, items, queries, 6, threads=3)
    # the same parts give the same arrays, row for row, whichever thread ran them
    assert np.array_equal(serial[0], threaded[0]) and np.array_equal(serial[1], threaded[1])
    assert np.array_equal(np.sort(threaded[0], axis=1), np.sort(whole[0], axis=1))
    assert np.allclose(np.sort(threaded[1], axis=1), np.sort(whole[1], axis=1), atol=1e-6)
    assert (threaded[1] > 0).all()  # every row filled in, none left at its zeros


def test_exact_blocks_on_several_threads_give_the_serial_answer(monkeypatch):
    rng = np.random.default_rng(10)
    items = rng.normal(size=(700, 16)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[:450] + 0.3 * rng.normal(size=(450, 16)).astype(np.float32)
    # tiles of 40 rows (the last one short) against 300 items at a time (the last one short)
    monkeypatch.setattr(similarity, "TILE_ROWS", 40)
    monkeypatch.setattr(similarity, "BLOCK_CELLS", 40 * 300)
    answers = []
    for cores in (1, 3):
        monkeypatch.setattr(similarity, "machine_cores", lambda cores=cores: cores)
        neighbours = similarity.Neighbours(items)
        answers.append((*neighbours.top_k(queries, 5), neighbours.knn_mean(queries, 5)))
    (index, value, means), threaded = answers
    for serial, parallel in zip(answers[0], threaded, strict=True):
        assert np.array_equal(serial, parallel)
    sims = queries @ items.T  # and both are the exact answer
    assert np.array_equal(np.sort(index, axis=1), np.sort(np.argsort(-sims, axis=1)[:, :5], axis=1))
    assert np.allclose(means, np.sort(sims, axis=1)[:, -5:].mean(axis=1), atol=1e-6)


def test_kmeans_centroids_are_the_same_on_one_thread_and_on_several():
    """``ivf._kmeans`` runs on faiss's OpenMP threads: the lists (and so which items a query
    meets) must not depend on the machine's cores."""
    import faiss

    rng = np.random.default_rng(13)
    topics = rng.normal(size=(30, 32))
    items = (topics[rng.integers(0, 30, 6000)] + 0.4 * rng.normal(size=(6000, 32)))
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    threads = faiss.omp_get_max_threads()
    centroids = []
    try:
        for count in (1, 2, 3):
            faiss.omp_set_num_threads(count)
            centroids.append(ivf._kmeans(items, 80))
    finally:
        faiss.omp_set_num_threads(threads)
    assert centroids[0].shape == (80, 32)
    assert all(np.array_equal(centroids[0], other) for other in centroids[1:])


def test_heaps_keep_each_rows_k_largest_cosines_and_their_columns():
    """``heaps.Best`` filled a tile at a time (rows and columns offset), and a row subset
    filled with item ids, give what sorting the whole product gives; rows that saw fewer
    than k values are named."""
    from transforms.dedup import heaps

    rng = np.random.default_rng(12)
    sims = rng.normal(size=(30, 500)).astype(np.float32)
    best = heaps.Best(30, 6)
    for start in range(0, 30, 7):
        for first in range(0, 500, 130):
            best.add(sims[start:start + 7, first:first + 130], start, first)
    expected = np.argsort(-sims, axis=1)[:, :6]
    assert np.array_equal(np.sort(best.ids, axis=1), np.sort(expected, axis=1))
    assert np.array_equal(np.sort(best.values, axis=1),
                          np.sort(np.take_along_axis(sims, expected, axis=1), axis=1))
    assert not len(best.short())
    some = heaps.Best(5, 4)
    items = np.array([40, 41, 42], np.int64)  # a list of three items: every row is short
    some.add_rows(np.array([3, 1]), sims[:2, :3], items)
    assert some.short().tolist() == [0, 1, 2, 3, 4]
    assert set(some.ids[3].tolist()) == {40, 41, 42, -1}
    assert np.allclose(np.sort(some.values[1])[-3:], np.sort(sims[1, :3]))


def _heap_in_child(queue) -> None:
    from transforms.dedup import heaps

    best = heaps.Best(300, 8)
    best.add(np.random.default_rng(3).random((300, 20000), np.float32))  # a parallel-sized loop
    queue.put(int((best.ids >= 0).all()))


def test_heaps_work_in_a_forked_worker_after_the_parent_ran_them():
    """OpenMP's threads do not survive a fork: a heap loop in a forked child of a parent
    that ran one hung or crashed (the record pool's workers) until faiss ran on one thread
    there."""
    import multiprocessing

    from transforms.dedup import heaps, ivf

    rng = np.random.default_rng(2)
    items = rng.normal(size=(3000, 16)).astype(np.float32)
    ivf._kmeans(items / np.linalg.norm(items, axis=1, keepdims=True), 30)  # OpenMP teams
    heaps.Best(300, 8).add(rng.random((300, 20000), np.float32))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_heap_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=5) == 1
