"""Polite, bounded HTTP fetching: the only place newsflow talks to the web.

Everything about being a good citizen and surviving hostile servers lives here, so feeds and
pages share it: the SSRF guard (``guard.py``) on every hop, robots.txt, a User-Agent naming the
project, retries with backoff that honour ``Retry-After``, caps on bytes read, decompressed
bytes and total time, content-type filtering, redirect limits and loop detection. A failure is a
``FetchResult`` with a reason code, never an exception, so a Beam stage turns it into a reject
row. ``HttpClient`` is plain Python (unit-testable without a runner); ``FetchPages`` is the Beam
wiring that keys work by host so one host never sees two requests at once.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import queue
import random
import re
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
import urllib3
from apache_beam.metrics import Metrics
from protego import Protego

from schemas import utcnow
from transforms.guard import AddressGuard, Refused
from transforms.progress import Progress
from transforms.rejects import REJECTS, reject

LOG = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/newsflow/newsflow"
DEFAULT_USER_AGENT = f"newsflow/0.1 (+{PROJECT_URL})"

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "application/feed+json",
    "application/json",
)
TEXT_TYPES = ("text/plain",)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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


class _Failure(Exception):
    def __init__(self, reason: str, detail: str, retryable: bool = False, retry_after=None):
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


class HttpClient:
    """A blocking HTTP/1.1 client that connects only to addresses the guard approved.

    Connections go to the checked IP address (with the real ``Host`` header and TLS server name),
    so a DNS answer that changes between check and connect cannot redirect us to a private
    address.
    """

    def __init__(self, policy: FetchPolicy, sleep=time.sleep):
        self.policy = policy
        self.guard = policy.guard()
        self._sleep = sleep
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()
        self._last_request: dict[str, float] = {}  # host -> monotonic time of last request

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

    def _pace(self, url: str, host: str) -> None:
        """Waits until ``host`` may be asked again: every request (robots.txt, retries and
        redirects included) keeps ``host_delay`` (or the site's Crawl-delay) after the last."""
        parts = urlsplit(url)
        cached = self._robots.get(f"{parts.scheme}://{parts.netloc}")
        crawl_delay = 0.0
        if cached and cached[1] is not None and self.policy.obey_robots:
            crawl_delay = float(cached[1].crawl_delay(self.policy.user_agent) or 0.0)
        delay = max(self.policy.host_delay, min(crawl_delay, self.policy.max_retry_after))
        last = self._last_request.get(host)
        if last is not None:
            wait = last + delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_request[host] = time.monotonic()

    def _one_request(self, url: str, headers: dict[str, str], accept: tuple[str, ...]):
        """One HTTP exchange, no redirects followed. Returns (status, headers, body, nread)."""
        target = self.guard.check(url)
        self._pace(url, target.host)
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
            "Accept-Encoding": "gzip, deflate",
            **headers,
        }
        last_error: Exception | None = None
        for address in target.addresses:
            pool = self._pool(target.scheme, target.host, address, target.port)
            try:
                resp = pool.urlopen(
                    "GET", path, headers=request_headers, redirect=False, retries=False,
                    preload_content=False, decode_content=False, assert_same_host=False,
                )
            except urllib3.exceptions.ConnectTimeoutError as exc:
                last_error = _Failure("timeout", f"connect timeout to {target.host}: {exc}", True)
                continue
            except (urllib3.exceptions.NewConnectionError, OSError) as exc:
                last_error = _Failure("connection_error", f"{target.host}: {exc}", True)
                continue
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise _Failure("timeout", f"read timeout from {target.host}: {exc}", True) from None
            except urllib3.exceptions.SSLError as exc:
                raise _Failure("tls_error", f"{target.host}: {exc}") from None
            except urllib3.exceptions.HTTPError as exc:
                raise _Failure("connection_error", f"{target.host}: {exc}", True) from None
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
        if status in (301, 302, 303, 307, 308) or status == 304 or status >= 400:
            return status, headers, b"", 0
        mime, _ = parse_content_type(headers.get("content-type"))
        if accept and mime and not mime.startswith(accept):
            raise _Failure("unsupported_content_type", f"{mime} is not accepted from {url}")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise _Failure(
                "too_large", f"Content-Length {declared} exceeds {self.policy.max_bytes} bytes"
            )
        encoding = headers.get("content-encoding", "identity").strip().lower()
        decoder = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            raise _Failure("unsupported_encoding", f"Content-Encoding {encoding} from {url}")
        deadline = time.monotonic() + self.policy.total_timeout
        chunks: list[bytes] = []
        size = nread = 0
        cap = self.policy.max_decompressed_bytes if decoder else self.policy.max_bytes
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _Failure(
                        "timeout",
                        f"response from {url} took over {self.policy.total_timeout:.0f} s "
                        f"({nread} bytes read)",
                    )
                chunk = resp.read1(65536, decode_content=False)
                if not chunk:
                    break
                nread += len(chunk)
                if nread > self.policy.max_bytes:
                    raise _Failure("too_large", f"body exceeds {self.policy.max_bytes} bytes")
                if decoder is not None:
                    try:
                        chunk = decoder.decompress(chunk, cap - size + 1)
                    except zlib.error as exc:
                        raise _Failure("bad_encoding", f"corrupt {encoding} body: {exc}") from None
                    if decoder.unconsumed_tail or size + len(chunk) > cap:
                        raise _Failure(
                            "too_large",
                            f"decompressed body exceeds {cap} bytes after {nread} bytes read",
                        )
                size += len(chunk)
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise _Failure("timeout", f"read timeout from {url}: {exc}", True) from None
        except urllib3.exceptions.ProtocolError as exc:
            raise _Failure("truncated", f"connection broken while reading {url}: {exc}") from None
        except (TimeoutError, urllib3.exceptions.HTTPError) as exc:
            raise _Failure("truncated", f"while reading {url}: {exc}") from None
        if decoder is not None:
            tail = decoder.flush()
            if size + len(tail) > cap:
                raise _Failure("too_large", f"decompressed body exceeds {cap} bytes")
            chunks.append(tail)
        return status, headers, b"".join(chunks), nread

    # -- robots.txt -----------------------------------------------------------------------
    #: robots.txt rules per origin, shared by every client of a worker process (feeds and pages
    #: stages included) so a host's robots.txt is fetched once per process and hour.
    _robots: dict[str, tuple[float, Protego | None]] = {}
    _robots_lock = threading.Lock()
    ROBOTS_TTL = 3600.0

    def _rules(self, url: str) -> Protego | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:  # one fetch per origin even when threads race for it
            cached = self._robots.get(origin)
            if cached is None or time.monotonic() - cached[0] > self.ROBOTS_TTL:
                cached = (time.monotonic(), self._load_robots(origin))
                self._robots[origin] = cached
        return cached[1]

    def robots_allows(self, url: str) -> bool:
        """robots.txt decision for ``url`` (cached per origin; a missing file allows)."""
        if not self.policy.obey_robots:
            return True
        rules = self._rules(url)
        return True if rules is None else rules.can_fetch(url, self.policy.user_agent)

    def _load_robots(self, origin: str) -> Protego | None:
        result = self.fetch(origin + "/robots.txt", accept=TEXT_TYPES, check_robots=False,
                            retries=1)
        if not result.ok or result.status != 200 or not result.body:
            return None  # a missing or broken robots.txt allows everything (RFC 9309 §2.3.1)
        try:
            return Protego.parse(result.body[:512_000].decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - a robots file we cannot parse must not stop the run
            return None

    # -- the public call -------------------------------------------------------------------
    def fetch(
        self,
        url: str,
        *,
        accept: tuple[str, ...] = HTML_TYPES,
        headers: dict[str, str] | None = None,
        check_robots: bool = True,
        retries: int | None = None,
    ) -> FetchResult:
        """GET ``url`` following redirects; never raises for network or content problems."""
        result = FetchResult(url=url)
        max_attempts = 1 + (self.policy.max_retries if retries is None else retries)
        current = url
        seen = {url}
        attempt = 0
        while True:
            if check_robots:
                try:
                    allowed = self.robots_allows(current)
                except Exception as exc:  # noqa: BLE001
                    LOG.debug("robots check failed for %s: %s", current, exc)
                    allowed = True
                if not allowed:
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
            except _Failure as exc:
                if exc.retryable and attempt < max_attempts:
                    self._sleep(self._backoff(attempt, exc.retry_after))
                    continue
                result.reason, result.detail = exc.reason, exc.detail
                return result
            result.bytes_read += nread
            result.status, result.headers = status, resp_headers
            if status in (301, 302, 303, 307, 308):
                location = resp_headers.get("location")
                if not location:
                    result.reason, result.detail = "bad_redirect", f"{status} without Location"
                    return result
                target = urljoin(current, location.strip())
                if target in seen:
                    result.reason, result.detail = "redirect_loop", f"{current} -> {target}"
                    return result
                result.redirects += 1
                if result.redirects > self.policy.max_redirects:
                    result.reason = "too_many_redirects"
                    result.detail = f"more than {self.policy.max_redirects} redirects from {url}"
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


# ---------------------------------------------------------------------------------------------
# Beam wiring


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _shard(host: str, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(host.encode(), digest_size=4).digest(), "big") % shards


class FetchHostsDoFn(beam.DoFn):
    """Fetches a shard of hosts: hosts in parallel threads, each host's URLs one at a time.

    Input: ``(shard, [request, ...])``. Each request is a dict with at least ``url``; the output
    is the request plus ``final_url``, ``status``, ``body``, ``content_type``, ``charset``,
    ``fetched_at``. Failures go to the ``rejects`` output with stage ``stage``.
    """

    REJECTS = REJECTS
    NOT_MODIFIED = "not_modified"

    def __init__(self, policy: FetchPolicy, stage: str = "fetch", accept=HTML_TYPES,
                 max_threads: int = 8):
        self.policy, self.stage, self.accept, self.max_threads = policy, stage, accept, max_threads
        self.fetched = Metrics.counter(stage, "fetched")
        self.not_modified = Metrics.counter(stage, "not_modified")
        self.retries = Metrics.counter(stage, "retries")
        self.bytes = Metrics.counter(stage, "bytes_read")

    def setup(self):
        self.client = HttpClient(self.policy)
        self.progress = Progress(self.stage)

    def teardown(self):
        self.client.close()

    def _host_worker(self, requests: list[dict], out: queue.Queue) -> None:
        # one thread per host: the client's pacing then holds for the whole host
        for request in requests:
            try:
                result = self.client.fetch(
                    request["url"], accept=self.accept, headers=request.get("request_headers")
                )
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the URL
                result = FetchResult(url=request["url"], reason="fetch_error", detail=repr(exc))
            out.put((request, result))
        out.put(None)

    def process(self, element: tuple[Any, Iterable[dict]]) -> Iterator:
        _, requests = element
        by_host: dict[str, list[dict]] = defaultdict(list)
        for request in requests:
            by_host[host_of(request["url"])].append(request)
        out: queue.Queue = queue.Queue(maxsize=64)
        hosts = list(by_host.values())
        pending = 0
        threads: list[threading.Thread] = []

        def start_next():
            nonlocal pending
            if hosts:
                thread = threading.Thread(target=self._host_worker, args=(hosts.pop(), out),
                                          daemon=True)
                thread.start()
                threads.append(thread)
                pending += 1

        for _ in range(min(self.max_threads, len(hosts))):
            start_next()
        while pending:
            item = out.get()
            if item is None:
                pending -= 1
                start_next()
                continue
            request, result = item
            yield from self._emit(request, result)
        for thread in threads:
            thread.join()

    def _emit(self, request: dict, result: FetchResult) -> Iterator:
        self.retries.inc(max(0, result.attempts - 1 - result.redirects))
        self.bytes.inc(result.bytes_read)
        self.progress.tick(result.ok)
        if not result.ok:
            yield reject(request, self.stage, result.reason or "fetch_error", result.detail)
            return
        if result.not_modified:
            self.not_modified.inc()
            yield beam.pvalue.TaggedOutput(self.NOT_MODIFIED, {**request, "status": 304,
                                                               "fetched_at": utcnow()})
            return
        self.fetched.inc()
        yield {
            **request,
            "final_url": result.final_url,
            "status": result.status,
            "body": result.body,
            "content_type": result.content_type,
            "charset": result.charset,
            "response_headers": {
                k: v for k, v in result.headers.items() if k in ("etag", "last-modified")
            },
            "fetched_at": utcnow(),
        }


class FetchPages(beam.PTransform):
    """``requests`` (dicts with ``url``, optional ``request_headers`` for conditional GET) ->
    fetched responses (``pages``), plus ``rejects`` and ``not_modified`` (304) outputs.

    Requests are keyed by a hash of their host into ``shards`` groups: a host's URLs always land
    in one group and are fetched one at a time with ``policy.host_delay`` between them, while
    different hosts proceed in parallel (threads inside a group, groups across workers).
    """

    def __init__(self, policy: FetchPolicy, stage: str = "fetch", accept=HTML_TYPES,
                 shards: int = 16):
        super().__init__()
        self.policy, self.stage, self.accept, self.shards = policy, stage, accept, shards

    def expand(self, requests):
        shards = self.shards
        return (
            requests
            | "KeyByHost" >> beam.Map(lambda r: (_shard(host_of(r["url"]), shards), r))
            | "GroupHosts" >> beam.GroupByKey()
            | "Fetch" >> beam.ParDo(
                FetchHostsDoFn(self.policy, self.stage, self.accept)
            ).with_outputs(FetchHostsDoFn.REJECTS, FetchHostsDoFn.NOT_MODIFIED, main="pages")
        )

