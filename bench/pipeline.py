"""Whole-pipeline speed against bare trafilatura loops, on one WARC of real pages.

    python bench/pipeline.py [--eval ../shared/eval] [--repeat 2] [--variant ARGS ...]
    python bench/pipeline.py --stages     # CPU seconds per stage instead (one process)
    python bench/pipeline.py --timeline   # plus where the launcher of one default run is

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

``--timeline`` runs ``newsflow run --warc`` (defaults) once more with a sampler in its launcher
and prints its timeline: the phases (the project function its main thread is in, sampled every
0.25 s), their wall seconds and the CPU seconds the launcher and its worker processes spent in
each, so a phase with one busy process out of two cores shows as one idle core.

``--stages`` runs newsflow's own per-record steps on the same pages in this process, without a
runner, and prints the CPU seconds of each (model loads, a bare ``trafilatura.extract`` loop over
the same pages as the reference extraction is read against, extraction, cleaning, enrichment and
each content column, the story names, the headline embeddings, the cascade's gate over the
day pools and the embedding of its candidates' other segments): where a run's CPU
goes, to read next to the whole runs' CPU seconds (the rest is the runner, dedup and writing).
"""

from __future__ import annotations

import argparse
import gzip
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


def stage_cpu(pages: list[tuple[str, bytes]]) -> None:
    """CPU seconds of each per-record step of a run, on every page, in this process."""
    sys.path.insert(0, str(ROOT))
    import trafilatura

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    # what extraction is read against, in the same run (not summed), before newsflow's
    # modules are imported: ``transforms.prune_xpaths`` speeds up trafilatura's own discard
    # XPaths in the process that imports it
    start = cpu()
    for url, body in pages:
        trafilatura.extract(body, url=url)
    reference = cpu() - start

    from transforms.attribution import attributed_source
    from transforms.clean import clean_article
    from transforms.dedup.config import TranslationConfig
    from transforms.dedup.segments import anchors, segments
    from transforms.dedup.stories import story_names
    from transforms.embedding import load_embedder, pack, threads_per_process
    from transforms.enrich import LanguageIdentifier, enrich
    from transforms.entities import EntityRecognizer
    from transforms.extract import ExtractError, decode_html, extract_page
    from transforms.flags import page_flags
    from transforms.keywords import keywords

    total = 0.0

    def timed_step(name: str, step):
        nonlocal total
        start = cpu()
        out = step()
        seconds = cpu() - start
        total += seconds
        print(f"  {name:44s} {seconds:7.2f}", flush=True)
        return out

    def extracted() -> list[dict]:
        records = []
        for url, body in pages:
            try:
                records.append({"url": url, "source_kind": "warc",
                                **extract_page(decode_html(body), url)})
            except ExtractError:
                pass
        return records

    print(f"CPU seconds per stage, {len(pages)} pages, one process (load "
          f"{os.getloadavg()[0]:.1f})")
    config = TranslationConfig()
    identifier = timed_step("load language identifier", LanguageIdentifier)
    recognizer = EntityRecognizer()
    timed_step("load entity models (en, fr) and gazetteer", lambda: [
        recognizer.entities(*item) for item in
        (("Warm up.", "en", None), ("Bonjour.", "fr", None), ("Berlin.", "de", None))])
    embedder = timed_step("load embedder (e5)", lambda: load_embedder(
        config.embedder, threads_per_process(1)))
    print(f"  {'reference: bare trafilatura.extract loop':44s} {reference:7.2f}", flush=True)
    records = timed_step("extract (decode, metadata, trafilatura)", extracted)
    records = timed_step("clean", lambda: [clean_article(r) for r in records])
    records = timed_step("enrich core (ids, language, dates, hashes)",
                         lambda: [enrich(r, identifier, "bench") for r in records])
    timed_step("flags", lambda: [page_flags(dict(r)) for r in records])
    items = [(r.get("text") or "", r.get("language"), r.get("title")) for r in records]
    timed_step("entities", lambda: [recognizer.entities(*item) for item in items])
    timed_step("keywords", lambda: [keywords(*item) for item in items])
    timed_step("attribution", lambda: [attributed_source(r) for r in records])
    timed_step("story names", lambda: [r.update(story_names=story_names(
        r.get("title"), r.get("text"))) for r in records])
    per_doc = [segments(r.get("title"), r.get("text") or "", config) for r in records]
    heads = timed_step(f"embed headlines ({sum(1 for s in per_doc if s)})",
                       lambda: embedder.embed([s[0] for s in per_doc if s]))
    at = 0
    for record, segs in zip(records, per_doc, strict=True):
        record.update(seg_vectors=pack(heads[at:at + 1]) if segs else None,
                      seg_dim=heads.shape[1], anchors=anchors(segs))
        at += bool(segs)
    chosen = timed_step("cascade gate (candidates of the day pools)",
                        lambda: candidates(records, config))
    rest = [s for r, segs in zip(records, per_doc, strict=True) if r["article_id"] in chosen
            for s in segs[1:]]
    timed_step(f"embed candidates' other segments ({len(chosen)} articles, {len(rest)} of "
               f"{sum(len(s[1:]) for s in per_doc)} segments)", lambda: embedder.embed(rest))
    print(f"  {'sum':44s} {total:7.2f}")


