"""``newsflow demo``: the real pipeline against the bundled sample, served on 127.0.0.1.

The sample (``pipelines/sample/``, see its PROVENANCE.md) holds real news pages in seven
languages, a story with translated and verbatim copies on other sites, feeds listing them, and
deliberately broken inputs (dead link, binary page, malformed feed, a link to the cloud metadata
address, a page robots.txt forbids). A local HTTP server serves it; the pipeline fetches it
exactly as it would fetch the web, with only ``127.0.0.1`` allowed.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import tempfile
import threading
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

SAMPLE = Path(str(resources.files("pipelines.sample")))
TEXT_SUFFIXES = (".xml", ".opml", ".txt", ".html")
LAST_MODIFIED = "Fri, 15 Sep 2023 12:00:00 GMT"  # the sample does not change


def content_type(path: str) -> str:
    if path.endswith((".xml", ".opml")):
        return "application/rss+xml; charset=utf-8"
    if path.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "text/html; charset=utf-8"


class SampleServer:
    """Serves a directory over HTTP on 127.0.0.1 with ``{{BASE}}``/``{{HOST}}`` filled in.

    Responses carry an ``ETag`` and ``Last-Modified`` and honour conditional requests (304).
    ``*.gz`` files are served gzip-encoded (or decompressed for clients that do not accept
    gzip) under their name without ``.gz``; a directory serves its ``index.html``. Every request
    is logged in ``self.log`` as ``(method, path, headers)`` so tests can check what was asked.
    """

    def __init__(self, root: Path = SAMPLE / "site", port: int = 0):
        self.root = Path(root)
        self.log: list[tuple[str, str, dict]] = []
        self.conditional = True  # answer conditional requests with 304 when unchanged
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the pipeline prints its own progress
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                server.log.append(("GET", self.path, dict(self.headers)))
                path = unquote(urlsplit(self.path).path)
                body, headers = server.resolve(path, self.headers.get("Accept-Encoding", ""))
                if body is not None:
                    etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
                    headers = {**headers, "ETag": etag, "Last-Modified": LAST_MODIFIED}
                    if server.conditional and etag == self.headers.get("If-None-Match") or (
                        server.conditional and
                        not self.headers.get("If-None-Match")
                        and self.headers.get("If-Modified-Since") == LAST_MODIFIED
                    ):
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if body is None:
                    body = b"<html><body><h1>404 Not Found</h1></body></html>"
                    self.send_response(404)
                    headers = {"Content-Type": "text/html; charset=utf-8"}
                else:
                    self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def fill(self, data: bytes) -> bytes:
        return data.replace(b"{{BASE}}", self.base.encode()).replace(
            b"{{HOST}}", f"127.0.0.1:{self.port}".encode())

    def resolve(self, path: str, accept_encoding: str) -> tuple[bytes | None, dict]:
        target = (self.root / path.lstrip("/")).resolve()
        if self.root.resolve() not in target.parents and target != self.root.resolve():
            return None, {}
        if target.is_dir():
            target = target / "index.html"
        if target.is_file():
            data = target.read_bytes()
            if target.suffix in TEXT_SUFFIXES or target.name == "robots.txt":
                data = self.fill(data)
            return data, {"Content-Type": content_type(target.name)}
        packed = target.with_name(target.name + ".gz")
        if packed.is_file():
            data = packed.read_bytes()
            if "gzip" in accept_encoding:
                return data, {"Content-Type": content_type(target.name),
                              "Content-Encoding": "gzip"}
            return gzip.decompress(data), {"Content-Type": content_type(target.name)}
        return None, {}

    def __enter__(self) -> SampleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_inputs(server: SampleServer, directory: Path) -> dict[str, Path]:
    """The sample's feed list and URL list with the server's address filled in."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, key in (("feeds.opml", "feeds"), ("urls.txt", "urls")):
        target = directory / name
        target.write_bytes(server.fill((SAMPLE / name).read_bytes()))
        paths[key] = target
    return paths


def demo_argv(server: SampleServer, output: str, workdir: Path, extra: list[str]) -> list[str]:
    inputs = write_inputs(server, workdir)
    return [
        "--feeds", str(inputs["feeds"]), "--urls", str(inputs["urls"]), "--output", output,
        "--allow-host", "127.0.0.1", "--host-delay", "0.05", "--fetch-timeout", "10",
        *extra,
    ]


def run_demo(output: str | None, extra: list[str]):
    """Serve the sample, run the batch pipeline on it; returns ``(output, run_id, result)``."""
    from pipelines.batch import run

    output = output or tempfile.mkdtemp(prefix="newsflow-demo-")
    with SampleServer() as server, tempfile.TemporaryDirectory() as workdir:
        run_id, result = run(demo_argv(server, output, Path(workdir), extra))
    return output, run_id, result
