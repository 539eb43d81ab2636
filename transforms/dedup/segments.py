"""What a document is compared by across languages: its headline and first sentences
(``segments``), embedded one by one, and anchors that survive translation (numbers, names)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.dedup.config import TranslationConfig
from transforms.embedding import load_embedder, pack, threads_per_process
from transforms.progress import Progress
from transforms.rejects import REJECTS, guarded_batch

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[^\W\d_][^\W\d_'’-]{2,}", re.UNICODE)


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


class EmbedSegments(beam.DoFn):
    """Batches of articles -> the same articles with ``anchors`` and the vector of their
    headline (first segment) in ``seg_vectors``: the cascade's cheap signal (cascade.py).

    With ``rest`` and the ``candidates`` side input (article_id -> True), the articles named
    there get their other segments embedded, appended after the headline's row; the others
    pass unchanged."""

    REJECTS = REJECTS

    def __init__(self, config: TranslationConfig, rest: bool = False):
        self.config, self.rest = config, rest
        self.embedded = Metrics.counter("dedup", "segments_embedded")

    def setup(self):
        # one model per process (shared by every DoFn instance and thread), with this
        # process's share of the machine's cores
        self.embedder = load_embedder(
            self.config.embedder, threads_per_process(self.config.processes_per_machine))
        self.progress = Progress("embed (translation signatures)"
                                 + (", candidates" if self.rest else ", headlines"))

    @guarded_batch("dedup")  # a record that breaks the batch is rejected alone
    def process(self, batch: list[dict], candidates: dict | None = None) -> Iterator[dict]:
        if self.rest:
            chosen = [r for r in batch if (candidates or {}).get(r["article_id"])]
        else:
            chosen = batch
        per_doc = [segments(r.get("title"), r.get("text") or "", self.config) for r in chosen]
        parts = [segs[1:] if self.rest else segs[:1] for segs in per_doc]
        flat = [s for segs in parts for s in segs]
        vectors = self.embedder.embed(flat) if flat else np.zeros((0, 1), np.float32)
        updates = []  # computed first: a retried batch never sees half-updated records
        offset = 0
        for record, segs, part in zip(chosen, per_doc, parts, strict=True):
            rows = vectors[offset:offset + len(part)]
            offset += len(part)
            if not self.rest:
                updates.append((record, {
                    "seg_vectors": pack(rows), "anchors": anchors(segs),
                    "seg_dim": int(vectors.shape[1]) if len(part) else 0,
                    "embedder": self.config.embedder}))  # other models' vectors do not compare
            elif len(part):
                updates.append((record, {
                    "seg_vectors": (record.get("seg_vectors") or b"") + pack(rows)}))
        for record, update in updates:
            record.update(update)
        self.embedded.inc(len(flat))
        self.progress.tick(n=len(chosen))
        yield from batch
