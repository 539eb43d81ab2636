"""What the fetcher may do and what it answers: limits, content types, ``Accept`` headers, results.

One ``FetchPolicy`` object carries every limit and manner, so feeds, sitemaps, robots.txt and
pages obey the same rules. A failed fetch is a ``FetchResult`` with a reject reason code, never
an exception, so a Beam stage turns it into a reject row.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass, field

from transforms.guard import AddressGuard

PROJECT_URL = "https://github.com/newsflow/newsflow"
DEFAULT_USER_AGENT = f"newsflow/0.1 (+{PROJECT_URL})"

HTML_TYPES = ("text/html", "application/xhtml+xml")
#: What servers send feeds as in the wild (DESIGN.md §9): whether a body *is* a feed is decided
#: from the body itself (``transforms.feeds.sniff_feed``), so generic types are accepted too.
FEED_TYPES = (
    "application/rss+xml",
    "application/x-rss+xml",
    "application/atom+xml",
    "application/x-atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "text/rss+xml",
    "text/atom+xml",
    "application/feed+json",
    "application/json",
    "application/octet-stream",
    "binary/octet-stream",
)
TEXT_TYPES = ("text/plain",)
#: Sitemaps: XML or gzipped XML, often labelled generically.
SITEMAP_TYPES = ("application/xml", "text/xml", "application/gzip", "application/x-gzip",
                 "application/octet-stream", "binary/octet-stream", "text/plain")
#: robots.txt is parsed whatever its content type (RFC 9309 §2.3).
ANY_TYPE: tuple[str, ...] = ()

#: ``Accept`` header sent for each kind of document (servers that negotiate answer better).
ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
ACCEPT_FEED = ("application/rss+xml,application/atom+xml,application/feed+json,"
               "application/rdf+xml;q=0.9,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1")
ACCEPT_TEXT = "text/plain,*/*;q=0.1"
ACCEPT_XML = "application/xml,text/xml;q=0.9,*/*;q=0.1"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def accept_header(accept: tuple[str, ...]) -> str:
    """The ``Accept`` header matching the content types a caller takes."""
    if not accept:
        return ACCEPT_TEXT
    if any(t in accept for t in ("application/rss+xml", "application/atom+xml")):
        return ACCEPT_FEED
    if "text/html" in accept:
        return ACCEPT_HTML
    if "application/xml" in accept:
        return ACCEPT_XML
    return ",".join(accept) + ",*/*;q=0.1"


def accepts(mime: str, accept: tuple[str, ...]) -> bool:
    """Whether a response labelled ``mime`` may be read by a caller taking ``accept``.

    An empty ``accept`` takes anything; a missing label is let through (the body decides);
    ``+xml`` / ``+json`` subtypes are taken by callers that take generic XML / JSON.
    """
    if not accept or not mime or mime.startswith(accept):
        return True
    if mime.endswith("+xml") and "application/xml" in accept:
        return True
    return mime.endswith("+json") and "application/json" in accept


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and manners of the fetcher; one object so every stage obeys the same rules."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # whole response, so a slow drip cannot hold a worker forever
    max_bytes: int = 10 * 1024 * 1024  # bytes on the wire
    max_decompressed_bytes: int = 20 * 1024 * 1024  # after gzip/deflate: stops gzip bombs
    max_redirects: int = 5
    max_retries: int = 3
    backoff_base: float = 0.5
    max_retry_after: float = 60.0
    host_delay: float = 1.0  # minimum seconds between two requests to one host
    obey_robots: bool = True
    allowed_hosts: tuple[str, ...] = ()

    def guard(self) -> AddressGuard:
        return AddressGuard.allowing(self.allowed_hosts)


@dataclass
class FetchResult:
    url: str
    final_url: str | None = None
    status: int | None = None
    content_type: str | None = None
    charset: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # reject reason code when the fetch failed
    detail: str = ""
    attempts: int = 0
    redirects: int = 0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchFailure(Exception):
    """One failed exchange inside the request loop (retryable or not); becomes a reason."""

    def __init__(self, reason: str, detail: str, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(detail)
        self.reason, self.detail = reason, detail
        self.retryable, self.retry_after = retryable, retry_after


def parse_content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    mime, _, params = value.partition(";")
    charset = None
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", params, re.I)
    if match:
        charset = match.group(1).lower()
    return mime.strip().lower(), charset


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
