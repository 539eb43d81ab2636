"""Duplicate detection and copy groups.

Duplicates are *marked*, never dropped: every article keeps its row, and copies point at the
group's canonical member through ``duplicate_of``. Detection produces *edges* (pairs of articles
found to be copies, with a kind and a score); any detector adds edges to the same collection.
Copy groups are the connected components of the edge graph. Only the edge list (small: copies
are a fraction of articles) is gathered in one place; articles themselves stay distributed and
receive their group assignment through a side input.

Levels: ``exact`` (same canonical URL or same normalised-text hash) is built here; ``near`` and
``translation`` edges plug into ``MarkDuplicates`` through ``extra_edges``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

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

    @property
    def rank(self) -> tuple:
        return (self.published, not self.original_language, not self.self_canonical,
                self.fetched, self.article_id)


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
    return Member(
        record["article_id"],
        _ts(record.get("published_at"), _FAR_FUTURE),
        _ts(record.get("fetched_at"), _FAR_FUTURE),
        True,
        own is None or own == record.get("canonical_url"),
    )


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
    return [Edge(unique[0], other, kind, score) for other in unique[1:]]


def resolve_groups(edges: Iterable[Edge]) -> dict[str, dict[str, Any]]:
    """Connected components -> per-article assignment for every article that has a copy.

    The canonical member is the best-ranked one (earliest published, then original language,
    then earliest fetched). A copy's ``dup_kind`` is the most severe kind on its path from the
    canonical member, its ``dup_score`` the lowest score on that path.
    """
    members: dict[str, Member] = {}
    adjacency: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for edge in edges:
        if edge.a.article_id == edge.b.article_id:
            continue
        for m in (edge.a, edge.b):
            known = members.get(m.article_id)
            # a member flagged as not-original anywhere stays flagged
            if known is None or (known.original_language and not m.original_language):
                members[m.article_id] = m
        adjacency[edge.a.article_id].append((edge.b.article_id, edge.kind, edge.score))
        adjacency[edge.b.article_id].append((edge.a.article_id, edge.kind, edge.score))
    assignment: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for start in sorted(adjacency):
        if start in seen:
            continue
        component = []
        queue = deque([start])
        seen.add(start)
        while queue:
            node = queue.popleft()
            component.append(node)
            for other, _, _ in adjacency[node]:
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        canonical = min(component, key=lambda a: members[a].rank)
        assignment[canonical] = {
            "copy_group_id": canonical, "is_canonical": True, "duplicate_of": None,
            "dup_kind": None, "dup_score": None,
        }
        # widest path from the canonical member: prefer mild kinds, then high scores
        best: dict[str, tuple[int, float]] = {canonical: (-1, 1.0)}
        frontier = deque([canonical])
        while frontier:
            node = frontier.popleft()
            severity, score = best[node]
            for other, kind, edge_score in adjacency[node]:
                candidate = (max(severity, KIND_ORDER.get(kind, 2)), min(score, edge_score))
                current = best.get(other)
                if current is None or (candidate[0], -candidate[1]) < (current[0], -current[1]):
                    best[other] = candidate
                    frontier.append(other)
        kinds = {v: k for k, v in KIND_ORDER.items()}
        for node in component:
            if node == canonical:
                continue
            severity, score = best[node]
            assignment[node] = {
                "copy_group_id": canonical, "is_canonical": False, "duplicate_of": canonical,
                "dup_kind": kinds[max(severity, 0)], "dup_score": float(score),
            }
    return assignment


def apply_assignment(record: dict[str, Any], assignment: dict[str, dict]) -> dict[str, Any]:
    found = assignment.get(record["article_id"])
    if found is None:
        found = {"copy_group_id": record["article_id"], "is_canonical": True,
                 "duplicate_of": None, "dup_kind": None, "dup_score": None}
    record.update(found)
    return record


class _CountAssigned(beam.DoFn):
    def __init__(self):
        self.copies = Metrics.counter("dedup", "copies")
        self.unique = Metrics.counter("dedup", "unique")

    def process(self, record: dict, assignment: dict) -> Iterator[dict]:
        record = apply_assignment(record, assignment)
        if record["duplicate_of"]:
            self.copies.inc()
            Metrics.counter("dedup", f"copies_{record['dup_kind']}").inc()
        else:
            self.unique.inc()
        yield record


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


class MarkDuplicates(beam.PTransform):
    """Articles -> the same articles with copy-group columns set.

    ``extra_edges``: PCollections of ``Edge`` from other detectors (near, translation).
    """

    def __init__(self, extra_edges: Iterable = ()):
        super().__init__()
        self.extra_edges = list(extra_edges)

    def expand(self, articles):
        edges = [articles | "ExactEdges" >> ExactDuplicateEdges(), *self.extra_edges]
        assignment = (
            edges
            | "AllEdges" >> beam.Flatten()
            | "GatherEdges" >> beam.combiners.ToList()
            | "ConnectedComponents" >> beam.Map(resolve_groups)
        )
        return articles | "AssignGroups" >> beam.ParDo(
            _CountAssigned(), beam.pvalue.AsSingleton(assignment)
        )
