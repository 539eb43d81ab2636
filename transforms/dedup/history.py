"""Earlier runs' articles as dedup history: their signatures (not their text), read from the
output so a new copy joins the group an earlier run made."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam

from transforms.sinks import ReadEarlierOutput, matching_files

#: Columns an earlier run's article contributes to this run's duplicate detection.
HISTORY_COLUMNS = ["article_id", "url", "final_url", "canonical_url", "language", "published_at",
                   "fetched_at", "content_hash", "word_count", "copy_group_id", "story_id",
                   "minhash", "seg_vectors", "seg_dim", "anchors", "story_names"]


def recent_article_files(root: str, days: int, today: dt.date | None = None) -> list[str]:
    """Article files of the last ``days`` publication days (and undated future ones)."""
    if days <= 0:
        return []
    today = today or dt.datetime.now(dt.timezone.utc).date()
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    files = []
    for path in matching_files(f"{root.rstrip('/')}/articles/date=*/lang=*/*.parquet"):
        part = next((p for p in path.split("/") if p.startswith("date=")), "")
        if part[5:] >= cutoff:
            files.append(path)
    return files


class ReadRecentArticles(beam.PTransform):
    """Recent articles of earlier runs (signatures, not text), flagged ``existing``."""

    def __init__(self, root: str, days: int):
        super().__init__()
        self.root, self.days = root, days

    def expand(self, pbegin):
        files = recent_article_files(self.root, self.days)
        return (
            pbegin
            | "ReadHistory" >> ReadEarlierOutput(files, HISTORY_COLUMNS)
            | "FlagExisting" >> beam.Map(lambda r: {**r, "existing": True})
        )
