"""Fetch throughput against many slow hosts: threads and workers, ratios to one-at-a-time.

    python bench/fetch_parallel.py [--hosts 16] [--urls 6] [--latency 0.15] [--delay 0.2]

Starts one loopback server per host (127.0.0.2, 127.0.0.3, ...: distinct host names, so the
per-host pacer treats them as different sites), each answering after ``--latency`` seconds,
and runs ``FetchPages`` (the real transform, in-process runner) over ``hosts x urls`` pages
with ``--delay`` seconds between two requests to one host. Printed: seconds and pages/s per
setting, and the ratio to the baseline measured in the same run (one batch at a time in one
worker, i.e. every host after the other). Also checks that no host saw two requests closer
than the delay within one worker. Run by hand; the machine may be shared: run it twice.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from transforms.fetch import ROBOTS, FetchPages, FetchPolicy  # noqa: E402

PAGE = b"<html><body><article><p>" + b"words " * 300 + b"</p></article></body></html>"


def serve(address: str, latency: float, log: list) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            log.append((address, time.monotonic()))
            time.sleep(latency)
            body = b"User-agent: *\nAllow: /\n" if self.path == "/robots.txt" else PAGE
            self.send_response(200)
            self.send_header("Content-Type", "text/plain" if self.path == "/robots.txt"
                             else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(urls: list[str], hosts: list[str], delay: float, threads: int, batch: int,
            workers: int, out: str) -> float:
    ROBOTS.clear()
    policy = FetchPolicy(host_delay=delay, allowed_hosts=tuple(hosts))
    argv = ["--runner", "FnApiRunner"]
    if workers > 1:
        argv += ["--direct_num_workers", str(workers), "--direct_running_mode",
                 "multi_processing"]
    start = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(argv)) as p:
        fetched = (p | beam.Create([{"url": u} for u in urls])
                   | FetchPages(policy, batch_size=batch, max_threads=threads))
        (fetched.pages | beam.Map(lambda r: r["status"]) | beam.combiners.Count.Globally()
         | beam.io.WriteToText(out))
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--urls", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    log: list = []
    hosts = [f"127.0.0.{i + 2}" for i in range(args.hosts)]
    servers = [serve(h, args.latency, log) for h in hosts]
    urls = [f"http://{h}:{s.server_address[1]}/page/{n}" for h, s in zip(hosts, servers,
                                                                          strict=True)
            for n in range(args.urls)]
    settings = [("1 thread, 1 worker (baseline)", 1, 100, 1),
                ("8 threads, 1 worker", 8, 100, 1),
                ("16 threads, 1 worker", 16, 100, 1),
                ("8 threads, 2 workers", 8, 100, 2),
                ("8 threads, batches of 2, 1 worker", 8, 2, 1)]
    print(f"{len(urls)} pages on {len(hosts)} hosts, {args.latency}s latency, "
          f"{args.delay}s host delay")
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, threads, batch, workers in settings:
            log.clear()
            seconds = measure(urls, hosts, args.delay, threads, batch, workers,
                              f"{tmp}/{len(log)}")
            baseline = baseline or seconds
            gaps = defaultdict(list)
            for host, when in log:
                gaps[host].append(when)
            closest = min(b - a for times in gaps.values()
                          for a, b in zip(sorted(times), sorted(times)[1:], strict=False))
            print(f"  {name:36s} {seconds:6.2f} s  {len(urls) / seconds:6.1f} pages/s  "
                  f"x{baseline / seconds:5.2f}  closest same-host gap {closest:.3f} s")
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
