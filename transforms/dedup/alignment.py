"""Translated copies across languages: margin alignment of segments, mutual best documents.

A raw cosine threshold between document vectors cannot separate translations from articles on
the same topic (DESIGN.md §8). What does: embed the headline and the first sentences of each
document separately, score every segment pair by its *ratio margin* (cosine divided by the mean
of each side's 8 nearest cosines in the pool, each counted at least ``margin_floor``, and
at least ``thin_margin_floor`` where the other side has fewer than 8 documents: a thin pool
has no close neighbours to offer; Artetxe & Schwenk 2019), and call two documents
translations when enough of their segments are each other's best match with a margin (or, for
languages the model knows less well, when mutual best segments run in document order at a
lower margin: ``pair_score``), and each document is the other's best such partner in that
language. Candidates come from the mean segment vector (the nearest documents of each other
language, for new documents only), so no step scores all pairs. Languages the model does not
know get language-independent anchors instead (numbers and transliterated names), never nothing.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from transforms.blas import small_products
from transforms.dedup.config import TranslationConfig
from transforms.dedup.ivf import on_every_core
from transforms.dedup.members import WEAK_TRANSLATION, Edge
from transforms.dedup.pools import PoolDoc, pair_allowed
from transforms.dedup.similarity import (
    Neighbours,
    cross_knn_means,
    floored_means,
    top_k,
    unit_means,
)


def translation_edges(docs: list[PoolDoc], config: TranslationConfig,
                      known: frozenset[str] | None) -> Iterator[Edge]:
    """Verified translation pairs among a pool's documents (pure; no Beam)."""
    by_lang: dict[str, list[PoolDoc]] = defaultdict(list)
    for doc in docs:
        by_lang[doc.language].append(doc)
    with_vectors = {lang: [d for d in group if len(d.vectors)] for lang, group in by_lang.items()}
    sides: dict[str, _Side] = {}  # a language's vectors and indexes, searched from every other
    for la, lb in itertools.combinations(sorted(by_lang), 2):
        left, right = by_lang[la], by_lang[lb]
        if not any(d.home for d in left + right):
            continue
        model_knows = known is None or (la in known and lb in known)
        if model_knows:
            if with_vectors[la] and with_vectors[lb]:
                for lang in (la, lb):
                    if lang not in sides:
                        sides[lang] = _Side(with_vectors[lang])
                yield from _aligned_pairs(sides[la], sides[lb], config)
        else:
            yield from _anchor_pairs(left, right, config)


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


