"""Does a run stay as fast on day 300 as on day 2? 20 consecutive runs over a growing sample,
then query time before and after ``newsflow compact``.

    python bench/incremental.py [--runs 20] [--feeds 4] [--new 5] [--levels exact,near]

A loopback HTTP server (127.0.0.1) serves ``--feeds`` RSS feeds; before each run every feed
gains ``--new`` entries (article pages of ~250 words, published on a day that advances every
few runs, so partitions fill and close as in production). Each run is the real ``newsflow
run`` (in-process runner) on the same output root: conditional GET of unchanged feeds, entry
state, history of recent days, the commit. Printed: seconds per run, run 20 / run 2 (target
<= 1.2; run 1 is a cold start), then the time of three typical queries (``newsflow query``'s
views) over the 20 runs' files, the file counts, the same after compaction, and the ratio.
The machine is shared: run it twice and read ``uptime``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("council budget harbour school road mayor spring debate vote tax river bridge museum "
         "library park station tram festival market hospital police fire weather storm heat "
         "election minister court judge law report study university science research energy "
         "solar wind water price housing rent job union strike company bank trade port ship "
         "flight airport train bus cycle street square theatre film music art history").split()

QUERIES = {
    "articles per day and language":
        "select cast(date as varchar), lang, count(*) from articles group by all",
    "canonical articles of one day":
        "select title, url from articles where date = '2024-03-06' and duplicate_of is null",
    "rejects by reason": "select stage, reason, count(*) from rejects group by all",
}


def page(feed: int, n: int) -> bytes:
    words = [WORDS[(feed * 7 + n * 13 + i * i) % len(WORDS)] for i in range(250)]
    paragraphs = "".join(f"<p>{' '.join(words[i:i + 50]).capitalize()}.</p>"
                         for i in range(0, 250, 50))
    return (f"<html><head><title>Feed {feed} story {n}</title></head><body><article>"
            f"<h1>Feed {feed} story {n}</h1>{paragraphs}</article></body></html>").encode()


class Site:
    """Feeds that gain entries; pages served from memory; every request counted."""

    def __init__(self, feeds: int):
        self.entries = {f: [] for f in range(feeds)}
        self.requests = 0
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                site.requests += 1
                parts = self.path.strip("/").split("/")
                if parts == ["robots.txt"]:
                    return self.send(200, b"User-agent: *\nAllow: /\n", "text/plain")
                if parts[0] == "feed":
                    return self.send(200, site.feed(int(parts[1])), "application/rss+xml")
                if parts[0] == "story":
                    return self.send(200, page(int(parts[1]), int(parts[2])), "text/html")
                return self.send(404, b"no", "text/plain")

            def send(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def grow(self, new: int, day: dt.date) -> None:
        for entries in self.entries.values():
            for _ in range(new):
                entries.append((len(entries), day))

    def feed(self, feed: int) -> bytes:
        items = "".join(
            f"<item><title>Feed {feed} story {n}</title><link>{self.base}/story/{feed}/{n}"
            f"</link><guid>{feed}-{n}</guid><pubDate>"
            f"{dt.datetime.combine(day, dt.time(9, n % 60)).strftime('%a, %d %b %Y %H:%M:%S')}"
            " +0000</pubDate></item>"
            for n, day in reversed(self.entries[feed][-50:]))
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>'
                f"<link>{self.base}/</link>{items}</channel></rss>").encode()


def time_queries(root: str, repeat: int = 3) -> float:
    from pipelines.query import connect

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        con = connect(root)  # listing the committed files is part of every query
        views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
        for sql in QUERIES.values():
            if sql.split(" from ")[1].split()[0] in views:
                con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - start)
    return best


def count_files(root: str) -> dict[str, int]:
    from transforms.commit import committed_files

    return {d: len(committed_files(root, d)) for d in ("articles", "rejects", "state",
                                                       "clusters")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--feeds", type=int, default=4)
    parser.add_argument("--new", type=int, default=5, help="entries added per feed per run")
    parser.add_argument("--levels", default="exact,near", help="--dedup-levels of each run")
    args = parser.parse_args()

    from pipelines.batch import run
    from pipelines.compact import compact

    site = Site(args.feeds)
    work = Path(tempfile.mkdtemp(prefix="newsflow-incremental-"))
    root = str(work / "out")
    (work / "feeds.txt").write_text("".join(f"{site.base}/feed/{f}\n"
                                            for f in range(args.feeds)))
    argv = ["--feeds", str(work / "feeds.txt"), "--output", root, "--allow-host", "127.0.0.1",
            "--host-delay", "0", "--dedup-levels", args.levels, "--feed-min-interval", "0"]
    seconds = []
    try:
        for index in range(args.runs):
            site.grow(args.new, dt.date(2024, 3, 1) + dt.timedelta(days=index // 4))
            start = time.perf_counter()
            run(argv)
            seconds.append(time.perf_counter() - start)
            print(f"run {index + 1:2d}: {seconds[-1]:6.2f} s  "
                  f"({site.requests} requests so far)", flush=True)
        print(f"\nrun {args.runs} / run 2: {seconds[-1] / seconds[1]:.2f} (target <= 1.2); "
              f"median of runs 2-{args.runs}: {statistics.median(seconds[1:]):.2f} s")
        before, files_before = time_queries(root), count_files(root)
        start = time.perf_counter()
        summary = compact(root, older_than=1, grace=0)
        took = time.perf_counter() - start
        after, files_after = time_queries(root), count_files(root)
        print(f"\nqueries before compaction: {before * 1000:7.1f} ms over {files_before}")
        print(f"compaction: {took:.2f} s, {summary['files_before']} -> "
              f"{summary['files_after']} files ({summary['rows']} rows)")
        print(f"queries after compaction:  {after * 1000:7.1f} ms over {files_after}")
        print(f"after / before: {after / before:.2f}")
    finally:
        site.server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
