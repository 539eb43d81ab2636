"""The cascade: a cheap signal for every article, the full segment embedding only where a
candidate exists.

Embedding five segments per article costs more than extracting it (e5 is ~21M parameters),
yet most articles of a real stream have no translated copy and no other report of their
event. Every article's headline is embedded (one short segment: its vector is the cheap
cross-language signal); an article gets its other segments embedded only when a document of
its pool window has a close headline: cosine >= ``gate_cosine`` in another language (on WMT
news 99.7% of documents with a translation have a partner that close) or
``gate_same_language`` in its own (stories: 98% of ECB+ articles with a same-event article).
Everything after (alignment, stories) sees the same vectors it would without the cascade
wherever a candidate exists (a text's vector does not depend on its batch), and headline-only
vectors elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.pools import PoolDoc, pair_allowed
from transforms.dedup.similarity import blocks


def needs_segments(docs: list[PoolDoc], config: TranslationConfig) -> Iterator[str]:
    """``article_id``s of the pool's new documents that have a candidate partner (both ends
    of each candidate pair; earlier runs' articles keep the vectors they were stored with)."""
    usable = [d for d in docs if len(d.vectors)]
    fresh = np.array([i for i, d in enumerate(usable) if not d.member.existing], np.int64)
    if config.gate_cosine <= -1.0 and config.gate_same_language <= -1.0:
        # gate switched off (a stream): every new document is a candidate, even one alone
        # in its pool today, since its translation may arrive in a later window
        yield from sorted(usable[i].member.article_id for i in fresh.tolist())
        return
    if len(usable) < 2 or not len(fresh):
        return
    heads = np.vstack([d.vectors[0] for d in usable]).astype(np.float32)
    languages = np.array([d.language for d in usable])
    flagged: set[str] = set()
    for start, stop in blocks(len(fresh), len(usable)):
        sims = heads[fresh[start:stop]] @ heads.T
        for r, row in enumerate(sims):
            i = int(fresh[start + r])
            needed = np.where(languages == languages[i], config.gate_same_language,
                              config.gate_cosine)
            for j in np.flatnonzero(row >= needed).tolist():
                if j != i and pair_allowed(usable[i], usable[j], config):
                    flagged.add(usable[i].member.article_id)
                    if not usable[j].member.existing:
                        flagged.add(usable[j].member.article_id)
    yield from sorted(flagged)
