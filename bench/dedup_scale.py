"""How the near-duplicate stage scales: time and peak memory for 10k, 100k and 1M documents.

    python bench/dedup_scale.py [--sizes 10000,100000,1000000] [--beam-max 20000]

Synthetic documents (Zipf-distributed words, ~150 words each, 10% of them lightly edited
copies of another document) go through the stage's work: word 5-gram shingles and MinHash
signatures (``transforms.near.signatures``, the pipeline's own function), LSH banding, and
verification of bucket mates by estimated Jaccard (``transforms.near.jaccard`` semantics,
vectorised). Each size runs in a fresh process so its peak RSS is its own; the growth exponent
is the slope of log(time) over log(size). Up to ``--beam-max`` documents the Beam transform
itself (``NearDuplicateEdges`` on the in-process runner) is timed too, to show the runner's
per-element overhead next to the work. Recall of the planted copies is printed as a check.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
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


def near_pairs(signature_matrix, config):
    """LSH banding by sorting band hashes, then verification of bucket mates."""
    import numpy as np

    n = signature_matrix.shape[0]
    rows = config.rows
    found = set()
    for band in range(config.bands):
        block = signature_matrix[:, band * rows:(band + 1) * rows].astype(np.uint64)
        keys = np.zeros(n, dtype=np.uint64)
        for column in range(rows):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + block[:, column]
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.diff(sorted_keys) != 0) + 1
        bounds = np.concatenate(([0], starts, [n]))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if hi - lo < 2:
                continue
            members = order[lo:hi][: config.max_bucket]
            sub = signature_matrix[members]
            for offset, a in enumerate(members[:-1]):
                same = (sub[offset + 1:] == sub[offset]).mean(axis=1)
                for b in members[offset + 1:][same >= config.threshold]:
                    found.add((int(min(a, b)), int(max(a, b))))
    return found


def run_size(n: int) -> dict:
    import numpy as np

    from transforms.near import NearConfig, signatures

    config = NearConfig()
    start = time.perf_counter()
    chunks, planted = [], set()
    for batch in synthetic(n):
        chunks.append(np.asarray(signatures([t for _, t, _ in batch], config), dtype=np.uint32))
        planted.update((o, d) for d, _, o in batch if o >= 0)
    matrix = np.vstack(chunks)
    signed = time.perf_counter() - start
    pairs = near_pairs(matrix, config)
    seconds = time.perf_counter() - start
    recall = len(planted & pairs) / len(planted) if planted else 1.0
    return {"n": n, "seconds": seconds, "signature_seconds": signed, "pairs": len(pairs),
            "planted_recall": recall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_beam(n: int) -> dict:
    import apache_beam as beam

    from transforms.near import AddSignatures, NearConfig, NearDuplicateEdges

    config = NearConfig()
    docs = [{"article_id": f"{d:08d}", "text": t, "language": "en"}
            for batch in synthetic(n) for d, t, _ in batch]
    start = time.perf_counter()
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = (p | beam.Create(docs) | beam.BatchElements(min_batch_size=256, max_batch_size=2048)
             | beam.ParDo(AddSignatures(config)) | NearDuplicateEdges(config)
             | beam.combiners.Count.Globally())
    return {"n": n, "beam_seconds": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--beam-max", type=int, default=20_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--beam-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_size(args.one)))
        return 0
    if args.beam_one:
        print(json.dumps(run_beam(args.beam_one)))
        return 0
    results = []
    print(f"{'documents':>10s} {'seconds':>9s} {'docs/s':>9s} {'peak RSS MB':>12s} "
          f"{'pairs':>9s} {'planted recall':>15s}")
    for n in (int(x) for x in args.sizes.split(",")):
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
    for n in (int(x) for x in args.sizes.split(",")):
        if n > args.beam_max:
            continue
        out = subprocess.run([sys.executable, __file__, "--beam-one", str(n)],
                             capture_output=True, text=True, check=True)
        beam_result = json.loads(out.stdout.strip().splitlines()[-1])
        work = next(r for r in results if r["n"] == n)
        print(f"Beam NearDuplicateEdges, in-process runner, {n} documents: "
              f"{beam_result['beam_seconds']:.1f} s ({n / beam_result['beam_seconds']:.0f} "
              f"docs/s; x{beam_result['beam_seconds'] / work['seconds']:.1f} the work alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
