"""A small site on 127.0.0.1 whose pages tests change between runs.

``PageServer.pages`` maps a path to ``(content_type, body)``; tests edit it (new text, a feed
entry added), make a path fail (``status[path] = 503``) or hang until released
(``hang.add(path)``; ``arrived`` is set when a hung request comes in). Responses carry an ETag
(hash of the body) and honour ``If-None-Match`` with 304, like a real server.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"

#: sample pages long enough to be articles, by language
ARTICLE_PAGES = ["reuters/asian-shares-soft.html", "cooperativa/presidente-boric.html",
                 "farang/grab-bote.html", "lastampa/temperature-in-calo.html"]


def sample_page(relative: str) -> bytes:
    path = SITE / relative
    if path.exists():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def rss(base: str, items: list[dict]) -> bytes:
    """An RSS 2.0 feed; each item: ``link`` (path), optional ``guid``, ``updated``, ``title``."""
    parts = []
    for item in items:
        guid = f"<guid>{item['guid']}</guid>" if item.get("guid") else ""
        updated = f"<pubDate>{item['updated']}</pubDate>" if item.get("updated") else ""
        parts.append(f"<item><title>{item.get('title', item['link'])}</title>"
                     f"<link>{base}{item['link']}</link>{guid}{updated}</item>")
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Local news</title><link>{base}/</link>{''.join(parts)}"
            "</channel></rss>").encode()


class PageServer:
    def __init__(self):
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.status: dict[str, int] = {}
        self.hang: set[str] = set()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.log: list[tuple[str, int]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path in server.hang:
                    server.arrived.set()
                    server.release.wait(120)
                code, ctype, body = server.answer(path, self.headers.get("If-None-Match"))
                server.log.append((path, code))
                self.send_response(code)
                if code in (200, 304):
                    self.send_header("ETag", self._etag(body))
                if code != 304:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            @staticmethod
            def _etag(body: bytes) -> str:
                return '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'

        self._handler = Handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path: str, if_none_match: str | None) -> tuple[int, str, bytes]:
        if path == "/robots.txt":
            return 200, "text/plain", b"User-agent: *\nAllow: /\n"
        if path in self.status:
            return self.status[path], "text/html", b"<html>unavailable</html>"
        if path not in self.pages:
            return 404, "text/html", b"<html>not found</html>"
        ctype, body = self.pages[path]
        etag = self._handler._etag(body)
        if if_none_match == etag:
            return 304, ctype, b""
        return 200, ctype, body

    def fetched(self, path: str) -> int:
        """How many times ``path`` was answered with a full body (200)."""
        return sum(1 for p, code in self.log if p == path and code == 200)

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
