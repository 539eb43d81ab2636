"""Feeds as served in the wild, on loopback sites: any content type (the body decides), JSON
Feed 1.1, relative links, entries without links (reject rows), an XXE feed, ``ttl`` polling;
and the real feeds of ``../shared/eval/feeds/`` (entry count and first link of each)."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.batch import run
from pipelines.query import connect
from tests.conftest import load_manifest
from tests.site import Response, Site, article_page
from transforms.feeds import FeedError, ParseFeeds, read_feed, sniff_feed
from transforms.fetch import FEED_TYPES, HTML_TYPES, ROBOTS, TEXT_TYPES, FetchPages, FetchPolicy

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
EVAL = Path(__file__).parents[2] / "shared" / "eval" / "feeds"

#: entry count and first link of each real feed (read from the files by hand)
REAL = [
    ("DaringFireball.atom", 48, "https://daringfireball.net/thetalkshow/2017/06/26/ep-195"),
    ("TechCrunch.xml", 20, "http://feedproxy.google.com/~r/Techcrunch/~3/kTeeGj4FnwU/"),
    ("aktuality.rss", 30, "https://www.aktuality.sk/clanok/856577/"
                          "analytici-goldman-sachs-zvysili-odhad-rastu-ekonomiky-usa/"),
    ("google_alerts_atom.xml", 20, "https://www.google.com/url?rct=j&sa=t&url=https://www."
                                   "aglobalmarketresearch.com/report-offers-prediction-of-"
                                   "automotive-slack-market-by-top-key-players-like-haldex-"
                                   "meritor-bendix-mei-wabco-accuride-stemco-tbk-febi-aydinsan/"
                                   "&ct=ga&cd=CAIyHGU4ZTJkZjQ3OTVkYmIzMTc6Y28uanA6ZW46SlA&usg="
                                   "AFQjCNHUcRGtHY1ygcMDkVS68IgpYs7Wpg"),
    ("kc0011.rss", 20, "http://www.kc0011.net/dispbbs.asp?BoardID=10&ID=25164257&Page=1"),
    ("lanacion.xml", 100, "https://www.lanacion.com.ar/sociedad/el-gobierno-aumento-un-50-el-"
                          "monto-de-la-tarjeta-alimentar-en-medio-de-la-crisis-nid06042022/"),
    ("macworld.rss", 30, "https://www.techhive.com/article/3212828/connected-home/"
                         "best-smart-lock.html#tk.rss_all"),
]


@pytest.mark.parametrize("name,count,first", REAL)
def test_real_feeds_entry_count_and_first_link(name, count, first):
    body = (FEEDS / name).read_bytes()
    if EVAL.exists():  # the fixture is a faithful copy of the evaluation file
        assert body == (EVAL / name).read_bytes()
    parsed = read_feed(body, f"https://feeds.example/{name}")
    assert len(parsed.requests) == count and not parsed.unusable
    assert parsed.requests[0]["url"] == first
    assert parsed.kind == ("atom" if name.endswith(".atom") or "atom" in name else "rss")


def test_every_eval_feed_has_a_fixture():
    if EVAL.exists():
        assert sorted(p.name for p in EVAL.iterdir()) == sorted(name for name, _, _ in REAL)


RSS_RELATIVE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Rel</title>
<item><title>One</title><link>/news/one.html</link><guid isPermaLink="false">id-1</guid>
<category>World</category><enclosure url="/img/one.jpg" type="image/jpeg" length="10"/>
<media:thumbnail url="/img/one-small.jpg"/></item>
<item><title>Two</title><link>two.html</link></item>
<item><title>Three</title><guid>http://127.0.0.1:PORT/news/three.html</guid></item>
<item><title>No link</title><guid isPermaLink="false">urn:uuid:4</guid></item>
<item><title>Nothing at all</title><description>text only</description></item>
</channel></rss>"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1", "title": "JSON news",
    "home_page_url": "http://127.0.0.1:PORT/", "authors": [{"name": "Desk"}],
    "items": [
        {"id": "1", "url": "/json/a.html", "title": "Alpha", "content_text": "Alpha text",
         "date_published": "2024-05-01T10:00:00Z", "date_modified": "2024-05-01T12:00:00+02:00",
         "tags": ["science"], "attachments": [{"url": "/a.mp3", "mime_type": "audio/mpeg"}]},
        {"id": "http://127.0.0.1:PORT/json/b.html", "title": "Beta",
         "content_html": "<p>Beta</p>", "authors": [{"name": "Ann"}]},
        {"id": "3", "title": "Gamma without url"},
    ],
}


def _fill(data: bytes, port: int) -> bytes:
    return data.replace(b"PORT", str(port).encode())


def test_relative_links_metadata_and_entries_without_links():
    parsed = read_feed(_fill(RSS_RELATIVE, 80), "http://127.0.0.1:80/feeds/rel.xml")
    urls = [r["url"] for r in parsed.requests]
    assert urls == ["http://127.0.0.1:80/news/one.html", "http://127.0.0.1:80/feeds/two.html",
                    "http://127.0.0.1:80/news/three.html"]
    one = parsed.requests[0]["entry"]
    assert one["guid"] == "id-1" and one["categories"] == ["World"]
    assert one["enclosures"] == [{"url": "http://127.0.0.1:80/img/one.jpg",
                                  "type": "image/jpeg", "length": "10"}]
    assert one["media"][0]["url"] == "http://127.0.0.1:80/img/one-small.jpg"
    assert [u["reason"] for u in parsed.unusable] == ["entry_without_link"] * 2
    assert parsed.unusable[0]["url"] == "http://127.0.0.1:80/feeds/rel.xml?newsflow_entry=urn%3Auuid%3A4"
    assert "Nothing at all" in parsed.unusable[1]["detail"]


def test_json_feed_1_1():
    body = _fill(json.dumps(JSON_FEED).encode(), 80)
    assert sniff_feed(body) == "json"
    parsed = read_feed(body, "http://127.0.0.1:80/feed.json")
    assert [r["url"] for r in parsed.requests] == ["http://127.0.0.1:80/json/a.html",
                                                   "http://127.0.0.1:80/json/b.html"]
    alpha, beta = (r["entry"] for r in parsed.requests)
    assert alpha["published_at"].isoformat() == "2024-05-01T10:00:00+00:00"
    assert alpha["updated_at"].isoformat() == "2024-05-01T12:00:00+02:00"
    assert alpha["authors"] == ["Desk"] and beta["authors"] == ["Ann"]
    assert alpha["categories"] == ["science"] and alpha["summary"] == "Alpha text"
    assert alpha["enclosures"][0]["url"] == "http://127.0.0.1:80/a.mp3"
    assert [u["reason"] for u in parsed.unusable] == ["entry_without_link"]


def xxe_feeds(secret: Path) -> dict[str, bytes]:
    uri = secret.as_uri().encode()
    return {
        "entity": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "' + uri
                  + b'">]><rss version="2.0"><channel><title>&xxe;</title><item>'
                  b"<title>&xxe;</title><description>&xxe;</description>"
                  b"<link>http://127.0.0.1:1/x</link></item></channel></rss>",
        "parameter": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "' + uri
                     + b'"> %p;]><rss version="2.0"><channel><title>t</title><item>'
                     b"<title>x</title><link>http://127.0.0.1:1/y</link></item></channel></rss>",
        "dtd": b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "' + uri + b'"><rss version="2.0">'
               b"<channel><title>t</title><item><title>&secret;</title>"
               b"<link>http://127.0.0.1:1/z</link></item></channel></rss>",
    }


def test_xxe_feeds_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for name, body in xxe_feeds(secret).items():
        with pytest.raises(FeedError) as info:
            read_feed(body, f"http://127.0.0.1:1/{name}.xml")
        assert info.value.reason == "unsafe_feed", name
        assert "TOP-SECRET" not in info.value.detail


CONTENT_TYPES = ["application/rss+xml", "application/x-rss+xml", "text/xml", "application/xml",
                 "application/rdf+xml", "application/octet-stream", "text/plain",
                 "text/html; charset=utf-8", ""]


def test_the_same_real_feed_is_read_whatever_its_content_type():
    body = (FEEDS / "aktuality.rss").read_bytes()
    site = Site({f"/feed{i}": Response(body, ctype) for i, ctype in enumerate(CONTENT_TYPES)})
    site.routes["/pdf"] = Response(b"%PDF-1.4", "application/pdf")
    ROBOTS.clear()
    try:
        policy = FetchPolicy(host_delay=0.0, allowed_hosts=("127.0.0.1",))
        urls = [site.url(f"/feed{i}") for i in range(len(CONTENT_TYPES))] + [site.url("/pdf")]
        with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
            fetched = (p | beam.Create([{"url": u, "feed_url": u} for u in urls])
                       | FetchPages(policy, stage="feed",
                                    accept=FEED_TYPES + HTML_TYPES + TEXT_TYPES))
            parsed = fetched.pages | beam.ParDo(ParseFeeds()).with_outputs(
                "rejects", "feeds", main="entries")
            assert_that(parsed.entries | beam.Map(lambda r: r["feed_url"].rsplit("/", 1)[1])
                        | beam.combiners.Count.PerElement(),
                        equal_to([(f"feed{i}", 30) for i in range(len(CONTENT_TYPES))]))
            reasons = ((fetched.rejects, parsed.rejects) | beam.Flatten()
                       | beam.Map(lambda r: (r["url"].rsplit("/", 1)[1], r["reason"])))
            assert_that(reasons, equal_to([("pdf", "unsupported_content_type")]),
                        label="rejects")
    finally:
        site.close()


LINKLESS = "reject:feed/entry_without_link"


def _accounting(output: str, run_id: str) -> dict[str, str]:
    """url -> 'article' / 'reject:<stage>/<reason>' for one run, asserting no URL is in both."""
    con = connect(output)
    articles = [r[0] for r in con.execute(
        "select url from articles where run_id = ?", [run_id]).fetchall()]
    rejects = con.execute("select url, stage, reason from rejects where run_id = ?",
                          [run_id]).fetchall()
    outcome: dict[str, str] = {}
    for url in articles:
        assert url not in outcome, f"{url} twice"
        outcome[url] = "article"
    for url, stage, reason in rejects:
        assert url not in outcome, f"{url} twice: {outcome[url]} and {stage}/{reason}"
        outcome[url] = f"reject:{stage}/{reason}"
    return outcome


def test_feeds_in_the_wild_end_to_end(tmp_path):
    """Every entry of every feed becomes exactly one article or reject row; the XXE feed leaks
    nothing; a feed with ``ttl`` polled twice in a minute is skipped the second time; a feed
    that failed two runs in a row is not asked in the third."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    site = Site()
    port = site.port
    ttl_feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>TTL</title>'
                b"<ttl>30</ttl><item><title>Ttl story</title><link>/ttl/story.html</link>"
                b"</item></channel></rss>")
    site.routes.update({
        "/robots.txt": Response(b"User-agent: *\nAllow: /\n", "text/plain"),
        "/feeds/rel.xml": Response(_fill(RSS_RELATIVE, port), "application/x-rss+xml"),
        "/feed.json": Response(_fill(json.dumps(JSON_FEED).encode(), port),
                               "application/feed+json"),
        "/feeds/ttl.xml": Response(ttl_feed, "text/xml"),
        **{f"/xxe/{name}.xml": Response(body, "application/rss+xml")
           for name, body in xxe_feeds(secret).items()},
        "/news/one.html": Response(article_page("Harbour bridge reopens", 1)),
        "/feeds/two.html": Response(article_page("Council budget approved", 2)),
        "/news/three.html": Response(article_page("Museum opens new wing", 3)),
        "/json/a.html": Response(article_page("Alpha probe launched", 4)),
        "/json/b.html": Response(article_page("Beta trial results", 5)),
        "/ttl/story.html": Response(article_page("Tide tables revised", 6)),
    })
    feeds = tmp_path / "feeds.txt"
    feed_urls = [site.url(p) for p in ("/feeds/rel.xml", "/feed.json", "/feeds/ttl.xml",
                                       "/xxe/entity.xml", "/xxe/parameter.xml", "/xxe/dtd.xml",
                                       "/feeds/gone.xml")]
    feeds.write_text("\n".join(feed_urls) + "\n")
    output = str(tmp_path / "out")
    argv = ["--feeds", str(feeds), "--output", output, "--allow-host", "127.0.0.1",
            "--host-delay", "0", "--dedup_levels", "exact", "--history_days", "0"]
    try:
        ROBOTS.clear()
        first_id, result = run(argv)
        assert str(result.state) == "DONE"
        outcome = _accounting(output, first_id)
        assert outcome == {
            site.url("/news/one.html"): "article", site.url("/feeds/two.html"): "article",
            site.url("/news/three.html"): "article", site.url("/json/a.html"): "article",
            site.url("/json/b.html"): "article", site.url("/ttl/story.html"): "article",
            site.url("/feeds/rel.xml?newsflow_entry=urn%3Auuid%3A4"): LINKLESS,
            site.url("/feeds/rel.xml?newsflow_entry=5"): LINKLESS,
            site.url("/feed.json?newsflow_entry=3"): LINKLESS,
            site.url("/xxe/entity.xml"): "reject:feed/unsafe_feed",
            site.url("/xxe/parameter.xml"): "reject:feed/unsafe_feed",
            site.url("/xxe/dtd.xml"): "reject:feed/unsafe_feed",
            site.url("/feeds/gone.xml"): "reject:feed/http_error",
        }
        for path in Path(output).rglob("*"):
            if path.is_file():
                assert b"TOP-SECRET" not in path.read_bytes(), path
        con = connect(output)
        one = con.execute("select feed_url, title from articles where url = ?",
                          [site.url("/news/one.html")]).fetchone()
        assert one[0] == site.url("/feeds/rel.xml")

        ROBOTS.clear()
        start = len(site.log)
        second_id, _ = run(argv)
        asked = site.paths()[start:]
        assert "/feeds/ttl.xml" not in asked and "/feeds/rel.xml" in asked
        counts = load_manifest(output, second_id)["counts"]
        assert counts.get("feed_not_due") == 1 and "feed_backoff" not in counts
        assert asked.count("/feeds/gone.xml") == 1  # one failure: asked again

        ROBOTS.clear()
        start = len(site.log)
        third_id, _ = run(argv)
        asked = site.paths()[start:]
        assert "/feeds/gone.xml" not in asked, "a feed that failed twice in a row backs off"
        counts = load_manifest(output, third_id)["counts"]
        # the 404 feed and the three XXE feeds (refused twice): all back off now
        assert counts.get("feed_backoff") == 4 and counts.get("feed_not_due") == 1
        # entries refused by the first run are skipped like handled entries: no new rows
        assert counts.get("skipped_seen") == 8
        assert not [k for k in counts if k.startswith("rejected/")]
    finally:
        site.close()
