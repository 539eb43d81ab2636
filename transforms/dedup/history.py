"""Earlier runs' articles as dedup history: their signatures (not their text), read from the
output so a new copy joins the group an earlier run made.

Which history: the ``articles/date=D/`` partitions of the publication days this run's articles
fall in, +- ``days``, whatever today's date is (a backfill of 2019 news meets 2019 history),
and only those partitions are listed, never every file ever written. The days are known only
inside the pipeline, so the patterns are built from the articles and matched there
(``MatchAll``). Under the root's lock, after ``recover``, every file in a partition belongs to
a committed run, so listing partitions sees no half-committed run.

The cascade (cascade.py) stores an article's headline vector only when it had no candidate in
its run; when a later run's article comes close to it, ``EmbedHistoryCandidates`` embeds its
other segments from its stored title and text (read back from the file the row came from, for
those articles only), so a translation arriving a run later aligns as it would in one run.

Vectors carry the id of the embedder that made them (``embedder``): a history row made by
another embedder keeps its exact/near signatures but loses its vectors (different models'
vectors are not comparable), counted in ``dedup/history_other_embedder`` and reported once by
the launcher.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.commit import replaced_files
from transforms.dedup.config import TranslationConfig
from transforms.dedup.pools import day_number
from transforms.dedup.segments import EmbedSegments, segments
from transforms.embedding import pack

#: Columns an earlier run's article contributes to this run's duplicate detection.
HISTORY_COLUMNS = ["article_id", "url", "final_url", "canonical_url", "language", "published_at",
                   "fetched_at", "content_hash", "word_count", "copy_group_id", "story_id",
                   "minhash", "seg_vectors", "seg_dim", "anchors", "story_names", "embedder",
                   "source_domain"]  # the last for ``attribution_matches_canonical``
#: Columns that only mean something next to the embedder that made them.
VECTOR_COLUMNS = ("seg_vectors", "seg_dim")
OTHER_EMBEDDER = "history_other_embedder"
#: The file a history row was read from (its text is read from there when it is needed).
HISTORY_FILE = "history_file"


def history_patterns(root: str, day: int, days: int) -> list[str]:
    """Globs of the article partitions within ``days`` of publication day ``day``."""
    root = root.rstrip("/")
    return [f"{root}/articles/date={dt.date.fromordinal(d).isoformat()}/*/*.parquet"
            for d in range(day - days, day + days + 1) if d >= 1]


def partition_may_exist(pattern: str) -> bool:
    """Whether a ``history_patterns`` glob can match: on a local root, only when its date
    directory is there (one ``stat``; Beam's ``match`` of each glob compiles a regex and
    lists: 0.44 s for the 1,789 globs of the dev WARC's publication days on a new root). An
    object store has no directories to ask: its globs are all matched."""
    if "://" in pattern:
        return True
    return os.path.isdir(posixpath.dirname(posixpath.dirname(pattern)))


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
            row[HISTORY_FILE] = path
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
            | "ExistingPartitions" >> beam.Filter(partition_may_exist)
            | "MatchPartitions" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "FilePaths" >> beam.Map(lambda m: m.path)
            | "DistinctFiles" >> beam.Distinct()
            | "LiveFiles" >> beam.Filter(lambda path: path not in replaced)
            | "ReadFiles" >> beam.ParDo(_ReadHistoryFile(self.embedder))
        )


class _FlagCandidates(beam.DoFn):
    """History rows named by the cascade (and stored with their headline vector only) go to
    ``reembed``; the others pass unchanged."""

    REEMBED = "reembed"

    def process(self, row: dict, candidates: dict) -> Iterator:
        dim = row.get("seg_dim") or 0
        headline_only = dim > 0 and len(row.get("seg_vectors") or b"") == 2 * dim  # float16
        if headline_only and candidates.get(row["article_id"]) and row.get(HISTORY_FILE):
            yield beam.pvalue.TaggedOutput(self.REEMBED, (row[HISTORY_FILE], row))
        else:
            yield row


class _EmbedStoredText(EmbedSegments):
    """(file, history rows of it) -> the rows with their other segments embedded from the
    title and text stored in that file, the same segments and model as ``EmbedSegments``
    (``rest``). A file that cannot be read leaves its rows as they were (counted): an
    earlier article is never lost from the pool, nor rejected by this run."""

    def __init__(self, config: TranslationConfig):
        super().__init__(config, rest=True)
        self.reembedded = Metrics.counter("dedup", "history_reembedded")
        self.unreadable = Metrics.counter("dedup", "history_text_unreadable")

    def process(self, element) -> Iterator[dict]:  # noqa: D102 - see the class
        path, rows = element
        rows = list(rows)
        try:
            texts = stored_texts(path, {r["article_id"] for r in rows})
            per_row = [segments(*texts.get((r["article_id"], r.get("content_hash")),
                                           (None, "")), self.config)[1:] for r in rows]
            flat = [s for segs in per_row for s in segs]
            vectors = self.embedder.embed(flat) if flat else None
        except Exception:  # noqa: BLE001 - the rows keep their stored vectors
            self.unreadable.inc(len(rows))
            yield from rows
            return
        offset = 0
        for row, segs in zip(rows, per_row, strict=True):
            if segs:
                part = vectors[offset:offset + len(segs)]
                offset += len(segs)
                row = {**row, "seg_vectors": row["seg_vectors"] + pack(part)}
                self.reembedded.inc()
            yield row
        self.embedded.inc(len(flat))


def stored_texts(path: str, ids: set[str]) -> dict[tuple[str, str | None], tuple[str, str]]:
    """(article_id, content_hash) -> (title, text) of those articles in one committed file
    (a compacted file may hold several revisions of one article)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = pq.ParquetFile(handle).read(
            columns=["article_id", "content_hash", "title", "text"])
    wanted = pa.array(sorted(ids), pa.string())
    table = table.filter(pc.is_in(table["article_id"], value_set=wanted))
    return {(r["article_id"], r["content_hash"]): (r["title"], r["text"] or "")
            for r in table.to_pylist()}


class EmbedHistoryCandidates(beam.PTransform):
    """History rows -> the same rows, those the cascade names (``candidates``: article_id ->
    True) that were stored with their headline only now holding all their segments' vectors.
    Only those rows' texts are read, one file at a time."""

    def __init__(self, candidates, config: TranslationConfig):
        super().__init__()
        self.candidates, self.config = candidates, config

    def expand(self, history):
        split = history | "FlagCandidates" >> beam.ParDo(
            _FlagCandidates(), beam.pvalue.AsDict(self.candidates)).with_outputs(
            _FlagCandidates.REEMBED, main="kept")
        embedded = (split.reembed
                    | "GroupByFile" >> beam.GroupByKey()
                    | "EmbedStoredText" >> beam.ParDo(_EmbedStoredText(self.config)))
        return (split.kept, embedded) | "AllHistory" >> beam.Flatten()
