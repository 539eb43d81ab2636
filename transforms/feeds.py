"""Feed lists (OPML / YAML / plain text) and RSS/Atom/RDF/JSON Feed parsing into page requests.

A feed list is configuration written by a person, so errors name the file and line. A feed body
is untrusted input: it is size-capped by the fetcher, refused when it declares XML entities (no
news feed needs them; they are how "billion laughs" bombs work), and parsed by feedparser. Each
entry becomes a *page request*: the dict that ``FetchPages`` consumes, carrying the entry's
metadata so extraction can fill gaps (title, summary, date, authors) from it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import apache_beam as beam
import feedparser
import yaml
from apache_beam.metrics import Metrics
from lxml import etree

from transforms.ledger import entries_json
from transforms.rejects import REJECTS, guarded, reject

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
#: An external DTD that is not on the web (``file:``, a bare path): an XXE probe, never a feed.
_LOCAL_DTD = re.compile(rb"<!DOCTYPE[^>\[]*\bSYSTEM\s+[\"'](?!https?://)", re.I)
_TAGS = re.compile(r"<[^>]+>")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")


class InputListError(ValueError):
    """A feed or URL list that cannot be read; the message names the file and the line."""


def _check_url(path: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not _URL.match(value.strip()):
        raise InputListError(f"{path}: {where}: not a URL: {value!r}")
    return value.strip()


def load_url_list(path: str) -> list[str]:
    """One URL per line; blank lines and ``#`` comments are ignored."""
    urls = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(_check_url(path, f"line {number}", line))
    return urls


def load_feed_list(path: str) -> list[str]:
    """Feed URLs from an OPML file, a YAML file (list, or ``feeds:`` list) or a text list."""
    text = _read_text(path)
    head = text.lstrip()[:500].lower()
    suffix = Path(path).suffix.lower()
    if suffix in (".opml", ".xml") or head.startswith("<?xml") or "<opml" in head:
        return _load_opml(path, text)
    if suffix in (".yaml", ".yml"):
        return _load_yaml(path, text)
    return load_url_list(path)


def _read_text(path: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path, compression_type="auto") as handle:
            data = handle.read()
    except Exception as exc:  # noqa: BLE001 - re-raised with the path in the message
        raise InputListError(f"{path}: cannot read: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputListError(f"{path}: not UTF-8 text: {exc}") from None


def _load_opml(path: str, text: str) -> list[str]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise InputListError(f"{path}: invalid OPML: {exc}") from None
    urls = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            urls.append(_check_url(path, f"line {outline.sourceline}", url))
    if not urls:
        raise InputListError(f"{path}: OPML has no <outline xmlUrl=...> feeds")
    return urls


def _load_yaml(path: str, text: str) -> list[str]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputListError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, dict):
        data = data.get("feeds")
    if not isinstance(data, list):
        raise InputListError(f"{path}: expected a list of feeds or a 'feeds:' list")
    urls = []
    for index, item in enumerate(data, 1):
        value = item.get("url") if isinstance(item, dict) else item
        urls.append(_check_url(path, f"feed #{index}", value))
    return urls


# ---------------------------------------------------------------------------------------------
# Parsing


class FeedError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


_BOM = (b"\xef\xbb\xbf",)
#: Prolog an XML feed may start with: declaration, comments, processing instructions, DOCTYPE.
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.S | re.I)
_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
FEED_ROOTS = {b"rss": "rss", b"feed": "atom", b"RDF": "rdf", b"rdf": "rdf"}


