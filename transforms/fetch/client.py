"""The request loop: guard, robots.txt, pacing, retries, redirects and meta refresh.

``HttpClient`` is plain Python (unit-testable without a runner). Every hop (a redirect, a
``<meta http-equiv="refresh">`` to another URL) goes through the SSRF guard and robots.txt
again and counts against the redirect limit; every request waits for its host's turn; 429/5xx
and connection failures are retried with backoff that honours ``Retry-After``. The rules live in
their own modules: ``robots.py``, ``pacer.py``, ``body.py``, ``errors.py``, ``policy.py``.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from urllib.parse import urljoin, urlsplit

import urllib3

from transforms.fetch.body import read_body
from transforms.fetch.errors import connect_failure
from transforms.fetch.pacer import PACER, HostPacer
from transforms.fetch.policy import (
    ANY_TYPE,
    HTML_TYPES,
    RETRY_STATUSES,
    FetchFailure,
    FetchPolicy,
    FetchResult,
    accept_header,
    accepts,
    parse_content_type,
    parse_retry_after,
)
from transforms.fetch.robots import (
    MAX_REDIRECTS,
    ROBOTS,
    RobotsCache,
    RobotsRules,
    rules_from_response,
)
from transforms.guard import Refused

LOG = logging.getLogger(__name__)

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
#: Only a quick refresh is a redirect; a page reloading itself every few minutes is not one.
MAX_REFRESH_DELAY = 5.0
_META_REFRESH = re.compile(
    rb"""<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.I)
_REFRESH_CONTENT = re.compile(
    rb"""content\s*=\s*["']\s*(\d+(?:\.\d+)?)\s*[;,]\s*(?:url\s*=\s*)?["']?([^"'>]+)""", re.I)


def meta_refresh_target(body: bytes, base: str) -> str | None:
    """The URL a page sends the browser on to at once (``<meta http-equiv=refresh>``), if any."""
    head = body[:32768]
    for tag in _META_REFRESH.findall(head):
        match = _REFRESH_CONTENT.search(tag)
        if not match:
            continue
        try:
            delay = float(match.group(1))
        except ValueError:
            continue
        target = match.group(2).strip().decode("utf-8", "replace")
        if delay <= MAX_REFRESH_DELAY and target:
            resolved = urljoin(base, target)
            if resolved.split("#")[0] != base.split("#")[0]:
                return resolved
    return None


