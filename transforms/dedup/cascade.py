"""The cascade: a cheap signal for every article, the full segment embedding only where a
candidate exists.

Embedding five segments per article costs more than extracting it (e5 is ~21M parameters),
yet most articles of a real stream have no translated copy and no other report of their
event. Every article's headline is embedded (one short segment: its vector is the cheap
cross-language signal); an article gets its other segments embedded only when a document of
its pool window has a close headline among its ``candidates`` nearest of each language
(``similarity.Neighbours``: exact in small pools, inverted lists in large ones): cosine >=
``gate_cosine`` in another language (on WMT
news 99.7% of documents with a translation have a partner that close), or a story
similarity from headlines of ``gate_story`` in any language (``story_pairs``).
Everything after (alignment, stories) sees the same vectors it would without the cascade
wherever a candidate exists (a text's vector does not depend on its batch), and headline-only
vectors elsewhere. That holds across runs too: an earlier run's article stored with its
headline only gets its other segments embedded from its stored text when a new article's
headline is close to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.pools import PoolDoc, pair_allowed
from transforms.dedup.similarity import Neighbours, unit_copy
from transforms.dedup.stories import name_vectors, story_pair_allowed, story_vectors


def needs_segments(docs: list[PoolDoc], config: TranslationConfig) -> Iterator[str]:
    """``article_id``s of the pool's documents whose other segments should be embedded: the
    new documents with a candidate partner (every new document with the cascade off), and
    the earlier runs' articles stored with their headline only (no candidate then, perhaps
    alone in their pool) that a new document's headline is now close to: their segments are
    embedded from their stored text in this run (``history.EmbedHistoryCandidates``), so a
    translation arriving a run later aligns as it would have in one run."""
    usable = [d for d in docs if len(d.vectors)]
    fresh = np.array([i for i, d in enumerate(usable) if not d.member.existing], np.int64)
    flagged: set[str] = set()
    if not config.cascade:
        # a stream, --no_cascade: every new document is a candidate, even one alone in its
        # pool today, since its translation may arrive in a later window
        flagged.update(usable[i].member.article_id for i in fresh.tolist())
    if len(usable) < 2 or not len(fresh):
        yield from sorted(flagged)
        return
    heads = headline_vectors(usable)
    for i, j in (*translation_pairs(usable, heads, fresh, config),
                 *story_pairs(usable, heads, fresh, config)):
        flagged.add(usable[i].member.article_id)
        if not usable[j].member.existing or len(usable[j].vectors) == 1:
            flagged.add(usable[j].member.article_id)
    yield from sorted(flagged)


def headline_vectors(docs: list[PoolDoc]) -> np.ndarray:
    """Each document's first segment (its headline), one matrix for the pool: what both
    searches of the gate compare (a pool's documents each as a one-segment copy cost more
    than the searches)."""
    return np.stack([d.vectors[0] for d in docs]).astype(np.float32, copy=False)


def translation_pairs(docs: list[PoolDoc], heads: np.ndarray, fresh: np.ndarray,
                      config: TranslationConfig) -> Iterator[tuple[int, int]]:
    """(new document, document of another language) whose headlines' cosine reaches
    ``gate_cosine``, among the new one's ``candidates`` nearest headlines of each language
    (one search per language, as alignment does: a translation is not crowded out by closer
    headlines of its own language)."""
    languages = np.array([d.language for d in docs])
    for lang in sorted(set(languages.tolist())):
        rows = np.flatnonzero(languages == lang)
        queries = fresh[languages[fresh] != lang]
        if not len(queries):
            continue
        index, value = Neighbours(heads[rows]).top_k(heads[queries], config.candidates)
        for i, found, sims in zip(queries.tolist(), index.tolist(), value.tolist(),
                                  strict=True):
            for j, sim in zip(rows[found].tolist(), sims, strict=True):
                if sim >= config.gate_cosine and pair_allowed(docs[i], docs[j], config):
                    yield i, j


def story_pairs(docs: list[PoolDoc], heads: np.ndarray, fresh: np.ndarray,
                config: TranslationConfig) -> Iterator[tuple[int, int]]:
    """(new document, any other) whose story similarity *from their headlines*
    (``stories.story_vectors`` on headline vectors: the headline with its language's average
    direction removed, and the rarity-weighted names of the whole text) reaches
    ``gate_story``, among the new one's ``story_neighbours`` nearest. A raw headline cosine
    cannot tell an event from a topic (unrelated headlines of one language reach .82 and
    more); the centred headline and shared rare names can. Pools too small to centre
    (``story_min_pool``) compare raw headlines: a pair reaching the stories' raw threshold, or
    ``gate_small_cosine`` with names' cosine >= ``gate_story`` (the raw threshold is set for
    mean segment vectors; headlines of one event by different outlets rarely reach it: on
    BASIL's thin days 36 of 55 same-event pairs fall under it, none under the names rule)."""
    vectors, threshold = story_vectors(docs, config, unit_copy(heads))
    if len(docs) < config.story_min_pool:
        raw = vectors[fresh] @ vectors.T
        names = name_vectors(docs, numbers=True)
        close = (raw >= threshold) | ((raw >= config.gate_small_cosine)
                                      & (names[fresh] @ names.T >= config.gate_story))
        for i, row in zip(fresh.tolist(), close, strict=True):
            for j in np.flatnonzero(row).tolist():
                if i != j and story_pair_allowed(docs[i], docs[j], config):
                    yield i, j
        return
    index, value = Neighbours(vectors).top_k(vectors[fresh], config.story_neighbours + 1)
    for i, found, sims in zip(fresh.tolist(), index.tolist(), value.tolist(), strict=True):
        for j, sim in zip(found, sims, strict=True):
            if i != j and sim >= config.gate_story and story_pair_allowed(docs[i], docs[j],
                                                                          config):
                yield i, j
