"""robots.txt by RFC 9309 on a loopback server: 404 allows, 503 disallows (a transient reject),
an HTML answer is parsed as robots.txt, redirects are followed; one slow robots.txt never
stalls another host (per-origin futures, no process-wide lock)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.hostile import PAGE, HostileServer
from transforms.fetch import ROBOTS, FetchPolicy, HttpClient, rules_from_response
from transforms.state import is_transient


def _client(**changes) -> HttpClient:
    changes.setdefault("host_delay", 0.0)
    policy = FetchPolicy(allowed_hosts=("127.0.0.1", "localhost"), read_timeout=3,
                         connect_timeout=2, total_timeout=3, backoff_base=0.01, **changes)
    return HttpClient(policy, sleep=lambda s: None)


@pytest.fixture()
def serve():
    servers = []

    def start(robots) -> HostileServer:
        ROBOTS.clear()
        server = HostileServer(robots=robots)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    ROBOTS.clear()


def test_robots_404_allows_everything(serve):
    server = serve(lambda h, n: h.send(404, b"no such file"))
    result = _client().fetch(server.base + "/private")
    assert result.ok and server.paths() == ["/robots.txt", "/private"]


def test_robots_503_disallows_for_now_as_a_transient_reject(serve):
    server = serve(lambda h, n: h.send(503, b"down"))
    http = _client()
    first = http.fetch(server.base + "/ok")
    second = http.fetch(server.base + "/ok?again")
    assert first.reason == second.reason == "robots_unavailable"
    assert "HTTP 503" in first.detail and "RFC 9309" in first.detail
    assert is_transient({"reason": first.reason, "detail": first.detail})
    assert "/ok" not in server.paths()
    assert server.paths().count("/robots.txt") == 2  # one retry, then cached for the run


def test_robots_unreachable_disallows():
    ROBOTS.clear()
    rules = rules_from_response(None, None, "connection_error", "refused")
    assert rules.status == "unreachable" and not rules.allows("http://a.example/", "x")
    assert rules.reason == "connection_error"  # the page's reject says the host is down
    assert rules_from_response(None, None, "timeout", "slow").status == "unreachable"
    assert rules_from_response(429, b"", "http_error", "").status == "unreachable"
    assert rules_from_response(403, b"", "http_error", "").allows("http://a.example/", "x")
    assert rules_from_response(301, b"", "too_many_redirects", "").allows("http://a.example/", "x")


def test_robots_served_as_html_is_parsed_anyway(serve):
    server = serve(lambda h, n: h.send(200, b"User-agent: *\nDisallow: /private\n",
                                       "text/html; charset=utf-8"))
    http = _client()
    assert http.fetch(server.base + "/private").reason == "robots_disallowed"
    assert http.fetch(server.base + "/ok").ok
    # a real HTML page as robots.txt has no rules: everything is allowed
    html = serve(lambda h, n: h.send(200, PAGE))
    assert _client().fetch(html.base + "/private").ok


def test_robots_redirect_is_followed(serve):
    def robots(h, n):
        h.send(301, headers=[("Location", "/real-robots.txt")])

    server = serve(robots)
    server.route_real_robots_txt = lambda h, n: h.send(
        200, b"User-agent: *\nDisallow: /private\n", "text/plain")
    http = _client()
    assert http.fetch(server.base + "/private").reason == "robots_disallowed"
    assert server.paths() == ["/robots.txt", "/real-robots.txt"]


def test_robots_redirect_chain_longer_than_five_allows(serve):
    hops = iter(range(100))
    server = serve(lambda h, n: h.send(302, headers=[("Location",
                                                      f"/robots.txt?hop={next(hops)}")]))
    result = _client(max_redirects=20).fetch(server.base + "/private")
    assert result.ok
    assert sum(p.startswith("/robots.txt") for p in server.paths()) == 6


def test_robots_parse_limit_is_500_kib(serve):
    filler = b"# " + b"x" * 1000 + b"\n"
    body = b"User-agent: *\n" + filler * 520 + b"Disallow: /private\n"  # rule beyond 500 KiB
    server = serve(lambda h, n: h.send(200, body, "text/plain"))
    assert _client().fetch(server.base + "/private").ok


def test_a_slow_robots_txt_does_not_stall_another_host(serve):
    def robots(h, n):
        if h.headers["Host"].startswith("localhost"):
            time.sleep(1.5)
        h.send(200, b"User-agent: *\nAllow: /\n", "text/plain")

    server = serve(robots)
    http = _client()
    done: dict[str, float] = {}
    slow_url = f"http://localhost:{server.port}/ok"

    def fetch(name: str, url: str) -> None:
        assert http.fetch(url).ok
        done[name] = time.monotonic()

    threads = [threading.Thread(target=fetch, args=("slow", slow_url)),
               threading.Thread(target=fetch, args=("slow2", slow_url + "?2"))]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    start = time.monotonic()
    fetch("fast", server.base + "/ok")
    for thread in threads:
        thread.join()
    assert done["fast"] - start < 1.0, "another host's robots.txt held us up"
    assert done["fast"] < min(done["slow"], done["slow2"])
    robots_hosts = [h["Host"] for p, h, _ in server.log if p == "/robots.txt"]
    assert sorted(robots_hosts) == sorted([f"localhost:{server.port}",
                                           f"127.0.0.1:{server.port}"]), "fetched once each"


def test_robots_cases_and_refused_connections_in_a_run(tmp_path):
    """Pages behind robots.txt 404 / 503 / HTML / redirect, and a port nobody listens on: each
    URL ends up once in ``articles`` or ``rejects``, with the RFC 9309 outcome (a host that
    refuses connections cannot serve robots.txt either: disallowed, named for the refusal)."""
    import socket

    from pipelines.batch import run
    from pipelines.query import connect
    from tests.site import Response, Site, article_page

    gone, down, html, moved = Site(), Site(), Site(), Site()
    sites = (gone, down, html, moved)
    gone.routes["/robots.txt"] = Response(b"nothing here", "text/plain", 404)
    down.routes["/robots.txt"] = Response(b"busy", "text/plain", 503)
    html.routes["/robots.txt"] = Response(PAGE)  # an HTML error page: no rules, allowed
    moved.routes["/robots.txt"] = Response(status=301, headers={"Location": "/r/robots.txt"})
    moved.routes["/r/robots.txt"] = Response(b"User-agent: *\nDisallow: /private/\n",
                                             "application/octet-stream")
    for n, site in enumerate(sites):
        site.routes["/news/story-of-the-day"] = Response(article_page(f"Story {n} of day", n))
    moved.routes["/private/internal-memo"] = Response(article_page("Internal memo", 9))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    refused = f"http://127.0.0.1:{closed}/news/never-answered"
    urls = [s.url("/news/story-of-the-day") for s in sites]
    urls += [moved.url("/private/internal-memo"), refused]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    output = str(tmp_path / "out")
    try:
        ROBOTS.clear()
        run_id, result = run(["--urls", str(tmp_path / "urls.txt"), "--output", output,
                              "--allow-host", "127.0.0.1", "--host-delay", "0",
                              "--max-retries", "1", "--dedup_levels", "exact",
                              "--history_days", "0"])
        assert str(result.state) == "DONE"
        con = connect(output)
        found = {u: "article" for (u,) in con.execute(
            "select url from articles where run_id = ?", [run_id]).fetchall()}
        for url, reason in con.execute("select url, reason from rejects where run_id = ?",
                                       [run_id]).fetchall():
            assert url not in found
            found[url] = reason
        assert found == {
            gone.url("/news/story-of-the-day"): "article",
            down.url("/news/story-of-the-day"): "robots_unavailable",
            html.url("/news/story-of-the-day"): "article",
            moved.url("/news/story-of-the-day"): "article",
            moved.url("/private/internal-memo"): "robots_disallowed",
            refused: "connection_error",
        }
        assert "/news/story-of-the-day" not in down.paths()
        assert "/private/internal-memo" not in moved.paths()
    finally:
        for site in sites:
            site.close()
