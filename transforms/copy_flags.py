"""Content columns that need an article's copy group, set once duplicates are marked.

- ``is_machine_translated`` also holds for a translation copy (its canonical is in another
  language) that names no translator (``transforms.flags``).
- ``attribution_matches_canonical``: for a copy, whether the outlet it credits is the canonical
  member's domain (a syndication partner crediting the original: true; a copy crediting a wire
  while the canonical is another site: false; nothing credited, or the canonical not in this
  run: null). Only the canonical domains of groups with copies travel (a side input), not the
  articles.
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


class MarkCopyContent(beam.PTransform):
    """Articles with duplicates marked -> the same articles with the group-dependent columns."""

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
        domains = (
            {"copy": with_copies, "canonical": canonicals}
            | "JoinGroups" >> beam.CoGroupByKey()
            | "GroupsWithCopies" >> beam.FlatMap(
                lambda kv: [(kv[0], d) for d in kv[1]["canonical"] if d] if kv[1]["copy"]
                else [])
        )
        return articles | "MarkCopies" >> beam.Map(mark_copy, beam.pvalue.AsDict(domains))
