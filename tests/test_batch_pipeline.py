"""End to end: the bundled sample served over HTTP, the real runner, Parquet read by DuckDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from schemas import ARTICLES, REJECTS, SCHEMA_VERSION
from tests.conftest import load_manifest
from transforms.enrich import canonical_url

SAMPLE = Path(__file__).resolve().parents[1] / "pipelines" / "sample"
TIKTOK_FR = "/actu-tech/2023/09/16/tiktok-amende-345-millions-donnees-enfants/"


def input_urls(server) -> tuple[set[str], set[str]]:
    """(page URLs, feed URLs) the sample lists, as the pipeline should account for them."""
    import feedparser

    feeds = set()
    pages = set()
    opml = server.fill((SAMPLE / "feeds.opml").read_bytes()).decode()
    import re

    feeds = set(re.findall(r'xmlUrl="([^"]+)"', opml))
    for feed in feeds:
        path = SAMPLE / "site" / feed.split(server.base, 1)[1].lstrip("/")
        if path.exists():
            parsed = feedparser.parse(server.fill(path.read_bytes()))
            pages |= {e.link for e in parsed.entries if e.get("link")}
    urls = server.fill((SAMPLE / "urls.txt").read_bytes()).decode().splitlines()
    pages |= {u.strip() for u in urls if u.strip() and not u.startswith("#")}
    return pages, feeds


def test_every_input_url_is_accounted_for_exactly_once(sample_run, sample_db, sample_server):
    output, run_id, _ = sample_run
    pages, feeds = input_urls(sample_server)
    articles = [r[0] for r in sample_db.execute(
        "select url from articles where run_id = ?", [run_id]).fetchall()]
    rejects = [r[0] for r in sample_db.execute(
        "select url from rejects where run_id = ?", [run_id]).fetchall()]
    assert len(articles) == len(set(articles)), "an article URL was written twice"
    assert len(rejects) == len(set(rejects)), "a rejected URL was written twice"
    assert not set(articles) & set(rejects)
    failed_feeds = {u for u in rejects if u in feeds}
    assert failed_feeds == {f for f in feeds if "broken" in f or "gone" in f}
    assert set(articles) | (set(rejects) - failed_feeds) == pages
    manifest = load_manifest(output, run_id)
    assert manifest["rows"]["articles"] == len(articles)
    assert manifest["rows"]["rejects"] == len(rejects)
    rejected = {k: v for k, v in manifest["counts"].items() if k.startswith("rejected/")}
    assert sum(rejected.values()) == len(rejects)
    assert set(manifest["counts"]) == set(rejected), "a first run skips nothing"


def test_reject_reasons(sample_run, sample_db):
    _, run_id, log = sample_run
    found = dict(sample_db.execute(
        "select regexp_replace(url, '^[a-z]+://[^/]+', ''), stage || '/' || reason "
        "from rejects where run_id = ?", [run_id]).fetchall())
    assert found == {
        "/faulty/missing.html": "fetch/http_error",
        "/faulty/binary.html": "extract/binary_content",
        "/faulty/empty.html": "clean/too_short",
        "/private/internal-memo.html": "fetch/robots_disallowed",
        "/latest/meta-data/": "fetch/blocked_address",
        "/not-http.html": "input/bad_scheme",
        "/feeds/broken.xml": "feed/malformed_feed",
        "/feeds/gone.xml": "feed/http_error",
    }
    requested = [path for _, path, _ in log]
    assert "/private/internal-memo.html" not in requested, "robots.txt was not obeyed"
    assert requested.count("/robots.txt") == 1, "robots.txt should be fetched once per host"
    details = dict(sample_db.execute("select reason, detail from rejects").fetchall())
    assert "169.254.169.254" in details["blocked_address"]
    assert "404" in details["http_error"]


def test_languages_dates_and_columns(sample_run, sample_db):
    _, run_id, _ = sample_run
    langs = {r[0] for r in sample_db.execute(
        "select distinct lang from articles where run_id = ?", [run_id]).fetchall()}
    assert {"en", "fr", "de", "es", "it", "pt", "ru"} <= langs
    rows = sample_db.execute("""
        select url, language, language_confidence, cast(date as varchar), published_at,
               word_count, content_hash, article_id, schema_version, source_domain
        from articles where run_id = ?""", [run_id]).fetchall()
    for url, language, confidence, date, published, words, chash, aid, version, domain in rows:
        assert language and 0.5 < confidence <= 1.0, url
        assert published is not None and date == published.strftime("%Y-%m-%d"), url
        assert words >= 10 and len(chash) == 32 and len(aid) == 16, url
        assert version == SCHEMA_VERSION and domain == "127.0.0.1"
    fr = sample_db.execute("select published_at, language, title, authors from articles "
                           "where url like ?", [f"%{TIKTOK_FR}"]).fetchone()
    # the page's own timestamp (08:30+02:00) wins over the feed's pubDate (12:00 GMT the day before)
    assert fr[0].isoformat() == "2023-09-16T06:30:00+00:00"
    assert fr[1] == "fr" and fr[2].startswith("TikTok condamné") and fr[3] == ["La rédaction"]


def test_french_republication_keeps_story_and_drops_boilerplate(sample_run, sample_db):
    text = sample_db.execute("select text from articles where url like ?",
                             [f"%{TIKTOK_FR}"]).fetchone()[0]
    story = (SAMPLE.parents[1] / "examples" / "sample_src" / "tiktok_fr.txt").read_text()
    for paragraph in story.strip().splitlines()[1:]:  # every paragraph after the headline
        assert paragraph in text, f"lost paragraph: {paragraph[:60]}"
    lowered = text.lower()
    for junk in ("partager", "facebook", "twitter", "leave a reply", "laisser un commentaire",
                 "advertisement", "newsletter", "iframe", "&lt;", "j'aime", "adresse e-mail",
                 "comment policy", "politique de modération", "required fields"):
        assert junk not in lowered, f"boilerplate left in text: {junk}"


def test_exact_copy_is_marked_not_dropped(sample_run, sample_db):
    rows = sample_db.execute("""
        select url, article_id, copy_group_id, is_canonical, duplicate_of, dup_kind, dup_score
        from articles where title like 'TikTok fined%' order by url""").fetchall()
    assert len(rows) == 2
    mirror, original = rows
    assert "/wire-mirror/" in mirror[0] and "/worldnews/" in original[0]
    assert original[3] is True and original[4] is None
    assert mirror[3] is False and mirror[4] == original[1] and mirror[5] == "exact"
    assert mirror[2] == original[2] == original[1] and mirror[6] == 1.0
    copies = sample_db.execute(
        "select count(*) from articles where duplicate_of is not null").fetchone()[0]
    assert copies == 5  # the mirror, three translations of the story, one of kommersant's


def test_translations_join_the_originals_copy_group_and_stories_stay_separate(sample_db):
    rows = {r[0]: r[1:] for r in sample_db.execute("""
        select regexp_replace(url, '^[a-z]+://[^/]+/([^/]+)/.*$', '\\1'), copy_group_id,
               is_canonical, duplicate_of, dup_kind, story_id, language
        from articles""").fetchall()}
    original = rows["worldnews"]
    assert original[1] is True
    for site, language in (("actu-tech", "fr"), ("netznachrichten", "de"),
                           ("noticiasdigitales", "es")):
        group, canonical, duplicate_of, kind, story, lang = rows[site]
        assert (group, canonical, duplicate_of, kind, lang) == (
            original[0], False, original[0], "translation", language), site
    # an independently written article on the same event: same story, not a copy
    independent = rows["dublindaily"]
    assert independent[0] != original[0] and independent[2] is None
    assert independent[4] == original[4]
    # the Russian original is canonical over its English translation (published earlier)
    assert rows["techdigest"][2] == rows["kommersant"][0] and rows["kommersant"][1] is True
    clusters = sample_db.execute("""
        select kind, size, languages from clusters where cluster_id = ?
        order by kind""", [original[0]]).fetchall()
    assert clusters == [("copy_group", 5, ["de", "en", "es", "fr"]),
                        ("story", 6, ["de", "en", "es", "fr"])]


def test_files_match_declared_schemas_and_partitions(sample_run):
    output, run_id, _ = sample_run
    files = sorted(Path(output, "articles").rglob("*.parquet"))
    assert files and all(f.name.startswith(f"part-{run_id}-") for f in files)
    for path in files:
        assert pq.read_schema(path).remove_metadata() == ARTICLES.remove_metadata()
        date_part, lang_part = path.parent.parent.name, path.parent.name
        assert date_part.startswith("date=") and len(date_part) == len("date=2023-09-15")
        assert lang_part.startswith("lang=") and 2 <= len(lang_part) - 5 <= 3
    for path in Path(output, "rejects").rglob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == REJECTS.remove_metadata()
        assert path.parent.name.startswith("stage=")
    assert not Path(output, "_tmp", run_id).exists(), "temp files left behind"


def test_unique_request_per_url(sample_run):
    """A URL listed in a feed and in the URL list is fetched once."""
    _, _, log = sample_run
    paths = [path for _, path, _ in log if path.endswith(".html")]
    assert paths.count("/reuters/asian-shares-soft.html") == 1
    assert all(headers.get("User-Agent", "").startswith("newsflow/") for _, _, headers in log)
    assert canonical_url("HTTP://Example.com:80/a?utm_source=x#f") == "http://example.com/a"


def test_query_command_and_demo_console_script(tmp_path, sample_run):
    output, run_id, _ = sample_run
    query = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "query", output,
         "select count(*) as n from articles where lang = 'fr'", "--format", "csv"],
        capture_output=True, text=True, check=True)
    assert query.stdout.splitlines() == ["n", "2"]
    script = Path(sys.executable).with_name("newsflow")  # the console script pip installed
    demo = subprocess.run([str(script), "demo", "--output", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "Articles per language and date" in demo.stdout
    assert "Copy groups" in demo.stdout and "de,en,es,fr" in demo.stdout
    assert "robots_disallowed" in demo.stdout and "blocked_address" in demo.stdout
