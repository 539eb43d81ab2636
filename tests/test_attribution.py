"""Attribution on real pages of the bundled sample and on credit phrases in several languages."""

import gzip
from pathlib import Path

import pytest

from transforms.attribution import _outlet_mentions, attributed_source, matches_canonical
from transforms.clean import clean_article
from transforms.copy_flags import mark_copy
from transforms.enrich import canonical_url, source_domain
from transforms.extract import decode_html, extract_page

SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"


def _page(path: Path, url: str, base: str = "") -> dict:
    raw = path.read_bytes()
    html = decode_html(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    record = clean_article({"url": url, **extract_page(html.replace("{{BASE}}", base), url)})
    record["source_domain"] = source_domain(url)
    record["page_canonical_url"] = canonical_url(record.get("canonical_url"))
    return record


def test_wire_dateline_on_a_real_reuters_page():
    record = _page(SITE / "reuters" / "asian-shares-soft.html.gz",
                   "https://newsmirror.net/asian-shares")
    assert attributed_source(record) == "reuters.com"


def test_canonical_link_to_another_domain_on_a_real_page():
    record = _page(SITE / "aljazeera" / "nasa-commercial-moon-shot.html.gz",
                   "https://newsmirror.net/nasa")
    assert attributed_source(record) == "aljazeera.com"


@pytest.mark.parametrize("text,domain", [
    ("Shares fell 3%, according to Bloomberg, after the report.", "bloomberg.com"),
    ("Les actions ont chuté de 3 %, selon Bloomberg.", "bloomberg.com"),
    ("Die Aktie fiel um drei Prozent, laut dpa.", "dpa.com"),
    ("BERLIN (dpa) - Die Aktie fiel um drei Prozent.", "dpa.com"),
    ("Las acciones cayeron, según EFE, el lunes.", "efe.com"),
    ("Акции упали, сообщает ТАСС.", "tass.ru"),
    ("据新华社报道，股市下跌。", "xinhuanet.com"),
    ("Sejm przyjął ustawę.\naja/PAP", "pap.pl"),
    ("Stocks fell, according to the police.", None),
])
def test_credit_phrases(text, domain):
    assert attributed_source({"text": text, "source_domain": "site.example"}) == domain


def test_outlet_mentions_keep_positions_in_text_whose_case_folding_grows():
    # "ß" folds to "ss": the mention must still point at the outlet in the original text
    text = "Die Straße bleibt gesperrt, wie die DPA am Großmarkt meldete. Laut Reuters nicht."
    found = [text[start:end] for start, end in _outlet_mentions(text)]
    assert found == ["DPA", "Reuters"]
    assert attributed_source({"text": text, "source_domain": "example.de"}) == "dpa.com"


def test_embed_of_an_outlet_removed_by_the_cleaner_still_credits_it():
    text = ("TikTok was fined €345m by the Irish regulator for breaching EU data law.\n"
            '&lt;iframe src="https://www.theguardian.com/email/form/plaintone/techscape" '
            'width="100%"&gt;&lt;/iframe&gt;')
    record = clean_article({"url": "https://blog.example/a", "text": text})
    record["source_domain"] = "blog.example"
    assert "theguardian.com" not in record["text"]
    assert attributed_source(record) == "theguardian.com"


def test_copy_credits_its_canonical():
    """The sample's syndication partner republishes the worldnews story with a canonical link
    to it: the copy credits worldnews, the canonical member of its group."""
    original = "https://worldnews-daily.com/worldnews/2023/sep/15/tiktok-fined-345m-children-data"
    copy = _page(SITE / "wire-mirror" / "tiktok-fined-345m.html",
                 "https://wiremirror.net/tiktok-fined-345m", base="https://worldnews-daily.com")
    copy["attributed_source"] = attributed_source(copy)
    assert copy["attributed_source"] == "worldnews-daily.com"
    copy.update(duplicate_of="canon", copy_group_id="canon", dup_kind="near")
    assert mark_copy(copy, {"canon": source_domain(original)})[
        "attribution_matches_canonical"] is True
    assert mark_copy(dict(copy), {"canon": "other.example"})[
        "attribution_matches_canonical"] is False
    assert matches_canonical(None, "x.example") is None


def test_copy_a_run_later_is_compared_with_its_canonical_from_history(tmp_path):
    """Run 1 stores the Reuters original; run 2 brings two copies of it: one that credits
    Reuters, one that credits AFP. The canonical member is run 1's row (history), whose domain
    the copies' credits are compared with."""
    import json

    import duckdb

    from pipelines.batch import run

    story = ("Asian shares slipped on Monday as investors weighed fresh trade tensions and a "
             "weaker yuan while oil prices steadied after last week's sharp fall in crude "
             "stocks that traders said reflected a slowdown in refinery demand across the "
             "region and the first signs of cooling factory activity in China and Japan")

    def write(name: str, rows: list[dict]) -> str:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path)

    def article(url: str, text: str, hour: int) -> dict:
        return {"url": url, "title": "Asian shares slip", "text": text, "language": "en",
                "published_at": f"2024-05-06T{hour:02d}:00:00+00:00"}

    root = str(tmp_path / "out")
    base = ["--output", root, "--dedup_levels", "exact,near", "--history_days", "2"]
    run(["--jsonl", write("first.jsonl", [
        article("https://www.reuters.com/markets/asia-shares", f"TOKYO (Reuters) - {story}.", 8),
    ]), *base])
    run(["--jsonl", write("second.jsonl", [
        article("https://mirror.example/asia-shares", f"{story}, Reuters reported.", 10),
        article("https://other.example/asia-shares", f"{story}, AFP reported.", 11),
    ]), *base])
    rows = {url: (dup, credited, matches) for url, dup, credited, matches in duckdb.connect(
    ).execute(f"select url, duplicate_of, attributed_source, attribution_matches_canonical "
              f"from read_parquet('{root}/articles/**/*.parquet', hive_partitioning = true)"
              ).fetchall()}
    # the original credits its own wire (dateline) and, not being a copy, is compared with none
    assert rows["https://www.reuters.com/markets/asia-shares"] == (None, "reuters.com", None)
    assert rows["https://mirror.example/asia-shares"][0] is not None  # a copy of run 1's row
    assert rows["https://mirror.example/asia-shares"][1:] == ("reuters.com", True)
    assert rows["https://other.example/asia-shares"][1:] == ("afp.com", False)
