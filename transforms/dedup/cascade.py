"""The cascade: a cheap signal for every article, the full segment embedding only where a
candidate exists.

Embedding five segments per article costs more than extracting it (e5 is ~21M parameters),
yet most articles of a real stream have no translated copy and no other report of their
event. Every article's headline is embedded (one short segment: its vector is the cheap
cross-language signal); an article gets its other segments embedded only when a document of
its pool window has a close headline among its ``candidates`` nearest of each language
(``similarity.Neighbours``: exact in small pools, a graph in large ones): cosine >=
``gate_cosine`` in another language (on WMT
news 99.7% of documents with a translation have a partner that close) or
``gate_same_language`` in its own (stories: 98% of ECB+ articles with a same-event article).
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
from transforms.dedup.similarity import Neighbours


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
    languages = sorted({d.language for d in usable})
    heads = np.vstack([d.vectors[0] for d in usable]).astype(np.float32)
    rows_of = {lang: np.array([i for i, d in enumerate(usable) if d.language == lang], np.int64)
               for lang in languages}
    queries = heads[fresh]
    for lang in languages:
        rows = rows_of[lang]
        # each language's nearest headlines (one search per language, as alignment does: a
        # translation is not crowded out by its own language's close headlines)
        index, value = Neighbours(heads[rows]).top_k(queries, config.candidates + 1)
        for i, found, sims in zip(fresh.tolist(), index.tolist(), value.tolist(), strict=True):
            needed = (config.gate_same_language if usable[i].language == lang
                      else config.gate_cosine)
            for j, sim in zip(rows[found].tolist(), sims, strict=True):
                if sim < needed or j == i or not pair_allowed(usable[i], usable[j], config):
                    continue
                flagged.add(usable[i].member.article_id)
                if not usable[j].member.existing or len(usable[j].vectors) == 1:
                    flagged.add(usable[j].member.article_id)
    yield from sorted(flagged)
