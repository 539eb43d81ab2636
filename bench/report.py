"""How ``newsflow report`` scales: wall time and peak memory on synthetic output roots.

    python bench/report.py [--sizes 10000,100000] [--runs 50] [--text-chars 2000]

Each size is a synthetic output root in newsflow's schemas (``tests/report_data.py``: a third
of the articles copies, some translations, rejects and a manifest per run) with
``--text-chars`` of incompressible text per article. Three fresh processes per size, so each
peak RSS is its own:
  imports   Python + DuckDB + matplotlib + the report module, nothing read (fixed cost);
  connect   ``pipelines.query.connect``: the views over every committed file, bound once
            (what any reader of the root pays: the manifests and every file's footer);
  full scan the baseline the report must stay clear of: DuckDB reading every article's text
            through the same views (``select sum(length(text)) from articles``);
  report    ``pipelines.report.write_report`` (every section, charts, page written).
Printed: seconds, peak RSS, page size, and the report's ratios to the full scan.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
mode, root, out = sys.argv[1:4]
import duckdb, matplotlib
from pipelines import report
result = None
if mode == "connect":
    from pipelines.query import connect
    result = len(connect(root).execute("describe articles").fetchall())
elif mode == "scan":
    from pipelines.query import connect
    result = connect(root).execute("select sum(length(text)), count(*) from articles").fetchall()
elif mode == "report":
    result = report.write_report(root, out)
print(json.dumps({"seconds": time.perf_counter() - start, "result": str(result),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(mode: str, root: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(root), str(out)],
                          capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--text-chars", type=int, default=2000)
    args = parser.parse_args()
    from report_data import synthetic_root

    print(f"{'articles':>9} {'step':>9} {'seconds':>8} {'peak MB':>8}  notes")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="newsflow-report-bench-") as work:
            root, out = Path(work, "root"), Path(work, "report.html")
            began = time.perf_counter()
            synthetic_root(root, size, runs=args.runs, text_chars=args.text_chars,
                           random_text=True)
            on_disk = sum(f.stat().st_size for f in root.rglob("*.parquet")) / 2**20
            print(f"{size:>9} {'data':>9} {time.perf_counter() - began:8.1f} {'':>8}  "
                  f"{args.runs} runs, {on_disk:.0f} MB of Parquet, "
                  f"{size * args.text_chars / 2**20:.0f} MB of text")
            results = {mode: child(mode, root, out)
                       for mode in ("imports", "connect", "scan", "report")}
            for mode, r in results.items():
                note = {"imports": "fixed cost", "connect": "views bound (any reader)",
                        "scan": "baseline: reads all text",
                        "report": f"page {out.stat().st_size / 1024:.0f} kB"}[mode]
                print(f"{size:>9} {mode:>9} {r['seconds']:8.2f} {r['rss_mb']:8.0f}  {note}")
            scan, rep, con = results["scan"], results["report"], results["connect"]
            print(f"{size:>9} {'ratios':>9}  report/full-scan: time "
                  f"{rep['seconds'] / scan['seconds']:.2f}x, peak memory "
                  f"{rep['rss_mb'] / scan['rss_mb']:.2f}x; above connect: report "
                  f"+{rep['seconds'] - con['seconds']:.1f} s +{rep['rss_mb'] - con['rss_mb']:.0f} "
                  f"MB, scan +{scan['seconds'] - con['seconds']:.1f} s "
                  f"+{scan['rss_mb'] - con['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