class _Side:
    """One language's documents of a pool as stacked vectors, and their nearest-neighbour
    indexes (``similarity.Neighbours``), built once however many other languages search them."""

    def __init__(self, docs: list[PoolDoc]):
        self.docs = docs
        self.segments = np.concatenate([d.vectors for d in docs], dtype=np.float32)
        self.offsets = np.cumsum([0] + [len(d.vectors) for d in docs])
        self.means = unit_means([self.segments[a:b] for a, b in zip(
            self.offsets[:-1].tolist(), self.offsets[1:].tolist(), strict=True)])
        self.new = np.array([i for i, d in enumerate(docs) if not d.member.existing], np.int64)
        self.segment_index, self.mean_index = Neighbours(self.segments), Neighbours(self.means)
        self.flags = {
            "existing": np.array([d.member.existing for d in docs], bool),
            "home": np.array([d.home for d in docs], bool),
            "day": np.array([d.day for d in docs], np.int64)}

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(documents x longest) segment rows (padding repeats a document's first row),
        which of them are real, and each document's segment count."""
        counts = np.diff(self.offsets)
        width = max(1, int(counts.max()))
        real = np.arange(width)[None, :] < counts[:, None]
        rows = np.where(real, self.offsets[:-1, None] + np.arange(width)[None, :],
                        self.offsets[:-1, None])
        return rows, real, counts

    def rows(self, doc: int) -> np.ndarray:
        return np.arange(self.offsets[doc], self.offsets[doc + 1])


def _aligned_pairs(sl: _Side, sr: _Side, config: TranslationConfig):
    """Candidates are the nearest documents (mean segment vector) of every *new* document, both
    ways; margins are computed for the segments of candidate pairs only. A pool holding a
    day's earlier articles (``existing``) and one run's new ones therefore costs
    O(new x pool), not O(pool^2): pairs of two earlier articles were decided before."""
    left, right = sl.docs, sr.docs
    seg_left, seg_right = sl.segments, sr.segments
    mean_left, mean_right = sl.means, sr.means
    new_left, new_right = sl.new, sr.new
    partners: dict[int, set[int]] = defaultdict(set)
    if len(new_left):
        nearest = top_k(mean_left[new_left], sr.mean_index, config.candidates)[0]
        for i, row in zip(new_left.tolist(), nearest.tolist(), strict=True):
            partners[i].update(row)
    if len(new_right):
        nearest = top_k(mean_right[new_right], sl.mean_index, config.candidates)[0]
        for j, row in zip(new_right.tolist(), nearest.tolist(), strict=True):
            for i in row:
                partners[i].add(j)
    if not partners:
        return
    pairs_left = np.fromiter((i for i, js in partners.items() for _ in js), np.int64)
    pairs_right = np.fromiter((j for js in partners.values() for j in sorted(js)), np.int64)
    keep = np.flatnonzero(_allowed(sl, sr, pairs_left, pairs_right, config))
    pairs_left, pairs_right = pairs_left[keep], pairs_right[keep]
    # most candidate pairs are two unrelated documents: their best segment margin is under
    # every rule's margin even against lower bounds of the ratio margin's denominators (kNN
    # means among a sample of the other side's segments), so they are dropped in bulk, and
    # the kNN means themselves (searched among all the other side's segments) are needed
    # for the segments of the remaining pairs only
    bound_left, bound_right = _lower_bounds(sl, sr, pairs_left, pairs_right, config)
    maybe = np.flatnonzero([m is not None for m in _best_margins(
        sl, sr, bound_left, bound_right, pairs_left, pairs_right, config, BOUND_SLACK)])
    pairs_left, pairs_right = pairs_left[maybe], pairs_right[maybe]
    if not len(pairs_left):
        return
    # ratio margin denominators: mean cosine of a segment's k nearest on the other side
    knn_left, knn_right = np.ones(len(seg_left), np.float32), np.ones(len(seg_right), np.float32)
    rows_left = np.concatenate([sl.rows(i) for i in np.unique(pairs_left).tolist()])
    rows_right = np.concatenate([sr.rows(j) for j in np.unique(pairs_right).tolist()])
    knn_left[rows_left], knn_right[rows_right] = cross_knn_means(
        sl.segment_index, sr.segment_index, rows_left, rows_right, config.neighbours,
        _floors(sl, sr, config))
    blocks_kept = _best_margins(sl, sr, knn_left, knn_right, pairs_left, pairs_right, config)
    scores: dict[tuple[int, int], float] = {}
    for i, j, margins in zip(pairs_left.tolist(), pairs_right.tolist(), blocks_kept,
                             strict=True):
        if margins is None:
            continue
        score = pair_score(margins, left[i], right[j], config)
        if score is not None:
            scores[(i, j)] = score + 0.001 * float(mean_left[i] @ mean_right[j])
    yield from _mutual_best(scores, left, right, "translation")


def _floors(sl: _Side, sr: _Side,
            config: TranslationConfig) -> tuple[float | None, float | None]:
    """The floors of the left and the right segments' kNN means, each searched among the
    other side's: the thin floor where that other side has fewer documents than the margin
    has neighbours (its k nearest are a few unrelated segments, so any best pair stands
    out), the floor of every side where it has as many or more (a real neighbourhood: the
    thin floor there lowered the recall of one-day WMT pools to .9938 at 0.82)."""
    def floor(other: _Side) -> float | None:
        thin = len(other.docs) < config.neighbours
        return config.thin_margin_floor if thin else config.margin_floor

    return floor(sr), floor(sl)


def _allowed(sl: _Side, sr: _Side, left: np.ndarray, right: np.ndarray,
             config: TranslationConfig) -> np.ndarray:
    """``pools.pair_allowed`` of many pairs at once (index arrays into each side)."""
    a, b = sl.flags, sr.flags
    a_home, b_home = a["home"][left], b["home"][right]
    a_day, b_day = a["day"][left], b["day"][right]
    ok = ~(a["existing"][left] & b["existing"][right])
    ok &= (a_home | b_home) & (np.abs(a_day - b_day) <= config.window_days)
    return ok & ((a_home & b_home) | (a_home & (b_day == a_day + 1))
                 | (b_home & (a_day == b_day + 1)))


#: candidate pairs whose segment margins are computed at once (bounded memory)
PAIR_CHUNK = 4096
#: segments of the other side whose kNN mean bounds a segment's from below
BOUND_SAMPLE = 1024
#: the bounds' margins are compared with the lowest rule's margin less this (float rounding)
BOUND_SLACK = 1e-3


def _lower_bounds(sl: _Side, sr: _Side, left: np.ndarray, right: np.ndarray,
                  config: TranslationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of the kNN means of the segments of the documents in these pairs (each
    side's among the other's): their kNN means among a subset of the other side's segments,
    ``BOUND_SAMPLE`` of them (every few) and those of the documents they are paired with here
    (the nearest documents: the closest segments are mostly theirs); 1 elsewhere (never
    read). The sample searches are large products (every BLAS thread, one side after the
    other: two at once held ~400 MB more at 100k articles); the two sides' merges, loops of
    small products that hold the GIL only between products, run at once on two threads
    (one BLAS thread each, set once around both). Floored as the kNN means are
    (``_floors``)."""
    k = config.neighbours
    ours, theirs = _sample_bound(sl, sr, left, k), _sample_bound(sr, sl, right, k)
    merges = [(sr, sl, right, left, *theirs), (sl, sr, left, right, *ours)]
    with small_products():  # a few chunks (fewer pairs than one) are cheaper without threads
        on_every_core(lambda merge: _merge_pair_bounds(*merge), merges,
                      1 if len(left) < PAIR_CHUNK else None)
    floors = _floors(sl, sr, config)
    return (_bound_means(sl, left, ours[2], k, floors[0]),
            _bound_means(sr, right, theirs[2], k, floors[1]))


def _sample_bound(side: _Side, other: _Side, mine: np.ndarray,
                  k: int) -> tuple[int, int, np.ndarray]:
    """(sample step, k, each segment's k best cosines among the other side's sample): the
    sampled half of ``_lower_bounds`` (-inf rows where the segment's document is in no pair)."""
    k = min(k, len(other.segments))
    step = max(1, -(-len(other.segments) // BOUND_SAMPLE))
    best = np.full((len(side.segments), k), -np.inf, np.float32)
    if len(mine):
        rows = _pair_rows(side, mine)
        sample = Neighbours(other.segments[::step], exact_below=len(other.segments) + 1)
        found = sample.top_k(side.segments[rows], k)[1]
        best[rows, :found.shape[1]] = found
    return step, k, best


def _bound_means(side: _Side, mine: np.ndarray, best: np.ndarray, k: int,
                 floor: float | None) -> np.ndarray:
    """Each paired segment's bound from its k best cosines found (floored as the kNN means
    are: a floored mean of lower values is still a lower bound)."""
    out = np.ones(len(side.segments), np.float32)
    if len(mine):
        rows = _pair_rows(side, mine)
        out[rows] = floored_means(best[rows], k, floor)
    return out


def _pair_rows(side: _Side, mine: np.ndarray) -> np.ndarray:
    return np.concatenate([side.rows(d) for d in np.unique(mine).tolist()])


def _merge_pair_bounds(side: _Side, other: _Side, mine: np.ndarray, theirs: np.ndarray,
                       step: int, k: int, best: np.ndarray) -> None:
    """Merges into ``best`` (each segment's k best cosines so far) its cosines with the
    segments of the documents it is paired with, those not in the sample."""
    rows_mine, real_mine, _ = side.padded()
    rows_theirs, real_theirs, _ = other.padded()
    for start in range(0, len(mine), PAIR_CHUNK):
        a = rows_mine[mine[start:start + PAIR_CHUNK]]
        b = rows_theirs[theirs[start:start + PAIR_CHUNK]]
        sims = np.matmul(side.segments[a], other.segments[b].transpose(0, 2, 1))
        # padding, and segments already in the sample (each segment counts once)
        sims[~real_mine[mine[start:start + PAIR_CHUNK]]] = -np.inf
        sims[np.broadcast_to((~real_theirs[theirs[start:start + PAIR_CHUNK]]
                              | (b % step == 0))[:, None, :], sims.shape)] = -np.inf
        keys, values = a.ravel(), sims.reshape(-1, sims.shape[2])
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        first = np.searchsorted(keys, keys)  # start of each key's run
        rank = np.arange(len(keys)) - first
        for r in range(int(rank.max()) + 1 if len(rank) else 0):  # one entry per row a round
            at = np.flatnonzero(rank == r)
            merged = np.concatenate([best[keys[at]], values[at]], axis=1)
            best[keys[at]] = -np.sort(-merged, axis=1)[:, :k]


def _best_margins(sl: _Side, sr: _Side, knn_left: np.ndarray, knn_right: np.ndarray,
                  left: np.ndarray, right: np.ndarray, config: TranslationConfig,
                  slack: float = 0.0):
    """Every pair's margins matrix (segments of ``left[p]`` x segments of ``right[p]``)
    where ``pair_score`` could accept it, else None (``_may_score``): one batched product
    per chunk of pairs, documents padded to the longest. Denominators that are lower bounds
    (not above the true kNN means) give upper bounds of the margins: a pair dropped then
    (``slack`` below the rules' margins, for rounding) is dropped for good."""
    kept: list[np.ndarray | None] = [None] * len(left)
    if not len(left):
        return kept
    with small_products():
        _chunk_margins(sl, sr, knn_left, knn_right, left, right, config, slack, kept)
    return kept


def _chunk_margins(sl: _Side, sr: _Side, knn_left: np.ndarray, knn_right: np.ndarray,
                   left: np.ndarray, right: np.ndarray, config: TranslationConfig,
                   slack: float, kept: list) -> None:
    rows_left, real_left, count_left = sl.padded()
    rows_right, real_right, count_right = sr.padded()
    for start in range(0, len(left), PAIR_CHUNK):
        chunk_left, chunk_right = left[start:start + PAIR_CHUNK], right[start:start + PAIR_CHUNK]
        a, b = rows_left[chunk_left], rows_right[chunk_right]
        sims = np.matmul(sl.segments[a], sr.segments[b].transpose(0, 2, 1))
        denominators = (knn_left[a][:, :, None] + knn_right[b][:, None, :]) / 2
        margins = np.where(denominators > 0, sims / np.maximum(denominators, 1e-6), np.inf)
        margins[~(real_left[chunk_left][:, :, None] & real_right[chunk_right][:, None, :])] = (
            -np.inf)
        shorter = np.minimum(count_left[chunk_left], count_right[chunk_right])
        for offset in np.flatnonzero(_may_score(margins, shorter, config, slack)).tolist():
            p = start + offset
            kept[p] = margins[offset, :count_left[left[p]], :count_right[right[p]]]


def _may_score(margins: np.ndarray, shorter: np.ndarray, config: TranslationConfig,
               slack: float) -> np.ndarray:
    """Pairs (margins: pairs x segments x segments) that meet what every way of
    ``pair_score`` to accept needs: a segment pair at the lowest aligned margin, or (a
    chain) 3 or more rows and columns, and ``strong_chain_fraction`` of the shorter
    document, holding a margin at ``chain_margin``. Most candidate pairs, two unrelated
    documents among each other's nearest, have neither."""
    aligned = min(config.segment_margin, config.short_margin, config.short_pair_margin)
    hits = margins >= config.chain_margin - slack
    covered = np.minimum(hits.any(axis=2).sum(axis=1), hits.any(axis=1).sum(axis=1))
    chain = (shorter >= 3) & (covered >= 3) & (
        covered >= config.strong_chain_fraction * shorter - 1e-9)
    return chain | (margins.max(axis=(1, 2)) >= aligned - slack)


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
    # one-sentence documents (chat lines, product titles) align by chance more often, but
    # hardly with a document of their own length: two short documents of equal length
    # (a translated chat turn) align at short_pair_margin (a single segment is the whole
    # text there: at gate_cosine the cascade embedded both in full)
    pair_margin = (config.short_pair_margin
                   if sub.shape[0] == sub.shape[1] <= config.short_pair_segments
                   and _close(a, b, config) else None)
    needed = config.short_margin if shorter == 1 else config.segment_margin
    if pair_margin is not None:
        needed = min(needed, pair_margin)
    aligned = sum(1 for x, y in mutual if sub[x, y] >= needed)
    fraction = aligned / shorter
    enough = aligned >= config.min_aligned or (shorter == 1 and aligned == 1)
    if not enough and shorter == 2 and aligned == 1 and max(sub.shape) <= 3:
        # a two-turn chat often opens with a greeting that aligns with any other: its other
        # turn aligned at the one-sentence margin (short_pair_margin against another two-turn
        # chat) is enough; never against a longer document, where a list item ("1.") or a
        # date line is a chance match
        two_margin = max(pair_margin or config.short_margin, config.segment_margin)
        enough = any(sub[x, y] >= two_margin for x, y in mutual)
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


def _close(a: PoolDoc, b: PoolDoc, config: TranslationConfig) -> bool:
    """Mean segment vectors at the cascade's cross-language gate (``gate_cosine``) or above."""
    va, vb = a.vectors.mean(axis=0), b.vectors.mean(axis=0)
    return float(va @ vb) >= config.gate_cosine * float(np.linalg.norm(va) * np.linalg.norm(vb))


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
                    and pair_allowed(doc, right[j], config)):
                scores[(i, j)] = score
    yield from _mutual_best(scores, left, right, "translation")
