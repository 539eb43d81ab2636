"""Test hook: ``NEWSFLOW_TEST_PAUSE_AT=<point>:<n>`` makes the process sleep at that point.

Crash tests kill ``newsflow run`` (SIGKILL) at a chosen moment: between two renames of the
commit (``commit:2`` = before the second move; ``commit:<moves + 1>`` = before the manifest),
or after the n-th temp file is written (``write:1``). The process prints
``newsflow test hook: paused at <point>:<n>`` on stderr, then sleeps
``NEWSFLOW_TEST_PAUSE_SECONDS`` (default 300) so the test can kill it deterministically.
Not for production use; unset, it costs one environment lookup.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_ENV = "NEWSFLOW_TEST_PAUSE_AT"


def pause_point(point: str, index: int) -> None:
    if os.environ.get(PAUSE_ENV) != f"{point}:{index}":
        return
    print(f"newsflow test hook: paused at {point}:{index}", file=sys.stderr, flush=True)
    time.sleep(float(os.environ.get("NEWSFLOW_TEST_PAUSE_SECONDS", "300")))
