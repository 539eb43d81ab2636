"""Stories: independent articles about the same event, any language (looser than copies).

``story_edges`` links documents of a pool whose mean segment vectors are close once each
language's average direction is removed; ``resolve_stories`` turns story and copy edges into
``story_id``s (connected components).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import Edge, Member, find
from transforms.dedup.pools import PoolDoc, pair_allowed
from transforms.dedup.similarity import blocks, unit


def story_vectors(docs: list[PoolDoc], config: TranslationConfig) -> tuple[np.ndarray, float]:
    """Mean segment vectors to compare for stories, and the threshold that applies to them.

    Sentence embeddings share a large common direction, per language too: on WMT news, unrelated
    documents' mean vectors reach cosine 0.93 (the 99th percentile), so a threshold there
    chains a day's news into one story (1,881 of 1,943 documents). With the language's average
    direction in the pool removed, translations sit at cosine ~0.69 (median) and unrelated
    documents under 0.47 (99.9th percentile). A language with few documents is centred on a
    blend with the whole pool's average; pools too small for an average keep raw vectors and
    the raw threshold."""
    means = np.vstack([unit(d.vectors.mean(axis=0)) for d in docs]).astype(np.float32)
    if len(docs) < config.story_min_pool:
        return means, config.story_raw_threshold
    overall = means.mean(axis=0)
    prior = config.story_min_pool  # the pool's average counts as this many documents
    languages = np.array([d.language for d in docs])
    centred = means.copy()
    for language in set(languages.tolist()):
        rows = languages == language
        centred[rows] -= (means[rows].sum(axis=0) + prior * overall) / (rows.sum() + prior)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12), config.story_threshold


def story_edges(docs: list[PoolDoc], config: TranslationConfig) -> Iterator[Edge]:
    """Looser links: documents about the same event (``story_vectors``), any language.

    Each new document links to at most ``story_neighbours`` of its nearest documents above the
    threshold: stories are connected components, which need no more, and a pool of look-alike
    texts (support chats) would otherwise produce a quadratic number of links. Rows of new
    documents only, block by block."""
    usable = [d for d in docs if len(d.vectors)]
    if len(usable) < 2:
        return
    means, threshold = story_vectors(usable, config)
    fresh = np.array([i for i, d in enumerate(usable) if not d.member.existing], np.int64)
    limit = config.story_neighbours + 1  # the document itself is among its nearest
    emitted: set[tuple[int, int]] = set()
    for start, stop in blocks(len(fresh), len(means)):
        sims = means[fresh[start:stop]] @ means.T
        for r, row in enumerate(sims):
            i = int(fresh[start + r])
            above = np.flatnonzero(row >= threshold)
            if len(above) > limit:
                above = above[np.argpartition(-row[above], limit - 1)[:limit]]
            for j in above.tolist():
                pair = (min(i, j), max(i, j))
                if i != j and pair not in emitted and pair_allowed(usable[i], usable[j], config):
                    emitted.add(pair)
                    yield Edge(usable[pair[0]].member, usable[pair[1]].member, "story",
                               round(float(row[j]), 4))


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
