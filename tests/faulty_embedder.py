"""An embedder plug-in (``--embedder py:tests.faulty_embedder:PoisonedEmbedder``) for tests:
hashed bag-of-words vectors, and a ``ValueError`` for any batch holding the word ``POISON``.

It stands for a model that breaks on one input (a tokenizer bug, an over-long text): the run
must reject that one article and store the others.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

DIM = 64


class PoisonedEmbedder:
    languages = None  # every language

    def embed(self, texts: list[str]) -> np.ndarray:
        if any("POISON" in text for text in texts):
            raise ValueError("this model cannot embed the word POISON")
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % DIM] += 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)
