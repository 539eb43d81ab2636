"""Per-host politeness in the Beam transform: one request at a time per host, spaced by the
configured delay or the site's Crawl-delay, different hosts in parallel; hostile feeds."""

from __future__ import annotations

from collections import defaultdict

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.hostile import HostileServer
from transforms.feeds import ParseFeeds
from transforms.fetch import FEED_TYPES, HTML_TYPES, FetchPages, FetchPolicy, HttpClient


def test_requests_to_one_host_are_spaced_and_hosts_run_in_parallel():
    server = HostileServer(robots="User-agent: *\nCrawl-delay: 0.4\nDisallow: /private\n")
    HttpClient._robots.clear()
    try:
        hosts = [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]
        urls = [f"http://{h}/ok?n={i}" for h in hosts for i in range(4)]
        urls.append(f"http://{hosts[0]}/private/x")
        policy = FetchPolicy(host_delay=0.2, allowed_hosts=("127.0.0.1", "localhost"))
        with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
            fetched = (p | beam.Create([{"url": u} for u in urls])
                       | FetchPages(policy, batch_size=2))
            assert_that(fetched.pages | "Ok" >> beam.Map(lambda r: r["status"]),
                        equal_to([200] * 8), label="pages")
            assert_that(fetched.rejects | "Why" >> beam.Map(lambda r: r["reason"]),
                        equal_to(["robots_disallowed"]), label="rejects")
    finally:
        server.close()
    by_host = defaultdict(list)
    for path, headers, when in server.log:
        by_host[headers["Host"]].append((when, path))
    assert set(by_host) == set(hosts)
    # The server logs when it *receives* a request, later than the client sent it by however
    # long the server's thread waited for a core (tens of ms on a loaded machine). One gap can
    # therefore look shorter than the pacing by up to that wait (`slack`), while the span from
    # the first request to the last telescopes: it is short by at most one such wait.
    slack = 0.15
    for host, events in by_host.items():
        times = sorted(t for t, _ in events)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # robots.txt first (host_delay 0.2 applies), then Crawl-delay 0.4 between pages
        assert min(gaps) >= 0.2 - slack and min(gaps[1:]) >= 0.4 - slack, (host, gaps)
        assert times[-1] - times[1] >= 0.4 * (len(times) - 2) - slack, (host, gaps)
        assert times[-1] - times[0] >= 0.2 + 0.4 * (len(times) - 2) - slack, (host, gaps)
        assert sum(path == "/robots.txt" for _, path in events) == 1
    starts = {h: min(t for t, _ in e) for h, e in by_host.items()}
    ends = {h: max(t for t, _ in e) for h, e in by_host.items()}
    assert starts[hosts[0]] < ends[hosts[1]] and starts[hosts[1]] < ends[hosts[0]], \
        "hosts were fetched one after the other, not in parallel"
    assert "/private/x" not in [path for path, _, _ in server.log]


def test_hostile_feeds_become_reject_rows():
    server = HostileServer()
    HttpClient._robots.clear()
    try:
        policy = FetchPolicy(host_delay=0.0, allowed_hosts=("127.0.0.1",))
        feeds = [f"{server.base}/bomb-feed", f"{server.base}/truncated", f"{server.base}/pdf",
                 f"{server.base}/bomb"]
        with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
            fetched = (p | beam.Create([{"url": u, "feed_url": u} for u in feeds])
                       | FetchPages(policy, stage="feed", accept=FEED_TYPES + HTML_TYPES,
                                    batch_size=2))
            parsed = fetched.pages | beam.ParDo(ParseFeeds()).with_outputs("rejects",
                                                                           main="entries")
            reasons = ((fetched.rejects, parsed.rejects) | beam.Flatten()
                       | beam.Map(lambda r: (r["url"].rsplit("/", 1)[1], r["stage"],
                                             r["reason"])))
            assert_that(reasons, equal_to([
                ("bomb-feed", "feed", "unsafe_feed"), ("truncated", "feed", "truncated"),
                ("pdf", "feed", "unsupported_content_type"), ("bomb", "feed", "too_large")]))
            assert_that(parsed.entries, equal_to([]), label="no entries")
    finally:
        server.close()
