"""Copy groups: connected components of the copy edges, with the rules that keep a group one
story (one document per language, corroboration for borderline links), the canonical member of
each group, and the Beam step that marks every article with its group.

Duplicates are *marked*, never dropped: every article keeps its row, and copies point at the
group's canonical member through ``duplicate_of``. No step gathers a run's edges in one place:
edges are resolved per *connected day-window* (``day_windows``: the publication days that
edges connect, transitively), which holds every component whole, and assignments join the
articles by ``article_id``. Only the set of linked day pairs (at most days x days) is gathered.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.dedup.exact import ExactDuplicateEdges
from transforms.dedup.members import (
    KIND_ORDER,
    WEAK_TRANSLATION,
    Edge,
    Member,
    find,
    member_day,
)
from transforms.dedup.stories import resolve_stories


def _pair(edge: Edge) -> tuple[str, str]:
    return tuple(sorted((edge.a.article_id, edge.b.article_id)))


def _strength(edge: Edge) -> tuple[int, float, tuple[str, str]]:
    """Weakest first; equal scores are ordered by the pair's ids, never by arrival order."""
    return (0 if edge.kind == "near" else 1, edge.score, _pair(edge))


def stable_order(edges: Iterable[Edge]) -> list[Edge]:
    """Edges in an order that does not depend on how the runner delivered them (workers,
    bundles, input order), so every tie below is broken the same way in every run."""
    return sorted(edges, key=lambda e: (_pair(e), KIND_ORDER.get(e.kind, 3), -e.score))


