"""Story quality (``story_id``) on event-labelled news, with unrelated news as background.

    python bench/stories_eval.py [--eval ../shared/eval] [--sets ecbplus_dev,basil]
                                 [--modes one_day,dated] [--background news|none]
                                 [--topics odd|even|all] [--keep DIR]

``eval/stories/`` holds independently written articles labelled by event (ECB+: two look-alike
events per topic; BASIL: one event reported by three outlets). Each set is written as JSONL,
mixed with the WMT dev news (``wmt_docs_dev.jsonl``, 11 languages, translations of one document
are one story) and run through the real batch pipeline (``newsflow run --jsonl``, in-process
runner). Printed per set and mode: pairwise and BCubed precision / recall / F1 of ``story_id``
over the set's articles (a background article in a set article's story counts against it), the
same over the background, and how many copy groups join two gold events (must be 0).

Modes: ``one_day`` puts every article on one publication day (only the text decides);
``dated`` keeps the real dates where the set has them (BASIL: all; ECB+: about a third; the
rest fall on one fetch day) and spreads the background over the days the set falls on.

``--topics odd|even`` keeps one half of the ECB+ topics: thresholds are chosen on one half and
reported on the other, so no single topic is tuned to; with ``all`` (one run) the scores of
each half are printed too. Run by hand (minutes: every article is
embedded); tests assert correctness on small slices instead.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from pipelines.batch import run  # noqa: E402

ONE_DAY = "2024-03-05"


def load_set(eval_dir: Path, name: str, topics: str) -> list[dict]:
    rows = [json.loads(line) for line in (eval_dir / "stories" / f"{name}.jsonl").open()]
    if topics != "all" and name.startswith("ecbplus"):
        rows = topic_half(rows, topics)
    return [{"url": f"https://stories.example/{r['id']}", "title": r.get("title"),
             "text": r["text"], "language": r["lang"], "published_at": r.get("published_at"),
             "gold": r["story"], "topic": r.get("topic")} for r in rows]


def topic_half(rows: list[dict], half: str) -> list[dict]:
    """The rows of the odd or even ECB+ topics (``t1``, ``t2``...)."""
    parity = 1 if half == "odd" else 0
    return [r for r in rows if int(r["topic"].rsplit("t", 1)[1]) % 2 == parity]


def load_background(eval_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (eval_dir / "wmt_docs_dev.jsonl").open()]
    return [{"url": f"https://wmt.example/{r['doc_key'].replace(':', '/')}/{r['lang']}",
             "title": None, "text": r["text"], "language": r["lang"], "published_at": None,
             "gold": "wmt:" + r["doc_key"], "background": True}
            for r in rows if r.get("domain") == "news"]


def dated(rows: list[dict], mode: str, seed: int = 11) -> list[dict]:
    """Publication dates for a mode: one day for all, or real dates, undated set articles on
    one fetch day, background on days drawn from those the set's articles fall on."""
    if mode == "one_day":
        return [{**r, "published_at": ONE_DAY} for r in rows]
    out = [{**r, "published_at": r.get("published_at") or ONE_DAY} if not r.get("background")
           else r for r in rows]
    days = sorted({r["published_at"] for r in out if not r.get("background")})
    rng = random.Random(seed)
    day_of: dict[str, str] = {}  # translations of one background document share a day
    return [{**r, "published_at": day_of.setdefault(r["gold"], rng.choice(days))}
            if r.get("background") else r for r in out]


def run_pipeline(rows: list[dict], work: Path, extra: list[str]) -> tuple[dict, dict, float]:
    """-> (url -> story_id, url -> copy_group_id, seconds)."""
    source = work / "docs.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for r in rows:
            when = dt.datetime.fromisoformat(r["published_at"]).replace(
                hour=12, tzinfo=dt.timezone.utc).isoformat()
            handle.write(json.dumps({"url": r["url"], "title": r["title"], "text": r["text"],
                                     "language": r["language"], "published_at": when},
                                    ensure_ascii=False) + "\n")
    output = work / "out"
    start = time.perf_counter()
    run(["--jsonl", str(source), "--output", str(output), "--history_days", "0", *extra])
    seconds = time.perf_counter() - start
    found = duckdb.connect().execute(
        f"select url, story_id, copy_group_id from read_parquet('{output}/articles/**/*.parquet',"
        " hive_partitioning = true)").fetchall()
    return {u: s for u, s, _ in found}, {u: g for u, _, g in found}, seconds