def sniff_feed(body: bytes) -> str | None:
    """What kind of feed a body is, from the body alone: ``rss``, ``atom``, ``rdf``,
    ``json`` (JSON Feed), or None. Servers label feeds ``text/plain``, ``octet-stream``,
    ``x-rss+xml``...: the label cannot decide (DESIGN.md §9)."""
    head = body[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: sniff the decoded text
        try:
            head = head.decode("utf-16", "ignore").encode("utf-8")
        except UnicodeError:
            return None
    for bom in _BOM:
        if head.startswith(bom):
            head = head[len(bom):]
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "json" if b"jsonfeed.org/version/" in stripped[:4096] else None
    position = 0
    while True:
        match = _PROLOG.match(head, position)
        if not match:
            break
        position = match.end()
    root = _ROOT.match(head, position)
    if not root:
        return None
    return FEED_ROOTS.get(root.group(2))


def _plain(value: str | None) -> str | None:
    if not value:
        return None
    text = html.unescape(_TAGS.sub(" ", value))
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _timestamp(parsed: Any) -> dt.datetime | None:
    if not parsed:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


def _when(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        when = _timestamp(entry.get(key))
        if when is not None:
            return when
    return None


def _iso_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass
class ParsedFeed:
    """A feed's page requests, its entries that cannot be fetched, and its polling hints."""

    requests: list[dict] = field(default_factory=list)
    unusable: list[dict] = field(default_factory=list)  # reject material: url, reason, detail
    title: str | None = None
    kind: str | None = None
    #: the feed's own polling hints: ``ttl`` (minutes), ``sy:updatePeriod`` / ``Frequency``
    ttl: str | None = None
    update_period: str | None = None
    update_frequency: str | None = None


def _usable(link: Any, base: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    resolved = urljoin(base, link.strip())
    scheme = resolved.split(":", 1)[0].lower() if ":" in resolved else ""
    if scheme in ("http", "https") or "://" in resolved:
        return resolved  # other schemes with an authority are refused later, by name
    return None


def _entry_link(entry: Any, base: str) -> str | None:
    """The entry's page: its alternate link, else its link, else a permalink GUID."""
    for lnk in entry.get("links", []):
        if lnk.get("rel", "alternate") == "alternate" and lnk.get("href"):
            found = _usable(lnk["href"], base)
            if found:
                return found
    link = entry.get("link")
    if link and not (entry.get("guidislink") and link == entry.get("id")):
        found = _usable(link, base)
        if found:
            return found
    guid = entry.get("id")
    if guid and entry.get("guidislink", False) and guid.lower().startswith(("http://",
                                                                           "https://")):
        return guid
    return None


def _media(entry: Any, base: str) -> tuple[list[dict], list[dict]]:
    enclosures = [
        {"url": urljoin(base, lnk["href"]), "type": lnk.get("type"),
         "length": lnk.get("length")}
        for lnk in entry.get("links", []) if lnk.get("rel") == "enclosure" and lnk.get("href")
    ]
    media = [
        {"url": urljoin(base, item["url"]), "type": item.get("type"),
         "medium": item.get("medium") or kind}
        for kind, key in (("content", "media_content"), ("thumbnail", "media_thumbnail"))
        for item in entry.get(key, []) or [] if item.get("url")
    ]
    return enclosures, media


def _request(feed_url: str, feed_title: str | None, link: str, guid: str | None,
             entry: dict[str, Any]) -> dict:
    stamp = entry.get("updated_at") or entry.get("published_at")
    if isinstance(stamp, dt.datetime):
        stamp = stamp.isoformat()
    # entry_updated: a changed stamp makes the ledger fetch a handled entry again
    return {"url": link, "source_kind": "feed", "feed_url": feed_url, "feed_title": feed_title,
            "entry_id": guid or link, "entry_updated": stamp or None, "entry": entry}


def _unusable(feed_url: str, index: int, guid: str | None, title: str | None) -> dict:
    name = guid or f"#{index + 1}"
    # an identity in the query, not the fragment: URL keys drop fragments
    joiner = "&" if "?" in feed_url else "?"
    identity = f"{feed_url.split('#')[0]}{joiner}newsflow_entry={quote(guid or str(index + 1))}"
    return {"url": identity, "reason": "entry_without_link",
            "detail": f"entry {name} ({title or 'untitled'}) of {feed_url} has no usable link "
                      f"and no permalink GUID"}


def _xml_feed(body: bytes, feed_url: str, charset: str | None, kind: str) -> ParsedFeed:
    # the label is not passed on: feedparser reads text/xml without charset as ASCII (RFC 3023)
    headers = {"content-location": feed_url,
               "content-type": "application/xml" + (f"; charset={charset}" if charset else "")}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.entries:
        if parsed.get("bozo"):
            raise FeedError("malformed_feed", f"{feed_url} is not a parseable feed: "
                                              f"{parsed.get('bozo_exception')}")
        raise FeedError("empty_feed", f"{feed_url} has no entries")
    feed = parsed.feed
    out = ParsedFeed(title=_plain(feed.get("title")), kind=kind, ttl=feed.get("ttl"),
                     update_period=feed.get("sy_updateperiod"),
                     update_frequency=feed.get("sy_updatefrequency"))
    for index, entry in enumerate(parsed.entries):
        guid = entry.get("id") or None
        title = _plain(entry.get("title"))
        link = _entry_link(entry, feed_url)
        if not link:
            out.unusable.append(_unusable(feed_url, index, guid, title))
            continue
        authors = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
        if not authors and entry.get("author"):
            authors = [entry.get("author")]
        enclosures, media = _media(entry, feed_url)
        out.requests.append(_request(feed_url, out.title, link, guid, {
            "title": title,
            "summary": _plain(entry.get("summary")),
            "published_at": _when(entry),
            "updated_at": _timestamp(dict.get(entry, "updated_parsed")),  # no fallback
            "authors": authors,
            "guid": guid,
            "categories": [t["term"] for t in entry.get("tags", []) or [] if t.get("term")],
            "enclosures": enclosures,
            "media": media,
        }))
    if not out.requests and parsed.get("bozo"):
        raise FeedError("malformed_feed", f"{feed_url} is not a well-formed feed: "
                                          f"{parsed.get('bozo_exception')}")
    return out


def _json_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), read with the standard library."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError("malformed_feed", f"{feed_url} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedError("malformed_feed", f"{feed_url}: a JSON Feed needs an 'items' list")
    if not data["items"]:
        raise FeedError("empty_feed", f"{feed_url} has no entries")
    out = ParsedFeed(title=_plain(data.get("title") if isinstance(data.get("title"), str)
                                  else None), kind="json")
    base = data.get("home_page_url") if isinstance(data.get("home_page_url"), str) else feed_url
    base = urljoin(feed_url, base)
    feed_authors = data.get("authors") or ([data["author"]] if data.get("author") else [])
    for index, item in enumerate(data["items"]):
        if not isinstance(item, dict):
            out.unusable.append(_unusable(feed_url, index, None, None))
            continue
        guid = str(item["id"]) if item.get("id") is not None else None
        title = _plain(item.get("title")) if isinstance(item.get("title"), str) else None
        link = _usable(item.get("url"), base) or _usable(item.get("external_url"), base)
        if not link and guid and guid.lower().startswith(("http://", "https://")):
            link = guid
        if not link:
            out.unusable.append(_unusable(feed_url, index, guid, title))
            continue
        people = item.get("authors") or ([item["author"]] if item.get("author") else []) \
            or feed_authors
        authors = [a["name"] for a in people if isinstance(a, dict)
                   and isinstance(a.get("name"), str)]
        summary = item.get("summary") or item.get("content_text") or item.get("content_html")
        attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)
                       and isinstance(a.get("url"), str)]
        image = item.get("image") or item.get("banner_image")
        out.requests.append(_request(feed_url, out.title, link, guid, {
            "title": title,
            "summary": _plain(summary) if isinstance(summary, str) else None,
            "published_at": _iso_time(item.get("date_published"))
            or _iso_time(item.get("date_modified")),
            "updated_at": _iso_time(item.get("date_modified")),
            "authors": authors,
            "guid": guid,
            "categories": [t for t in item.get("tags") or [] if isinstance(t, str)],
            "enclosures": [{"url": urljoin(base, a["url"]), "type": a.get("mime_type"),
                            "length": a.get("size_in_bytes")} for a in attachments],
            "media": [{"url": urljoin(base, image), "type": None, "medium": "image"}]
            if isinstance(image, str) else [],
        }))
    return out


