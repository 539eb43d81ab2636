"""Nearest-neighbour maths on unit vectors: the one place pools find a document's or a
segment's k nearest.

Under ``EXACT_BELOW`` items the search is exact, block by block (one block of query rows
against all items at a time, so a pool of any size runs in bounded memory): small runs give
exactly the all-pairs result. From ``EXACT_BELOW`` items on, inverted lists (``ivf.py``)
answer instead: all pairs grow with the square of a day's articles, a query against the
lists with the square root of the items. ``Neighbours`` is built once per item set and
queried many times (a language's segments are searched from every other language of the
pool). ``cross_knn_means`` gives the ratio margin's two denominators of a language pair from
one product where both sides are searched exactly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from transforms.dedup import heaps, ivf
from transforms.embedding import machine_cores

#: cells of a similarity block (16 MB of float32, two at once on two cores): pools of any
#: size run in bounded memory
BLOCK_CELLS = 1 << 22
#: query rows of an exact search's tile (``each_block``), against ``BLOCK_CELLS // TILE_ROWS``
#: items at a time: a product of 256 rows runs at ~40 GMAC/s on one core here against ~27 for
#: the ~80 rows of a block of whole rows of 100k items (the items are streamed once a tile)
TILE_ROWS = 256
#: item sets this large get inverted lists; smaller ones are searched exactly. At 20k items
#: of 384 dimensions (bench/dedup_scale.py's vectors) the lists cost 0.19 CPU ms a query and
#: 0.6 s to build, an exact search 0.30-0.38 (0.22 for each direction of
#: ``cross_knn_means``); at 40k 0.17 against 0.57. The HNSW graph used before cost 0.69 ms a
#: query at 125k items and 71 CPU s to build (one thread); the lists ~1.5 s (README Scale)
EXACT_BELOW = 20_000
#: ...and a search of this many query rows or more (fewer are cheaper searched exactly than
#: the lists are built: ~1,000-3,000 exact queries' worth)
GRAPH_QUERIES = 2_000


def blocks(rows: int, cols: int):
    step = max(1, BLOCK_CELLS // max(cols, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def each_block(rows: int, cols: int, work: Callable[[int, int, int, int], None]) -> None:
    """``work(start, stop, first, last)`` for every tile of query rows ``start:stop``
    against columns ``first:last``: a tile of ``TILE_ROWS`` rows and all columns a few at a
    time (ascending), the tiles of rows on every core at once where there are several (each
    product on one BLAS thread). Tiles are a fixed size whatever the cores, so the products
    and their rounding are too, and each row meets its columns in the same order."""
    height = max(1, min(TILE_ROWS, rows))
    width = max(1, BLOCK_CELLS // height)

    def tile_row(start: int) -> None:
        stop = min(rows, start + height)
        for first in range(0, cols, width):
            work(start, stop, first, min(cols, first + width))

    ivf.on_every_core(tile_row, list(range(0, rows, height)), machine_cores())


class Neighbours:
    """Unit vectors to search the nearest of: exactly below ``exact_below`` items, through
    inverted lists (``ivf``) from there on, built (once) by the first search of
    ``min_queries`` rows or more: fewer queries are cheaper searched exactly than the lists
    are built."""

    def __init__(self, items: np.ndarray, exact_below: int | None = None,
                 min_queries: int | None = None):
        self.items = items
        self.exact_below = max(1, EXACT_BELOW if exact_below is None else exact_below)
        self.min_queries = GRAPH_QUERIES if min_queries is None else min_queries
        self.lists = None

    def __len__(self) -> int:
        return len(self.items)

    def searched_exactly(self, queries: int) -> bool:
        """Whether a search of this many query rows is exact (no lists built or to build)."""
        return self.lists is None and not (len(self.items) >= self.exact_below
                                           and queries >= max(1, self.min_queries))

    def top_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar items of every query row: (indices, cosines), in no order."""
        k = min(k, len(self.items))
        if not self.searched_exactly(len(queries)):
            self.lists = self.lists or ivf.build(self.items)
        if self.lists is not None and len(queries) and k:
            return ivf.search(self.lists, self.items, queries, k)
        if not k:
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        best = heaps.Best(len(queries), k)
        each_block(len(queries), len(self.items), lambda start, stop, first, last: best.add(
            queries[start:stop] @ self.items[first:last].T, start, first))
        return best.ids, best.values

    def knn_mean(self, queries: np.ndarray, k: int, floor: float | None = None) -> np.ndarray:
        """Mean cosine of every query row's k most similar items (the ratio margin's
        neighbourhood); with ``floor``, each of the k counts at least ``floor``, missing ones
        (fewer than k items) too (``floored_means``)."""
        found = min(k, len(self.items))
        values = (self.top_k(queries, found)[1] if found and len(queries)
                  else np.zeros((len(queries), 0), np.float32))
        return floored_means(values, k, floor)


def floored_means(values: np.ndarray, k: int, floor: float | None) -> np.ndarray:
    """Means of rows of up to k neighbour cosines (-inf: none), each counting at least
    ``floor`` and the missing ones (k less the columns) as ``floor``; without a floor, the
    plain means of the cosines found (0 where none is).

    A ratio margin is only as good as its neighbourhood: in a day pool of a few documents a
    segment's k nearest on the other side are a few unrelated segments, so that the best of
    them stands out by construction and any two unrelated documents align (on the 1,171
    dev pages, ten such pairs of two-to-twelve-document pools were copy groups). The floor
    stands for the closer neighbours a full day of news would offer; alignment raises it
    where the other side is thin (``alignment._floors``)."""
    if floor is None:
        if not values.shape[1]:
            return np.zeros(len(values), np.float32)
        return values.mean(axis=1, dtype=np.float32)
    rows = np.maximum(values, np.float32(floor)).sum(axis=1, dtype=np.float32)
    return ((rows + np.float32(floor) * (k - values.shape[1])) / k).astype(np.float32)