def candidates(records: list[dict], config) -> set[str]:
    """The cascade's candidates (``cascade.needs_segments``) over the records' day pools, as
    ``SegmentCandidates`` pools them."""
    from collections import defaultdict

    from transforms.dedup.cascade import needs_segments
    from transforms.dedup.pool_edges import _pool_docs, _pool_entries

    pools = defaultdict(list)
    window = max(config.window_days, config.story_window_days)
    for record in records:
        for day, entry in _pool_entries(record, window):
            pools[day].append(entry)
    return {a for entries in pools.values() for a in needs_segments(_pool_docs(entries), config)}


def _children_cpu(parent: int) -> float:
    """CPU seconds of ``parent``'s live child processes (the record pool's workers)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _phase(frame) -> str:
    """The innermost project function of a stack; the innermost function when that is the
    runner's call (``batch.run_pipeline``: the runner itself, or a library step)."""
    import traceback

    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if f.filename.startswith(str(ROOT)) and "/bench/" not in f.filename]
    pick = ours[-1] if ours and ours[-1].name != "run_pipeline" else stack[-1]
    label = f"{Path(pick.filename).stem}.{pick.name}"
    return label if pick in ours else f"(runner) {label}"


def traced_run(trace: str, argv: list[str]) -> int:
    """``newsflow`` with ``argv`` in this process, sampling its main thread to ``trace``."""
    import threading

    sys.path.insert(0, str(ROOT))
    start, main_id = time.perf_counter(), threading.main_thread().ident
    out = open(trace, "w")  # noqa: SIM115 - written by the sampler thread until exit

    def sample() -> None:
        while True:
            time.sleep(0.25)
            frame = sys._current_frames().get(main_id)
            names = {t.name for t in threading.enumerate()}
            models = " +models" if "record-pool-models" in names else ""
            own, gone = os.times(), os.times()
            out.write(json.dumps([round(time.perf_counter() - start, 2),
                                  own.user + own.system,
                                  gone.children_user + gone.children_system
                                  + _children_cpu(os.getpid()),
                                  (_phase(frame) if frame else "-") + models]) + "\n")
            out.flush()

    threading.Thread(target=sample, daemon=True).start()
    from pipelines.cli import main as newsflow_main

    return newsflow_main(argv)


def print_timeline(trace: str) -> None:
    """Runs of samples in the same phase, phases under 0.5 s folded into the one before."""
    rows = [json.loads(line) for line in Path(trace).read_text().splitlines() if line]
    phases: list[list] = []  # [label, start, end, launcher CPU, workers CPU]
    last = [0.0, 0.0, 0.0]
    for t, own, kids, label in rows:
        step = [t - last[0], own - last[1], max(kids - last[2], 0.0)]
        last = [t, own, kids]
        if phases and (phases[-1][0] == label or phases[-1][2] - phases[-1][1] < 0.5):
            phases[-1][0] = label if phases[-1][2] - phases[-1][1] < 0.5 else phases[-1][0]
            phases[-1][2] += step[0]
            phases[-1][3] += step[1]
            phases[-1][4] += step[2]
        else:
            start = phases[-1][2] if phases else 0.0
            phases.append([label, start, start + step[0], step[1], step[2]])
    print(f"\n{'from':>6s} {'to':>6s}  {'launcher CPU':>12s} {'workers CPU':>11s}  main thread in")
    for label, t0, t1, own, kids in phases:
        print(f"{t0:6.1f} {t1:6.1f}  {own:12.1f} {kids:11.1f}  {label}")


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
    parser.add_argument("--stages", action="store_true",
                        help="CPU seconds per stage of newsflow's per-record steps instead")
    parser.add_argument("--timeline", action="store_true",
                        help="then one default run with its launcher's timeline")
    parser.add_argument("--loop", type=int, help=argparse.SUPPRESS)  # internal: bare loop
    parser.add_argument("--warc", help=argparse.SUPPRESS)
    if sys.argv[1:2] == ["--traced"]:  # internal: a sampled newsflow run
        return traced_run(sys.argv[2], sys.argv[3:])
    args = parser.parse_args()
    if args.loop:
        bare_loop(args.warc, args.loop)
        return 0
    if args.stages:
        stage_cpu(eval_pages(Path(args.eval)))
        return 0
    ncpu = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        warc = str(Path(tmp) / "dev-pages.warc.gz")
        pages = eval_pages(Path(args.eval))
        from transforms.sources import write_warc
        write_warc(warc, pages)
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
        if args.timeline:
            trace = str(Path(tmp) / "timeline.jsonl")
            load = os.getloadavg()[0]
            seconds, cpu = timed([sys.executable, __file__, "--traced", trace, "run", "--warc",
                                  warc, "--output", tempfile.mkdtemp(dir=tmp)])
            print(f"\ntimeline of one default run: {seconds:.1f} s wall, {cpu:.1f} CPU s, "
                  f"load {load:.1f}")
            print_timeline(trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
