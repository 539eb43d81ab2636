"""Inverted lists over unit vectors: the k nearest by inner product among the items of a
few lists only, for pools too large to compare all pairs (``similarity.Neighbours``
decides when).

A day of 100k articles holds 500k segment vectors; all pairs across four languages is ~4e13
multiply-adds and grows with the square of the day. Here the items are clustered once
(spherical k-means, faiss, on a fixed sample with a fixed seed: the same lists every run);
a query is compared with the items of its ``PROBES`` nearest lists only. The comparisons
are done list by list, as one matrix product of the queries probing a list against its
items, not one query at a time, with parts of the queries on every core at once: at 125k
items and as many queries this costs 23 CPU s against ~540 for the exact product, where an
HNSW graph (M 32, efSearch 128) took ~0.45 CPU ms a query plus a single-threaded build
(README Scale). The cosines returned are exact; only *which* items were compared is
approximate (a near neighbour in a list that was not probed is missed).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from transforms.blas import small_products
from transforms.dedup import heaps
from transforms.embedding import machine_cores

T = TypeVar("T")

#: lists per square root of the item count: ~350 lists of ~360 items at 125k items
LISTS_PER_ROOT = 1.0
#: lists searched per query
PROBES = 16
#: k-means iterations and training points per list (faiss's own sampling, fixed seed)
ITERATIONS = 10
POINTS_PER_LIST = 64
SEED = 1234
#: cells of a query x items block held at once
BLOCK_CELLS = 1 << 24


@dataclass
class Lists:
    """Items grouped by their nearest centroid."""

    centroids: np.ndarray  # lists x dim, unit rows
    order: np.ndarray  # item indices, list by list
    bounds: np.ndarray  # list l holds order[bounds[l]:bounds[l + 1]]


def build(items: np.ndarray) -> Lists:
    """Inverted lists over ``items`` (unit rows), the same for the same items every run.
    A list of more than ``SPLIT`` x the mean size is clustered again into lists of about the
    mean size (its items split among them): vectors crowded around one direction
    (near-isotropic noise) otherwise fill a few huge lists that most queries probe."""
    items = np.ascontiguousarray(items, np.float32)
    lists = max(1, min(len(items), round(LISTS_PER_ROOT * np.sqrt(len(items)))))
    centroids = _kmeans(items, lists)
    assign = _nearest_lists(items, centroids, 1)[:, 0]
    sizes = np.bincount(assign, minlength=len(centroids))
    mean = len(items) / len(centroids)
    kept = sizes <= SPLIT * mean
    parts, final = [centroids[kept]], (np.cumsum(kept) - 1)[assign]  # kept lists renumbered
    first = int(kept.sum())
    with small_products():
        for big in np.flatnonzero(~kept).tolist():
            # a big list's items go to the nearest of its own new lists: one product of its
            # items against its few new centroids, not every item against every centroid
            # again (that second assignment cost ~40% of a build at 125k items)
            members = np.flatnonzero(assign == big)
            sub = _kmeans(items[members], int(np.ceil(sizes[big] / mean)))
            parts.append(sub)
            final[members] = first + _nearest_lists(items[members], sub, 1)[:, 0]
            first += len(sub)
    centroids, assign = np.vstack(parts), final
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(len(centroids) + 1))
    return Lists(centroids, order, bounds)


#: lists larger than this many times the mean size are split (``build``)
SPLIT = 2.0


def _kmeans(items: np.ndarray, lists: int) -> np.ndarray:
    faiss = heaps.faiss_here()
    lists = max(1, min(lists, len(items)))
    kmeans = faiss.Kmeans(items.shape[1], lists, niter=ITERATIONS, seed=SEED, spherical=True,
                          max_points_per_centroid=POINTS_PER_LIST, verbose=False)
    # on every core (faiss's OpenMP default): each centroid is summed by one thread over the
    # points in order, so the centroids are bit-identical whatever the threads (1, 2, 3, 4
    # and 7 compared; tests/test_neighbours.py) and a 125k-item training takes 0.57-0.61 s
    # on two cores against 0.99-1.0 on one
    kmeans.train(np.ascontiguousarray(items, np.float32))
    return kmeans.centroids.astype(np.float32)


def _nearest_lists(queries: np.ndarray, centroids: np.ndarray, probes: int) -> np.ndarray:
    """Each query row's ``probes`` most similar centroids (in no order)."""
    probes = min(probes, len(centroids))
    out = np.zeros((len(queries), probes), np.int64)
    step = max(1, BLOCK_CELLS // max(1, len(centroids)))
    for start in range(0, len(queries), step):
        sims = queries[start:start + step] @ centroids.T
        if probes == 1:
            out[start:start + step, 0] = sims.argmax(axis=1)
        else:
            out[start:start + step] = heaps.top_k_rows(sims, probes)[0]
    return out


#: query rows searched as one part (bounded memory: PROBES x k candidates kept per row).
#: Parts are a fixed size, not one per core, so the products (and their rounding) are the
#: same on any machine; they are searched on every core at once (``search``)
QUERY_CHUNK = 1 << 12


def search(lists: Lists, items: np.ndarray, queries: np.ndarray, k: int,
           threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar ``items`` of every query row among its probed lists, as
    (indices, cosines) in no order; a row whose probed lists hold fewer than ``k`` items is
    searched exactly. Parts of ``QUERY_CHUNK`` rows run on ``threads`` threads (default:
    the cores): each is a loop of small products on one BLAS thread, which hold the GIL
    only between products, so a 100k-article pool's searches used one core of two
    before."""
    k = min(k, len(items))
    nearest = np.zeros((len(queries), k), np.int64)
    cosines = np.zeros((len(queries), k), np.float32)
    parts = [slice(start, start + QUERY_CHUNK) for start in range(0, len(queries), QUERY_CHUNK)]

    def part(rows: slice) -> None:
        nearest[rows], cosines[rows] = _search(lists, items, queries[rows], k)

    with small_products():  # a lone part's loop of small products too
        on_every_core(part, parts, threads)
    return nearest, cosines


def on_every_core(work: Callable[[T], None], parts: list[T], threads: int | None = None) -> None:
    """``work(part)`` for every part, on ``threads`` threads (default: the cores) where there
    are several parts, BLAS on one thread each (set once, process-wide, around them all) and
    faiss's heaps too (``heaps.one_thread``);
    a lone part runs here, BLAS as the caller left it. numpy's products and partitions
    release the GIL, so parts of a search scale with the cores."""
    threads = min(len(parts), threads or machine_cores())
    if threads <= 1:
        for one in parts:
            work(one)
        return
    with small_products(), ThreadPoolExecutor(threads, thread_name_prefix="knn",
                                              initializer=heaps.one_thread) as pool:
        for done in [pool.submit(work, one) for one in parts]:
            done.result()  # a part's error is raised here


def _search(lists: Lists, items: np.ndarray, queries: np.ndarray,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """List by list: the queries probing a list against its items in one product, each
    query's best ``k`` so far kept in its heap (``heaps.Best``); a query whose probed lists
    hold fewer than ``k`` items is searched exactly."""
    probes = min(PROBES, len(lists.centroids))
    probe = _nearest_lists(queries, lists.centroids, probes).ravel()
    query_of = np.repeat(np.arange(len(queries)), probes)
    best = heaps.Best(len(queries), k)
    by_list = np.argsort(probe, kind="stable")
    starts = np.searchsorted(probe[by_list], np.arange(len(lists.centroids) + 1))
    for number in range(len(lists.centroids)):
        members = lists.order[lists.bounds[number]:lists.bounds[number + 1]]
        asking = by_list[starts[number]:starts[number + 1]]
        if not len(members) or not len(asking):
            continue
        candidates = items[members]
        step = max(1, BLOCK_CELLS // len(members))
        for start in range(0, len(asking), step):
            rows = query_of[asking[start:start + step]]  # distinct: a query probes a list once
            best.add_rows(rows, queries[rows] @ candidates.T, members)
    short = best.short()
    step = max(1, BLOCK_CELLS // len(items))
    for start in range(0, len(short), step):
        rows = short[start:start + step]
        best.ids[rows], best.values[rows] = heaps.top_k_rows(queries[rows] @ items.T, k)
    return best.ids, best.values