def cross_knn_means(left: Neighbours, right: Neighbours, rows_left: np.ndarray,
                    rows_right: np.ndarray, k: int,
                    floors: tuple[float | None, float | None] = (None, None),
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Mean cosine of the k most similar ``right`` items of every ``left.items[rows_left]``
    row, and of the k most similar ``left`` items of every ``right.items[rows_right]`` row:
    the ratio margin's two denominators of a language pair. Where both sides are searched
    exactly and the rows are most of each side (a first run: every document is a candidate),
    one blocked product left x right gives both, each block's row and column maxima: 0.58 of
    the CPU of two searches of every row, the same cosines. ``floors``: the left rows' and
    the right rows' floor, each as ``Neighbours.knn_mean``'s."""
    if not (len(rows_left) and len(rows_right) and right.searched_exactly(len(rows_left))
            and left.searched_exactly(len(rows_right))):
        return (right.knn_mean(left.items[rows_left], k, floors[0]),
                left.knn_mean(right.items[rows_right], k, floors[1]))
    both_ways = len(left) * len(right)
    if len(rows_left) * len(right) + len(rows_right) * len(left) < SHARED_PRODUCT * both_ways:
        return (right.knn_mean(left.items[rows_left], k, floors[0]),
                left.knn_mean(right.items[rows_right], k, floors[1]))
    means_left, means_right = _both_ways_means(left.items, right.items, k, floors)
    return means_left[rows_left], means_right[rows_right]


#: ``cross_knn_means`` computes the whole product once when the two searches would multiply
#: this much of it or more: with its column maxima it costs 1.15 searches of every row (CPU
#: seconds on 15k x 15k vectors: 3.2 for the product both ways, 2.8 for one search)
SHARED_PRODUCT = 1.15


def _both_ways_means(a: np.ndarray, b: np.ndarray, k: int,
                     floors: tuple[float | None, float | None] = (None, None),
                     ) -> tuple[np.ndarray, np.ndarray]:
    """kNN means of every row of ``a`` among ``b`` and of every row of ``b`` among ``a``,
    from one product taken a block of ``a``'s rows at a time (bounded memory): each block's
    row maxima are final, its column maxima merge into the k best so far."""
    ka, kb = min(k, len(b)), min(k, len(a))
    means_a = np.zeros(len(a), np.float32)
    best_b = np.full((0, len(b)), -np.inf, np.float32)
    if not ka or not kb:
        return means_a, np.zeros(len(b), np.float32)
    for start, stop in blocks(len(a), len(b)):
        sims = a[start:stop] @ b.T
        means_a[start:stop] = floored_means(heaps.top_k_rows(sims, ka)[1], k, floors[0])
        if len(sims) > kb:
            sims = np.partition(sims, -kb, axis=0)[-kb:]
        best_b = np.vstack([best_b, sims])
        if len(best_b) > kb:
            best_b = np.partition(best_b, -kb, axis=0)[-kb:]
    return means_a, floored_means(best_b.T, k, floors[1])


def top_k(queries: np.ndarray, items: np.ndarray | Neighbours,
          k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar ``items`` of every query row: (indices, cosines). ``items`` may be
    a ``Neighbours`` already built (searched many times)."""
    return _neighbours(items).top_k(queries, k)


def knn_mean(queries: np.ndarray, items: np.ndarray | Neighbours, k: int) -> np.ndarray:
    """Mean cosine of every query row's k most similar items (the ratio margin's
    neighbourhood)."""
    return _neighbours(items).knn_mean(queries, k)


def _neighbours(items: np.ndarray | Neighbours) -> Neighbours:
    return items if isinstance(items, Neighbours) else Neighbours(items)


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


#: documents stacked at once by ``unit_means`` (a chunk of 5-segment e5 documents: ~30 MB)
MEANS_CHUNK = 4096


def unit_means(vectors: list[np.ndarray]) -> np.ndarray:
    """Each matrix's mean row as a unit row (float32; a zero mean stays zero): documents with
    the same number of segments stacked a chunk at once, not a mean and a norm per document
    (a 100k-article story pool spent ~5 CPU s in those two small calls per document)."""
    dim = vectors[0].shape[1] if vectors else 0
    means = np.zeros((len(vectors), dim), np.float32)
    by_count: dict[int, list[int]] = {}
    for position, matrix in enumerate(vectors):
        by_count.setdefault(len(matrix), []).append(position)
    for positions in by_count.values():
        for start in range(0, len(positions), MEANS_CHUNK):
            rows = positions[start:start + MEANS_CHUNK]
            stacked = np.stack([vectors[i] for i in rows])
            means[rows] = stacked.mean(axis=1)
    return unit_rows(means)


def unit_rows(means: np.ndarray) -> np.ndarray:
    """``means``' rows scaled to unit length, in place (zero rows stay zero)."""
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return np.divide(means, norms, out=means, where=norms > 0)


def unit_copy(rows: np.ndarray) -> np.ndarray:
    """``unit_rows`` of a copy of ``rows``, in one pass (the divided rows are the copy)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1).astype(rows.dtype, copy=False)
