import gzip
import json
from pathlib import Path

from transforms.extract import decode_html, extract_page
from transforms.keywords import keywords

SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"


def test_english_page_keywords():
    html = decode_html(gzip.open(SITE / "bbc" / "world-europe-50473792.html.gz").read())
    page = extract_page(html, "https://www.bbc.com/news/world-europe-50473792")
    found = keywords(page["text"], page["title"], "en")
    assert len(found) == 10
    assert any("assange" in k for k in found[:3])
    assert all(k not in ("the", "and", "said") for k in found)


def _wmt(lang: str, key: str) -> str:
    """A real news document of tests/fixtures/wmt_slice.jsonl (provenance there)."""
    path = Path(__file__).parent / "fixtures" / "wmt_slice.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    return next(r["text"] for r in rows if r["lang"] == lang and r["doc_key"].endswith(key))


def test_japanese_keywords_without_spaces():
    found = keywords(_wmt("ja", "cnn.81799"), None, "ja")
    assert found and all(len(k) >= 2 for k in found)
    assert all(not set(k) & set("のはがをにでと、。") for k in found)  # no particles/punctuation


def test_chinese_keywords_without_spaces():
    text = ("华为公司周二发布新款手机。华为表示，新款手机将在中国市场首先销售。"
            "分析人士认为，华为新款手机的销售将影响中国手机市场的竞争格局。")
    found = keywords(text, "华为发布新款手机", "zh")
    assert any("华为" in k for k in found) and any("手机" in k for k in found)


def test_keywords_of_a_real_german_document():
    found = keywords(_wmt("de", "cnn.81799"), None, "de")
    assert found and all(k not in ("und", "der", "die", "das") for k in found)


def test_traditional_chinese_keywords_in_the_texts_own_characters():
    # uner_zh_pud:batch-0000-0004 style: a Traditional text, phrases given back as written
    text = ("奧巴馬對在北卡羅來納大學運動場上的群眾說道。奧巴馬表示，選舉將決定國家的命運。"
            "北卡羅來納大學的學生歡迎奧巴馬。")
    found = keywords(text, None, "zh-hant")
    assert "奧巴馬" in found and all(k in text for k in found)
