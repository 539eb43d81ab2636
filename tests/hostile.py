"""A hostile HTTP server on 127.0.0.1 for fetcher tests: every way a server can misbehave.

Started by the tests themselves; it records every request (path, headers, time) so tests
assert on what the fetcher actually did, not on what it reports.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
import zlib

PAGE = (b"<html><head><title>Fine</title></head><body><article><p>"
        + b"A perfectly ordinary news paragraph with enough words in it. " * 20
        + b"</p></article></body></html>")


def gzip_bomb(decompressed: int) -> bytes:
    """A gzip stream of ``decompressed`` zero bytes (about 1000x smaller on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(decompressed >> 20)]
    return b"".join(parts) + packer.flush()


class HostileServer:
    def __init__(self, robots="User-agent: *\nDisallow: /private\n"):
        self.robots = robots
        self.log: list[tuple[str, dict, float]] = []
        self.counts: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=(),
                     length=True):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for key, value in headers:
                    self.send_header(key, value)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path = self.path
                server.log.append((path, dict(self.headers), time.monotonic()))
                n = server.counts[path] = server.counts.get(path, 0) + 1
                route = getattr(server, "route_" + path.strip("/").split("?")[0]
                                .replace("-", "_").replace(".", "_"), None)
                if route is None:
                    self.send(404, b"not found")
                else:
                    route(self, n)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.log]

    # routes ------------------------------------------------------------------------------
    def route_robots_txt(self, h, n):
        if callable(self.robots):  # a test decides how robots.txt misbehaves
            self.robots(h, n)
        else:
            h.send(200, self.robots.encode(), "text/plain")

    def route_refresh(self, h, n):  # an interstitial page sending the browser on at once
        h.send(200, b'<html><head><meta http-equiv="refresh" content="0; url=/ok">'
                    b"</head><body>moved</body></html>")

    def route_refresh_private(self, h, n):
        h.send(200, (f'<html><head><meta http-equiv="Refresh" content="1;URL=\'http://127.0.0.2:'
                     f'{self.port}/ok\'"></head></html>').encode())

    def route_slow_reload(self, h, n):  # reloads itself every 5 minutes: not a redirect
        h.send(200, b'<html><head><meta http-equiv="refresh" content="300; url=/ok"></head>'
                    + PAGE[6:])

    def route_ok(self, h, n):
        h.send(200, PAGE)

    def route_private(self, h, n):
        h.send(200, PAGE)

    def route_ratelimited(self, h, n):
        if n == 1:
            h.send(429, b"slow down", headers=[("Retry-After", "1")])
        else:
            h.send(200, PAGE)

    def route_flaky(self, h, n):
        h.send(500, b"oops") if n == 1 else h.send(200, PAGE)

    def route_always500(self, h, n):
        h.send(503, b"down")

    def route_loop_a(self, h, n):
        h.send(302, headers=[("Location", "/loop-b")])

    def route_loop_b(self, h, n):
        h.send(302, headers=[("Location", "/loop-a")])

    def route_to_private(self, h, n):
        h.send(302, headers=[("Location", f"http://127.0.0.2:{self.port}/ok")])

    def route_to_metadata(self, h, n):
        h.send(301, headers=[("Location", "http://169.254.169.254/latest/meta-data/")])

    def route_bomb(self, h, n):
        h.send(200, gzip_bomb(64 << 20), headers=[("Content-Encoding", "gzip")])

    def route_huge(self, h, n):  # 50 MB, no Content-Length: only the byte cap can stop it
        h.send(200, length=False)
        try:
            block = b"<p>" + b"x" * 65530 + b"</p>"
            for _ in range(50 * 16):
                h.wfile.write(block)
        except OSError:
            pass  # the client hung up, as it should

    def route_declared_huge(self, h, n):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(50 << 20))
        h.end_headers()

    def route_pdf(self, h, n):
        h.send(200, b"%PDF-1.4 ...", "application/pdf")

    def route_binary(self, h, n):
        h.send(200, bytes(range(256)) * 40, "text/html")

    def route_drip(self, h, n):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(100):
                h.wfile.write(b"<")
                h.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def route_truncated(self, h, n):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "5000")
        h.end_headers()
        h.wfile.write(PAGE[:300])
        h.wfile.flush()
        h.close_connection = True

    def route_gzipped(self, h, n):
        h.send(200, gzip.compress(PAGE), headers=[("Content-Encoding", "gzip")])

    def route_latin1_lie(self, h, n):
        body = ("<html><body><article><p>" + "Ça coûte très cher à Zürich. " * 30
                + "</p></article></body></html>").encode("latin-1")
        h.send(200, body, "text/html; charset=utf-8")

    def route_bomb_feed(self, h, n):
        body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;'
                b'&b;&b;&b;">]><rss version="2.0"><channel><title>&c;</title><item>'
                b"<title>&c;</title><link>http://x.example/</link></item></channel></rss>")
        h.send(200, body, "application/rss+xml")
