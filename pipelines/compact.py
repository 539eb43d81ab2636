"""``newsflow compact ROOT [--older-than 1d]``: few large files instead of thousands of small ones.

A run every 15 minutes writes a few small files per partition; after a year a day's partition
holds ~100 files and ``_state/`` ~35,000. Compaction merges the files of *closed* partitions
(publication dates older than ``--older-than``; for ``_state/`` and ``clusters/``, files of runs
older than that) into one file per partition (more above ``ROWS_PER_FILE`` rows), sorted so
DuckDB can skip row groups (articles by ``published_at``, rejects by ``time``, state by URL).

It goes through the commit protocol (``transforms/commit.py``) like a run, holding the root's
lock: the new files are written under ``_tmp/<id>/``, moved into place (invisible: no manifest
names them yet), then the manifest ``_runs/<id>.json`` (``"kind": "compaction"``) names the new
files and lists the files they replace (``"replaces"``). Writing that one manifest is the switch:
readers that go through ``committed_files`` (``newsflow query``, the next run's state and
history) see the old files before it and the new ones after it, every row exactly once either
way. Replaced files are deleted only once their replacement is older than ``--grace`` (default
1 h), so a query that listed them just before the switch can still read them. A compaction
manifest's ``rows`` are rows *rewritten*, not added: the runs' manifests still say what each run
wrote.

Single process (pyarrow through Beam's ``FileSystems``, so local, ``s3://`` and ``gs://`` alike):
one partition in memory at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import secrets
import sys
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.watch import parse_duration
from schemas import DATASET_DIRS, DATASETS
from transforms.commit import (
    commit_run,
    join,
    manifests,
    recover,
    tmp_dir,
    use_pipeline_options,
    write_file_list,
)
from transforms.lock import LockHeld, RootLock

log = logging.getLogger(__name__)

ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 64_000
#: how each dataset's merged file is sorted (row-group pruning for the usual filters)
SORT_KEYS = {"articles": ["published_at", "article_id", "run_id"],
             "rejects": ["time", "url", "stage"],
             "state": ["url_key", "time"],
             "clusters": ["cluster_id", "run_id"]}
DATED = ("articles", "rejects")  # datasets whose partitions carry ``date=``


def new_compaction_id() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-compact-" + secrets.token_hex(3)


def _when(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _partition(relative: str) -> str:
    """``articles/date=2024-03-05/lang=en/part-x.parquet`` -> ``articles/date=.../lang=en``."""
    return relative.rsplit("/", 1)[0]


def _partition_date(partition: str) -> str | None:
    part = next((p for p in partition.split("/") if p.startswith("date=")), None)
    return part[5:] if part else None


def plan(root: str, older_than: float, now: dt.datetime | None = None) -> dict[tuple, list]:
    """``(dataset, partition) -> [file info, ...]`` to merge: live files of closed partitions,
    where a partition holds two or more of them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(seconds=older_than)
    found = manifests(root)
    replaced = {r for m in found for r in m.get("replaces", [])}
    groups: dict[tuple, list] = defaultdict(list)
    for manifest in found:
        finished = _when(manifest.get("finished_at"))
        if finished is None or finished > cutoff:
            continue  # a recent run's files: its partitions may still be growing
        for info in manifest.get("files", []):
            relative, dataset = info.get("relative"), info.get("dataset")
            if not relative or dataset not in DATASETS or relative in replaced:
                continue
            partition = _partition(relative)
            day = _partition_date(partition)
            if dataset in DATED and (day is None or day >= cutoff.date().isoformat()):
                continue  # an open day: runs still add to it
            groups[(dataset, partition)].append({**info, "finished_at": manifest["finished_at"]})
    return {key: sorted(files, key=lambda f: f["relative"])
            for key, files in sorted(groups.items()) if len(files) > 1}


def _read(path: str) -> pa.Table:
    with FileSystems.open(path) as handle:
        return pq.read_table(pa.BufferReader(handle.read()))


def _write(path: str, table: pa.Table) -> None:
    if "://" not in path:
        directory = path.rsplit("/", 1)[0]
        if not FileSystems.exists(directory):
            FileSystems.mkdirs(directory)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    with FileSystems.create(path) as handle:
        handle.write(sink.getvalue())


