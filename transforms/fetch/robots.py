"""robots.txt by RFC 9309, cached per origin for a worker process.

- 2xx: the body is parsed whatever its content type (first 500 KiB, §2.5), with Protego;
- 4xx (404, 403, 410...): "unavailable", everything is allowed (§2.3.1.3);
- 5xx or unreachable (refused, timeout): "unreachable", everything is *disallowed* for now
  (§2.3.1.4); the page is a transient reject, so the next run tries again;
- redirects are followed up to five hops (§2.3.1.2), each through the SSRF guard.

Each origin has a future: the first thread that needs an origin's rules fetches them, the
others wait for that origin only; no lock is held across network I/O, so one slow robots.txt
never stalls another host's fetches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

PARSE_LIMIT = 500 * 1024
MAX_REDIRECTS = 5
TTL = 3600.0  # seconds a fetched robots.txt is trusted
UNREACHABLE_TTL = 300.0  # an unreachable robots.txt is asked again after this long
#: Fetch failures that mean "the server could not answer" (disallow all for now).
UNREACHABLE_REASONS = frozenset({"timeout", "connection_error", "truncated", "tls_error"})


@dataclass(frozen=True)
class RobotsRules:
    """The decision material of one origin: parsed rules, allow-all or disallow-all."""

    status: str  # parsed / unavailable / unreachable
    rules: Protego | None = None
    detail: str = ""
    fetched_at: float = 0.0
    #: why an unreachable server could not be asked: a network reason (the page's reject
    #: reason then, since the host is down) or ``robots_unavailable`` (5xx / 429)
    reason: str = "robots_unavailable"

    def allows(self, url: str, user_agent: str) -> bool:
        if self.status == "unreachable":
            return False
        return self.rules is None or self.rules.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float:
        if self.rules is None:
            return 0.0
        try:
            return float(self.rules.crawl_delay(user_agent) or 0.0)
        except (TypeError, ValueError):
            return 0.0

    def sitemaps(self) -> list[str]:
        return list(self.rules.sitemaps) if self.rules is not None else []

    def expired(self, now: float) -> bool:
        ttl = UNREACHABLE_TTL if self.status == "unreachable" else TTL
        return now - self.fetched_at > ttl


def rules_from_response(status: int | None, body: bytes | None, reason: str | None,
                        detail: str = "") -> RobotsRules:
    """RFC 9309 §2.3.1: what a robots.txt fetch outcome means (pure, so it is tested alone)."""
    now = time.monotonic()
    if reason in ("blocked_address", "bad_scheme", "invalid_url", "dns_error"):
        # the page itself meets the same guard/resolver and is refused with its own reason
        return RobotsRules("unavailable", detail=detail, fetched_at=now)
    if status is not None and 200 <= status < 300 and reason is None:
        text = (body or b"")[:PARSE_LIMIT].decode("utf-8", "replace")
        try:
            return RobotsRules("parsed", Protego.parse(text), fetched_at=now)
        except Exception:  # noqa: BLE001 - unparseable rules mean no usable rules
            return RobotsRules("unavailable", detail="unparseable robots.txt", fetched_at=now)
    if reason in UNREACHABLE_REASONS or (status is not None and (status >= 500 or status == 429)):
        if reason in UNREACHABLE_REASONS:
            return RobotsRules("unreachable", detail=detail, fetched_at=now, reason=reason)
        return RobotsRules("unreachable", detail=f"HTTP {status}", fetched_at=now)
    # 4xx, too many redirects, an oversized or undecodable file: unavailable, allow all
    return RobotsRules("unavailable", detail=f"{reason or ''} HTTP {status}".strip(),
                       fetched_at=now)


class RobotsCache:
    """origin -> ``Future[RobotsRules]``; shared by the clients of a process."""

    def __init__(self):
        self._lock = threading.Lock()  # guards the dict only
        self._entries: dict[str, Future] = {}

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def get(self, url: str, load: Callable[[str], RobotsRules]) -> RobotsRules:
        """The rules for ``url``'s origin, loading them once (other threads wait for that)."""
        origin = self.origin(url)
        with self._lock:
            future = self._entries.get(origin)
            if future is not None and future.done():
                try:
                    if future.result().expired(time.monotonic()):
                        future = None
                except Exception:  # noqa: BLE001 - a failed load is retried
                    future = None
            owner = future is None
            if owner:
                future = Future()
                self._entries[origin] = future
        if owner:
            try:
                future.set_result(load(origin))
            except BaseException as exc:  # the waiters must not hang on a bug
                future.set_exception(exc)
        return future.result()

    def peek(self, url: str) -> RobotsRules | None:
        """The rules already known for ``url``'s origin (never fetches, never waits)."""
        with self._lock:
            future = self._entries.get(self.origin(url))
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The robots.txt cache of this worker process.
ROBOTS = RobotsCache()
