"""Sitemaps: index files, gzipped sitemaps, Google News sitemaps, read through our own client.

A sitemap is untrusted XML like a feed: parsed with entity resolution, DTD loading and network
access off (a body declaring entities is refused), decompressed in bounded steps when the file
itself is gzip. trafilatura's ``sitemaps`` module fetches by itself and keeps only the ``<loc>``
of each entry (no ``lastmod``, no ``news:`` fields), so it cannot be used here; only its
``robots.txt`` rule (``Sitemap:`` lines) is the same as Protego's, which we already parse.

``ReadSitemaps`` walks an index depth-first up to ``max_depth`` levels, skipping a child whose
``lastmod`` in the index has not changed since the run that last read it (``_state/kind=
sitemap``), asking the others conditionally; of each sitemap it keeps at most ``max_urls``
entries (newest ``lastmod`` first) and drops entries older than ``since``. Google News fields
(``news:title``, ``news:publication_date``, ``news:language``) fill gaps like feed metadata does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from lxml import etree

from transforms.fetch import SITEMAP_TYPES, FetchPolicy, HttpClient
from transforms.rejects import REJECTS, guarded, reject
from transforms.state import conditional_headers, state_row, url_key, validators

MAX_URLS = 1000  # per sitemap (a Google News sitemap holds at most 1,000)
MAX_DEPTH = 2  # index -> sitemap -> (one more index level)
MAX_CHILDREN = 200  # child sitemaps read from one index

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_GZIP_MAGIC = b"\x1f\x8b"


class SitemapError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class Sitemap:
    kind: str  # urlset / index / text
    urls: list[dict] = field(default_factory=list)  # loc, lastmod, news_* fields
    children: list[dict] = field(default_factory=list)  # loc, lastmod


def parse_time(value: str | None) -> dt.datetime | None:
    """W3C datetime (``2024-05-01``, ``2024-05-01T10:00:00+02:00``) -> aware UTC datetime."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        match = re.match(r"^(\d{4}-\d{2}-\d{2})", text)
        if not match:
            return None
        when = dt.datetime.fromisoformat(match.group(1))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def gunzip(body: bytes, cap: int) -> bytes:
    """A gzip file's content, at most ``cap`` bytes (a bomb stops at the cap)."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decoder.decompress(body, cap + 1)
    except zlib.error as exc:
        raise SitemapError("bad_encoding", f"corrupt gzip sitemap: {exc}") from None
    if len(data) > cap or decoder.unconsumed_tail:
        raise SitemapError("too_large", f"gzipped sitemap expands beyond {cap} bytes")
    return data


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def parse_sitemap(body: bytes, url: str, cap: int = 50 << 20) -> Sitemap:
    """A sitemap body (XML, gzipped XML or plain text) -> ``Sitemap``; raises ``SitemapError``."""
    if body[:2] == _GZIP_MAGIC:
        body = gunzip(body, cap)
    if not body.strip():
        raise SitemapError("empty_sitemap", f"{url} is empty")
    if _ENTITY_DECL.search(body):
        raise SitemapError("unsafe_sitemap", f"{url} declares XML entities (refused)")
    head = body.lstrip()[:1]
    if head != b"<":
        lines = body.decode("utf-8", "replace").splitlines()
        urls = [{"loc": line.strip()} for line in lines
                if line.strip().lower().startswith(("http://", "https://"))]
        if not urls:
            raise SitemapError("not_a_sitemap", f"{url} is neither XML nor a URL list")
        return Sitemap("text", urls=urls)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, recover=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapError("malformed_sitemap", f"{url}: {exc}") from None
    kind = _local(root.tag)
    if kind == "sitemapindex":
        children = []
        for item in root:
            if _local(item.tag) == "sitemap" and _child_text(item, "loc"):
                children.append({"loc": _child_text(item, "loc"),
                                 "lastmod": parse_time(_child_text(item, "lastmod"))})
        return Sitemap("index", children=children)
    if kind != "urlset":
        raise SitemapError("not_a_sitemap", f"{url}: root element <{kind}> is not a sitemap")
    urls = []
    for item in root:
        if _local(item.tag) != "url" or not _child_text(item, "loc"):
            continue
        entry = {"loc": _child_text(item, "loc"),
                 "lastmod": parse_time(_child_text(item, "lastmod"))}
        for news in item:
            if _local(news.tag) != "news":
                continue
            entry["news_title"] = _child_text(news, "title")
            entry["news_date"] = parse_time(_child_text(news, "publication_date"))
            for publication in news:
                if _local(publication.tag) == "publication":
                    entry["news_language"] = _child_text(publication, "language")
                    entry["news_source"] = _child_text(publication, "name")
        urls.append(entry)
    return Sitemap("urlset", urls=urls)


def parse_since(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """``--since``: an ISO date/time, or an age such as ``48h``, ``7d``, ``90m``."""
    if not value:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", value)
    if match:
        unit = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[match.group(2)]
        return now - dt.timedelta(seconds=float(match.group(1)) * unit)
    when = parse_time(value)
    if when is None:
        raise ValueError(f"--since: not a date or an age like 48h / 7d: {value!r}")
    return when


def entry_time(entry: dict) -> dt.datetime | None:
    return entry.get("news_date") or entry.get("lastmod")


def select_entries(entries: list[dict], max_urls: int, since: dt.datetime | None
                   ) -> tuple[list[dict], int, int]:
    """Entries to read: not older than ``since``, newest first, at most ``max_urls``.
    Returns (kept, too_old, over_cap)."""
    recent = [e for e in entries if since is None or entry_time(e) is None
              or entry_time(e) >= since]
    too_old = len(entries) - len(recent)
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    recent.sort(key=lambda e: entry_time(e) or oldest, reverse=True)
    return recent[:max_urls], too_old, max(0, len(recent) - max_urls)


def page_request(entry: dict, sitemap_url: str) -> dict:
    """A sitemap entry -> the page request ``FetchPages`` consumes (metadata fills gaps)."""
    return {
        "url": entry["loc"], "source_kind": "sitemap", "feed_url": sitemap_url,
        "lastmod": entry.get("lastmod"),
        "entry": {"title": entry.get("news_title"), "summary": None,
                  "published_at": entry.get("news_date"), "authors": [],
                  "language": entry.get("news_language"), "updated_at": entry.get("lastmod")},
    }


class ReadSitemaps(beam.DoFn):
    """Sitemap requests (``url``) -> page requests, one per entry kept; failed sitemaps ->
    ``rejects`` (stage ``sitemap``); one ``state`` row per sitemap read; ``outcomes``: one
    count key per sitemap or entry not read (unchanged, not_modified, too_old, capped).

    Side input ``state``: ``url_key -> latest state row`` of earlier runs' sitemaps.
    """

    REJECTS = REJECTS
    STATE = "state"
    OUTCOMES = "outcomes"

    def __init__(self, policy: FetchPolicy, run_id: str, since: dt.datetime | None = None,
                 max_urls: int = MAX_URLS, max_depth: int = MAX_DEPTH):
        self.policy, self.run_id, self.since = policy, run_id, since
        self.max_urls, self.max_depth = max_urls, max_depth
        self.read = Metrics.counter("sitemap", "read")
        self.entries = Metrics.counter("sitemap", "entries")

    def setup(self):
        self.client = HttpClient(self.policy)

    def teardown(self):
        self.client.close()

    @guarded("sitemap")  # a parser bug on one sitemap becomes an internal_error reject
    def process(self, request: dict, state: dict | None = None) -> Iterator:
        state = state or {}
        seen: set[str] = set()
        stack = [(request["url"], 0, None, request.get("source_kind") or "sitemap_list")]
        while stack:
            url, depth, lastmod, kind = stack.pop()
            if url in seen:
                continue
            seen.add(url)
            yield from self._one(url, depth, lastmod, kind, state, stack)

    def _count(self, name: str, n: int = 1) -> Iterator:
        if n:
            Metrics.counter("sitemap", name).inc(n)
            for _ in range(n):
                yield beam.pvalue.TaggedOutput(self.OUTCOMES, f"sitemap_{name}")

    def _one(self, url: str, depth: int, lastmod, kind: str, state: dict, stack: list
             ) -> Iterator:
        item = {"url": url, "source_kind": kind, "feed_url": url}
        previous = state.get(url_key(url))
        recorded = _recorded_lastmod(previous)
        if lastmod is not None and recorded is not None and lastmod <= recorded:
            yield from self._count("unchanged")  # the index says it did not change
            return
        result = self.client.fetch(url, accept=SITEMAP_TYPES,
                                   headers=conditional_headers(previous))
        if result.not_modified:
            yield from self._count("not_modified")
            yield beam.pvalue.TaggedOutput(self.STATE, state_row(
                url, "sitemap", "not_modified", self.run_id, etag=previous.get("etag"),
                last_modified=previous.get("last_modified"),
                data=json.dumps({"lastmod": _iso(lastmod or recorded)})))
            return
        if not result.ok:
            yield reject(item, "sitemap", result.reason or "fetch_error", result.detail)
            return
        try:
            sitemap = parse_sitemap(result.body or b"", url, self.policy.max_decompressed_bytes)
        except SitemapError as exc:
            yield reject(item, "sitemap", exc.reason, exc.detail)
            return
        self.read.inc()
        yield beam.pvalue.TaggedOutput(self.STATE, state_row(
            url, "sitemap", "fetched", self.run_id, **validators(result.headers),
            data=json.dumps({"lastmod": _iso(lastmod)})))
        if sitemap.kind == "index":
            children = sitemap.children[:MAX_CHILDREN]
            yield from self._count("capped", len(sitemap.children) - len(children))
            for child in reversed(children):
                if depth + 1 > self.max_depth:
                    yield reject({"url": child["loc"], "source_kind": "sitemap",
                                  "feed_url": url}, "sitemap", "sitemap_too_deep",
                                 f"{child['loc']} is more than {self.max_depth} index levels "
                                 f"below the sitemap listed")
                    continue
                stack.append((child["loc"], depth + 1, child.get("lastmod"), "sitemap"))
            return
        kept, too_old, capped = select_entries(sitemap.urls, self.max_urls, self.since)
        yield from self._count("too_old", too_old)
        yield from self._count("capped", capped)
        self.entries.inc(len(kept))
        for entry in kept:
            yield page_request(entry, url)


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _recorded_lastmod(row: dict | None) -> dt.datetime | None:
    if not row or row.get("outcome") not in ("fetched", "not_modified"):
        return None
    try:
        return parse_time(json.loads(row.get("data") or "{}").get("lastmod"))
    except (TypeError, ValueError, AttributeError):
        return None


def latest_rows(rows):
    """State rows -> ``(url_key, latest row)`` pairs, for a side-input dict."""
    return (
        rows
        | "KeyState" >> beam.Map(lambda r: (r["url_key"], r))
        | "Latest" >> beam.CombinePerKey(lambda found: max(found, key=lambda r: r["time"],
                                                             default=None))
        | "Present" >> beam.Filter(lambda kv: kv[1] is not None)
    )


class ReadSitemapList(beam.PTransform):
    """Sitemap requests -> outputs ``requests`` (page requests), ``rejects``, ``state`` and
    ``outcomes`` (count keys of sitemaps and entries not read), one sitemap URL read once."""

    def __init__(self, root: str, policy: FetchPolicy, run_id: str,
                 since: dt.datetime | None = None, max_urls: int = MAX_URLS,
                 max_depth: int = MAX_DEPTH):
        super().__init__()
        self.root, self.policy, self.run_id = root, policy, run_id
        self.since, self.max_urls, self.max_depth = since, max_urls, max_depth

    def expand(self, requests):
        from transforms.state import ReadState

        cache = latest_rows(requests.pipeline | "ReadSitemapState" >> ReadState(self.root,
                                                                                "sitemap"))
        return (
            requests
            | "KeySitemaps" >> beam.Map(lambda r: (url_key(r["url"]), r))
            | "GroupSitemaps" >> beam.GroupByKey()
            | "OnePerSitemap" >> beam.Map(lambda kv: sorted(kv[1], key=lambda r: r["url"])[0])
            | "SpreadSitemaps" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(
                ReadSitemaps(self.policy, self.run_id, self.since, self.max_urls,
                             self.max_depth),
                state=beam.pvalue.AsDict(cache)).with_outputs(
                ReadSitemaps.REJECTS, ReadSitemaps.STATE, ReadSitemaps.OUTCOMES,
                main="requests")
        )