def merge_partition(root: str, compact_id: str, dataset: str, partition: str,
                    files: list[dict]) -> list[dict]:
    """Reads a partition's files, writes the merged and sorted rows under ``_tmp``; returns
    file infos for the commit (``dataset``, ``temp``, ``path``, ``rows``)."""
    tables = [_read(join(root, f["relative"])) for f in files]
    table = pa.concat_tables(tables, promote_options="default")  # older files: fewer columns
    expected = sum(f.get("rows", t.num_rows) for f, t in zip(files, tables, strict=True))
    if table.num_rows != expected:
        raise RuntimeError(f"{partition}: read {table.num_rows} rows, manifests say {expected}")
    keys = [k for k in SORT_KEYS[dataset] if k in table.column_names]
    if keys:
        table = table.sort_by([(k, "ascending") for k in keys])
    infos = []
    for index, start in enumerate(range(0, table.num_rows, ROWS_PER_FILE)):
        chunk = table.slice(start, ROWS_PER_FILE)
        relative = f"{partition}/part-{compact_id}-{index:05d}.parquet"
        temp = join(tmp_dir(root, compact_id), relative)
        _write(temp, chunk)
        infos.append({"dataset": dataset, "temp": temp, "path": join(root, relative),
                      "rows": chunk.num_rows})
    return infos


def delete_replaced(root: str, grace: float, now: dt.datetime | None = None) -> int:
    """Deletes files replaced by compactions committed more than ``grace`` seconds ago."""
    now = now or dt.datetime.now(dt.timezone.utc)
    doomed = []
    for manifest in manifests(root):
        finished = _when(manifest.get("finished_at"))
        if manifest.get("replaces") and finished and (now - finished).total_seconds() >= grace:
            doomed += [join(root, r) for r in manifest["replaces"]]
    present = [p for p in doomed if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)
    return len(present)


def compact(root: str, older_than: float, grace: float = 3600.0,
            compact_id: str | None = None) -> dict[str, Any]:
    """Compacts ``root`` holding its lock; returns a summary (files before/after, rows)."""
    compact_id = compact_id or new_compaction_id()
    use_pipeline_options()
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    with RootLock(root, compact_id):
        recover(root)
        groups = plan(root, older_than)
        infos, replaces, rows = [], [], 0
        for (dataset, partition), files in groups.items():
            merged = merge_partition(root, compact_id, dataset, partition, files)
            infos += merged
            replaces += [f["relative"] for f in files]
            rows += sum(f["rows"] for f in merged)
        summary = {"compaction": compact_id, "partitions": len(groups),
                   "files_before": len(replaces), "files_after": len(infos), "rows": rows}
        if infos:
            write_file_list(root, compact_id, infos, {})
            commit_run(root, compact_id, {"kind": "compaction", "started_at": started,
                                          "replaces": sorted(replaces),
                                          "older_than_seconds": older_than})
        summary["deleted"] = delete_replaced(root, grace)
    return summary


def cmd_compact(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="newsflow compact",
        description="Merge the small files of closed partitions (publication days older than "
                    "--older-than; state and clusters files of runs older than that) into one "
                    "sorted file per partition, atomically (a concurrent newsflow query sees "
                    "every row exactly once). Holds the output root's lock.")
    parser.add_argument("root", help="output root written by newsflow run")
    parser.add_argument("--older-than", "--older_than", dest="older_than", type=parse_duration,
                        default=86400.0, help="only partitions closed this long (default 1d)")
    parser.add_argument("--grace", type=parse_duration, default=3600.0,
                        help="keep replaced files this long for queries already running "
                             "(default 1h; 0 deletes them at once)")
    args = parser.parse_args(argv)
    root = args.root
    if "://" not in root:
        import os

        if not os.path.isdir(root):
            print(f"newsflow compact: no newsflow output at {root!r}", file=sys.stderr)
            return 2
        root = os.path.abspath(root)
    try:
        summary = compact(root, args.older_than, args.grace)
    except LockHeld as exc:
        print(f"newsflow compact: {exc}", file=sys.stderr)
        return 2
    print(f"compaction {summary['compaction']}: {summary['partitions']} partitions, "
          f"{summary['files_before']} files -> {summary['files_after']} "
          f"({summary['rows']} rows); {summary['deleted']} replaced files deleted")
    return 0


__all__ = ["DATASET_DIRS", "compact", "cmd_compact", "delete_replaced", "plan"]
