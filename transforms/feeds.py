"""Feed lists (OPML / YAML / plain text) and RSS/Atom parsing into page requests.

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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import apache_beam as beam
import feedparser
import yaml
from apache_beam.metrics import Metrics
from lxml import etree

from transforms.rejects import REJECTS, reject

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
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


def _plain(value: str | None) -> str | None:
    if not value:
        return None
    text = html.unescape(_TAGS.sub(" ", value))
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _when(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def parse_feed(body: bytes, feed_url: str, content_type: str | None = None) -> list[dict]:
    """Page requests for the entries of a feed; raises ``FeedError`` for unusable feeds."""
    if not body or not body.strip():
        raise FeedError("empty_feed", f"{feed_url} returned an empty body")
    if _ENTITY_DECL.search(body[:65536]):
        raise FeedError("unsafe_feed", f"{feed_url} declares XML entities (refused)")
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.entries:
        if not parsed.get("version"):
            raise FeedError("malformed_feed", f"{feed_url} is not a parseable feed: "
                                              f"{parsed.get('bozo_exception')}")
        raise FeedError("empty_feed", f"{feed_url} has no entries")
    feed_title = _plain(parsed.feed.get("title"))
    requests = []
    for entry in parsed.entries:
        link = entry.get("link") or next(
            (lnk.get("href") for lnk in entry.get("links", []) if lnk.get("href")), None
        )
        if not link:
            continue
        authors = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
        if not authors and entry.get("author"):
            authors = [entry.get("author")]
        requests.append(
            {
                "url": urljoin(feed_url, link.strip()),
                "source_kind": "feed",
                "feed_url": feed_url,
                "feed_title": feed_title,
                "entry_id": entry.get("id") or link,
                "entry": {
                    "title": _plain(entry.get("title")),
                    "summary": _plain(entry.get("summary")),
                    "published_at": _when(entry),
                    "authors": authors,
                },
            }
        )
    if not requests:
        if parsed.get("bozo"):
            raise FeedError("malformed_feed", f"{feed_url} is not a well-formed feed: "
                                              f"{parsed.get('bozo_exception')}")
        raise FeedError("empty_feed", f"{feed_url} has entries but none with a link")
    return requests


class ParseFeeds(beam.DoFn):
    """Fetched feed responses -> page requests; bad feeds -> ``rejects`` (stage ``feed``)."""

    REJECTS = REJECTS

    def __init__(self):
        self.parsed = Metrics.counter("feed", "parsed")
        self.entries = Metrics.counter("feed", "entries")

    def process(self, response: dict) -> Iterator:
        feed_url = response["url"]
        try:
            requests = parse_feed(response.get("body") or b"",
                                  response.get("final_url") or feed_url,
                                  response.get("content_type"))
        except FeedError as exc:
            yield reject(response, "feed", exc.reason, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - a parser bug must not crash the run
            yield reject(response, "feed", "parse_error", repr(exc))
            return
        self.parsed.inc()
        self.entries.inc(len(requests))
        for request in requests:
            request["feed_url"] = feed_url
            yield request
