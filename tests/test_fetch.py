"""The fetcher against a hostile server on 127.0.0.1 (its own request log is the evidence)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from tests.hostile import HostileServer
from transforms.extract import decode_html
from transforms.fetch import FEED_TYPES, FetchPolicy, HttpClient


@pytest.fixture()
def server():
    hostile = HostileServer()
    HttpClient._robots.clear()
    yield hostile
    hostile.close()


def client(**changes) -> tuple[HttpClient, list[float]]:
    sleeps: list[float] = []
    changes.setdefault("host_delay", 0.0)
    policy = FetchPolicy(allowed_hosts=("127.0.0.1",), read_timeout=2, connect_timeout=2,
                         total_timeout=1.5, max_bytes=2 << 20, max_decompressed_bytes=4 << 20,
                         backoff_base=0.01, **changes)
    return HttpClient(policy, sleep=sleeps.append), sleeps


def test_plain_and_gzip_pages(server):
    http, _ = client()
    plain = http.fetch(server.base + "/ok")
    packed = http.fetch(server.base + "/gzipped")
    assert plain.ok and packed.ok and plain.body == packed.body
    assert packed.bytes_read < len(packed.body)
    headers = server.log[-1][1]
    assert headers["User-Agent"].startswith("newsflow/")


def test_429_retry_after_is_honoured(server):
    http, sleeps = client()
    result = http.fetch(server.base + "/ratelimited")
    assert result.ok and result.attempts == 2 and server.counts["/ratelimited"] == 2
    assert sleeps == [1.0]


def test_500_then_success_and_bounded_retries(server):
    http, sleeps = client(max_retries=3)
    assert http.fetch(server.base + "/flaky").ok and server.counts["/flaky"] == 2
    failed = http.fetch(server.base + "/always500")
    assert failed.reason == "http_error" and "503" in failed.detail
    assert server.counts["/always500"] == 4 and failed.attempts == 4
    assert sleeps[1:] == sorted(sleeps[1:]), "backoff must grow"


def test_redirect_loop_and_private_redirects(server):
    http, _ = client()
    loop = http.fetch(server.base + "/loop-a")
    assert loop.reason == "redirect_loop"
    private = http.fetch(server.base + "/to-private")
    assert private.reason == "blocked_address" and "127.0.0.2" in private.detail
    metadata = http.fetch(server.base + "/to-metadata")
    assert metadata.reason == "blocked_address"
    assert all("/ok" != p for p in server.paths()), "the redirect target was requested"


def test_gzip_bomb_and_huge_pages_are_cut_early_with_bounded_memory(server):
    http, _ = client()
    tracemalloc.start()
    bomb = http.fetch(server.base + "/bomb")
    huge = http.fetch(server.base + "/huge")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert bomb.reason == "too_large" and bomb.bytes_read < 1 << 20
    assert huge.reason == "too_large" and huge.bytes_read < (2 << 20) + 70_000
    assert peak < 16 << 20, f"peak Python memory {peak / 1e6:.1f} MB"
    declared = http.fetch(server.base + "/declared-huge")
    assert declared.reason == "too_large" and declared.bytes_read == 0


def test_slow_drip_truncation_and_content_types(server):
    http, _ = client()
    start = time.monotonic()
    drip = http.fetch(server.base + "/drip")
    assert drip.reason == "timeout" and time.monotonic() - start < 5
    assert http.fetch(server.base + "/truncated").reason == "truncated"
    assert http.fetch(server.base + "/pdf").reason == "unsupported_content_type"
    assert http.fetch(server.base + "/pdf", accept=FEED_TYPES).reason == \
        "unsupported_content_type"


def test_robots_txt_is_obeyed_and_fetched_once(server):
    http, _ = client()
    assert http.fetch(server.base + "/private").reason == "robots_disallowed"
    assert http.fetch(server.base + "/ok").ok
    assert "/private" not in server.paths()
    assert server.paths().count("/robots.txt") == 1


def test_charset_lie_decodes(server):
    http, _ = client()
    result = http.fetch(server.base + "/latin1-lie")
    assert result.ok and result.charset == "utf-8"
    assert "Ça coûte très cher à Zürich" in decode_html(result.body, result.charset)


def test_peak_rss_stays_bounded_while_refusing_bomb_and_huge_page(server):
    """Whole-process peak RSS (not only Python objects) in a fresh interpreter."""
    import json
    import subprocess
    import sys

    code = f"""
import json, resource
from transforms.fetch import FetchPolicy, HttpClient
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
http = HttpClient(FetchPolicy(allowed_hosts=("127.0.0.1",), host_delay=0,
                              max_bytes=10 << 20, max_decompressed_bytes=20 << 20))
reasons = [http.fetch("{server.base}/bomb").reason, http.fetch("{server.base}/huge").reason]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"reasons": reasons, "base_kb": base, "peak_kb": peak}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print("peak RSS", report)
    assert report["reasons"] == ["too_large", "too_large"]
    # 64 MB of gzip bomb and a 50 MB page, against caps of 20/10 MB: growth stays near the cap
    assert report["peak_kb"] - report["base_kb"] < 60_000, report


def test_connection_refused_is_a_connection_error_not_a_timeout(server):
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    http, _ = client(max_retries=1, obey_robots=False)
    result = http.fetch(f"http://127.0.0.1:{port}/ok")
    assert result.reason == "connection_error" and result.attempts == 2, result


def test_tls_handshake_failure_is_a_tls_error(server):
    http, _ = client(obey_robots=False)
    result = http.fetch(f"https://127.0.0.1:{server.port}/ok")  # plain HTTP answers TLS
    assert result.reason == "tls_error" and result.attempts == 1, result


def test_dns_failure_is_a_dns_error(server):
    http, _ = client()
    result = http.fetch("http://no-such-host.invalid/ok")
    assert result.reason == "dns_error"


def test_accept_headers_name_what_each_caller_takes(server):
    http, _ = client()
    http.fetch(server.base + "/ok")
    http.fetch(server.base + "/ok?feed", accept=FEED_TYPES)
    sent = {path: headers.get("Accept", "") for path, headers, _ in server.log}
    assert sent["/ok"].startswith("text/html")
    assert sent["/ok?feed"].startswith("application/rss+xml")
    assert sent["/robots.txt"].startswith("text/plain")


def test_meta_refresh_is_followed_through_the_guard(server):
    http, _ = client()
    moved = http.fetch(server.base + "/refresh")
    assert moved.ok and moved.final_url == server.base + "/ok" and moved.redirects == 1
    private = http.fetch(server.base + "/refresh-private")
    assert private.reason == "blocked_address" and "127.0.0.2" in private.detail
    reload = http.fetch(server.base + "/slow-reload")
    assert reload.ok and reload.final_url == server.base + "/slow-reload"
    assert server.paths().count("/ok") == 1
