"""Translated copies across languages: segment embeddings, margin alignment, mutual best.

A raw cosine threshold between document vectors cannot separate translations from articles on
the same topic (DESIGN.md §8). What does: embed the headline and the first sentences of each
document separately, score every segment pair by its *ratio margin* (cosine divided by the mean
of each side's 8 nearest cosines in the pool, Artetxe & Schwenk 2019), and call two documents
translations when enough of their segments are each other's best match with a margin (or, for
languages the model knows less well, when mutual best segments run in document order at a
lower margin: ``pair_score``), and each document is the other's best such partner in that
language. Candidates come from the mean segment vector (the nearest documents of each other
language, for new documents only), so no step scores all pairs.

Pools are windows of publication days: a document meets the documents of its own day and of
the next, so translations published up to a day apart are compared, and margins are computed
against what was published around the same time. Similarities are computed block by block, so
a pool of any size runs in bounded memory. Languages the model does not know get
language-independent anchors instead (numbers and transliterated names), never nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.dedup import WEAK_TRANSLATION, Edge, Member, member_of
from transforms.embedding import load_embedder, pack, unpack
from transforms.progress import Progress

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[^\W\d_][^\W\d_'’-]{2,}", re.UNICODE)


@dataclass(frozen=True)
class TranslationConfig:
    segments: int = 5  # headline + first sentences embedded per document
    segment_chars: int = 300
    neighbours: int = 8  # k of the ratio margin
    segment_margin: float = 1.025  # a segment pair aligns when mutual best with this margin
    short_margin: float = 1.05  # ...and this one when a document has a single segment
    min_aligned_fraction: float = 0.4  # of the shorter document's segments
    min_aligned: int = 2  # documents with one segment need their single segment aligned
    # weakly modelled languages (Hausa) align in order at lower margins: an order-preserving
    # chain of mutual best segments at chain_margin covering chain_fraction of the shorter
    # document (strong_chain_fraction when a pair reaches short_margin) is a borderline link
    chain_margin: float = 0.995
    chain_fraction: float = 0.8
    strong_chain_fraction: float = 0.6
    candidates: int = 10  # nearest documents per other language to verify
    anchor_threshold: float = 0.34  # anchor Jaccard for languages the model does not know
    min_anchors: int = 3
    # "same story": cosine of mean segment vectors with each language's average direction in
    # the pool removed (story_vectors); pools under story_min_pool documents compare raw vectors
    story_threshold: float = 0.6
    story_raw_threshold: float = 0.93
    story_min_pool: int = 20
    story_neighbours: int = 10  # story links per new document, to its nearest above threshold
    window_days: int = 1
    embedder: str = "e5"


def segments(title: str | None, text: str, config: TranslationConfig) -> list[str]:
    """Headline first, then sentences of the text, each cut to ``segment_chars``."""
    out: list[str] = []
    lines = [line.strip() for line in (text or "").split("\n") if line.strip()]
    if title and title.strip() and (not lines or lines[0] != title.strip()):
        out.append(title.strip())
    for line in lines:
        for sentence in _SENTENCE_END.split(line):
            sentence = sentence.strip()
            if len(sentence) >= 2:
                out.append(sentence[: config.segment_chars])
            if len(out) >= config.segments:
                return out
    return out


def anchors(texts: list[str]) -> list[str]:
    """Signals that survive translation: numbers (any script's digits, as ASCII) and
    capitalised names as transliterated consonant skeletons."""
    from anyascii import anyascii

    found: set[str] = set()
    for text in texts:
        for match in _NUMBER.finditer(text):
            digits = "".join(str(unicodedata.digit(ch)) for ch in match.group() if ch.isdigit())
            digits = digits.lstrip("0")
            if len(digits) >= 2:
                found.add("#" + digits)
        for index, match in enumerate(_NAME.finditer(text)):
            word = match.group()
            if index == 0 or not word[0].isupper():
                continue  # sentence-initial words are capitalised anyway
            skeleton = re.sub(r"[aeiouy\W\d_]", "", anyascii(word).lower())
            if len(skeleton) >= 3:
                found.add("@" + skeleton[:4])
    return sorted(found)


#: cells of a similarity block held at once (64 MB of float32): pools of any size run in
#: bounded memory, one block of rows against all columns at a time
BLOCK_CELLS = 1 << 24


def _blocks(rows: int, cols: int):
    step = max(1, BLOCK_CELLS // max(cols, 1))
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def _top_k(queries: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar ``items`` of every query row: (indices, cosines), computed block by
    block of queries so no full similarity matrix is ever held."""
    k = min(k, len(items))
    index = np.zeros((len(queries), k), np.int64)
    value = np.zeros((len(queries), k), np.float32)
    for start, stop in _blocks(len(queries), len(items)):
        sims = queries[start:stop] @ items.T
        top = np.argpartition(sims, -k, axis=1)[:, -k:]
        index[start:stop] = top
        value[start:stop] = np.take_along_axis(sims, top, axis=1)
    return index, value


def _knn_mean(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine of every query row's k most similar items (the ratio margin's
    neighbourhood), block by block."""
    k = min(k, len(items))
    out = np.zeros(len(queries), np.float32)
    for start, stop in _blocks(len(queries), len(items)):
        sims = queries[start:stop] @ items.T
        out[start:stop] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


@dataclass
class PoolDoc:
    member: Member
    language: str
    vectors: np.ndarray  # segments x dim, L2-normalised
    anchors: frozenset[str]
    day: int
    home: bool  # this pool is the document's own window (else it is a guest from the next day)


def translation_edges(docs: list[PoolDoc], config: TranslationConfig,
                      known: frozenset[str] | None) -> Iterator[Edge]:
    """Verified translation pairs among a pool's documents (pure; no Beam)."""
    by_lang: dict[str, list[PoolDoc]] = defaultdict(list)
    for doc in docs:
        by_lang[doc.language].append(doc)
    with_vectors = {lang: [d for d in group if len(d.vectors)] for lang, group in by_lang.items()}
    for la, lb in itertools.combinations(sorted(by_lang), 2):
        left, right = by_lang[la], by_lang[lb]
        if not any(d.home for d in left + right):
            continue
        model_knows = known is None or (la in known and lb in known)
        if model_knows:
            if with_vectors[la] and with_vectors[lb]:
                yield from _aligned_pairs(with_vectors[la], with_vectors[lb], config)
        else:
            yield from _anchor_pairs(left, right, config)


def _pair_allowed(a: PoolDoc, b: PoolDoc, config: TranslationConfig) -> bool:
    if a.member.existing and b.member.existing:
        return False  # decided by an earlier run
    if not (a.home or b.home) or abs(a.day - b.day) > config.window_days:
        return False
    # evaluated in the window of the earlier day only, so each pair is decided once
    return (a.home and b.home) or (a.home and b.day == a.day + 1) or (
        b.home and a.day == b.day + 1)


def _mutual_best(scores: dict[tuple[int, int], float], left, right, kind: str):
    best_left: dict[int, tuple[float, int]] = {}
    best_right: dict[int, tuple[float, int]] = {}
    for (i, j), score in scores.items():
        if score > best_left.get(i, (-1.0, -1))[0]:
            best_left[i] = (score, j)
        if score > best_right.get(j, (-1.0, -1))[0]:
            best_right[j] = (score, i)
    for i, (score, j) in best_left.items():
        if best_right[j][1] == i:
            yield Edge(left[i].member, right[j].member, kind, round(float(score), 4))


def _aligned_pairs(left: list[PoolDoc], right: list[PoolDoc], config: TranslationConfig):
    """Candidates are the nearest documents (mean segment vector) of every *new* document, both
    ways; margins are computed for the segments of candidate pairs only. A pool holding a
    day's earlier articles (``existing``) and one run's new ones therefore costs
    O(new x pool), not O(pool^2): pairs of two earlier articles were decided before."""
    seg_left = np.vstack([d.vectors for d in left]).astype(np.float32)
    seg_right = np.vstack([d.vectors for d in right]).astype(np.float32)
    offsets_left = np.cumsum([0] + [len(d.vectors) for d in left])
    offsets_right = np.cumsum([0] + [len(d.vectors) for d in right])
    segment_rows = [np.arange(offsets_right[j], offsets_right[j + 1]) for j in range(len(right))]
    mean_left = np.vstack([_unit(d.vectors.mean(axis=0)) for d in left]).astype(np.float32)
    mean_right = np.vstack([_unit(d.vectors.mean(axis=0)) for d in right]).astype(np.float32)
    new_left = np.array([i for i, d in enumerate(left) if not d.member.existing], np.int64)
    new_right = np.array([j for j, d in enumerate(right) if not d.member.existing], np.int64)
    partners: dict[int, set[int]] = defaultdict(set)
    if len(new_left):
        nearest = _top_k(mean_left[new_left], mean_right, config.candidates)[0]
        for i, row in zip(new_left.tolist(), nearest.tolist(), strict=True):
            partners[i].update(row)
    if len(new_right):
        nearest = _top_k(mean_right[new_right], mean_left, config.candidates)[0]
        for j, row in zip(new_right.tolist(), nearest.tolist(), strict=True):
            for i in row:
                partners[i].add(j)
    if not partners:
        return
    # ratio margin denominators: mean cosine of a segment's k nearest on the other side
    knn_left, knn_right = np.ones(len(seg_left), np.float32), np.ones(len(seg_right), np.float32)
    rows_left = np.concatenate([np.arange(offsets_left[i], offsets_left[i + 1])
                                for i in sorted(partners)])
    rows_right = np.concatenate([segment_rows[j] for j in sorted(set().union(*partners.values()))])
    knn_left[rows_left] = _knn_mean(seg_left[rows_left], seg_right, config.neighbours)
    knn_right[rows_right] = _knn_mean(seg_right[rows_right], seg_left, config.neighbours)
    scores: dict[tuple[int, int], float] = {}
    for i, js in partners.items():
        a = left[i]
        js = [j for j in sorted(js) if _pair_allowed(a, right[j], config)]
        if not js:
            continue
        rows = slice(offsets_left[i], offsets_left[i + 1])
        cols = np.concatenate([segment_rows[j] for j in js])
        margins = (seg_left[rows] @ seg_right[cols].T) / (
            (knn_left[rows, None] + knn_right[None, cols]) / 2)
        at = 0
        for j in js:
            width = len(segment_rows[j])
            score = pair_score(margins[:, at:at + width], a, right[j], config)
            at += width
            if score is not None:
                scores[(i, j)] = score + 0.001 * float(mean_left[i] @ mean_right[j])
    yield from _mutual_best(scores, left, right, "translation")


def pair_score(sub: np.ndarray, a: PoolDoc, b: PoolDoc, config: TranslationConfig) -> float | None:
    """Segment margins of two documents -> their translation score, or None.

    Clear: at least ``min_aligned_fraction`` of the shorter document's segments are mutual best
    at ``segment_margin`` (score = that fraction). Borderline (score < WEAK_TRANSLATION, so
    ``require_corroboration`` applies): fewer aligned at that margin but an order-preserving
    chain of mutual best pairs at ``chain_margin`` — translations keep sentence order; chance
    matches between two reports of one event do not."""
    if sub.size == 0:
        return None
    best_b, best_a = sub.argmax(axis=1), sub.argmax(axis=0)
    mutual = [(x, int(y)) for x, y in enumerate(best_b) if best_a[y] == x]
    shorter = min(sub.shape)
    # one-sentence documents (chat lines, product titles) align by chance more often
    needed = config.short_margin if shorter == 1 else config.segment_margin
    aligned = sum(1 for x, y in mutual if sub[x, y] >= needed)
    fraction = aligned / shorter
    enough = aligned >= config.min_aligned or (shorter == 1 and aligned == 1)
    if enough and fraction >= config.min_aligned_fraction:
        # numbers veto only borderline pairs: translators convert units (130 miles -> 210 km)
        clear = shorter > 1 and fraction >= WEAK_TRANSLATION
        return fraction if clear or _numbers_agree(a, b) else None
    if shorter < 3:
        return None
    covered = ordered_chain([(x, y) for x, y in mutual if sub[x, y] >= config.chain_margin])
    needed_chain = (config.strong_chain_fraction if float(sub.max()) >= config.short_margin
                    else config.chain_fraction)
    if covered >= 3 and covered / shorter >= needed_chain and _numbers_agree(a, b):
        return 0.3 * covered / shorter  # ranks below every pair aligned at segment_margin
    return None


def ordered_chain(pairs: list[tuple[int, int]]) -> int:
    """Length of the longest chain of (i, j) pairs increasing in both i and j."""
    pairs = sorted(pairs)
    longest = [1] * len(pairs)
    for k, (i, j) in enumerate(pairs):
        for m in range(k):
            if pairs[m][0] < i and pairs[m][1] < j:
                longest[k] = max(longest[k], longest[m] + 1)
    return max(longest, default=0)


def _numbers_agree(a: PoolDoc, b: PoolDoc) -> bool:
    """Two documents that both quote several numbers and share none are not copies."""
    na = {x for x in a.anchors if x.startswith("#")}
    nb = {x for x in b.anchors if x.startswith("#")}
    return len(na) < 2 or len(nb) < 2 or bool(na & nb)


def _anchor_pairs(left: list[PoolDoc], right: list[PoolDoc], config: TranslationConfig):
    scores: dict[tuple[int, int], float] = {}
    index: dict[str, list[int]] = defaultdict(list)
    for j, doc in enumerate(right):
        for anchor in doc.anchors:
            index[anchor].append(j)
    for i, doc in enumerate(left):
        shared: dict[int, int] = defaultdict(int)
        for anchor in doc.anchors:
            for j in index.get(anchor, ()):
                shared[j] += 1
        for j, count in shared.items():
            union = len(doc.anchors | right[j].anchors)
            score = count / union if union else 0.0
            if (count >= config.min_anchors and score >= config.anchor_threshold
                    and _pair_allowed(doc, right[j], config)):
                scores[(i, j)] = score
    yield from _mutual_best(scores, left, right, "translation")


def story_vectors(docs: list[PoolDoc], config: TranslationConfig) -> tuple[np.ndarray, float]:
    """Mean segment vectors to compare for stories, and the threshold that applies to them.

    Sentence embeddings share a large common direction, per language too: on WMT news, unrelated
    documents' mean vectors reach cosine 0.93 (the 99th percentile), so a threshold there
    chains a day's news into one story (1,881 of 1,943 documents). With the language's average
    direction in the pool removed, translations sit at cosine ~0.69 (median) and unrelated
    documents under 0.47 (99.9th percentile). A language with few documents is centred on a
    blend with the whole pool's average; pools too small for an average keep raw vectors and
    the raw threshold."""
    means = np.vstack([_unit(d.vectors.mean(axis=0)) for d in docs]).astype(np.float32)
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
    for start, stop in _blocks(len(fresh), len(means)):
        sims = means[fresh[start:stop]] @ means.T
        for r, row in enumerate(sims):
            i = int(fresh[start + r])
            above = np.flatnonzero(row >= threshold)
            if len(above) > limit:
                above = above[np.argpartition(-row[above], limit - 1)[:limit]]
            for j in above.tolist():
                pair = (min(i, j), max(i, j))
                if i != j and pair not in emitted and _pair_allowed(usable[i], usable[j], config):
                    emitted.add(pair)
                    yield Edge(usable[pair[0]].member, usable[pair[1]].member, "story",
                               round(float(row[j]), 4))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


# ---------------------------------------------------------------------------------------------
# Beam wiring


def day_number(record: dict[str, Any]) -> int:
    when = record.get("published_at") or record.get("fetched_at")
    if not isinstance(when, dt.datetime):
        when = dt.datetime.now(dt.timezone.utc)
    return when.toordinal()


class EmbedSegments(beam.DoFn):
    """Batches of articles -> the same articles with ``seg_vectors`` and ``anchors`` set."""

    def __init__(self, config: TranslationConfig):
        self.config = config
        self.embedded = Metrics.counter("dedup", "segments_embedded")

    def setup(self):
        self.embedder = load_embedder(self.config.embedder)
        self.progress = Progress("embed (translation signatures)")

    def process(self, batch: list[dict]) -> Iterator[dict]:
        per_doc = [segments(r.get("title"), r.get("text") or "", self.config) for r in batch]
        flat = [s for segs in per_doc for s in segs]
        vectors = self.embedder.embed(flat) if flat else np.zeros((0, 1), np.float32)
        self.embedded.inc(len(flat))
        self.progress.tick(n=len(batch))
        offset = 0
        for record, segs in zip(batch, per_doc, strict=True):
            record["seg_vectors"] = pack(vectors[offset:offset + len(segs)])
            record["seg_dim"] = int(vectors.shape[1]) if len(segs) else 0
            record["anchors"] = anchors(segs)
            offset += len(segs)
            yield record


def _pool_entries(record: dict, window_days: int):
    day = day_number(record)
    slim = {
        "member": member_of(record),
        "language": record.get("language") or "und",
        "seg_vectors": record.get("seg_vectors"),
        "seg_dim": record.get("seg_dim") or 384,
        "anchors": record.get("anchors") or [],
        "day": day,
    }
    yield day, {**slim, "home": True}
    for back in range(1, window_days + 1):
        yield day - back, {**slim, "home": False}


class _PoolEdges(beam.DoFn):
    STORIES = "stories"

    def __init__(self, config: TranslationConfig, known: frozenset[str] | None):
        self.config, self.known = config, known
        self.pools = Metrics.counter("dedup", "translation_pools")

    def process(self, element) -> Iterator:
        _, entries = element
        docs = [PoolDoc(e["member"], e["language"], unpack(e["seg_vectors"], e["seg_dim"]),
                        frozenset(e["anchors"]), e["day"], e["home"]) for e in entries]
        self.pools.inc()
        yield from translation_edges(docs, self.config, self.known)
        for edge in story_edges(docs, self.config):
            yield beam.pvalue.TaggedOutput(self.STORIES, edge)


class TranslationEdges(beam.PTransform):
    """Articles with ``seg_vectors`` -> translation ``Edge``s (main) and story edges
    (``stories``), pooled by publication-day windows."""

    def __init__(self, config: TranslationConfig, known: frozenset[str] | None):
        super().__init__()
        self.config, self.known = config, known

    def expand(self, articles):
        window = self.config.window_days
        return (
            articles
            | "PoolByDay" >> beam.FlatMap(lambda r: _pool_entries(r, window))
            | "GroupPools" >> beam.GroupByKey()
            | "AlignPools" >> beam.ParDo(_PoolEdges(self.config, self.known)).with_outputs(
                _PoolEdges.STORIES, main="translations")
        )
