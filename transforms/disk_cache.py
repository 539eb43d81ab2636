"""Files newsflow builds once and keeps between runs (e5's graph, tables built from packages'
data): where they live, and how one is read and written so that a cache never fails a run.

A file is a magic line, a JSON header (the key it was built for, its body's length and
SHA-256) and the body. It is written to a temp file renamed into place, so concurrent processes
and a kill leave the old file or the whole new one. Reading one refreshes its mtime (in use);
writing one removes the other versions of its kind (the same name before the last ``-``,
another digest) unused for ``keep_days``, so upgrades do not pile files up. A missing, stale or
corrupt file reads as None (logged), and one that cannot be written only logs a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

LOG = logging.getLogger(__name__)


def installed_version(package: str) -> str:
    """``package``'s installed version for a cache key ("none" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def cache_dir() -> Path:
    """``$NEWSFLOW_CACHE_DIR``, else the user's cache directory (``$XDG_CACHE_HOME/newsflow``,
    ``~/.cache/newsflow``)."""
    if os.environ.get("NEWSFLOW_CACHE_DIR"):
        return Path(os.environ["NEWSFLOW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "newsflow"


def entry_path(name: str, key: dict, suffix: str) -> Path:
    """The cache file of ``name`` built for ``key``: ``<name>-<digest of key><suffix>``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / f"{name}-{digest}{suffix}"


def read_entry(path: Path, magic: bytes, key: dict, what: str) -> memoryview | None:
    """The body stored at ``path`` if it was built for ``key`` and is whole, else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        if not data.startswith(magic):
            raise ValueError(f"not a newsflow {what} cache file")
        end = data.index(b"\n", len(magic))
        header = json.loads(data[len(magic):end])
        body = memoryview(data)[end + 1:]
        if header.get("key") != key:
            raise ValueError("built from other versions or another source")
        if len(body) != header["bytes"] or hashlib.sha256(body).hexdigest() != header["sha256"]:
            raise ValueError("truncated or corrupt")
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("%s cache %s: %s; rebuilding it", what, path, exc)
        return None
    try:
        os.utime(path)  # in use: other versions' files age out (``write_entry``)
    except OSError:
        pass
    return body


def write_entry(path: Path, magic: bytes, key: dict, body: bytes, what: str,
                keep_days: float = 7) -> None:
    """Stores ``body`` for ``key`` at ``path`` atomically; other versions of the same kind
    unused for ``keep_days`` are removed. Failures only log a warning."""
    header = json.dumps({"key": key, "bytes": len(body),
                         "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(magic + header.encode() + b"\n" + body)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
        kind = path.name.rsplit("-", 1)[0]
        for other in path.parent.glob(f"{kind}-*{path.suffix}"):
            old = time.time() - other.stat().st_mtime > keep_days * 86400
            if other != path and other.name.rsplit("-", 1)[0] == kind and old:
                other.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("could not cache the %s in %s: %s", what, path.parent, exc)
