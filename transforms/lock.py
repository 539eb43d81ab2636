"""One run per output root: the ``<root>/_lock`` file.

Two overlapping cron runs on one root would fetch the same entries, write the same articles
twice and race on the commit. The launcher therefore takes ``_lock`` (owner, host, pid, start
time, run id) before it touches the root and removes it when it is done. A lock whose owner is
dead (same host, no such pid) or that is older than ``max_age`` seconds is *stale*: a killed run
cannot release its lock, so the next run takes it over with a warning.

Local roots use an exclusive create (``O_CREAT | O_EXCL``), which is atomic. Beam's
``FileSystems`` has no conditional create for ``gs://`` / ``s3://`` (no ``if-generation-match``
/ ``If-None-Match`` in its API), so there the lock is check-then-create: it stops a cron run
that starts while another is running, but two runs started within the same second may both get
it. Use one scheduler (or a local root) when that matters.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import socket
from typing import Any

from apache_beam.io.filesystems import FileSystems

LOCK_NAME = "_lock"
DEFAULT_MAX_AGE = 12 * 3600  # seconds; a batch run that takes longer should raise it

log = logging.getLogger(__name__)


class LockHeld(RuntimeError):
    """Another run holds the output root; the message names it (exit status 2)."""


def lock_path(root: str) -> str:
    return f"{root.rstrip('/')}/{LOCK_NAME}"


def _owner() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid())


def lock_info(run_id: str) -> dict[str, Any]:
    return {"owner": _owner(), "host": socket.gethostname(), "pid": os.getpid(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(), "run_id": run_id}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def stale_reason(info: dict[str, Any] | None, max_age: float,
                 now: dt.datetime | None = None) -> str | None:
    """Why a lock can be taken over, or None when its owner may still be running."""
    if not info:
        return "unreadable lock file"
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        started = dt.datetime.fromisoformat(info["started_at"])
        age = (now - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        return "lock file without a start time"
    if info.get("host") == socket.gethostname():
        try:
            pid = int(info.get("pid"))
        except (TypeError, ValueError):
            return "lock file without a pid"
        if not _pid_alive(pid):
            return f"process {pid} on this host is gone"
    if age > max_age:
        return f"started {age / 3600:.1f} h ago (older than the {max_age / 3600:.1f} h maximum)"
    return None


def read_lock(root: str) -> dict[str, Any] | None:
    path = lock_path(root)
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - missing or half-written: the caller decides
        return None


def _create_local(path: str, data: bytes) -> bool:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _create_remote(path: str, data: bytes) -> bool:
    if FileSystems.exists(path):
        return False
    with FileSystems.create(path) as handle:  # not atomic: see the module docstring
        handle.write(data)
    return True


def _create(path: str, data: bytes) -> bool:
    return _create_remote(path, data) if "://" in path else _create_local(path, data)


class RootLock:
    """``with RootLock(root, run_id): ...`` holds ``_lock`` for the block (or raises LockHeld)."""

    def __init__(self, root: str, run_id: str, max_age: float = DEFAULT_MAX_AGE):
        self.root, self.run_id, self.max_age = root, run_id, max_age
        self.path = lock_path(root)
        self.info = lock_info(run_id)
        self.held = False

    def acquire(self) -> None:
        data = json.dumps(self.info, indent=2).encode("utf-8")
        if _create(self.path, data):
            self.held = True
            return
        current = read_lock(self.root)
        reason = stale_reason(current, self.max_age)
        if reason is None:
            raise LockHeld(
                f"{self.root} is locked by run {current.get('run_id')} "
                f"(pid {current.get('pid')} on {current.get('host')}, user "
                f"{current.get('owner')}, started {current.get('started_at')}); "
                f"another newsflow run is using this output root. If it is not running, "
                f"delete {self.path}.")
        log.warning("taking over a stale lock on %s (%s): %s", self.root, reason, current)
        try:
            FileSystems.delete([self.path])
        except Exception:  # noqa: BLE001 - another run removed it first
            pass
        if not _create(self.path, data):
            raise LockHeld(f"{self.root}: another run took over the stale lock first")
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        current = read_lock(self.root)
        if current and current.get("run_id") == self.run_id and current.get("pid") == os.getpid():
            try:
                FileSystems.delete([self.path])
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.held = False

    def __enter__(self) -> RootLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
