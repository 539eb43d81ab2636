"""Sites without a feed list: find a site's feeds and sitemaps, or else its article links.

For each homepage or section URL of ``--sites``: feeds from the page's
``<link rel="alternate">`` (trafilatura's ``feeds.determine_feed``, parsing only; it would
fetch by itself otherwise, and we fetch through our own polite client and guard), else a few
common feed paths probed and recognised from the body; sitemaps from the site's robots.txt
``Sitemap:`` lines (the robots cache already parsed them). When a site has neither, the page's
own links are followed instead: same host, article-looking URLs only (courlan's type, path
and navigation filters plus a slug/date rule; courlan's ``check_url`` refuses IP hosts and keeps
``/about``, so it is not used whole), at most ``max_links``. What was found is cached in
``_state/kind=discovery`` for ``DISCOVERY_TTL`` so discovery is not repeated every run (a
links-only site still has its page read each run: its links change).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit, urlunsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from courlan.filters import extension_filter, is_navigation_page, is_not_crawlable, type_filter
from lxml import html as lxml_html

from schemas import utcnow
from transforms.extract import decode_html
from transforms.feeds import sniff_feed
from transforms.fetch import FEED_TYPES, HTML_TYPES, TEXT_TYPES, FetchPolicy, HttpClient
from transforms.rejects import REJECTS, guarded, reject
from transforms.state import state_row, url_key

DISCOVERY_TTL = dt.timedelta(days=7)
MAX_FEEDS = 10
MAX_LINKS = 30
COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml")

_SLUG_WORDS = re.compile(r"[a-z0-9]+", re.I)
_DATE_PATH = re.compile(r"/(19|20)\d{2}/\d{1,2}/")
_LONG_NUMBER = re.compile(r"\d{5,}")


def feed_links(page: str, url: str) -> list[str]:
    """Feeds a page announces with ``<link rel="alternate">`` (comment feeds dropped)."""
    from trafilatura.feeds import FeedParameters, determine_feed

    host = urlsplit(url).netloc
    try:
        found = determine_feed(page, FeedParameters(url, host, url))
    except Exception:  # noqa: BLE001 - a page trafilatura cannot read has no feed links
        return []
    return found[:MAX_FEEDS]


def article_like(url: str) -> bool:
    """Whether a URL looks like one article rather than a section, tag, file or login page."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if path in ("", "/") or not extension_filter(path) or is_not_crawlable(url):
        return False
    if not type_filter(url, strict=True) or is_navigation_page(url):
        return False
    slug = path.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"\.(s?html?|php|aspx?)$", "", slug, flags=re.I)
    words = _SLUG_WORDS.findall(slug)
    return len(words) >= 3 or bool(_DATE_PATH.search(path)) or bool(_LONG_NUMBER.search(slug))


def article_links(page: str, url: str, max_links: int = MAX_LINKS) -> list[str]:
    """Same-host, article-looking links of a page, in page order, at most ``max_links``."""
    try:
        tree = lxml_html.fromstring(page)
    except (ValueError, TypeError, lxml_html.etree.ParserError):
        return []
    host = (urlsplit(url).hostname or "").lower()
    found: dict[str, None] = {}
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or "nofollow" in (anchor.get("rel") or ""):
            continue
        target = urljoin(url, href)
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != host:
            continue
        target = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        if target != url and article_like(target):
            found.setdefault(target, None)
        if len(found) >= max_links:
            break
    return list(found)


def _fresh(row: dict | None, now: dt.datetime) -> dict | None:
    if not row or row.get("outcome") != "discovered" or now - row["time"] > DISCOVERY_TTL:
        return None
    try:
        return json.loads(row.get("data") or "{}")
    except ValueError:
        return None


