"""Sitemaps and sites without a feed list, on loopback sites: a sitemap index with a gzipped
Google News child, lastmod, caps, depth and ``--since``; a site with only
``<link rel=alternate>``, one with only a robots.txt ``Sitemap:``, one with neither (its
article links followed, bounded); discovery cached in ``_state/`` for the next run."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest

from pipelines.batch import run
from pipelines.query import connect
from tests.conftest import load_manifest
from tests.site import Response, Site, article_page
from transforms.discovery import article_like, article_links
from transforms.fetch import ROBOTS
from transforms.sitemaps import SitemapError, parse_since, parse_sitemap, select_entries

NOW = dt.datetime.now(dt.timezone.utc)
RECENT = (NOW - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
OLD = "2001-01-01"
NEWS_TIME = (NOW - dt.timedelta(days=2)).replace(microsecond=0, second=0)

NS = ('xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
      'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"')


def urlset(*entries: str) -> bytes:
    body = "".join(entries)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{body}</urlset>'.encode()


def url(loc: str, lastmod: str | None = None, news: tuple[str, str, str] | None = None) -> str:
    extra = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    if news:
        title, date, lang = news
        extra += (f"<news:news><news:publication><news:name>Daily</news:name><news:language>"
                  f"{lang}</news:language></news:publication><news:publication_date>{date}"
                  f"</news:publication_date><news:title>{title}</news:title></news:news>")
    return f"<url><loc>{loc}</loc>{extra}</url>"


def index(*children: tuple[str, str | None]) -> bytes:
    items = "".join(f"<sitemap><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "")
                    + "</sitemap>" for loc, mod in children)
    return (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9">{items}</sitemapindex>').encode()


def test_parse_urlset_news_index_gzip_and_text():
    news = parse_sitemap(gzip.compress(urlset(url("https://a.example/x", RECENT,
                                                  ("Headline", "2024-05-01T10:00:00+02:00",
                                                   "de")))), "https://a.example/s.xml.gz")
    assert news.kind == "urlset"
    entry = news.urls[0]
    assert entry["news_title"] == "Headline" and entry["news_language"] == "de"
    assert entry["news_date"] == dt.datetime(2024, 5, 1, 8, tzinfo=dt.timezone.utc)
    listing = parse_sitemap(index(("https://a.example/1.xml", "2024-05-01"),
                                  ("https://a.example/2.xml", None)), "https://a.example/i")
    assert listing.kind == "index" and [c["loc"] for c in listing.children] == [
        "https://a.example/1.xml", "https://a.example/2.xml"]
    text = parse_sitemap(b"https://a.example/p1\nnot a url\nhttps://a.example/p2\n", "t")
    assert [u["loc"] for u in text.urls] == ["https://a.example/p1", "https://a.example/p2"]


@pytest.mark.parametrize("body,reason", [
    (b"", "empty_sitemap"),
    (b"<html><body>no</body></html>", "not_a_sitemap"),
    (b"<urlset><url><loc>cut", "malformed_sitemap"),
    (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b"<urlset><url><loc>&x;</loc></url></urlset>", "unsafe_sitemap"),
    (gzip.compress(b"x" * 5000, mtime=0), "too_large"),
    (b"\x1f\x8bnot gzip at all", "bad_encoding"),
])
def test_bad_sitemaps_have_a_reason(body, reason):
    with pytest.raises(SitemapError) as info:
        parse_sitemap(body, "https://a.example/s.xml", cap=1000)
    assert info.value.reason == reason


def test_since_and_caps_keep_the_newest():
    entries = [{"loc": f"u{i}", "lastmod": NOW - dt.timedelta(days=i)} for i in range(6)]
    entries.append({"loc": "undated"})
    kept, too_old, capped = select_entries(entries, 3, parse_since("3d", NOW))
    assert [e["loc"] for e in kept] == ["u0", "u1", "u2"]
    assert too_old == 2 and capped == 2  # u4, u5 too old; u3 and the undated one over the cap
    assert parse_since("2024-05-01") == dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError):
        parse_since("yesterday")


def test_article_looking_links():
    assert article_like("https://n.example/2024/05/01/bridge.html")
    assert article_like("https://n.example/world/council-approves-new-budget")
    assert article_like("https://n.example/a/123456")
    for bad in ("https://n.example/about", "https://n.example/tag/world",
                "https://n.example/page/2", "https://n.example/login", "https://n.example/",
                "https://n.example/img/big-harbour-photo.jpg"):
        assert not article_like(bad), bad
    page = ('<a href="/world/council-approves-new-budget">a</a><a href="/about">b</a>'
            '<a href="https://other.example/x/one-two-three">c</a>'
            '<a href="/world/council-approves-new-budget#comments">d</a>'
            '<a rel="nofollow" href="/x/sponsored-link-goes-here">e</a>'
            '<a href="/sport/team-wins-the-final">f</a>')
    assert article_links(page, "https://n.example/") == [
        "https://n.example/world/council-approves-new-budget",
        "https://n.example/sport/team-wins-the-final"]
    assert len(article_links(page, "https://n.example/", max_links=1)) == 1


def _outcomes(output: str, run_id: str) -> dict[str, str]:
    con = connect(output)
    outcome: dict[str, str] = {}
    for (link,) in con.execute("select url from articles where run_id = ?", [run_id]).fetchall():
        assert link not in outcome
        outcome[link] = "article"
    for link, stage, reason in con.execute(
            "select url, stage, reason from rejects where run_id = ?", [run_id]).fetchall():
        assert link not in outcome, (link, outcome[link], stage, reason)
        outcome[link] = f"reject:{stage}/{reason}"
    return outcome


def test_sitemaps_and_sites_end_to_end(tmp_path):
    maps, linked, robots_only, bare, dead = Site(), Site(), Site(), Site(), Site()
    sites = (maps, linked, robots_only, bare, dead)
    allow = Response(b"User-agent: *\nAllow: /\n", "text/plain")
    m = maps.url
    maps.routes.update({
        "/robots.txt": allow,
        "/sitemap_index.xml": Response(index((m("/news.xml.gz"), "2024-05-01"),
                                             (m("/pages.xml"), "2024-05-02"),
                                             (m("/deeper.xml"), None)), "application/xml"),
        "/news.xml.gz": Response(gzip.compress(urlset(
            url(m("/n/harbour-bridge-reopens"), RECENT,
                ("Harbour bridge reopens", NEWS_TIME.strftime("%Y-%m-%dT%H:%M:%SZ"), "de")),
            url(m("/n/council-budget-approved"), None,
                ("Council budget", RECENT, "en")))), "application/octet-stream"),
        "/pages.xml": Response(urlset(*[url(m(f"/p/story-number-{i}"), RECENT)
                                        for i in range(4)],
                                      url(m("/p/ancient-story-here"), OLD)), "text/xml"),
        "/deeper.xml": Response(index((m("/deepest.xml"), None)), "text/xml"),
        "/deepest.xml": Response(index((m("/never.xml"), None)), "text/xml"),
        "/n/harbour-bridge-reopens": Response(article_page("Harbour bridge reopens", 1)),
        "/n/council-budget-approved": Response(article_page("Council budget approved", 2)),
        **{f"/p/story-number-{i}": Response(article_page(f"Story number {i}", 10 + i))
           for i in range(4)},
    })
    feed = (b'<rss version="2.0"><channel><title>L</title><item><title>Museum</title>'
            b"<link>/a/museum-opens-new-wing</link></item><item><title>Tide</title>"
            b"<link>/a/tide-tables-revised</link></item></channel></rss>")
    linked.routes.update({
        "/robots.txt": allow,
        "/": Response(b'<html><head><link rel="alternate" type="application/rss+xml" '
                      b'href="/feeds/main.xml"></head><body>home</body></html>'),
        "/feeds/main.xml": Response(feed, "application/rss+xml"),
        "/a/museum-opens-new-wing": Response(article_page("Museum opens new wing", 3)),
        "/a/tide-tables-revised": Response(article_page("Tide tables revised", 4)),
    })
    robots_only.routes.update({
        "/robots.txt": Response(f"User-agent: *\nAllow: /\nSitemap: {robots_only.url('/sm.xml')}\n"
                                .encode(), "text/plain"),
        "/": Response(b"<html><body><p>no feeds here</p></body></html>"),
        "/sm.xml": Response(urlset(url(robots_only.url("/s/river-levels-rising"))), "text/xml"),
        "/s/river-levels-rising": Response(article_page("River levels rising", 5)),
    })
    bare.routes.update({
        "/robots.txt": allow,
        "/": Response(b'<html><body><a href="/about">About</a><a href="/tag/world">World</a>'
                      b'<a href="/2024/05/01/first-local-story">1</a>'
                      b'<a href="/2024/05/01/second-local-story">2</a>'
                      b'<a href="/2024/05/01/third-local-story">3</a>'
                      b'<a href="http://127.0.0.2/elsewhere/some-other-story">x</a></body></html>'),
        "/2024/05/01/first-local-story": Response(article_page("First local story", 6)),
        "/2024/05/01/second-local-story": Response(article_page("Second local story", 7)),
        "/2024/05/01/third-local-story": Response(article_page("Third local story", 8)),
    })
    dead.routes["/robots.txt"] = allow  # its homepage is a 404
    (tmp_path / "sitemaps.txt").write_text(m("/sitemap_index.xml") + "\n")
    (tmp_path / "sites.txt").write_text("\n".join(s.url("/") for s in sites[1:]) + "\n")
    output = str(tmp_path / "out")
    argv = ["--sitemaps", str(tmp_path / "sitemaps.txt"), "--sites", str(tmp_path / "sites.txt"),
            "--output", output, "--allow-host", "127.0.0.1", "--host-delay", "0",
            "--dedup_levels", "exact", "--history_days", "0", "--since", "30d",
            "--sitemap-max-urls", "3", "--site-max-links", "2"]
    try:
        ROBOTS.clear()
        first_id, result = run(argv)
        assert str(result.state) == "DONE"
        outcome = _outcomes(output, first_id)
        assert outcome == {
            m("/n/harbour-bridge-reopens"): "article", m("/n/council-budget-approved"): "article",
            m("/p/story-number-0"): "article", m("/p/story-number-1"): "article",
            m("/p/story-number-2"): "article",
            m("/never.xml"): "reject:sitemap/sitemap_too_deep",
            linked.url("/a/museum-opens-new-wing"): "article",
            linked.url("/a/tide-tables-revised"): "article",
            robots_only.url("/s/river-levels-rising"): "article",
            bare.url("/2024/05/01/first-local-story"): "article",
            bare.url("/2024/05/01/second-local-story"): "article",
            dead.url("/"): "reject:discovery/http_error",
        }
        counts = load_manifest(output, first_id)["counts"]
        assert counts["sitemap_too_old"] == 1 and counts["sitemap_capped"] == 1
        con = connect(output)
        lang, published = con.execute(
            "select language, published_at from articles where url = ?",
            [m("/n/harbour-bridge-reopens")]).fetchone()
        assert lang == "de"  # from news:language: the page does not say
        assert published.astimezone(dt.timezone.utc) == NEWS_TIME  # news:publication_date
        assert "/about" not in bare.paths() and "/tag/world" not in bare.paths()

        ROBOTS.clear()
        starts = [len(s.log) for s in sites]
        second_id, _ = run(argv)
        asked = [s.paths()[start:] for s, start in zip(sites, starts, strict=True)]
        assert "/" not in asked[1] and "/" not in asked[2], "discovery was not cached"
        assert "/feeds/main.xml" in asked[1] and "/sm.xml" in asked[2]
        assert asked[3].count("/") == 1  # a links-only site's page is read again
        assert "/news.xml.gz" not in asked[0] and "/pages.xml" not in asked[0]  # lastmod same
        counts = load_manifest(output, second_id)["counts"]
        assert counts["sitemap_unchanged"] == 2
        assert not [k for k in counts if k.startswith("rejected/") and "discovery" not in k
                    and "sitemap_too_deep" not in k], counts
        assert connect(output).execute("select count(*) from articles where run_id = ?",
                                       [second_id]).fetchone()[0] == 0
    finally:
        for site in sites:
            site.close()
