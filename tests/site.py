"""Loopback web sites for source tests: each ``Site`` is its own origin on 127.0.0.1 serving a
dict of routes (status, content type, body, headers), and logs every request it answered."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def article_page(title: str, n: int = 0) -> bytes:
    """A plain news page with enough distinct text to become an article."""
    words = " ".join(f"{title.split()[0].lower()}{i} report{n} item{i * 7 + n}"
                     for i in range(60))
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{title} was reported today, officials in the city said on Monday. {words}.</p>"
            f"<p>The second paragraph adds more detail about {title.lower()} and what "
            f"happens next according to the people who were there.</p></article></body></html>"
            ).encode()


class Site:
    def __init__(self, routes: dict[str, Response] | None = None):
        self.routes: dict[str, Response] = dict(routes or {})
        self.log: list[tuple[str, dict, float]] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                site.log.append((self.path, dict(self.headers), time.monotonic()))
                answer = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
                if callable(answer):
                    answer = answer(self)
                answer = answer or Response(b"not found", "text/plain", 404)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.log]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