def read_feed(body: bytes, feed_url: str, content_type: str | None = None,
              charset: str | None = None) -> ParsedFeed:
    """A feed body -> ``ParsedFeed``; raises ``FeedError`` for bodies that are not a usable feed.

    Refuses any body that declares XML entities or an external DTD subset with a ``SYSTEM``
    identifier other than a web URL (no news feed needs them; they are how "billion laughs" and
    XXE attacks work), wherever in the body they are.
    """
    if not body or not body.strip():
        raise FeedError("empty_feed", f"{feed_url} returned an empty body")
    if _ENTITY_DECL.search(body) or _LOCAL_DTD.search(body[:65536]):
        raise FeedError("unsafe_feed", f"{feed_url} declares XML entities or a local DTD "
                                       f"(refused)")
    kind = sniff_feed(body)
    if kind is None:
        label = f" (served as {content_type})" if content_type else ""
        raise FeedError("not_a_feed", f"{feed_url}{label} is not RSS, Atom, RDF or JSON Feed")
    if kind == "json":
        return _json_feed(body, feed_url)
    return _xml_feed(body, feed_url, charset, kind)


def parse_feed(body: bytes, feed_url: str, content_type: str | None = None) -> list[dict]:
    """Page requests for the entries of a feed; raises ``FeedError`` for unusable feeds."""
    parsed = read_feed(body, feed_url, content_type)
    if not parsed.requests:
        raise FeedError("empty_feed", f"{feed_url} has entries but none with a link")
    return parsed.requests


