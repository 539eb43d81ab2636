"""The ledger: the same inputs twice add nothing, changed text is a revision, feed entries
are tracked one by one (real runner, loopback HTTP, Parquet read back with DuckDB)."""

from __future__ import annotations

import json

from pipelines.batch import run
from pipelines.query import connect
from tests.conftest import load_manifest
from tests.localsite import ARTICLE_PAGES, PageServer, rss, sample_page
from tests.test_sources_and_sinks import write_warc
from transforms.enrich import content_hash
from transforms.fetch import HttpClient

FAST = ["--dedup_levels", "exact,near", "--allow-host", "127.0.0.1", "--host-delay", "0",
        "--max-retries", "0"]

TEXT = ("Le gouvernement a présenté mardi un projet de loi sur le climat. Il prévoit une baisse "
        "des émissions de moitié d'ici à 2035 et un fonds pour les régions industrielles.")


def rows_of(output, run_id, dataset="article_revisions") -> int:
    con = connect(str(output))
    return con.execute(f"select count(*) from {dataset} where run_id = ?",
                       [run_id]).fetchone()[0]


def test_warc_and_jsonl_again_add_zero_rows(tmp_path):
    write_warc(tmp_path / "news.warc.gz")
    records = [{"url": "https://a.example/1", "text": TEXT, "language": "fr"},
               {"url": "https://a.example/1", "text": TEXT + " Encore.", "language": "fr"},
               {"url": "https://b.example/2?utm_source=x", "text": TEXT[::-1], "language": "fr"},
               {"url": "https://c.example/no-text"}]
    lines = [json.dumps(r) for r in records] + ["{not json"]  # identity: its position
    (tmp_path / "docs.jsonl").write_text("".join(line + "\n" for line in lines))
    argv = ["--warc", str(tmp_path / "*.warc.gz"), "--jsonl", str(tmp_path / "*.jsonl"),
            "--output", str(tmp_path / "out"), *FAST]
    first, _ = run(argv)
    con = connect(str(tmp_path / "out"))
    assert con.execute("select url, source_kind, revision from articles order by url"
                       ).fetchall() == [
        ("https://a.example/1", "jsonl", 1),
        ("https://b.example/2?utm_source=x", "jsonl", 1),
        ("https://www.lastampa.it/cronaca/temperature", "warc", 1)]
    rejects = con.execute("select url, stage, reason, detail from rejects order by all"
                          ).fetchall()
    # the second line of the same URL is recorded, naming the one kept
    assert [r[:3] for r in rejects] == [
        (f"{tmp_path / 'docs.jsonl'}#L5", "jsonl", "invalid_json"),
        ("https://a.example/1", "input", "same_as"),
        ("https://c.example/no-text", "jsonl", "missing_text"),
        ("https://cdn.example/report.pdf", "warc", "unsupported_content_type"),
        ("https://gone.example/page", "warc", "http_error")]
    assert "same identity as https://a.example/1" in rejects[1][3]

    second, _ = run(argv)
    assert rows_of(tmp_path / "out", second) == 0
    assert rows_of(tmp_path / "out", second, "rejects") == 0
    counts = load_manifest(str(tmp_path / "out"), second)["counts"]
    assert counts["unchanged"] == 3
    assert counts["rejected_before"] == len(rejects)
    assert connect(str(tmp_path / "out")).execute(
        "select count(*), count(distinct article_id) from article_revisions").fetchone() == (3, 3)


def test_changed_text_is_a_new_revision_of_the_same_article(tmp_path):
    source = tmp_path / "docs.jsonl"
    argv = ["--jsonl", str(source), "--output", str(tmp_path / "out"), *FAST]
    copy = json.dumps({"url": "https://b.example/copy", "text": TEXT}) + "\n"
    source.write_text(json.dumps({"url": "https://a.example/story", "text": TEXT}) + "\n" + copy)
    first, _ = run(argv)
    source.write_text(json.dumps({"url": "https://a.example/story",
                                  "text": TEXT + " Mise à jour à 18 h."}) + "\n" + copy)
    second, _ = run(argv)
    third, _ = run(argv)  # unchanged again: nothing
    con = connect(str(tmp_path / "out"))
    revisions = con.execute("select article_id, revision, previous_content_hash, content_hash, "
                            "run_id, duplicate_of, is_canonical from article_revisions "
                            "where url = 'https://a.example/story' order by revision").fetchall()
    assert len(revisions) == 2 and revisions[0][0] == revisions[1][0]
    assert [r[1] for r in revisions] == [1, 2]
    assert revisions[0][2] is None and revisions[1][2] == revisions[0][3] == content_hash(TEXT)
    assert [r[4] for r in revisions] == [first, second]
    # the new text still leads the copy group its old text led: not a copy of itself
    assert [r[5:] for r in revisions] == [(None, True), (None, True)]
    assert con.execute("select duplicate_of from articles where url = 'https://b.example/copy'"
                       ).fetchall() == [(revisions[0][0],)]
    latest = con.execute("select revision, text from articles where url like '%/story'"
                         ).fetchall()
    assert len(latest) == 1 and latest[0][0] == 2 and latest[0][1].endswith("18 h.")
    assert rows_of(tmp_path / "out", third) == 0


