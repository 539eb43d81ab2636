"""One request at a time per host, spaced by the host delay (or the site's Crawl-delay).

The delay is counted from the end of the previous request to that host, so a slow answer does
not shorten the pause the server sees.

The pacer is shared by every client of a worker process (feeds, sitemaps, robots.txt and pages),
so two threads or two batches of one host in one process still take turns. Each host has its own
lock, held for the duration of that host's request only: a slow host never stalls another.
Across worker *processes* there is no coordination; ``FetchPages`` keeps a host's URLs in one
batch per ``batch_size`` URLs, so only a host with more URLs than that can see two workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class HostPacer:
    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()  # guards the two dicts only, never held across I/O
        self._host_locks: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}

    @contextmanager
    def turn(self, host: str, delay: float) -> Iterator[None]:
        """Waits until ``host`` may be asked again, then holds the host's turn for one request."""
        with self._lock:
            host_lock = self._host_locks.setdefault(host, threading.Lock())
        with host_lock:
            last = self._last.get(host)
            if last is not None:
                wait = last + delay - self._clock()
                if wait > 0:
                    self._sleep(wait)
            try:
                yield
            finally:  # the delay runs from the end of a request: the server sees the full gap
                self._last[host] = self._clock()

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


#: The pacer of this worker process.
PACER = HostPacer()
