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
    """Batches of articles -> the same articles with ``seg_vectors`` and ``anchors`` set."""

    REJECTS = REJECTS

    def __init__(self, config: TranslationConfig):
        self.config = config
        self.embedded = Metrics.counter("dedup", "segments_embedded")

    def setup(self):
        # one model per process (shared by every DoFn instance and thread), with this
        # process's share of the machine's cores
        self.embedder = load_embedder(
            self.config.embedder, threads_per_process(self.config.processes_per_machine))
        self.progress = Progress("embed (translation signatures)")

    @guarded_batch("dedup")  # a record that breaks the batch is rejected alone
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
            record["embedder"] = self.config.embedder  # vectors of other models do not compare
            offset += len(segs)
            yield record
