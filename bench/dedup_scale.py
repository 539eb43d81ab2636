"""How the near-duplicate stage scales: time and peak memory for 2.5k, 5k and 10k documents;
and how a translation pool (one publication day) scales.

    python bench/dedup_scale.py [--sizes 2500,5000,10000]
                                [--pools 2000,8000] [--history 10000,40000,100000 --new 1000]

Synthetic documents (Zipf-distributed words, ~150 words each, 10% of them lightly edited
copies of another document) go through the stage itself: ``AddSignatures`` and
``NearDuplicateEdges`` on the in-process runner (MinHash, LSH band keys, the shuffle of bucket
members, verification, one edge per pair), not a re-implementation. Each size runs in a fresh
process so its peak RSS is its own; the growth exponent is the slope of log(time) over
log(size). Recall of the planted copies is printed as a check. (The in-process runner holds a
shuffle in memory and each document is shuffled once per band with its signature: ~1 GB per
30k documents here, so 1M documents are for a distributed runner, not this machine.)

Translation pools (``transforms.dedup.alignment.translation_edges`` and ``stories.story_edges``, the
pipeline's functions) get synthetic segment vectors: 5 per document, 384 dimensions, four
languages, a third of the documents translated (their segments with a little noise) into
another language. ``--pools``: every document new (a first run over one publication day).
Item sets of ``similarity.EXACT_BELOW`` vectors or more are searched through inverted lists
(``ivf.py``: each query against the items of its 16 nearest k-means lists), smaller ones
exactly (a first run's language pair in one product both ways:
``similarity.cross_knn_means``), so growth is ~n^2 up to there and ~n^1.5 beyond. These
vectors are isotropic noise around each document's topic, a hard case for any index: at 40k
items the lists find .25-.41 of the 8 nearest (.84 on real e5 segments at 6k), though the
kNN means they give are within .004-.006 of the exact ones (.001 on e5).
The cascade's gate (``cascade.needs_segments`` over the headline vectors, which runs
first in a pipeline) is timed apart: "gate CPU s", not in "CPU s"; "with gate s" is the wall
time of all three, what a run pays.
``--history`` with ``--new``: a later run's new documents against a day of earlier
articles (only pairs with a new document are scored: growth should be linear in the
history). Recall of the planted translations is printed; CPU seconds count every thread
(the loops of small products run BLAS on one thread, ``blas.small_products``: OpenBLAS's
threads spinning between them cost 4-6x the CPU seconds on 1,000 new against 100k).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCABULARY = 30_000
WORDS = 150
CHUNK = 20_000


def synthetic(n: int, seed: int = 7):
    """Yields (doc_id, text, original_id or -1) in chunks of ``CHUNK``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        ranks = np.minimum(rng.zipf(1.1, size=(size, WORDS)), VOCABULARY) - 1
        batch = []
        for i in range(size):
            doc_id = start + i
            if i >= 10 and rng.random() < 0.1:  # an edited copy of a document in this chunk
                original = int(rng.integers(0, i))
                tokens = batch[original][1].split()  # the original's text (maybe a copy too)
                tokens[rng.integers(0, WORDS)] = "edited"
                tokens = ["breaking", "news", *tokens]
                batch.append((doc_id, " ".join(tokens), start + original))
            else:
                batch.append((doc_id, " ".join(words[ranks[i]]), -1))
        yield batch