def test_feed_entries_are_tracked_one_by_one(tmp_path):
    with PageServer() as site:
        a, b = ARTICLE_PAGES[0], ARTICLE_PAGES[1]
        for page in (a, b):
            site.pages["/" + page] = ("text/html; charset=utf-8", sample_page(page))
        items = [{"link": "/" + a, "guid": "entry-a", "updated": "Mon, 04 Mar 2024 10:00:00 GMT"},
                 {"link": "/" + b, "guid": "entry-b"}]
        site.pages["/feed.xml"] = ("application/rss+xml", rss(site.base, items))
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(f"{site.base}/feed.xml\n")
        argv = ["--feeds", str(feeds), "--output", str(tmp_path / "out"), *FAST]

        # run 1: entry b fails transiently (503), a becomes an article
        site.status["/" + b] = 503
        first, _ = run(argv)
        con = connect(str(tmp_path / "out"))
        assert con.execute("select reason, detail like '%HTTP 503%' from rejects").fetchall() == [
            ("http_error", True)]
        assert rows_of(tmp_path / "out", first) == 1

        # run 2: the feed is unchanged (304); b is retried from the remembered entry list
        del site.status["/" + b]
        HttpClient._robots.clear()
        start = len(site.log)
        second, _ = run(argv)
        assert ("/feed.xml", 304) in site.log[start:]
        assert site.fetched("/" + b) == 1 and site.fetched("/" + a) == 1  # a is not asked again
        assert rows_of(tmp_path / "out", second) == 1
        counts = load_manifest(str(tmp_path / "out"), second)["counts"]
        assert counts["feed_not_modified"] == 1 and counts["skipped_seen"] == 1

        # run 3: entry a is updated with new text: fetched again, a new revision
        site.pages["/" + a] = ("text/html; charset=utf-8", sample_page(a).replace(
            b"<p>", b"<p>Updated: a correction was added to this story. ", 1))
        items[0]["updated"] = "Tue, 05 Mar 2024 09:00:00 GMT"
        site.pages["/feed.xml"] = ("application/rss+xml", rss(site.base, items))
        third, _ = run(argv)
        assert site.fetched("/" + a) == 2 and site.fetched("/" + b) == 1
        revised = connect(str(tmp_path / "out")).execute(
            "select url, revision from article_revisions where run_id = ?", [third]).fetchall()
        assert revised == [(f"{site.base}/{a}", 2)]

        # run 4: nothing changed: zero rows
        fourth, _ = run(argv)
        assert rows_of(tmp_path / "out", fourth) == 0
        assert rows_of(tmp_path / "out", fourth, "rejects") == 0


def test_another_spelling_of_a_url_is_a_same_as_reject(tmp_path):
    with PageServer() as site:
        page = ARTICLE_PAGES[2]
        site.pages["/" + page] = ("text/html; charset=utf-8", sample_page(page))
        urls = tmp_path / "urls.txt"
        kept = f"{site.base}/{page}"
        urls.write_text(f"{kept}\n{kept}?utm_source=newsletter&utm_medium=email\n{kept}\n")
        argv = ["--urls", str(urls), "--output", str(tmp_path / "out"), *FAST]
        first, _ = run(argv)
        con = connect(str(tmp_path / "out"))
        assert con.execute("select url from articles").fetchall() == [(kept,)]
        assert con.execute("select url, stage, reason, detail from rejects").fetchall() == [
            (f"{kept}?utm_source=newsletter&utm_medium=email", "input", "same_as",
             f"same page as {kept} (kept)")]
        assert site.fetched("/" + page) == 1
        second, _ = run(argv)  # 304 for the page, the other spelling already recorded
        assert rows_of(tmp_path / "out", second, "rejects") == 0
        assert load_manifest(str(tmp_path / "out"), second)["counts"] == {
            "not_modified": 1, "rejected_before": 1}