def _conflicts(edges: list[Edge]) -> int:
    """Pairs of documents in one language and one group that are not copies of each other
    (same-language exact/near copies count as one document)."""
    copies: dict[str, str] = {}
    groups: dict[str, str] = {}
    language: dict[str, str] = {}
    for e in edges:
        language[e.a.article_id] = e.a.language or "und"
        language[e.b.article_id] = e.b.language or "und"
        groups[find(groups, e.a.article_id)] = find(groups, e.b.article_id)
        if e.kind in ("exact", "near"):
            copies[find(copies, e.a.article_id)] = find(copies, e.b.article_id)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for node, lang in language.items():
        seen[(find(groups, node), lang)].add(find(copies, node))
    return sum(len(v) * (len(v) - 1) // 2 for v in seen.values())


def _components(edges: list[Edge]) -> list[list[Edge]]:
    parent: dict[str, str] = {}
    for e in edges:
        parent[find(parent, e.a.article_id)] = find(parent, e.b.article_id)
    out: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        out[find(parent, e.a.article_id)].append(e)
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


#: Members of a group (of three or more) a single document must reach with borderline links
#: to join it; a pair it never joins so.
CORROBORATING_MEMBERS = 2


def require_corroboration(edges: list[Edge], weak_below: float = WEAK_TRANSLATION,
                          corroborating: int = CORROBORATING_MEMBERS) -> list[Edge]:
    """Drops borderline translation links between two groups (as the other links form them),
    those adding a single document to a pair, and those adding one to a bigger group unless
    it reaches ``corroborating`` of the group's members so.

    Two reports of one event, each translated on its own, can share a quote or two: on WMT
    news every remaining wrong merge was such a pair linked at 2 of 5 sentences, often through
    several of their translations at once. A quote shared with one translation is shared with
    both of a pair, so links to both prove nothing more than one (BASIL dated: 20 English
    reports joined WMT de/fr pairs so); a true translation that aligns poorly (a language the
    embedder knows badly, e.g. Hausa) still reaches several members of a bigger group.
    Between two single documents the borderline link is all the evidence there is: kept.
    """
    def weak(e: Edge) -> bool:
        return e.kind == "translation" and e.score < weak_below

    if not any(weak(e) for e in edges):
        return edges
    parent: dict[str, str] = {}
    for e in edges:
        if not weak(e):
            parent[find(parent, e.a.article_id)] = find(parent, e.b.article_id)
    size: dict[str, int] = defaultdict(int)
    for node in {m.article_id for e in edges for m in (e.a, e.b)}:
        size[find(parent, node)] += 1
    reached: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in edges:
        if weak(e):
            for one, other in ((e.a.article_id, e.b.article_id), (e.b.article_id, e.a.article_id)):
                if size[find(parent, one)] == 1:
                    reached[one, find(parent, other)].add(other)

    def unsupported(e: Edge) -> bool:
        ra, rb = find(parent, e.a.article_id), find(parent, e.b.article_id)
        if ra == rb or (size[ra] == 1 and size[rb] == 1):
            return False
        if size[ra] > 1 and size[rb] > 1:
            return True
        single, group = (e.a.article_id, rb) if size[ra] == 1 else (e.b.article_id, ra)
        return size[group] < 3 or len(reached[single, group]) < corroborating

    return [e for e in edges if not (weak(e) and unsupported(e))]


def resolve_groups(edges: Iterable[Edge]) -> dict[str, dict[str, Any]]:
    """Connected components -> per-article assignment for every article that has a copy.

    The canonical member is the best-ranked one (earliest published, then original language,
    then earliest fetched). A copy's ``dup_kind`` is the most severe kind on its path from the
    canonical member, its ``dup_score`` the lowest score on that path.
    """
    members: dict[str, Member] = {}
    adjacency: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for edge in split_language_conflicts(require_corroboration(stable_order(edges))):
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


def resolve_story_window(edges: Iterable[Edge]) -> dict[str, str]:
    """``story_id``s of one window: story links plus the copy links that copy groups keep
    (a translation link dropped for a language conflict or for want of corroboration does
    not join two stories either: in small pools such links are often chance)."""
    edges = list(edges)
    copies = [e for e in edges if e.kind != "story"]
    kept = split_language_conflicts(require_corroboration(copies))
    return resolve_stories(kept + [e for e in edges if e.kind == "story"])


def day_windows(day_pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Publication days linked by edges, transitively -> one window id per day (its earliest
    day). Every connected component of edges lies within one window."""
    parent: dict[str, str] = {}
    days: set[int] = set()
    for a, b in day_pairs:
        days.update((a, b))
        parent[find(parent, str(a))] = find(parent, str(b))
    windows: dict[str, int] = {}
    for day in sorted(days):
        windows.setdefault(find(parent, str(day)), day)
    return {day: windows[find(parent, str(day))] for day in days}


def _edge_days(edge: Edge) -> tuple[int, int]:
    return tuple(sorted((member_day(edge.a), member_day(edge.b))))


class ResolvePerDayWindow(beam.PTransform):
    """Edges -> ``(article_id, value)`` from ``resolve`` (a function of one window's edges to
    ``{article_id: value}``), run once per connected day-window: bounded by the largest
    window, not by the run."""

    def __init__(self, resolve):
        super().__init__()
        self.resolve = resolve

    def expand(self, edges):
        resolve = self.resolve
        if not isinstance(edges.windowing.windowfn, GlobalWindows):
            # a stream's Beam window is already a bounded slice: resolved whole (and with no
            # side input, which the bundle-based DirectRunner fails to map for windows that
            # hold no edges)
            return (
                edges
                | "OneGroup" >> beam.Map(lambda e: (0, e))
                | "GroupWindows" >> beam.GroupByKey()
                | "ResolveWindow" >> beam.FlatMap(lambda kv: sorted(resolve(kv[1]).items()))
            )
        windows = (
            edges
            | "EdgeDays" >> beam.Map(_edge_days)
            | "DistinctDayPairs" >> beam.Distinct()
            | "GatherDayPairs" >> beam.combiners.ToList()
            | "DayWindows" >> beam.Map(day_windows)
        )
        return (
            edges
            | "KeyByWindow" >> beam.Map(lambda e, w: (w[member_day(e.a)], e),
                                        beam.pvalue.AsSingleton(windows))
            | "GroupWindows" >> beam.GroupByKey()
            | "ResolveWindow" >> beam.FlatMap(lambda kv: sorted(resolve(kv[1]).items()))
        )


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

    def process(self, element: tuple[str, dict]) -> Iterator[dict]:
        article_id, joined = element
        groups, stories = list(joined["group"]), list(joined["story"])
        assignment = {article_id: groups[0]} if groups else {}  # one day, so one window
        story = {article_id: stories[0]} if stories else {}
        for record in joined["article"]:
            record = apply_assignment(record, assignment, story)
            if record["duplicate_of"]:
                self.copies.inc()
                Metrics.counter("dedup", f"copies_{record['dup_kind']}").inc()
            else:
                self.unique.inc()
            yield record


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
        groups = copy_edges | "CopyGroups" >> ResolvePerDayWindow(resolve_groups)
        stories = (
            [copy_edges, *self.story_edges]
            | "StoryAndCopyEdges" >> beam.Flatten()
            | "Stories" >> ResolvePerDayWindow(resolve_story_window)
        )
        keyed = articles | "KeyArticles" >> beam.Map(lambda r: (r["article_id"], r))
        return (
            {"article": keyed, "group": groups, "story": stories}
            | "JoinAssignments" >> beam.CoGroupByKey()
            | "AssignGroups" >> beam.ParDo(_CountAssigned())
        )
