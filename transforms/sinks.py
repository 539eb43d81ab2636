"""Hive-partitioned Parquet written under the run's temp directory, and reading it back.

Every file is written under ``<root>/_tmp/<run_id>/<dataset>/`` (outside the dataset globs, so
no reader ever sees a half-written file), named for the partition and file it will be once
published; the launcher's commit (``transforms/commit.py``) moves the files into
``<root>/<dataset>/<k=v>/`` and writes the manifest ``_runs/<run_id>.json``, the mark of a
committed run. All I/O goes through Beam's ``FileSystems``, so the same code writes to a local
path, ``gs://`` or ``s3://``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from schemas import (
    DATASET_DIRS,
    DATASETS,
    date_partition,
    lang_partition,
    stage_partition,
)
from schemas import to_table as build_table
from transforms.offload import Offload, Tasks
from transforms.testhook import pause_point

ROWS_PER_FILE = 50_000


def join(root: str, *parts: str) -> str:
    if "://" in root:
        return posixpath.join(root.rstrip("/"), *parts)
    return FileSystems.join(root, *parts)


def article_partition(record: dict[str, Any]) -> str:
    fallback = record.get("fetched_at") or dt.datetime.now(dt.timezone.utc)
    return (f"date={date_partition(record.get('published_at'), fallback)}/"
            f"lang={lang_partition(record.get('language'))}")


def reject_partition(record: dict[str, Any]) -> str:
    return f"date={date_partition(record.get('time'), record['time'])}/" \
           f"stage={stage_partition(record.get('stage'))}"


PARTITIONERS: dict[str, Callable[[dict], str]] = {
    "articles": article_partition,
    "rejects": reject_partition,
    "state": lambda record: f"kind={stage_partition(record.get('kind'))}",
    "clusters": lambda record: f"kind={stage_partition(record.get('kind'))}",
}


def _ensure_dir(path: str) -> None:
    if "://" in path:
        return  # object stores have no directories
    os.makedirs(os.path.dirname(path), exist_ok=True)


#: Columns whose values repeat across a file's rows (domains, codes, run ids): the only ones
#: Parquet dictionary-encodes. A dictionary for a column unique per row (URLs, ids, text,
#: vectors) costs CPU and bytes: on the dev WARC's 637 small articles files 1.44 -> 1.02 CPU s
#: and 21.2 -> 20.3 MB, on one file of all 1,171 rows 52 -> 35 ms and 6.1 -> 5.8 MB.
DICTIONARY_COLUMNS = {
    "articles": ("source_domain", "source_kind", "feed_url", "feed_title", "sitename",
                 "language", "dup_kind", "seg_dim", "run_id", "schema_version", "embedder",
                 "attributed_source"),
    "rejects": ("stage", "reason", "source_kind", "feed_url", "run_id", "schema_version"),
    "state": ("kind", "outcome", "run_id", "reason"),
    "clusters": ("kind", "run_id", "schema_version"),
}


def write_parquet(path: str, records: list[dict], dataset: str) -> int:
    schema = DATASETS[dataset]
    table = build_table(records, schema)
    _ensure_dir(path)
    dictionary = [c for c in DICTIONARY_COLUMNS.get(dataset, ()) if c in schema.names]
    with FileSystems.create(path) as handle:
        pq.write_table(table, handle, compression="zstd", use_dictionary=dictionary)
    return table.num_rows


_written = [0]  # temp files written by this process (for the ``write:<n>`` test hook)


def window_run_id(run_id: str, window: Any) -> str:
    """The id of what one window of a stream commits (a batch run, in the global window, is
    one commit under its own id): ``<run_id>-w<window start, UTC>``."""
    if window is None or isinstance(window, GlobalWindow):
        return run_id
    when = dt.datetime.fromtimestamp(window.start.micros / 1e6, dt.timezone.utc)
    return f"{run_id}-w{when:%Y%m%dT%H%M%S}Z"


def write_files(jobs: list[tuple[str, list[dict], str]]) -> list[int]:
    """``write_parquet`` of each ``(path, records, dataset)``: one task of an offloaded write
    (a dev run's 637 article files of ~2 rows each are ~3 ms apiece; one task per file would
    spend about that much again on the pool's queue)."""
    return [write_parquet(path, records, dataset) for path, records, dataset in jobs]


#: Files per offloaded task (``transforms.offload.Tasks``).
FILES_PER_TASK = 16


class _WritePartition(beam.DoFn):
    """``(partition, records)`` -> temp Parquet files; yields one file-info dict per file.

    In a stream each window writes (and later commits) under its own ``window_run_id``. With
    ``offload`` the files are written by other processes (the record pool's workers: building
    and encoding a table is Python that holds the GIL, so threads would not help), a few
    tasks in flight, each file's info yielded once it is written, all of them before the
    bundle ends (a runner commits a bundle's outputs only after ``finish_bundle``)."""

    def __init__(self, root: str, run_id: str, dataset: str, rows_per_file: int,
                 offload: Offload | None = None):
        self.root, self.run_id, self.dataset, self.rows = root, run_id, dataset, rows_per_file
        self.offload = offload
        self.files = Metrics.counter("write", f"{dataset}_files")
        self.written = Metrics.counter("write", f"{dataset}_rows")

    def start_bundle(self) -> None:
        self.tasks = (Tasks(self.offload, write_files, FILES_PER_TASK, "Parquet write")
                      if self.offload is not None else None)

    def process(self, element: tuple[str, Any], window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        """Streams the partition's records into files of ``rows_per_file`` rows: memory holds
        one file's rows, never a whole ``date/lang`` partition (which grows with the run).
        Rows are sorted by URL within each file (a runner's retry rewrites the same names)."""
        partition, records = element
        run_id = window_run_id(self.run_id, window)
        chunk: list[dict] = []
        index = 0
        for record in records:
            chunk.append(record)
            if len(chunk) == self.rows:
                yield from self._write(run_id, partition, index, chunk, window, timestamp)
                index, chunk = index + 1, []
        if chunk:
            yield from self._write(run_id, partition, index, chunk, window, timestamp)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self.tasks is not None:
            yield from self._written(self.tasks.drain())

    def _write(self, run_id: str, partition: str, index: int, chunk: list[dict],
               window: Any, timestamp: Any) -> Iterator[Any]:
        chunk.sort(key=lambda r: (r.get("url") or "", r.get("stage") or ""))
        name = f"part-{run_id}-{index:05d}.parquet"
        relative = f"{DATASET_DIRS[self.dataset]}/{partition}/{name}"
        # flat under the dataset's temp directory (``date=..,lang=..,part-...``): a run of
        # many small partitions does not create and remove a directory tree per partition
        temp = join(self.root, "_tmp", run_id, DATASET_DIRS[self.dataset],
                    f"{partition.replace('/', ',')},{name}")
        info = {"dataset": self.dataset, "temp": temp, "path": join(self.root, relative)}
        if self.tasks is None:
            yield self._done(info, write_parquet(temp, chunk, self.dataset))
            return
        yield from self._written(self.tasks.add((temp, chunk, self.dataset),
                                                (info, window, timestamp)))

    def _written(self, done: Iterator[tuple[tuple[dict, Any, Any], int]]
                 ) -> Iterator[WindowedValue]:
        """The written files' infos, each in its input's window."""
        for (info, window, timestamp), rows in done:
            yield WindowedValue(self._done(info, rows), timestamp, [window])

    def _done(self, info: dict, rows: int) -> dict:
        _written[0] += 1
        pause_point("write", _written[0])
        self.files.inc()
        self.written.inc(rows)
        return {**info, "rows": rows}


class WriteDataset(beam.PTransform):
    """Records -> temp Parquet files of one dataset, partitioned; output: file infos.

    ``offload`` (``record_pool.on_pool``) writes the files on other processes of this
    machine: only for a local ``root`` (a cloud store's client is not forked)."""

    def __init__(self, root: str, run_id: str, dataset: str, rows_per_file: int = ROWS_PER_FILE,
                 offload: Offload | None = None):
        super().__init__()
        self.root, self.run_id, self.dataset, self.rows = root, run_id, dataset, rows_per_file
        self.offload = offload if "://" not in root else None

    def expand(self, records):
        partition = PARTITIONERS[self.dataset]
        return (
            records
            | "KeyByPartition" >> beam.Map(lambda r: (partition(r), r))
            | "GroupPartition" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(
                _WritePartition(self.root, self.run_id, self.dataset, self.rows, self.offload))
        )


def publish_run(root: str, run_id: str, files: list[dict], manifest: dict[str, Any]) -> dict:
    """Commit explicit file infos now (tests, tools); a batch run commits in its launcher."""
    from transforms.commit import publish_files

    return publish_files(root, run_id, files, manifest)


def read_manifest(root: str, run_id: str) -> dict[str, Any]:
    """The manifest of a committed run."""
    with FileSystems.open(join(root, "_runs", f"{run_id}.json")) as handle:
        return json.loads(handle.read().decode("utf-8"))


def matching_files(pattern: str) -> list[str]:
    """Files matching a glob on any Beam filesystem (none when the directory does not exist)."""
    try:
        return sorted(m.path for result in FileSystems.match([pattern])
                      for m in result.metadata_list)
    except Exception:  # noqa: BLE001 - no such directory yet (a first run)
        return []


class ReadEarlierOutput(beam.PTransform):
    """Rows of Parquet files an earlier run wrote; an empty collection when there are none."""

    def __init__(self, files: list[str], columns: list[str] | None = None):
        super().__init__()
        self.files, self.columns = list(files), columns

    def expand(self, pbegin):
        if not self.files:
            return pbegin | "Nothing" >> beam.Create([])
        return (pbegin | "Files" >> beam.Create(self.files)
                | "Read" >> beam.io.ReadAllFromParquet(columns=self.columns))
