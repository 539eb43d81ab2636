"""End-to-end latency and memory of a bounded ``newsflow stream`` over a growing loopback site.

    python bench/stream.py [--polls 20] [--per-poll 5] [--interval 3] [--window 6]
                           [--runner BundleBasedDirectRunner] [--eval ../shared/eval]
                           [-- pipeline options]

A loopback site serves one feed listing ScrapingHub's real news pages (``../shared/eval``):
``--per-poll`` more at every poll. A page's *publication* is the moment the feed first lists
it; it is *visible* when a DuckDB query through ``newsflow query``'s views (committed files
only) first returns it; a watcher thread lists ``_runs/`` every 0.25 s and queries when a new
manifest is there. Printed: per committed window, its articles and their latency (visible -
published); the process's RSS when the feed is polled (poll 2, poll 5 and poll N, and the
ratios) and its peak over the whole run. The baseline, measured in the same run: a
``newsflow run`` over the same final feed into another root (its wall time is the latency of
a batch run started when the last page was published).

The default runner, the stream's local one (Beam's bundle-based runner fed paced poll ticks,
``transforms/ticks.py``), commits each window while the stream runs; ``--runner FnApiRunner``
polls at the real interval but processes and commits every window after the last poll
(DESIGN.md §8), so its latencies are dominated by the stream's remaining duration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from pipelines import streaming  # noqa: E402
from pipelines.batch import run as run_batch  # noqa: E402
from pipelines.query import connect  # noqa: E402
from tests.feed_site import GrowingSite  # noqa: E402
from transforms.fetch import HttpClient  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"  # ../shared/eval
FETCH = ["--allow-host", "127.0.0.1", "--host-delay", "0.01", "--fetch-timeout", "10"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Watcher(threading.Thread):
    """First time each URL is visible through the committed views of ``root``."""

    def __init__(self, root: str):
        super().__init__(daemon=True)
        self.root, self.seen, self.stop = root, {}, threading.Event()
        self.commits: list[Path] = []

    def check(self) -> None:
        runs = Path(self.root, "_runs")
        commits = sorted(runs.iterdir()) if runs.is_dir() else []
        if not commits or commits == self.commits:  # nothing new: no query (keeps it cheap)
            return
        try:
            con = connect(self.root)
            urls = con.execute("select url from articles").fetchall()
        except Exception:  # noqa: BLE001 - no articles view yet
            return
        self.commits = commits
        now = time.time()
        for (url,) in urls:
            self.seen.setdefault(url, now)

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--per-poll", type=int, default=5)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=6.0)
    parser.add_argument("--runner", default=streaming.LOCAL_STREAM_RUNNER)
    parser.add_argument("--eval", default=str(EVAL), help="evaluation data (../shared/eval)")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    pages = Path(args.eval) / "scrapinghub_aeb" / "html"
    files = sorted(pages.glob("*.html.gz"))[: args.polls * args.per_poll]
    if not files:
        parser.error(f"no pages under {pages} (give --eval)")
    now = dt.datetime.now(dt.timezone.utc)
    entries = [(1 + i // args.per_poll, "/" + f.name[: -len(".gz")], f"Page {i}",
                now - dt.timedelta(hours=1) + dt.timedelta(seconds=i))
               for i, f in enumerate(files)]
    memory: dict[int, tuple[float, float]] = {}
    work = Path(tempfile.mkdtemp(prefix="newsflow-bench-stream-"))
    output = str(work / "stream")
    with GrowingSite({"live": entries}, pages=pages) as site:
        site.on_poll = lambda name, poll: (poll <= args.polls and memory.setdefault(
            poll, (rss_mb(), peak_mb())))
        feeds = site.feed_list(work / "in")
        watcher = Watcher(output)
        watcher.start()
        started = time.time()
        run_id, result = streaming.run([
            "--feeds", str(feeds), "--output", output, "--runner", args.runner,
            "--poll-interval", f"{args.interval}s", "--window", f"{args.window}s",
            "--max-polls", str(args.polls), *FETCH, *extra])
        finished = time.time()
        watcher.stop.set()
        watcher.join()
        watcher.check()
        published = {site.base + path: when for path, when in site.published.items()}
        # baseline: a batch run over the final feed
        site.frozen_at = 10**6
        HttpClient._robots.clear()
        batch_started = time.time()
        batch_id, batch_result = run_batch(["--feeds", str(feeds), "--output",
                                            str(work / "batch"), *FETCH, *extra])
        batch_wall = time.time() - batch_started
    print(f"stream {run_id}: {result.state}, {args.polls} polls every {args.interval:g} s, "
          f"windows of {args.window:g} s, runner {args.runner}; "
          f"wall {finished - started:.1f} s (polling alone {(args.polls - 1) * args.interval:g} s)")
    windows = streaming.committed_windows(output, run_id)
    print(f"\n{'window (s after first poll)':>28} {'articles':>8} {'latency median':>15} "
          f"{'max':>7}   (s)")
    first_poll = min(published.values()) if published else started
    latencies = []
    for manifest in windows:
        paths = [f["path"] for f in manifest["files"] if f["dataset"] == "articles"]
        urls = [r[0] for r in duckdb.sql(f"select url from read_parquet({paths})").fetchall()]
        mine = [watcher.seen[u] - published[u] for u in urls
                if u in watcher.seen and u in published]
        latencies += mine
        start = dt.datetime.fromisoformat(manifest["window_start"]).timestamp()
        if mine:
            print(f"{start - first_poll:>+28.1f} {len(urls):>8d} "
                  f"{statistics.median(mine):>15.1f} {max(mine):>7.1f}")
    missing = [u for u in published if u not in watcher.seen]
    print(f"\nvisible: {len(published) - len(missing)} of {len(published)} published pages "
          f"({len(missing)} never visible: rejected or not committed)")
    if latencies:
        print(f"latency: median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s"
              f"; baseline batch run over the final feed: {batch_wall:.1f} s "
              f"({batch_result.state}); median stream latency / batch wall = "
              f"{statistics.median(latencies) / batch_wall:.2f}")
    last = max(memory)
    series = ", ".join(f"poll {k}: {memory[k][0]:.0f}" for k in sorted(memory)
                       if k in (1, 2, 5, 10, 15, last))
    print(f"RSS during polling (MB): {series}")
    if 2 in memory:
        (rss2, peak2), (rss_n, peak_n) = memory[2], memory[last]
        print(f"RSS at poll 2: {rss2:.0f} MB, at poll {last}: {rss_n:.0f} MB "
              f"(poll {last} / poll 2 = {rss_n / rss2:.2f}); peak so far {peak2:.0f} -> "
              f"{peak_n:.0f} MB; peak over the whole run {peak_mb():.0f} MB")
    if 5 in memory and last > 5:
        # poll 2 comes before the first window is processed (models not loaded yet)
        print(f"RSS at poll 5 (after the first windows loaded the models): "
              f"{memory[5][0]:.0f} MB; poll {last} / poll 5 = {memory[last][0] / memory[5][0]:.2f}")
    print(f"output kept in {work}")


if __name__ == "__main__":
    main()
