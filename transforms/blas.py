"""How many threads the BLAS libraries in this process (numpy's OpenBLAS, faiss's own) use
around a piece of work."""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any


@functools.lru_cache(maxsize=1)
def _blas(modules: int):
    """The BLAS libraries loaded (a scan of ~2.5 ms), again whenever more modules are: faiss
    brings its own OpenBLAS besides numpy's, loaded with it."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def small_products() -> contextlib.AbstractContextManager[Any]:
    """A context in which BLAS runs on one thread: for loops of many small products (a
    list's queries against its few hundred items, a chunk of pairs' 5 x 5 segment blocks, a
    spaCy model's layers over a batch of article heads). OpenBLAS's threads spin between
    such products: on 1,000 new documents against 100k earlier ones, two threads cost 4-6x
    the CPU seconds of one (1.3-1.9 against 0.29 for one search of 2,500 queries) and were
    slower in wall time too; large products (the exact blocks, the centroid assignment) keep
    every thread. The limit is the process's: two threads entering and leaving such
    contexts at once may restore each other's (a matter of speed, not of results)."""
    try:
        return _blas(len(sys.modules)).limit(limits=1, user_api="blas")
    except Exception:  # noqa: BLE001 - no BLAS threadpoolctl knows: nothing to limit
        return contextlib.nullcontext()
