"""``blas.small_products``: one BLAS thread while any thread is inside, every thread again
once the last has left, whatever order threads leave in."""

from __future__ import annotations

import numpy as np  # noqa: F401  (loads numpy's OpenBLAS, which threadpoolctl then finds)
from threadpoolctl import threadpool_info, threadpool_limits

from transforms.blas import small_products


def _threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_contexts_left_in_any_order_restore_every_thread():
    with threadpool_limits(limits=2, user_api="blas"):  # two threads even on a 1-core box
        assert _threads() and set(_threads()) == {2}
        first, second = small_products(), small_products()
        first.__enter__()
        second.__enter__()
        assert set(_threads()) == {1}
        first.__exit__(None, None, None)  # the first in leaves first: the second is inside
        assert set(_threads()) == {1}
        second.__exit__(None, None, None)
        assert set(_threads()) == {2}
        with small_products(), small_products():
            assert set(_threads()) == {1}
        assert set(_threads()) == {2}