class ParseFeeds(beam.DoFn):
    """Fetched feed responses -> page requests; bad feeds and entries without a link ->
    ``rejects`` (stage ``feed``); one ``feeds`` record per parsed feed (polling hints)."""

    REJECTS = REJECTS
    FEEDS = "feeds"

    def __init__(self):
        self.parsed = Metrics.counter("feed", "parsed")
        self.entries = Metrics.counter("feed", "entries")

    @guarded("feed")  # a parser bug on one feed becomes an internal_error reject
    def process(self, response: dict) -> Iterator:
        feed_url = response["url"]
        try:
            parsed = read_feed(response.get("body") or b"",
                               response.get("final_url") or feed_url,
                               response.get("content_type"), response.get("charset"))
        except Exception as exc:  # noqa: BLE001 - a parser bug must not crash the run
            reason, detail = ((exc.reason, exc.detail) if isinstance(exc, FeedError)
                              else ("parse_error", repr(exc)))
            yield reject(response, "feed", reason, detail)
            yield beam.pvalue.TaggedOutput(self.FEEDS, {**self._feed(response), "failed": reason})
            return
        self.parsed.inc()
        self.entries.inc(len(parsed.requests))
        yield beam.pvalue.TaggedOutput(self.FEEDS, {
            **self._feed(response), "ttl": parsed.ttl, "update_period": parsed.update_period,
            "update_frequency": parsed.update_frequency, "entries": len(parsed.requests),
            # remembered in the feed's state: a later 304 replays them (transforms/ledger.py)
            "entry_list": entries_json(parsed.requests)})
        for bad in parsed.unusable:  # refused by ``RefuseUnusableEntries`` after the state join,
            # so an entry refused by an earlier run is skipped like any handled entry
            yield {"url": bad["url"], "source_kind": "feed", "feed_url": feed_url,
                   "unusable": {"reason": bad["reason"], "detail": bad["detail"]}}
        for request in parsed.requests:
            request["feed_url"] = feed_url
            yield request

    @staticmethod
    def _feed(response: dict) -> dict:
        return {"url": response["url"], "fetched_at": response.get("fetched_at"),
                "response_headers": response.get("response_headers") or {}}


class RefuseUnusableEntries(beam.DoFn):
    """Page requests standing for feed entries without a usable link -> reject rows (stage
    ``feed``); the other requests pass."""

    REJECTS = REJECTS

    @guarded("feed")
    def process(self, request: dict) -> Iterator:
        bad = request.get("unusable")
        if bad:
            yield reject(request, "feed", bad["reason"], bad["detail"])
        else:
            yield request
