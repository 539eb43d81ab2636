"""Whole-pipeline speed against bare trafilatura loops, on one WARC of real pages.

    python bench/pipeline.py [--eval ../shared/eval] [--repeat 2] [--variant ARGS ...]

Builds one WARC of the 1,171 dev pages in ``../shared/eval`` (trafilatura's evaluation set and
ScrapingHub's article-extraction benchmark), then times whole processes in one run, each
started fresh (imports and model loading included, as a user pays them):
- a bare single-process loop reading the WARC and calling ``trafilatura.extract`` per page;
- the same loop over ``multiprocessing.Pool(ncpu)``;
- ``newsflow run --warc`` with its defaults (all dedup levels, runner and workers chosen by
  newsflow), plus any ``--variant "--dedup-levels exact,near"`` given.
Prints wall seconds, pages/s, ratios (bare loop seconds / newsflow seconds: >= 1 means
newsflow is at least as fast) and CPU seconds (all processes of the run: the work done, which
a busy machine does not inflate as much as wall time). Run by hand, at normal priority, on an
otherwise idle machine if you can: the load average is printed next to each figure.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def eval_pages(eval_dir: Path) -> list[tuple[str, bytes]]:
    """(url, html bytes) of every dev page of both extraction sets."""
    pages = []
    truth = json.loads((eval_dir / "scrapinghub_aeb" / "ground-truth.json").read_text())
    for key, item in sorted(truth.items()):
        path = eval_dir / "scrapinghub_aeb" / "html" / f"{key}.html.gz"
        pages.append((item["url"], gzip.open(path).read()))
    data = json.loads((eval_dir / "trafilatura_eval" / "evaldata.json").read_text())
    for url, item in sorted(data.items()):
        path = eval_dir / "trafilatura_eval" / "html" / f"{item['file']}.gz"
        if path.exists():
            if not url.startswith(("http://", "https://")):  # the set's "hard::x" keys
                url = f"https://trafilatura-eval.example/{item['file']}"
            pages.append((url, gzip.open(path).read()))
    return pages


def write_warc(pages: list[tuple[str, bytes]], path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))


def read_warc(path: str) -> list[tuple[str, bytes]]:
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                out.append((record.rec_headers.get_header("WARC-Target-URI"),
                            record.content_stream().read()))
    return out


def _extract(page: tuple[str, bytes]) -> int:
    import trafilatura

    url, body = page
    return len(trafilatura.extract(body, url=url) or "")


def bare_loop(warc: str, processes: int) -> None:
    """What a user would write without a framework (one process, or a Pool)."""
    pages = read_warc(warc)
    if processes == 1:
        chars = sum(map(_extract, pages))
    else:
        with multiprocessing.Pool(processes) as pool:
            chars = sum(pool.imap_unordered(_extract, pages, chunksize=8))
    print(json.dumps({"pages": len(pages), "chars": chars}))


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 3):  # 3: finished with some rejected inputs
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(command)}")
    return seconds, cpu


def newsflow_command(warc: str, out: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "run", "--warc", warc, "--output", out, *extra]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(next(
        (d / "shared" / "eval" for d in ROOT.parents if (d / "shared" / "eval").is_dir()),
        ROOT.parent / "shared" / "eval")))
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all runs")
    parser.add_argument("--variant", action="append", default=[],
                        help="extra newsflow run arguments to time as well (repeatable)")
    parser.add_argument("--loop", type=int, help=argparse.SUPPRESS)  # internal: bare loop
    parser.add_argument("--warc", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:
        bare_loop(args.warc, args.loop)
        return 0
    ncpu = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        warc = str(Path(tmp) / "dev-pages.warc.gz")
        pages = eval_pages(Path(args.eval))
        write_warc(pages, Path(warc))
        print(f"WARC of {len(pages)} pages ({os.path.getsize(warc) / 1e6:.1f} MB), "
              f"{ncpu} CPUs")
        runs: list[tuple[str, list[str]]] = [
            ("bare trafilatura loop, 1 process",
             [sys.executable, __file__, "--loop", "1", "--warc", warc]),
            (f"bare trafilatura loop, Pool({ncpu})",
             [sys.executable, __file__, "--loop", str(ncpu), "--warc", warc]),
            ("newsflow run --warc (defaults)", []),
            *((f"newsflow run --warc {v}", shlex.split(v)) for v in args.variant),
        ]
        for round_ in range(1, args.repeat + 1):
            print(f"\nround {round_}: {'run':52s} {'seconds':>8s} {'pages/s':>8s} "
                  f"{'vs 1 proc':>9s} {'vs Pool':>8s} {'CPU s':>6s}  load")
            base: list[float] = []
            for index, (name, command) in enumerate(runs):
                if name.startswith("newsflow"):
                    out = tempfile.mkdtemp(dir=tmp)
                    command = newsflow_command(warc, out, command)
                load = os.getloadavg()[0]
                seconds, cpu = timed(command)
                base.append(seconds)
                ratios = (f"{base[0] / seconds:9.2f} {base[1] / seconds:8.2f}"
                          if index >= 1 else f"{1.0:9.2f} {'':8s}")
                print(f"         {name:52s} {seconds:8.1f} {len(pages) / seconds:8.1f} "
                      f"{ratios} {cpu:6.1f}  {load:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
