"""Models loaded once per process, whatever the runner does with ``DoFn.setup``.

Runners call ``setup`` once per DoFn instance and thread (a Dataflow worker runs many), and
Beam's bundle-based runner once per bundle: a model that takes seconds to load and hundreds of
MB to hold must be built once and shared. ``functools.lru_cache`` alone lets two threads that
miss at once each build a copy, so the build runs under a lock per loader.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def once_per_process(maxsize: int = 1) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: the loader's result per argument tuple, built once under a lock; only the
    ``maxsize`` most recent configurations are held."""

    def wrap(loader: Callable[..., T]) -> Callable[..., T]:
        cached = functools.lru_cache(maxsize=maxsize)(loader)
        lock = threading.Lock()

        @functools.wraps(loader)
        def load(*args, **kwargs):
            with lock:
                return cached(*args, **kwargs)

        load.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return load

    return wrap
