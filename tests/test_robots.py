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
