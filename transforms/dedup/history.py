"""Earlier runs' articles as dedup history: their signatures (not their text), read from the
output so a new copy joins the group an earlier run made.

Which history: the ``articles/date=D/`` partitions of the publication days this run's articles
fall in, +- ``days``, whatever today's date is (a backfill of 2019 news meets 2019 history),
and only those partitions are listed, never every file ever written. The days are known only
inside the pipeline, so the patterns are built from the articles and matched there
(``MatchAll``). Under the root's lock, after ``recover``, every file in a partition belongs to
a committed run, so listing partitions sees no half-committed run.

Vectors carry the id of the embedder that made them (``embedder``): a history row made by
another embedder keeps its exact/near signatures but loses its vectors (different models'
vectors are not comparable), counted in ``dedup/history_other_embedder`` and reported once by
the launcher.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.commit import replaced_files
from transforms.dedup.pools import day_number

#: Columns an earlier run's article contributes to this run's duplicate detection.
HISTORY_COLUMNS = ["article_id", "url", "final_url", "canonical_url", "language", "published_at",
                   "fetched_at", "content_hash", "word_count", "copy_group_id", "story_id",
                   "minhash", "seg_vectors", "seg_dim", "anchors", "story_names", "embedder"]
#: Columns that only mean something next to the embedder that made them.
VECTOR_COLUMNS = ("seg_vectors", "seg_dim")
OTHER_EMBEDDER = "history_other_embedder"


def history_patterns(root: str, day: int, days: int) -> list[str]:
    """Globs of the article partitions within ``days`` of publication day ``day``."""
    root = root.rstrip("/")
    return [f"{root}/articles/date={dt.date.fromordinal(d).isoformat()}/*/*.parquet"
            for d in range(day - days, day + days + 1) if d >= 1]


def history_row(row: dict, embedder: str) -> tuple[dict, bool]:
    """An earlier article as a pool member; ``False`` with it when its vectors came from
    another embedder (they are dropped: not comparable)."""
    row = {**row, "existing": True}
    same = not row.get("seg_vectors") or row.get("embedder") == embedder
    if not same:
        row.update(dict.fromkeys(VECTOR_COLUMNS))
    return row, same


class _ReadHistoryFile(beam.DoFn):
    """One committed article file -> its rows' history columns (those the file has: files of
    older schema versions lack the newer ones)."""

    def __init__(self, embedder: str):
        self.embedder = embedder
        self.other = Metrics.counter("dedup", OTHER_EMBEDDER)
        self.rows = Metrics.counter("dedup", "history_rows")

    def process(self, path: str) -> Iterator[dict]:
        import pyarrow.parquet as pq

        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            parquet = pq.ParquetFile(handle)
            names = set(parquet.schema_arrow.names)
            table = parquet.read(columns=[c for c in HISTORY_COLUMNS if c in names])
        for row in table.to_pylist():
            row, same = history_row(row, self.embedder)
            self.rows.inc()
            if not same:
                self.other.inc()
            yield row


class ReadRecentArticles(beam.PTransform):
    """This run's articles -> the earlier articles published within ``days`` of any of their
    publication days (signatures, not text), flagged ``existing``."""

    def __init__(self, root: str, days: int, embedder: str):
        super().__init__()
        self.root, self.days, self.embedder = root, days, embedder

    def expand(self, articles):
        if self.days <= 0:
            return articles.pipeline | "NoHistory" >> beam.Create([])
        root, days = self.root, self.days
        replaced = replaced_files(root)  # compacted away, kept a while for running queries
        return (
            articles
            | "PublicationDays" >> beam.Map(day_number)
            | "DistinctDays" >> beam.Distinct()
            | "PartitionPatterns" >> beam.FlatMap(lambda d: history_patterns(root, d, days))
            | "DistinctPatterns" >> beam.Distinct()
            | "MatchPartitions" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "FilePaths" >> beam.Map(lambda m: m.path)
            | "DistinctFiles" >> beam.Distinct()
            | "LiveFiles" >> beam.Filter(lambda path: path not in replaced)
            | "ReadFiles" >> beam.ParDo(_ReadHistoryFile(self.embedder))
        )
