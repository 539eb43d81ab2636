"""Stories: independent articles about the same event, any language (looser than copies).

Two signals, one vector per document (``story_vectors``): the mean segment vector with each
language's average direction removed (what the text is about), and the names and numbers it
mentions (``story_names`` and the ``#`` anchors: who, where, which year, how many; they tell two
look-alike events apart: two celebrities entering rehab, one country's elections five years
apart), weighted by how rare they are in the pool. ``story_edges`` clusters a pool's
documents by *average* linkage over their nearest neighbours: a story grows only while its
members are close on average, so one borderline link does not chain a day's news together
(connected components over the same links did), and two large clusters merge only when they
are nearly as close to each other as their own members are (the cohesion rule: look-alike
events are each tight, and further apart than that). A report linkage leaves alone then
joins the story its links reach that it is closest to on average, if close enough
(``attach_lone_reports``: a story of many reports is spread, so a report's average to all
of it falls short of what a new member of a small story needs). Pools span
``story_window_days`` of publication days: reports of one event spread over several.
``resolve_stories`` turns story and copy edges into ``story_id``s.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

import apache_beam as beam
import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import Edge, Member, find
from transforms.dedup.pools import PoolDoc
from transforms.dedup.similarity import top_k, unit, unit_means
from transforms.rejects import REJECTS, guarded

_NAME = re.compile(r"\b[^\W\d_][^\W\d_'’-]{2,}", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
#: width of the hashed names part of a story vector (sign hashing keeps collisions unbiased)
NAME_DIM = 256


def story_names(title: str | None, text: str | None, limit: int = 32) -> list[str]:
    """The names an article mentions most (capitalised words not opening a sentence, as
    transliterated consonant skeletons so ``Обама`` and ``Obama`` agree), at most ``limit``.

    Whole text, not just the lead: two reports of one event name the same people and places
    somewhere, two look-alike events (another celebrity, another town) do not."""
    from anyascii import anyascii

    counts: Counter[str] = Counter()
    for line in f"{title or ''}\n{text or ''}".split("\n"):
        for sentence in _SENTENCE_END.split(line):
            for index, match in enumerate(_NAME.finditer(sentence)):
                word = match.group()
                if index == 0 or not word[0].isupper():
                    continue
                ascii_word = anyascii(unicodedata.normalize("NFC", word)).lower()
                skeleton = re.sub(r"[aeiouy\W\d_]", "", ascii_word)
                if len(skeleton) >= 3:
                    counts[skeleton[:5]] += 1
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


class AddStoryNames(beam.DoFn):
    """Sets ``story_names`` (a column, so a later run compares without the text)."""

    REJECTS = REJECTS

    @guarded("dedup")  # a record that breaks name extraction is a reject row, not a crash
    def process(self, record: dict) -> Iterator[dict]:
        record["story_names"] = story_names(record.get("title"), record.get("text"))
        yield record


def _name_slot(name: str) -> tuple[int, float]:
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    value = int.from_bytes(digest, "little")
    return value % NAME_DIM, 1.0 if value >> 31 else -1.0


def name_vectors(docs: list[PoolDoc], numbers: bool = False) -> np.ndarray:
    """Names as unit vectors, each name weighted by its rarity in the pool (idf): a name that
    half the day mentions (a head of state) says little, one that two articles share says a
    lot. Hashed into ``NAME_DIM`` signed slots so the pool needs no vocabulary. ``numbers``:
    the numbers a document names (its ``#`` anchors: years, counts, scores) count as names."""
    terms = [set(d.names) | ({a for a in d.anchors if a.startswith("#")} if numbers else set())
             for d in docs]
    frequency: Counter[str] = Counter(n for t in terms for n in t)
    out = np.zeros((len(docs), NAME_DIM), np.float32)
    total = len(docs)
    for row, names in enumerate(terms):
        for name in names:
            if frequency[name] < 2:
                continue  # a name nobody else mentions links nothing
            slot, sign = _name_slot(name)
            out[row, slot] += sign * math.log(total / frequency[name])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def story_vectors(docs: list[PoolDoc], config: TranslationConfig,
                  means: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """One unit vector per document whose dot products are the story similarity, and the
    threshold that applies to them.

    Sentence embeddings share a large common direction, per language too: on WMT news, unrelated
    documents' mean vectors reach cosine 0.93 (the 99th percentile), so a threshold there
    chains a day's news into one story. With the language's average direction in the pool
    removed, reports of one event sit at cosine ~0.6 (median, ECB+ and BASIL) and other events
    under 0.4 (99th percentile). Names add what the text's topic cannot (``name_vectors``): the
    similarity is ``story_text_weight`` x the centred cosine + the rest x the names' cosine. A
    language with few documents is centred on a blend with the whole pool's average; pools too
    small for an average keep raw vectors (without names) and the raw threshold. ``means``:
    the documents' unit vectors when they are not their segments' means (the cascade's
    headlines; float32, as every caller's are: the text part is centred in float32)."""
    means = unit_means([d.vectors for d in docs]) if means is None else means
    if len(docs) < config.story_min_pool:
        return means, config.story_raw_threshold
    overall = means.mean(axis=0)
    prior = config.story_min_pool  # the pool's average counts as this many documents
    languages = np.array([d.language for d in docs])
    names = name_vectors(docs, numbers=True)
    dim = means.shape[1]
    # the text part is centred where it is returned (a 100k pool's arrays are ~150 MB each:
    # each one fewer is a pass over fresh memory fewer)
    combined = np.empty((len(docs), dim + names.shape[1]), np.float32)
    centred = combined[:, :dim]
    centred[:] = means
    for language in set(languages.tolist()):
        rows = languages == language
        centred[rows] -= (means[rows].sum(axis=0) + prior * overall) / (rows.sum() + prior)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    # a document without shared names (a zero row) is compared by its text alone, not
    # penalised: its text part is scaled by 1
    weight = config.story_text_weight
    centred *= np.where(names.any(axis=1), np.float32(math.sqrt(weight)), np.float32(1))[:, None]
    np.multiply(names, math.sqrt(1 - weight), out=combined[:, dim:])
    return combined, config.story_threshold


def story_pair_allowed(a: PoolDoc, b: PoolDoc, config: TranslationConfig) -> bool:
    """Whether this pool decides the pair: one of them is at home here (a pool's guests are
    from the ``story_window_days`` after its day), so each pair is decided once, in the pool
    of its earlier day; pairs of two earlier runs' articles are already decided."""
    if a.member.existing and b.member.existing:
        return False
    if a.home and b.home:
        return True
    home, guest = (a, b) if a.home else (b, a)
    return home.home and 0 < guest.day - home.day <= config.story_window_days


def average_linkage(vectors: np.ndarray, links: Iterable[tuple[int, int]],
                    threshold: float, cohesion: float = 0.0, tight: int = 2) -> list[int]:
    """Clusters over candidate ``links`` (index pairs): the two linked clusters with the
    highest *average* pairwise similarity merge while that average is at least ``threshold``,
    and, when both have ``tight`` members or more, at least ``cohesion`` x the higher of their
    own members' average similarity (on ECB+ two look-alike events average ~.38 to each other,
    reports of one event ~.53 among themselves; a small cluster is too little evidence).
    Rows of ``vectors`` are unit vectors, so a cluster's average to another is the dot product
    of their sums over the product of their sizes. Returns each row's cluster (the index of
    one of its members)."""
    links = sorted(set(links))
    sums = {i: vectors[i].astype(np.float64) for i in {x for pair in links for x in pair}}
    size = dict.fromkeys(sums, 1)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in links:
        neighbours[a].add(b)
        neighbours[b].add(a)
    heap = [(-score, a, b) for a, b in links
            if (score := _average(sums, size, a, b)) >= threshold]
    heapq.heapify(heap)
    label = list(range(len(vectors)))
    members = {i: [i] for i in sums}
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # merged away since
        if -negative != _average(sums, size, a, b):
            continue  # a stale entry: one side grew since
        if cohesion and min(size[a], size[b]) >= tight and -negative < cohesion * max(
                _within(sums, size, a), _within(sums, size, b)):
            continue  # two tight clusters further apart than their members: two events
        sums[a] = sums[a] + sums.pop(b)
        size[a] += size.pop(b)
        members[a] += members.pop(b)
        around = (neighbours[a] | neighbours.pop(b)) - {a, b}
        neighbours[a] = around
        for other in around:
            neighbours[other].discard(b)
            neighbours[other].add(a)
            score = _average(sums, size, a, other)
            if score >= threshold:
                heapq.heappush(heap, (-score, min(a, other), max(a, other)))
    for root, rows in members.items():
        for row in rows:
            label[row] = root
    return label


def _average(sums: dict, size: dict, a: int, b: int) -> float:
    return float(sums[a] @ sums[b]) / (size[a] * size[b])


def _within(sums: dict, size: dict, a: int) -> float:
    """Average similarity of a cluster's member pairs (0 for one member: no evidence)."""
    n = size[a]
    return (float(sums[a] @ sums[a]) - n) / (n * (n - 1)) if n > 1 else 0.0


def attach_lone_reports(vectors: np.ndarray, links: Iterable[tuple[int, int]],
                        labels: list[int], threshold: float, ratio: float,
                        fresh: Iterable[int]) -> list[int]:
    """``labels`` with each ``fresh`` row that average linkage left alone moved into a story
    it has a link to at ``threshold`` or more: of those stories, the one it is closest to on
    average, if that average reaches ``ratio`` x ``threshold``.

    Average linkage holds a report to the average of the whole story it would join, and a
    story of many reports is spread out: on ECB+ 16 of 20 lone reports have their nearest
    report in their event's story (at .28-.53) while their average to it falls short
    (.20-.36). A story of one member is no evidence of a story, so only rows in stories of two
    or more are joined, each decided against the stories as linkage left them (the order of
    rows does not matter)."""
    members: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        members[label].append(row)
    around: dict[int, set[int]] = defaultdict(set)
    for a, b in links:
        around[a].add(b)
        around[b].add(a)
    out = list(labels)
    for row in fresh:
        if len(members[labels[row]]) > 1:
            continue
        averages = {}
        for other in around[row]:
            story = members[labels[other]]
            if len(story) > 1 and float(vectors[row] @ vectors[other]) >= threshold:
                averages[labels[other]] = float((vectors[story] @ vectors[row]).mean())
        if averages:
            best = max(sorted(averages), key=averages.__getitem__)
            if averages[best] >= ratio * threshold:
                out[row] = best
    return out


def candidate_links(docs: list[PoolDoc], vectors: np.ndarray, threshold: float,
                    config: TranslationConfig) -> set[tuple[int, int]]:
    """Index pairs (new document, one of its ``story_neighbours`` nearest above
    ``threshold``) that this pool may link (``pair_allowed``)."""
    fresh = np.array([i for i, d in enumerate(docs) if not d.member.existing], np.int64)
    links: set[tuple[int, int]] = set()
    if not len(fresh):
        return links
    index, value = top_k(vectors[fresh], vectors, config.story_neighbours + 1)
    for i, row, sims in zip(fresh.tolist(), index.tolist(), value.tolist(), strict=True):
        for j, sim in zip(row, sims, strict=True):
            if i != j and sim >= threshold and story_pair_allowed(docs[i], docs[j], config):
                links.add((min(i, j), max(i, j)))
    return links


def story_edges(docs: list[PoolDoc], config: TranslationConfig) -> Iterator[Edge]:
    """Story links of a pool (pure; no Beam): every new document's ``story_neighbours``
    nearest (``story_vectors``) are its candidate links, clusters form by ``average_linkage``
    over them (then ``attach_lone_reports``, in pools large enough to centre), and each
    cluster is emitted as links from its members to its best-ranked member (or the
    best-ranked one this pool may link them to: ``pair_allowed``). Pairs of two earlier
    articles are never scored, so a later run costs new x pool."""
    usable = [d for d in docs if len(d.vectors)]
    if len(usable) < 2:
        return
    vectors, threshold = story_vectors(usable, config)
    links = candidate_links(usable, vectors, threshold, config)
    clusters: dict[int, list[int]] = defaultdict(list)
    labels = average_linkage(vectors, links, threshold, config.story_cohesion,
                             config.story_tight)
    if config.story_attach and len(usable) >= config.story_min_pool:  # centred vectors only
        labels = attach_lone_reports(
            vectors, links, labels, threshold, config.story_attach,
            [i for i, d in enumerate(usable) if not d.member.existing])
    for row, cluster in enumerate(labels):
        clusters[cluster].append(row)
    for rows in clusters.values():
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: usable[r].member.rank)
        centre = unit(vectors[rows].sum(axis=0))
        for r in rows[1:]:
            lead = next((x for x in rows
                         if x != r and story_pair_allowed(usable[x], usable[r], config)), None)
            if lead is not None:
                a, b = sorted((lead, r))
                yield Edge(usable[a].member, usable[b].member, "story",
                           round(float(vectors[r] @ centre), 4))


def resolve_stories(edges: Iterable[Edge]) -> dict[str, str]:
    """``story_id`` for every article linked to another (copies are one story too): the
    earlier run's story id when the story already exists, else its best-ranked member's id."""
    parent: dict[str, str] = {}
    members: dict[str, Member] = {}
    for edge in edges:
        members.setdefault(edge.a.article_id, edge.a)
        members.setdefault(edge.b.article_id, edge.b)
        parent[find(parent, edge.a.article_id)] = find(parent, edge.b.article_id)
    components: dict[str, list[Member]] = defaultdict(list)
    for article_id, member in members.items():
        components[find(parent, article_id)].append(member)
    stories = {}
    for component in components.values():
        lead = min(component, key=lambda m: m.rank)
        story = lead.story or lead.group or lead.article_id
        for member in component:
            if not member.existing:
                stories[member.article_id] = story
    return stories
