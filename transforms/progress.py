"""A progress line for long stages, so a run of thousands of pages does not look hung."""

from __future__ import annotations

import logging
import time

LOG = logging.getLogger("newsflow")


class Progress:
    """Logs ``<label>: N done (M rejected), R/s`` at most every ``every`` seconds per worker."""

    def __init__(self, label: str, every: float = 10.0):
        self.label, self.every = label, every
        self.count = self.failed = 0
        self.start = self.last = time.monotonic()

    def tick(self, ok: bool = True, n: int = 1) -> None:
        self.count += n
        self.failed += 0 if ok else n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.count / max(now - self.start, 1e-9)
            LOG.warning("%s: %d done (%d rejected), %.1f/s", self.label, self.count,
                        self.failed, rate)