class HttpClient:
    """A blocking HTTP/1.1 client that connects only to addresses the guard approved.

    Connections go to the checked IP address (with the real ``Host`` header and TLS server name),
    so a DNS answer that changes between check and connect cannot redirect us to a private
    address.
    """

    #: robots.txt rules per origin, shared by every client of a worker process (feeds and pages
    #: stages included) so a host's robots.txt is fetched once per process and hour.
    _robots: RobotsCache = ROBOTS

    def __init__(self, policy: FetchPolicy, sleep=time.sleep, pacer: HostPacer = PACER):
        self.policy = policy
        self.guard = policy.guard()
        self._sleep = sleep
        self._pacer = pacer
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    # -- connection -----------------------------------------------------------------------
    def _pool(self, scheme: str, host: str, address: str, port: int):
        key = (scheme, host, address, port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                timeout = urllib3.Timeout(
                    connect=self.policy.connect_timeout, read=self.policy.read_timeout
                )
                if scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        address, port, timeout=timeout, retries=False, maxsize=1,
                        server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(
                        address, port, timeout=timeout, retries=False, maxsize=1
                    )
                self._pools[key] = pool
            return pool

    def _delay(self, url: str) -> float:
        """The host delay, or the site's larger Crawl-delay when its robots.txt is known."""
        crawl_delay = 0.0
        if self.policy.obey_robots:
            rules = self._robots.peek(url)
            if rules is not None:
                crawl_delay = rules.crawl_delay(self.policy.user_agent)
        return max(self.policy.host_delay, min(crawl_delay, self.policy.max_retry_after))

    def _one_request(self, url: str, headers: dict[str, str], accept: tuple[str, ...]):
        """One HTTP exchange, no redirects followed. Returns (status, headers, body, nread)."""
        target = self.guard.check(url)
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host and not host_header.startswith("["):
            host_header = f"[{target.host}]" if target.port == default_port else host_header
        request_headers = {
            "Host": host_header,
            "User-Agent": self.policy.user_agent,
            "Accept": accept_header(accept),
            "Accept-Encoding": "gzip, deflate",
            **headers,
        }
        with self._pacer.turn(target.host, self._delay(url)):
            last_error: FetchFailure | None = None
            for address in target.addresses:
                pool = self._pool(target.scheme, target.host, address, target.port)
                try:
                    resp = pool.urlopen(
                        "GET", path, headers=request_headers, redirect=False, retries=False,
                        preload_content=False, decode_content=False, assert_same_host=False,
                    )
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    failure = connect_failure(exc, target.host)
                    if failure.reason in ("connection_error", "timeout") and \
                            isinstance(exc, (urllib3.exceptions.NewConnectionError,
                                             urllib3.exceptions.ConnectTimeoutError)):
                        last_error = failure  # try the host's next address
                        continue
                    raise failure from None
                complete = False
                try:
                    answer = self._read(resp, url, accept)
                    complete = answer[0] < 300
                    return answer
                finally:
                    if not complete:
                        resp.close()  # unread bytes must not poison a kept-alive connection
                    resp.release_conn()
            assert last_error is not None
            raise last_error

    def _read(self, resp, url: str, accept: tuple[str, ...]):
        status = resp.status
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if status in REDIRECT_STATUSES or status == 304 or status >= 400:
            return status, headers, b"", 0
        mime, _ = parse_content_type(headers.get("content-type"))
        if not accepts(mime, accept):
            raise FetchFailure("unsupported_content_type", f"{mime} is not accepted from {url}")
        body, nread = read_body(resp, url, headers, self.policy)
        return status, headers, body, nread

    # -- robots.txt -----------------------------------------------------------------------
    def robots_rules(self, url: str) -> RobotsRules:
        """robots.txt rules of ``url``'s origin (fetched once per process and hour)."""
        return self._robots.get(url, self._load_robots)

    def robots_allows(self, url: str) -> bool:
        """robots.txt decision for ``url`` (cached per origin; see ``robots.py``)."""
        if not self.policy.obey_robots:
            return True
        return self.robots_rules(url).allows(url, self.policy.user_agent)

    def _load_robots(self, origin: str) -> RobotsRules:
        result = self.fetch(origin + "/robots.txt", accept=ANY_TYPE, check_robots=False,
                            retries=1, max_redirects=MAX_REDIRECTS)
        return rules_from_response(result.status, result.body, result.reason, result.detail)

    # -- the public call -------------------------------------------------------------------
    def fetch(
        self,
        url: str,
        *,
        accept: tuple[str, ...] = HTML_TYPES,
        headers: dict[str, str] | None = None,
        check_robots: bool = True,
        retries: int | None = None,
        max_redirects: int | None = None,
    ) -> FetchResult:
        """GET ``url`` following redirects; never raises for network or content problems."""
        result = FetchResult(url=url)
        max_attempts = 1 + (self.policy.max_retries if retries is None else retries)
        redirect_limit = self.policy.max_redirects if max_redirects is None else max_redirects
        current = url
        seen = {url}
        attempt = 0
        while True:
            if check_robots and self.policy.obey_robots:
                rules = self.robots_rules(current)
                if not rules.allows(current, self.policy.user_agent):
                    if rules.status == "unreachable":
                        result.reason = rules.reason
                        result.detail = (f"robots.txt of {RobotsCache.origin(current)} could not "
                                         f"be fetched ({rules.detail}): RFC 9309 says assume "
                                         f"complete disallow; retried next run")
                    else:
                        result.reason = "robots_disallowed"
                        result.detail = f"robots.txt forbids {current}"
                    return result
            attempt += 1
            result.attempts += 1
            try:
                status, resp_headers, body, nread = self._one_request(
                    current, headers or {}, accept
                )
            except Refused as exc:
                result.reason, result.detail = exc.reason, exc.detail
                return result
            except FetchFailure as exc:
                if exc.retryable and attempt < max_attempts:
                    self._sleep(self._backoff(attempt, exc.retry_after))
                    continue
                result.reason, result.detail = exc.reason, exc.detail
                return result
            result.bytes_read += nread
            result.status, result.headers = status, resp_headers
            target = None
            if status in REDIRECT_STATUSES:
                location = resp_headers.get("location")
                if not location:
                    result.reason, result.detail = "bad_redirect", f"{status} without Location"
                    return result
                target = urljoin(current, location.strip())
            elif 200 <= status < 300 and body and "html" in (
                    parse_content_type(resp_headers.get("content-type"))[0] or "html"):
                target = meta_refresh_target(body, current)
            if target is not None:
                if target in seen:
                    result.reason, result.detail = "redirect_loop", f"{current} -> {target}"
                    return result
                result.redirects += 1
                if result.redirects > redirect_limit:
                    result.reason = "too_many_redirects"
                    result.detail = f"more than {redirect_limit} redirects from {url}"
                    return result
                seen.add(target)
                current = target
                attempt = 0
                continue
            if status in RETRY_STATUSES and attempt < max_attempts:
                wait = parse_retry_after(resp_headers.get("retry-after"))
                if wait is not None and wait > self.policy.max_retry_after:
                    result.reason = "http_error"
                    result.detail = f"HTTP {status}, Retry-After {wait:.0f} s is too long"
                    return result
                self._sleep(self._backoff(attempt, wait))
                continue
            result.final_url = current
            if status == 304:
                return result
            if status >= 400 or status < 200:
                result.reason, result.detail = "http_error", f"HTTP {status} from {current}"
                return result
            mime, charset = parse_content_type(resp_headers.get("content-type"))
            result.content_type, result.charset, result.body = mime, charset, body
            return result

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.policy.max_retry_after)
        return self.policy.backoff_base * (2 ** (attempt - 1)) * (1 + random.random() * 0.5)
