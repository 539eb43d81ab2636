"""The ``clusters`` dataset: one row per copy group and per story this run's articles belong to."""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam

CLUSTER_FIELDS = ("article_id", "copy_group_id", "story_id", "duplicate_of", "is_canonical",
                  "language", "dup_kind", "published_at")


def cluster_rows(element: tuple[tuple[str, str], Iterable[dict]], run_id: str) -> list[dict]:
    """``((kind, cluster_id), articles)`` -> a clusters row when the cluster is a real group."""
    from schemas import SCHEMA_VERSION

    (kind, cluster_id), records = element
    records = sorted(records, key=lambda r: r["article_id"])
    joined = any(r.get("duplicate_of") and r["duplicate_of"] not in
                 {x["article_id"] for x in records} for r in records)
    if len(records) < 2 and not joined and not (kind == "story" and
                                                  cluster_id != records[0]["article_id"]):
        return []
    published = [r.get("published_at") for r in records if r.get("published_at")]
    canonical = next((r["article_id"] for r in records if r.get("is_canonical")), None)
    return [{
        "cluster_id": cluster_id, "kind": kind,
        "canonical_id": cluster_id if kind == "copy_group" else canonical,
        "member_ids": [r["article_id"] for r in records],
        "languages": sorted({r.get("language") or "und" for r in records}),
        "dup_kinds": sorted({r.get("dup_kind") for r in records if r.get("dup_kind")}),
        "first_seen": min(published) if published else None,
        "size": len(records), "run_id": run_id, "schema_version": SCHEMA_VERSION,
    }]


class Clusters(beam.PTransform):
    """Final articles -> clusters rows (one per copy group and per story)."""

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def expand(self, articles):
        run_id = self.run_id
        return (
            articles
            | "SlimForClusters" >> beam.Map(lambda r: {k: r.get(k) for k in CLUSTER_FIELDS})
            | "ClusterKeys" >> beam.FlatMap(lambda r: [
                (("copy_group", r["copy_group_id"]), r), (("story", r["story_id"]), r)])
            | "GroupClusters" >> beam.GroupByKey()
            | "ClusterRows" >> beam.FlatMap(cluster_rows, run_id)
        )
