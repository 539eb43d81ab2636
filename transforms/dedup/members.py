"""What duplicate detection passes around: a ``Member`` (what choosing a canonical copy needs to
know about an article) and an ``Edge`` (two articles found to be copies, with a kind and a score).

Every detector (exact, near, translation, stories) produces edges between members; copy groups
and stories are built from edges only, so detectors never need each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from transforms.enrich import canonical_url

#: Severity order of copy kinds: a member reached through a translation edge is a translation.
KIND_ORDER = {"exact": 0, "near": 1, "translation": 2}

_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.timezone.utc).timestamp()


class Member(NamedTuple):
    """What choosing a canonical copy needs to know about an article."""

    article_id: str
    published: float  # POSIX seconds; +inf-like when unknown (unknown dates lose)
    fetched: float
    original_language: bool  # False for a copy known to be a translation of another language
    self_canonical: bool = True  # False when the page names another URL as its canonical
    existing: bool = False  # written by an earlier run (its row is not rewritten)
    group: str | None = None  # an existing article's copy_group_id
    language: str | None = None
    story: str | None = None  # an existing article's story_id

    @property
    def rank(self) -> tuple:
        # an earlier run's group keeps its canonical: new copies join it
        return (not self.existing, self.published, not self.original_language,
                not self.self_canonical, self.fetched, self.article_id)


class Edge(NamedTuple):
    a: Member
    b: Member
    kind: str
    score: float


def _ts(value: Any, default: float) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return default


def member_of(record: dict[str, Any]) -> Member:
    own = canonical_url(record.get("final_url") or record.get("url"))
    existing = bool(record.get("existing"))
    return Member(
        record["article_id"],
        _ts(record.get("published_at"), _FAR_FUTURE),
        _ts(record.get("fetched_at"), _FAR_FUTURE),
        True,
        own is None or own == record.get("canonical_url"),
        existing,
        record.get("copy_group_id") if existing else None,
        record.get("language"),
        record.get("story_id") if existing else None,
    )


#: Translation links scoring below this (2 of 5 segments aligned) are borderline: articles on
#: the same event by different outlets can get there through shared quotes and figures.
WEAK_TRANSLATION = 0.5


def member_day(member: Member) -> int:
    """Publication day (proleptic ordinal) of a member, else its fetch day, else 0."""
    for when in (member.published, member.fetched):
        if when < _FAR_FUTURE:
            return dt.datetime.fromtimestamp(when, dt.timezone.utc).toordinal()
    return 0


def find(parent: dict[str, str], node: str) -> str:
    """Union-find root of ``node`` (path halving); ``parent`` maps a node to its parent."""
    while parent.get(node, node) != node:
        parent[node] = parent.get(parent[node], parent[node])
        node = parent[node]
    return node
