"""Offloads that do not run the task, in place of ``record_pool.on_pool``: what a run meets
when it has no pool, or when a worker died with the task (the launcher must do the work)."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool


def no_pool(fn, *args):
    """An offload that cannot take the task (no pool)."""
    return None


def broken_pool(fn, *args):
    """An offload whose task does not come back (a worker that died)."""
    future = Future()
    future.set_exception(BrokenProcessPool("a worker died"))
    return future
