"""The k largest values of each row of a similarity block, kept in faiss's heaps.

numpy has no top-k: ``argpartition`` reorders every row of a block to find its k largest
(~5-10 ns a cell), ~35% of a 100k-article pool's search time. A heap of k per query row
compares each cell with the row's k-th best so far and touches it only when it is larger
(~0.3-0.5 ns a cell in faiss's C++ loop: 67 rows x 125k cells in 3 ms against 75-80 for
``argpartition``). The values kept are the block's own cosines, bit for bit; which of
several *equal* values is kept is the first seen (``argpartition`` kept any of them).
"""

from __future__ import annotations

import os
import threading

import numpy as np

#: set in a forked child: OpenMP's threads do not survive a fork (a parallel loop in a
#: child of a parent that ran one hangs or crashes: seen in the record pool's workers), so
#: faiss runs on one thread there, each pool worker being a core of its own
_in_child = False
#: whether this thread's OpenMP count is already one (``one_thread``)
_thread = threading.local()


def _after_fork() -> None:
    global _in_child
    _in_child = True


os.register_at_fork(after_in_child=_after_fork)


def faiss_here():
    """faiss (imported here: ~0.3 s, only pools with vectors pay it), safe to call on this
    thread: on one OpenMP thread in a forked process."""
    import faiss

    if _in_child and not getattr(_thread, "one", False):
        one_thread()
    return faiss


def one_thread() -> None:
    """faiss's loops on this thread only, from a thread that is itself one of several
    working at once or in a forked process (OpenMP's thread count is kept per thread: the
    caller's stays)."""
    import faiss

    faiss.omp_set_num_threads(1)
    _thread.one = True


class Best:
    """The ``k`` largest values seen for each of ``rows`` query rows, with their column
    ids (-1 and the lowest float where a row has seen fewer than ``k``). Rows of one
    ``Best`` may be filled from several threads at once when no two fill the same row."""

    def __init__(self, rows: int, k: int):
        faiss = faiss_here()
        self.values = np.zeros((rows, k), np.float32)
        self.ids = np.zeros((rows, k), np.int64)
        self._heaps = faiss.float_minheap_array_t()  # keeps the maxima: the least on top
        self._heaps.k, self._heaps.nh = k, rows
        self._heaps.val, self._heaps.ids = faiss.swig_ptr(self.values), faiss.swig_ptr(self.ids)
        # an empty heap (what faiss's ``heapify`` writes, without its parallel loop)
        self.values.fill(np.finfo(np.float32).min)
        self.ids.fill(-1)

    def add(self, sims: np.ndarray, first_row: int = 0, first_column: int = 0) -> None:
        """A block of rows ``first_row``.. against columns ``first_column``.. (ids)."""
        if not sims.size or not self.values.shape[1]:
            return
        sims = np.ascontiguousarray(sims, np.float32)
        self._heaps.addn(sims.shape[1], faiss_here().swig_ptr(sims), first_column, first_row,
                         sims.shape[0])

    def add_rows(self, rows: np.ndarray, sims: np.ndarray, ids: np.ndarray) -> None:
        """A block whose i-th row belongs to query row ``rows[i]`` (distinct) and whose
        columns are the items ``ids``."""
        if not sims.size or not self.values.shape[1]:
            return
        faiss = faiss_here()
        sims = np.ascontiguousarray(sims, np.float32)
        rows = np.ascontiguousarray(rows, np.int64)
        ids = np.ascontiguousarray(ids, np.int64)
        self._heaps.addn_query_subset_with_ids(len(rows), faiss.swig_ptr(rows), sims.shape[1],
                                               faiss.swig_ptr(sims), faiss.swig_ptr(ids), 0)

    def short(self) -> np.ndarray:
        """The rows that have seen fewer than ``k`` values."""
        return np.flatnonzero((self.ids < 0).any(axis=1))


def top_k_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest values of a block and their columns: (columns, values), in
    no order."""
    best = Best(len(sims), min(k, sims.shape[1]))
    best.add(sims)
    return best.ids, best.values
