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
from transforms.sinks import ReadEarlierOutput, matching_files

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


def _find(parent: dict[str, str], node: str) -> str:
    while parent.get(node, node) != node:
        parent[node] = parent.get(parent[node], parent[node])
        node = parent[node]
    return node


def _strength(edge: Edge) -> tuple[int, float]:
    return (0 if edge.kind == "near" else 1, edge.score)


def _conflicts(edges: list[Edge]) -> int:
    """Pairs of documents in one language and one group that are not copies of each other
    (same-language exact/near copies count as one document)."""
    copies: dict[str, str] = {}
    groups: dict[str, str] = {}
    language: dict[str, str] = {}
    for e in edges:
        language[e.a.article_id] = e.a.language or "und"
        language[e.b.article_id] = e.b.language or "und"
        groups[_find(groups, e.a.article_id)] = _find(groups, e.b.article_id)
        if e.kind in ("exact", "near"):
            copies[_find(copies, e.a.article_id)] = _find(copies, e.b.article_id)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for node, lang in language.items():
        seen[(_find(groups, node), lang)].add(_find(copies, node))
    return sum(len(v) * (len(v) - 1) // 2 for v in seen.values())


def _components(edges: list[Edge]) -> list[list[Edge]]:
    parent: dict[str, str] = {}
    for e in edges:
        parent[_find(parent, e.a.article_id)] = _find(parent, e.b.article_id)
    out: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        out[_find(parent, e.a.article_id)].append(e)
    return list(out.values())


def _link_to_drop(component: list[Edge], candidates: list[Edge], conflicts: int) -> Edge:
    """Near links go first when they cause the conflict: one whose removal alone reduces it
    (tried among the 50 weakest, so a huge group stays cheap), else the weakest one when
    removing all of them would help (parallel links between chats built from one canned
    answer). Otherwise the weakest translation link goes, even when the wrong links come in
    parallel and leave one per round. A near link elsewhere in the group is innocent."""
    near = [e for e in candidates if e.kind == "near"]
    others = [e for e in candidates if e.kind != "near"]
    if near:
        for e in near[:50]:
            if _conflicts([x for x in component if x is not e]) < conflicts:
                return e
        if not others or _conflicts([x for x in component if x.kind != "near"]) < conflicts:
            return near[0]
    return others[0]


def split_language_conflicts(edges: list[Edge]) -> list[Edge]:
    """Drops links until no copy group holds two documents of one language that are not
    themselves copies of each other (exact, or near through kept near links).

    A story translated into several languages has one version per language; a chain of links
    that reaches a second, unrelated document in the same language has a wrong link in it.
    Each round drops one link per group (``_link_to_drop``): a near link that causes the
    conflict (two documents translated on their own are two documents, however much text
    they share: support chats built from one canned answer), else the lowest-scoring
    translation link. Exact links are never dropped.
    """
    kept: list[Edge] = []
    for component in _components(edges):
        conflicts = _conflicts(component)
        while conflicts:
            candidates = sorted((e for e in component if e.kind != "exact"), key=_strength)
            if not candidates:
                break
            chosen = _link_to_drop(component, candidates, conflicts)
            component = [x for x in component if x is not chosen]
            conflicts = _conflicts(component)
        kept.extend(component)
    return kept


#: Translation links scoring below this (2 of 5 segments aligned) are borderline: articles on
#: the same event by different outlets can get there through shared quotes and figures.
WEAK_TRANSLATION = 0.5


def require_corroboration(edges: list[Edge], weak_below: float = WEAK_TRANSLATION) -> list[Edge]:
    """Drops borderline translation links between two groups that each already hold several
    documents (groups as the other links form them).

    Two reports of one event, each translated on its own, can share a quote or two: on WMT
    news every remaining wrong merge was such a pair linked at 2 of 5 sentences, often through
    several of their translations at once. A borderline link to a single document (nothing
    else to weigh it against) is kept.
    """
    def weak(e: Edge) -> bool:
        return e.kind == "translation" and e.score < weak_below

    if not any(weak(e) for e in edges):
        return edges
    parent: dict[str, str] = {}
    for e in edges:
        if not weak(e):
            parent[_find(parent, e.a.article_id)] = _find(parent, e.b.article_id)
    size: dict[str, int] = defaultdict(int)
    for node in {m.article_id for e in edges for m in (e.a, e.b)}:
        size[_find(parent, node)] += 1

    def bridges_groups(e: Edge) -> bool:
        ra, rb = _find(parent, e.a.article_id), _find(parent, e.b.article_id)
        return ra != rb and size[ra] > 1 and size[rb] > 1

    return [e for e in edges if not (weak(e) and bridges_groups(e))]


def resolve_groups(edges: Iterable[Edge]) -> dict[str, dict[str, Any]]:
    """Connected components -> per-article assignment for every article that has a copy.

    The canonical member is the best-ranked one (earliest published, then original language,
    then earliest fetched). A copy's ``dup_kind`` is the most severe kind on its path from the
    canonical member, its ``dup_score`` the lowest score on that path.
    """
    members: dict[str, Member] = {}
    adjacency: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for edge in split_language_conflicts(require_corroboration(list(edges))):
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
        # joining an earlier run's group: point at that group's canonical article
        group = members[canonical].group or canonical
        if not members[canonical].existing:
            assignment[canonical] = {
                "copy_group_id": group, "is_canonical": True, "duplicate_of": None,
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
            if node == canonical or members[node].existing:
                continue
            severity, score = best[node]
            assignment[node] = {
                "copy_group_id": group, "is_canonical": False, "duplicate_of": group,
                "dup_kind": kinds[max(severity, 0)], "dup_score": float(score),
            }
    return assignment


def resolve_stories(edges: Iterable[Edge]) -> dict[str, str]:
    """``story_id`` for every article linked to another (copies are one story too): the
    earlier run's story id when the story already exists, else its best-ranked member's id."""
    parent: dict[str, str] = {}
    members: dict[str, Member] = {}
    for edge in edges:
        members.setdefault(edge.a.article_id, edge.a)
        members.setdefault(edge.b.article_id, edge.b)
        parent[_find(parent, edge.a.article_id)] = _find(parent, edge.b.article_id)
    components: dict[str, list[Member]] = defaultdict(list)
    for article_id, member in members.items():
        components[_find(parent, article_id)].append(member)
    stories = {}
    for component in components.values():
        lead = min(component, key=lambda m: m.rank)
        story = lead.story or lead.group or lead.article_id
        for member in component:
            if not member.existing:
                stories[member.article_id] = story
    return stories


def apply_assignment(record: dict[str, Any], assignment: dict[str, dict],
                     stories: dict[str, str] | None = None) -> dict[str, Any]:
    found = assignment.get(record["article_id"])
    if found is None:
        found = {"copy_group_id": record["article_id"], "is_canonical": True,
                 "duplicate_of": None, "dup_kind": None, "dup_score": None}
    record.update(found)
    record["story_id"] = (stories or {}).get(record["article_id"], record["copy_group_id"])
    return record


class _CountAssigned(beam.DoFn):
    def __init__(self):
        self.copies = Metrics.counter("dedup", "copies")
        self.unique = Metrics.counter("dedup", "unique")

    def process(self, record: dict, assignment: dict, stories: dict) -> Iterator[dict]:
        record = apply_assignment(record, assignment, stories)
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
    """Articles -> the same articles with copy-group and story columns set.

    ``pool``: where exact copies are looked for (this run's articles plus recent ones from
    earlier runs, flagged ``existing``); defaults to the articles. ``extra_edges``: ``Edge``
    PCollections of other detectors (near, translation); ``story_edges``: looser links.
    """

    def __init__(self, pool=None, extra_edges: Iterable = (), story_edges: Iterable = ()):
        super().__init__()
        self.pool = pool
        self.extra_edges = list(extra_edges)
        self.story_edges = list(story_edges)

    def expand(self, articles):
        pool = self.pool if self.pool is not None else articles
        edges = [pool | "ExactEdges" >> ExactDuplicateEdges(), *self.extra_edges]
        copy_edges = edges | "AllEdges" >> beam.Flatten()
        assignment = (
            copy_edges
            | "GatherEdges" >> beam.combiners.ToList()
            | "ConnectedComponents" >> beam.Map(resolve_groups)
        )
        stories = (
            [copy_edges, *self.story_edges]
            | "StoryAndCopyEdges" >> beam.Flatten()
            | "GatherStoryEdges" >> beam.combiners.ToList()
            | "StoryComponents" >> beam.Map(resolve_stories)
        )
        return articles | "AssignGroups" >> beam.ParDo(
            _CountAssigned(), beam.pvalue.AsSingleton(assignment),
            beam.pvalue.AsSingleton(stories),
        )


CLUSTER_FIELDS = ("article_id", "copy_group_id", "story_id", "duplicate_of", "is_canonical",
                  "language", "dup_kind", "published_at")

#: Columns an earlier run's article contributes to this run's duplicate detection.
HISTORY_COLUMNS = ["article_id", "url", "final_url", "canonical_url", "language", "published_at",
                   "fetched_at", "content_hash", "word_count", "copy_group_id", "story_id",
                   "minhash", "seg_vectors", "seg_dim", "anchors"]


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
