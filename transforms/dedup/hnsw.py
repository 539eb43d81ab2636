"""An HNSW graph (faiss) over unit vectors: the k nearest by inner product in about log time
per query, for pools too large to compare all pairs (``similarity.Neighbours`` decides when).

A day of 100k articles holds 500k segment vectors; all pairs across four languages is ~7e13
multiply-adds (an hour on two cores) and grows with the square of the day. A graph costs
n log n to build and log n per query. The graph is built in one thread (faiss's parallel
insertion depends on thread timing, so two runs would build different graphs); queries are
independent of each other and run on every thread faiss is given. The cosines returned are
recomputed from the float32 items (and the k nearest chosen among ``RERANK`` x k found by
the graph), so only *which* neighbours were found is approximate. The graph keeps its own
copy of the items in float16: half the memory of a float32 copy, and a faster search.
"""

from __future__ import annotations

import numpy as np

#: graph degree (neighbours kept per node; 2x on the bottom layer)
CONNECTIVITY = 32
#: candidates kept while inserting (a better graph: fewer misses at a given search effort)
EF_CONSTRUCTION = 128
#: candidates kept while searching: recall of the 8 nearest on e5 vectors and on
#: bench/dedup_scale.py's synthetic ones is in README's Scale section
EF_SEARCH = 128
#: the graph is asked for this many times k and the float32 cosines pick the k: float16
#: distances alone swap near ties at the k-th place
RERANK = 2
#: query rows whose neighbours' cosines are recomputed at once
CHUNK = 4096


def build(items: np.ndarray):
    """An HNSW graph over ``items`` (unit rows), built deterministically (one thread)."""
    import faiss

    index = faiss.IndexHNSWSQ(items.shape[1], faiss.ScalarQuantizer.QT_fp16, CONNECTIVITY,
                              faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(np.ascontiguousarray(items, np.float32))  # fp16 needs no training
    finally:
        faiss.omp_set_num_threads(threads)
    return index


def search(index, items: np.ndarray, queries: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest ``items`` of every query row as (indices, cosines); a row the graph
    returned fewer than ``k`` for is searched exactly."""
    wide = min(len(items), RERANK * k)
    index.hnsw.efSearch = max(EF_SEARCH, wide)
    _, found = index.search(np.ascontiguousarray(queries, np.float32), wide)
    missing = np.flatnonzero((found < 0).any(axis=1))
    if len(missing):
        sims = queries[missing] @ items.T
        found[missing] = np.argpartition(sims, -wide, axis=1)[:, -wide:]
    found = found.astype(np.int64)
    nearest = np.zeros((len(found), k), np.int64)
    cosines = np.zeros((len(found), k), np.float32)
    for start in range(0, len(found), CHUNK):  # bounded memory: wide item rows per query
        rows = slice(start, start + CHUNK)
        sims = np.einsum("qd,qkd->qk", queries[rows], items[found[rows]])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        nearest[rows] = np.take_along_axis(found[rows], top, axis=1)
        cosines[rows] = np.take_along_axis(sims, top, axis=1)
    return nearest, cosines
