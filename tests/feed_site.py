"""A loopback news site whose feeds grow between polls, for stream tests and ``bench/stream.py``.

Pages are the bundled sample's real news pages (``pipelines/sample/site``). Each feed is a list
of ``(first poll, path, title, published)`` entries: at the feed's k-th request it lists the
entries whose first poll is <= k, newest first. A feed whose entries stop changing answers 304
to a conditional request (the sample server's ETag logic); ``fail`` names ``(feed, k)``
requests answered with HTTP 500; an entry with a fifth element (a set of polls) is listed at
those polls only. Requests to each feed are counted in ``polls``, the ETag each sent back in
``validators_sent``.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipelines.demo import SampleServer

Entry = tuple  # (first poll, path, title, published[, polls listed])


def rss(base: str, name: str, entries: list[Entry]) -> bytes:
    items = []
    for _, path, title, published in sorted(entries, key=lambda e: e[3], reverse=True):
        items.append(f"<item><title>{title}</title><link>{base}{path}</link>"
                     f"<guid>{base}{path}</guid>"
                     f"<pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>"
                     "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>{base}/</link><description>{name}</description>"
            + "".join(items) + "</channel></rss>").encode()


class GrowingSite:
    """``/live/<feed>.xml`` feeds that follow a poll schedule, and the sample's pages.

    Responses carry an ETag; a conditional request for an unchanged feed gets a 304."""

    def __init__(self, feeds: dict[str, list[Entry]], fail: set[tuple[str, int]] = frozenset(),
                 frozen_at: int | None = None, pages: Path | None = None):
        self.feeds, self.fail, self.frozen_at = feeds, set(fail), frozen_at
        self.polls: dict[str, int] = {}  # requests per feed
        self.log: list[tuple[float, str, int]] = []  # (time, path, status)
        self.validators_sent: list[tuple[str, str | None]] = []  # (feed, If-None-Match)
        self.published: dict[str, float] = {}  # page path -> when a feed first listed it
        self._lock = threading.Lock()
        # not started: used for its ``resolve`` only (the sample's pages, or ``pages``)
        self.pages = SampleServer(pages) if pages else SampleServer()
        self.on_poll = None  # called with (feed, poll) before a feed request is answered
        self.feed_headers: dict[str, dict[str, str]] = {}  # feed -> extra response headers
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = unquote(urlsplit(self.path).path)
                status, body, headers = site.respond(path, dict(self.headers))
                site.log.append((time.time(), path, status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.pages.base, self.pages.port = self.base, self.port
        self.pages.httpd.server_close()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def feed_list(self, directory: Path, names: list[str] | None = None) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "feeds.txt"
        target.write_text("".join(f"{self.base}/live/{name}.xml\n"
                                  for name in (names or self.feeds)))
        return target

    def respond(self, path: str, headers: dict) -> tuple[int, bytes, dict]:
        if path.startswith("/live/") and path.endswith(".xml"):
            name = path[len("/live/"):-len(".xml")]
            if name not in self.feeds:
                return 404, b"", {}
            with self._lock:
                poll = self.polls[name] = self.polls.get(name, 0) + 1
                self.validators_sent.append((name, headers.get("If-None-Match")))
            if self.on_poll is not None:
                self.on_poll(name, poll)
            if (name, poll) in self.fail:
                return 500, b"", {}
            at = self.frozen_at if self.frozen_at is not None else poll
            listed = [e[:4] for e in self.feeds[name]
                      if e[0] <= at and (len(e) < 5 or at in e[4])]
            now = time.time()
            for entry in listed:
                self.published.setdefault(entry[1], now)
            body = rss(self.base, name, listed)
            etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
            extra = self.feed_headers.get(name, {})
            if headers.get("If-None-Match") == etag:
                return 304, b"", {"ETag": etag, **extra}
            return 200, body, {"Content-Type": "application/rss+xml; charset=utf-8",
                               "ETag": etag, **extra}
        body, extra = self.pages.resolve(path, headers.get("Accept-Encoding", ""))
        if body is None:
            return 404, b"<html><body>404</body></html>", {"Content-Type": "text/html"}
        return 200, body, extra

    def __enter__(self) -> GrowingSite:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
