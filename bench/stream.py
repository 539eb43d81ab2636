"""End-to-end latency and memory of a bounded ``newsflow stream`` over a growing loopback site.

    python bench/stream.py [--polls 20] [--per-poll 5] [--interval 3] [--window 6]
                           [--runner BundleBasedDirectRunner] [--eval ../shared/eval]
                           [-- pipeline options]

A loopback site serves one feed listing ScrapingHub's real news pages (``../shared/eval``):
``--per-poll`` more at every poll. A page's *publication* is the moment the feed first lists
it; it is *visible* when a DuckDB query through ``newsflow query``'s views (committed files
only) first returns it; a watcher process lists ``_runs/`` every 0.25 s and queries when a new
manifest is there. Printed: per committed window, its articles and their latency (visible -
published); the stream process's RSS when the feed is polled (the models are loaded before
the first poll), poll N / poll 2, and the least-squares slope in MB per poll from polls 5 and
20 on. The baseline, measured in the same run: a
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
import multiprocessing
import resource
import statistics
import sys
import tempfile
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


class Watcher:
    """First time each URL is visible through the committed views of ``root``."""

    def __init__(self, root: str):
        self.root, self.seen = root, {}
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


def watch(root: str, stop, results) -> None:
    """The watcher's own process (its DuckDB queries do not count in the stream's RSS)."""
    watcher = Watcher(root)
    while not stop.wait(0.25):
        watcher.check()
    watcher.check()
    results.put(watcher.seen)


def slope(points: dict[int, float], first: int) -> float | None:
    """Least-squares MB per poll over polls ``first``.. (None with fewer than 3)."""
    xs = [k for k in sorted(points) if k >= first]
    if len(xs) < 3:
        return None
    ys = [points[k] for k in xs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            / sum((x - mx) ** 2 for x in xs))


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
        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        watcher = spawn.Process(target=watch, args=(output, stop, results), daemon=True)
        watcher.start()
        started = time.time()
        run_id, result = streaming.run([
            "--feeds", str(feeds), "--output", output, "--runner", args.runner,
            "--poll-interval", f"{args.interval}s", "--window", f"{args.window}s",
            "--max-polls", str(args.polls), *FETCH, *extra])
        finished = time.time()
        stop.set()
        seen = results.get(timeout=120)
        watcher.join()
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
        mine = [seen[u] - published[u] for u in urls
                if u in seen and u in published]
        latencies += mine
        start = dt.datetime.fromisoformat(manifest["window_start"]).timestamp()
        if mine:
            print(f"{start - first_poll:>+28.1f} {len(urls):>8d} "
                  f"{statistics.median(mine):>15.1f} {max(mine):>7.1f}")
    missing = [u for u in published if u not in seen]
    print(f"\nvisible: {len(published) - len(missing)} of {len(published)} published pages "
          f"({len(missing)} never visible: rejected or not committed)")
    if latencies:
        print(f"latency: median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s"
              f"; baseline batch run over the final feed: {batch_wall:.1f} s "
              f"({batch_result.state}); median stream latency / batch wall = "
              f"{statistics.median(latencies) / batch_wall:.2f}")
    last = max(memory)
    rss = {k: v[0] for k, v in memory.items()}
    series = ", ".join(f"poll {k}: {rss[k]:.0f}" for k in sorted(rss)
                       if k in (1, 2, 5, 10, 20, 30, 40, 50, 60, last) or k % 100 == 0)
    print(f"RSS of the stream's process when the feed is polled (MB): {series}")
    if 2 in rss:
        print(f"RSS poll {last} / poll 2 = {rss[last] / rss[2]:.2f} ({rss[2]:.0f} -> "
              f"{rss[last]:.0f} MB); peak at poll 2 {memory[2][1]:.0f} MB, over the whole run "
              f"{peak_mb():.0f} MB (with the batch baseline)")
    for first in (5, 20):
        per_poll = slope(rss, first)
        if per_poll is not None:
            print(f"RSS slope from poll {first} to poll {last}: {per_poll:+.2f} MB per poll")
    print(f"output kept in {work}")


if __name__ == "__main__":
    main()
