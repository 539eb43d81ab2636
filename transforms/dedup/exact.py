"""Exact copies: the same canonical URL, or the same text once case, punctuation and spacing
are removed (``content_hash``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from transforms.dedup.members import Edge, Member, member_of


def exact_keys(record: dict[str, Any]) -> list[str]:
    keys = []
    if record.get("canonical_url"):
        keys.append("url:" + record["canonical_url"])
    if record.get("content_hash") and (record.get("word_count") or 0) > 0:
        keys.append("text:" + record["content_hash"])
    return keys


def star_edges(members: Iterable[Member], kind: str = "exact", score: float = 1.0) -> list[Edge]:
    """Edges linking every member of a same-key group to its best-ranked member."""
    unique = sorted({m.article_id: m for m in members}.values(), key=lambda m: m.rank)
    return [Edge(unique[0], other, kind, score) for other in unique[1:]
            if not (unique[0].existing and other.existing)]



class ExactDuplicateEdges(beam.PTransform):
    """Articles -> ``Edge``s between articles sharing a canonical URL or a text hash."""

    def expand(self, articles):
        return (
            articles
            | "ExactKeys" >> beam.FlatMap(
                lambda r: [(key, member_of(r)) for key in exact_keys(r)])
            | "GroupByExactKey" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(lambda kv: star_edges(kv[1]))
        )