def scores(rows: list[dict], predicted: dict[str, str]) -> dict[str, float]:
    """Pairwise and BCubed P/R/F1 over ``rows`` (each with ``gold``); predicted clusters may
    hold other articles (background), which count as wrong members."""
    gold_of = {r["url"]: r["gold"] for r in rows}
    clusters: dict[str, set[str]] = collections.defaultdict(set)
    for url, story in predicted.items():
        clusters[story].add(url)
    gold_clusters: dict[str, set[str]] = collections.defaultdict(set)
    for url, label in gold_of.items():
        gold_clusters[label].add(url)
    bp = br = 0.0
    for url, label in gold_of.items():
        mine = clusters.get(predicted.get(url, url), {url})
        right = len([u for u in mine if gold_of.get(u) == label])
        bp += right / len(mine)
        br += right / len(gold_clusters[label])
    bp, br = bp / len(gold_of), br / len(gold_of)
    gold_pairs = {p for c in gold_clusters.values() for p in itertools.combinations(sorted(c), 2)}
    pred_pairs = {p for c in clusters.values() for p in itertools.combinations(sorted(c), 2)
                  if p[0] in gold_of or p[1] in gold_of}
    tp = len(gold_pairs & pred_pairs)
    pp = tp / len(pred_pairs) if pred_pairs else 1.0
    pr = tp / len(gold_pairs) if gold_pairs else 1.0
    return {"pair_p": pp, "pair_r": pr, "pair_f1": 2 * pp * pr / (pp + pr) if pp + pr else 0.0,
            "b3_p": bp, "b3_r": br, "b3_f1": 2 * bp * br / (bp + br) if bp + br else 0.0}


def copy_groups_joining_events(rows: list[dict], groups: dict[str, str]) -> int:
    events: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        if r["url"] in groups:
            events[groups[r["url"]]].add(r["gold"])
    return sum(1 for golds in events.values() if len(golds) > 1)


def line(name: str, s: dict[str, float]) -> str:
    return (f"  {name:12s} pairwise P {s['pair_p']:.3f} R {s['pair_r']:.3f} F1 {s['pair_f1']:.3f}"
            f"   BCubed P {s['b3_p']:.3f} R {s['b3_r']:.3f} F1 {s['b3_f1']:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "eval"))
    parser.add_argument("--sets", default="ecbplus_dev,basil")
    parser.add_argument("--modes", default="one_day,dated")
    parser.add_argument("--background", default="news", choices=["news", "none"])
    parser.add_argument("--topics", default="all", choices=["all", "odd", "even"],
                        help="ECB+ topics kept (tune on one half, report the other)")
    parser.add_argument("--pipeline-args", default="",
                        help="extra newsflow run options, e.g. '--story_threshold 0.55'")
    parser.add_argument("--keep", help="keep each run's output under this directory")
    args = parser.parse_args()
    eval_dir = Path(args.eval)
    background = load_background(eval_dir) if args.background == "news" else []
    for name in args.sets.split(","):
        labelled = load_set(eval_dir, name, args.topics)
        for mode in args.modes.split(","):
            rows = dated(labelled + background, mode)
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(args.keep) / f"{name}-{mode}" if args.keep else Path(tmp)
                work.mkdir(parents=True, exist_ok=True)
                stories, groups, seconds = run_pipeline(rows, work, args.pipeline_args.split())
            set_rows = rows[:len(labelled)]
            print(f"\n== {name} ({args.topics} topics), {mode}: {len(labelled)} articles, "
                  f"{len({r['gold'] for r in labelled})} events, {len(background)} background; "
                  f"{seconds:.0f} s")
            print(line("set", scores(set_rows, stories)))
            if args.topics == "all" and all(r.get("topic") for r in set_rows):
                for half in ("odd", "even"):  # thresholds chosen on odd, even held out
                    print(line(f"{half} topics", scores(topic_half(set_rows, half), stories)))
            if background:
                print(line("background", scores(rows[len(labelled):], stories)))
            print(f"  copy groups joining two events: "
                  f"{copy_groups_joining_events(set_rows, groups)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