def run_size(n: int) -> dict:
    """The near-duplicate stage itself: ``AddSignatures`` and ``NearDuplicateEdges`` on the
    in-process runner (shuffles included), over ``n`` synthetic documents."""
    import apache_beam as beam

    from transforms.dedup.near import AddSignatures, NearConfig, NearDuplicateEdges

    config = NearConfig()
    docs, planted = [], set()
    for batch in synthetic(n):
        docs += [{"article_id": f"{d:08d}", "text": t, "language": "en"} for d, t, _ in batch]
        planted.update((o, d) for d, _, o in batch if o >= 0)
    out = tempfile.mkdtemp()
    start = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner") as p:
        edges = (p | beam.Create(docs, reshuffle=False)
                 | beam.BatchElements(min_batch_size=256, max_batch_size=2048)
                 | beam.ParDo(AddSignatures(config)).with_outputs("rejects", main="articles")
                 ).articles | NearDuplicateEdges(config)
        _ = (edges | beam.Map(lambda e: f"{int(e.a.article_id)} {int(e.b.article_id)}")
             | beam.io.WriteToText(f"{out}/edges"))
    seconds = time.perf_counter() - start
    pairs = {tuple(sorted(int(x) for x in line.split()))
             for path in Path(out).glob("edges*") for line in path.read_text().splitlines()}
    recall = len({tuple(sorted(x)) for x in planted} & pairs) / len(planted) if planted else 1.0
    return {"n": n, "seconds": seconds, "pairs": len(pairs), "planted_recall": recall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def synthetic_pool(n: int, new: int, seed: int = 7):
    """PoolDocs: ``n - new`` earlier articles then ``new`` ones; every third document is a
    translation of the one two places before it."""
    import numpy as np

    from transforms.dedup.members import Member
    from transforms.dedup.pools import PoolDoc

    rng = np.random.default_rng(seed)
    languages = ["en", "de", "fr", "ja"]
    common = np.ones(384, np.float32) / np.sqrt(384)
    docs, planted = [], set()
    for d in range(n):
        lang = languages[d % 4]
        if d % 3 == 2:  # a translation of document d - 2 (another language: d - 2 % 4 differs)
            vectors = docs[d - 2].vectors + rng.normal(scale=0.01, size=(5, 384))
            planted.add((d - 2, d))
        else:  # like e5's: unrelated segments at cosine ~.7, documents' means at ~.78
            topic = rng.normal(scale=0.5 / np.sqrt(384), size=384)
            vectors = common + topic + rng.normal(scale=0.45 / np.sqrt(384), size=(5, 384))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        member = Member(str(d), 0.0, 0.0, True, True, d < n - new, None, lang)
        docs.append(PoolDoc(member, lang, vectors, frozenset(), 0, True))
    return docs, planted


def run_pool(n: int, new: int) -> dict:
    from transforms.dedup.alignment import translation_edges
    from transforms.dedup.cascade import needs_segments
    from transforms.dedup.config import TranslationConfig
    from transforms.dedup.stories import story_edges

    docs, planted = synthetic_pool(n, new)
    config = TranslationConfig()
    gate_start, gate_cpu = time.perf_counter(), cpu_seconds()
    gated = sum(1 for _ in needs_segments(docs, config))  # the cascade, on headlines
    gate_seconds, gate_cpu = time.perf_counter() - gate_start, cpu_seconds() - gate_cpu
    start, cpu = time.perf_counter(), cpu_seconds()
    edges = list(translation_edges(docs, config, None))
    translations_cpu = cpu_seconds() - cpu
    stories = sum(1 for _ in story_edges(docs, config))
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    found = {tuple(sorted((int(e.a.article_id), int(e.b.article_id)))) for e in edges}
    scorable = {p for p in planted if p[1] >= n - new}  # pairs with a new document
    return {"n": n, "new": new, "seconds": seconds, "cpu": cpu, "edges": len(edges),
            "stories": stories, "gate_cpu": gate_cpu, "gate_seconds": gate_seconds, "gated": gated,
            "translations_cpu": translations_cpu,
            "recall": len(found & scorable) / len(scorable) if scorable else 1.0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cpu_seconds() -> float:
    """CPU seconds of this process, every thread (faiss searches on all cores): the figure
    to compare on a shared machine, where wall time depends on the load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pool_table(cases: list[tuple[int, int]]) -> None:
    print(f"{'pool docs':>10s} {'new':>7s} {'seconds':>9s} {'CPU s':>8s} {'new docs/s':>11s} "
          f"{'peak RSS MB':>12s} {'translation recall':>19s} {'of which stories':>17s} "
          f"{'gate CPU s':>11s} {'with gate s':>12s}")
    results = []
    for n, new in cases:
        out = subprocess.run([sys.executable, __file__, "--pool-one", f"{n},{new}"],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{n:10d} {new:7d} {result['seconds']:9.1f} {result['cpu']:8.1f} "
              f"{new / result['seconds']:11.0f} "
              f"{result['peak_rss_mb']:12.0f} {result['recall']:19.3f} "
              f"{result['cpu'] - result['translations_cpu']:17.1f} "
              f"{result['gate_cpu']:11.1f} "
              f"{result['seconds'] + result['gate_seconds']:12.1f}", flush=True)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        scale = math.log(last["n"] / first["n"])
        print(f"growth exponent in pool size (time ~ n^k): k = "
              f"{math.log(last['seconds'] / first['seconds']) / scale:.2f} (wall), "
              f"{math.log(last['cpu'] / first['cpu']) / scale:.2f} (CPU)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2500,5000,10000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pools", default="2000,8000",
                        help="translation pools where every document is new ('' to skip)")
    parser.add_argument("--history", default="10000,40000",
                        help="earlier articles in the pool of a later run ('' to skip)")
    parser.add_argument("--new", type=int, default=1000, help="new documents of that run")
    parser.add_argument("--pool-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pool_one:
        n, new = (int(x) for x in args.pool_one.split(","))
        print(json.dumps(run_pool(n, new)))
        return 0
    if args.one:
        print(json.dumps(run_size(args.one)))
        return 0
    results = []
    print(f"{'documents':>10s} {'seconds':>9s} {'docs/s':>9s} {'peak RSS MB':>12s} "
          f"{'pairs':>9s} {'planted recall':>15s}")
    for n in (int(x) for x in args.sizes.split(",") if x):
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True,
                             text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{n:10d} {result['seconds']:9.1f} {n / result['seconds']:9.0f} "
              f"{result['peak_rss_mb']:12.0f} {result['pairs']:9d} "
              f"{result['planted_recall']:15.3f}", flush=True)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        exponent = math.log(last["seconds"] / first["seconds"]) / math.log(last["n"] / first["n"])
        print(f"growth exponent (time ~ n^k): k = {exponent:.2f}")
    if args.pools:
        print("\ntranslation pool, every document new (a first run):")
        pool_table([(int(x), int(x)) for x in args.pools.split(",")])
    if args.history:
        print(f"\ntranslation pool, {args.new} new documents against a day of earlier ones:")
        pool_table([(int(x) + args.new, args.new) for x in args.history.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
