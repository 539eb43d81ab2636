"""How many threads the BLAS libraries in this process (numpy's OpenBLAS, faiss's own) use
around a piece of work."""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any


@functools.lru_cache(maxsize=1)
def _blas(modules: int):
    """The BLAS libraries loaded (a scan of ~2.5 ms), again whenever more modules are: faiss
    brings its own OpenBLAS besides numpy's, loaded with it."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _OneThread:
    """One BLAS thread while any thread of the process is inside ``small_products``: the
    limit is set when the first enters and lifted when the last leaves (each context
    restoring what it found would, with two threads leaving in the wrong order, leave the
    process on one thread for good)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limit: Any = None

    def __enter__(self) -> None:
        with self._lock:
            self._inside += 1
            if self._inside == 1:
                try:
                    self._limit = _blas(len(sys.modules)).limit(limits=1, user_api="blas")
                except Exception:  # noqa: BLE001 - no BLAS threadpoolctl knows: no limit
                    self._limit = None

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0 and self._limit is not None:
                self._limit.restore_original_limits()
                self._limit = None


_ONE_THREAD = _OneThread()


def small_products() -> _OneThread:
    """A context in which BLAS runs on one thread: for loops of many small products (a
    list's queries against its few hundred items, a chunk of pairs' 5 x 5 segment blocks, a
    spaCy model's layers over a batch of article heads). OpenBLAS's threads spin between
    such products: on 1,000 new documents against 100k earlier ones, two threads cost 4-6x
    the CPU seconds of one (1.3-1.9 against 0.29 for one search of 2,500 queries) and were
    slower in wall time too; large products (the exact blocks, the centroid assignment) keep
    every thread. The limit is the process's: a large product on another thread while one is
    inside runs on one thread too (a matter of speed, not of results)."""
    return _ONE_THREAD
