"""Content columns that need an article's copy group, set once duplicates are marked.

- ``is_machine_translated`` also holds for a translation copy (its canonical is in another
  language) that names no translator (``transforms.flags``).
- ``attribution_matches_canonical``: for a copy, whether the outlet it credits is the canonical
  member's domain (a syndication partner crediting the original: true; a copy crediting a wire
  while the canonical is another site: false; nothing credited: null). The canonical member
  may be an earlier run's article (history, or a stream's earlier window): its row carries
  ``source_domain`` among the history columns, so a copy arriving a run later is compared
  with it as within one run. Only the canonical domains of groups with copies travel (a side
  input), not the articles.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from transforms.attribution import matches_canonical
from transforms.flags import is_machine_translated


def mark_copy(record: dict[str, Any], canonical_domains: dict[str, str]) -> dict[str, Any]:
    """Set the two group-dependent columns of one article (in place)."""
    record["is_machine_translated"] = is_machine_translated(record)
    if record.get("duplicate_of"):
        record["attribution_matches_canonical"] = matches_canonical(
            record.get("attributed_source"),
            canonical_domains.get(record.get("copy_group_id") or ""))
    else:
        record["attribution_matches_canonical"] = None
    return record


def group_head(row: dict[str, Any]) -> bool:
    """An earlier article that is its copy group's canonical member (the group is named by it)."""
    return (row.get("copy_group_id") or row["article_id"]) == row["article_id"]


def _canonical_domain(group: tuple[str, dict[str, list]]) -> list[tuple[str, str]]:
    """(group id, canonical domain) for a group with copies in this run; this run's canonical
    member first, else the earlier one."""
    key, members = group
    if not members["copy"]:
        return []
    domain = next((d for d in (*members["canonical"], *members["earlier"]) if d), None)
    return [(key, domain)] if domain else []


class MarkCopyContent(beam.PTransform):
    """Articles with duplicates marked -> the same articles with the group-dependent columns.
    ``earlier``: PCollections of earlier articles that were in the dedup pool (history rows),
    whose group heads can be a copy group's canonical member."""

    def __init__(self, earlier: list | tuple = ()):
        super().__init__()
        self.earlier = list(earlier)

    def expand(self, articles):
        with_copies = (
            articles
            | "CopyGroups" >> beam.Filter(lambda r: bool(r.get("duplicate_of")))
            | "CopyGroupKeys" >> beam.Map(lambda r: (r.get("copy_group_id"), "copy"))
        )
        canonicals = (
            articles
            | "Canonicals" >> beam.Filter(lambda r: not r.get("duplicate_of"))
            | "CanonicalDomains" >> beam.Map(
                lambda r: (r.get("copy_group_id") or r["article_id"], r.get("source_domain")))
        )
        earlier = (
            (self.earlier or [articles.pipeline | "NoEarlier" >> beam.Create([])])
            | "AllEarlier" >> beam.Flatten()
            | "EarlierGroupHeads" >> beam.Filter(group_head)
            | "EarlierDomains" >> beam.Map(lambda r: (r["article_id"], r.get("source_domain")))
        )
        domains = (
            {"copy": with_copies, "canonical": canonicals, "earlier": earlier}
            | "JoinGroups" >> beam.CoGroupByKey()
            | "GroupsWithCopies" >> beam.FlatMap(_canonical_domain)
        )
        return articles | "MarkCopies" >> beam.Map(mark_copy, beam.pvalue.AsDict(domains))