class DiscoverSites(beam.DoFn):
    """Site URLs -> feed requests (``feeds``), sitemap requests (``sitemaps``) and, for sites
    with neither, page requests for their article links (main output); ``state`` rows cache
    what was found; a site whose page cannot be read and that has no sitemap is a reject
    (stage ``discovery``). Side input ``state``: ``url_key -> latest discovery row``."""

    REJECTS = REJECTS
    FEEDS = "feeds"
    SITEMAPS = "sitemaps"
    STATE = "state"

    def __init__(self, policy: FetchPolicy, run_id: str, max_links: int = MAX_LINKS):
        self.policy, self.run_id, self.max_links = policy, run_id, max_links
        self.cached = Metrics.counter("discovery", "cached")
        self.discovered = Metrics.counter("discovery", "discovered")

    def setup(self):
        self.client = HttpClient(self.policy)

    def teardown(self):
        self.client.close()

    @guarded("discovery")  # a bug on one site becomes an internal_error reject
    def process(self, site: dict, state: dict | None = None) -> Iterator:
        url = site["url"]
        found = _fresh((state or {}).get(url_key(url)), utcnow())
        if found is not None:
            self.cached.inc()
        else:
            found = yield from self._discover(site)
            if found is None:
                return
            self.discovered.inc()
            yield beam.pvalue.TaggedOutput(self.STATE, state_row(
                url, "discovery", "discovered", self.run_id, data=json.dumps(found)))
        for feed in found.get("feeds", []):
            yield beam.pvalue.TaggedOutput(self.FEEDS, {"url": feed, "source_kind": "feed_list",
                                                        "feed_url": feed, "site": url})
        for sitemap in found.get("sitemaps", []):
            yield beam.pvalue.TaggedOutput(self.SITEMAPS, {"url": sitemap,
                                                           "source_kind": "sitemap_list",
                                                           "site": url})
        if found.get("links"):
            yield from self._links(site)

    def _discover(self, site: dict):
        """Generator returning what a site offers (``feeds``, ``sitemaps``, ``links``), or
        None after yielding a reject."""
        url = site["url"]
        sitemaps = []
        if self.policy.obey_robots:
            sitemaps = list(dict.fromkeys(self.client.robots_rules(url).sitemaps()))
        page = self.client.fetch(url, accept=HTML_TYPES)
        feeds: list[str] = []
        if page.ok and page.body:
            text = decode_html(page.body, page.charset)
            base = page.final_url or url
            feeds = feed_links(text, base)
            if not feeds:
                feeds = self._probe(base)
        elif not sitemaps:
            yield reject({**site, "source_kind": "site"}, "discovery",
                         page.reason or "fetch_error", page.detail)
            return None
        self._page = (url, page)  # read once: a links-only site's links come from this page
        return {"feeds": feeds, "sitemaps": sitemaps, "links": not feeds and not sitemaps}

    def _probe(self, base: str) -> list[str]:
        parts = urlsplit(base)
        root = f"{parts.scheme}://{parts.netloc}"
        for path in COMMON_FEED_PATHS:
            candidate = root + path
            result = self.client.fetch(candidate, accept=FEED_TYPES + TEXT_TYPES + HTML_TYPES,
                                       retries=0)
            if result.ok and result.body and sniff_feed(result.body):
                return [result.final_url or candidate]
        return []

    def _links(self, site: dict) -> Iterator:
        url = site["url"]
        cached = getattr(self, "_page", None)
        page = cached[1] if cached and cached[0] == url else self.client.fetch(
            url, accept=HTML_TYPES)
        self._page = None
        if not page.ok or not page.body:
            yield reject({**site, "source_kind": "site"}, "discovery",
                         page.reason or "fetch_error", page.detail)
            return
        links = article_links(decode_html(page.body, page.charset), page.final_url or url,
                              self.max_links)
        Metrics.counter("discovery", "article_links").inc(len(links))
        for link in links:
            yield {"url": link, "source_kind": "site", "feed_url": url}


class DiscoverSiteList(beam.PTransform):
    """``--sites``: site URLs -> outputs ``pages`` (article links of sites with neither feed nor
    sitemap), ``feeds``, ``sitemaps``, ``state`` (discovery cache rows) and ``rejects``."""

    def __init__(self, sites: list[str], root: str, policy: FetchPolicy, run_id: str,
                 max_links: int = MAX_LINKS):
        super().__init__()
        self.sites, self.root, self.policy = sites, root, policy
        self.run_id, self.max_links = run_id, max_links

    def expand(self, pbegin):
        from transforms.sitemaps import latest_rows
        from transforms.state import ReadState

        cache = latest_rows(pbegin | "ReadDiscoveryState" >> ReadState(self.root, "discovery"))
        return (
            pbegin
            | "SiteList" >> beam.Create([{"url": u, "source_kind": "site"}
                                         for u in sorted(set(self.sites))])
            | "Discover" >> beam.ParDo(
                DiscoverSites(self.policy, self.run_id, self.max_links),
                state=beam.pvalue.AsDict(cache)).with_outputs(
                DiscoverSites.REJECTS, DiscoverSites.FEEDS, DiscoverSites.SITEMAPS,
                DiscoverSites.STATE, main="pages")
        )
