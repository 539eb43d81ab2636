"""Extraction quality and speed: newsflow's extract+clean step vs plain ``trafilatura.extract``.

    python bench/extraction.py [--eval ../shared/eval] [--limit N]

"newsflow" is what the pipeline does to a page: ``extract_page`` then ``clean_article``.
Both run in this process on the same pages in the same run, page by page in alternating order,
so the ratios are comparable even on a busy machine.
- ScrapingHub article-extraction benchmark (181 pages): token-level precision/recall/F1 of the
  extracted text against the gold article body (bag of words, as the benchmark does).
- trafilatura's evaluation set (990 pages): snippets that must / must not appear; precision and
  recall over snippets, as trafilatura's own evaluation computes them.
Prints P/R/F1 and pages/s (wall and CPU seconds) for both, and the ratios ours/plain, for the
whole set and for each half (pages split by the parity of the CRC-32 of their id: the
ScrapingHub hash, the trafilatura URL). Extraction rules were chosen on half 0; half 1 is the
held-out check. Run by hand, not in tests.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.entities import default_eval  # noqa: E402
from transforms.clean import clean_article  # noqa: E402
from transforms.extract import ExtractError, decode_html, extract_page  # noqa: E402

_TOKEN = re.compile(r"\w+", re.UNICODE)


def ours(html: bytes, url: str) -> str:
    try:
        return clean_article({"url": url, **extract_page(decode_html(html), url)})["text"]
    except ExtractError:
        return ""


def plain(html: bytes, url: str) -> str:
    return trafilatura.extract(html, url=url) or ""


EXTRACTORS = {"plain trafilatura": plain, "newsflow": ours}


def half(page_id: str) -> int:
    """Which half a page is in (0: where rules were chosen, 1: held out)."""
    return zlib.crc32(page_id.encode()) % 2


def run_interleaved(pages: list[tuple[bytes, str]]
                    ) -> dict[str, tuple[list[str], float, float]]:
    """Both extractors page by page, alternating which goes first, so machine load and warm-up
    affect both alike; returns texts, wall seconds and CPU seconds per extractor."""
    texts: dict[str, list[str]] = {name: [] for name in EXTRACTORS}
    seconds = dict.fromkeys(EXTRACTORS, 0.0)
    cpu = dict.fromkeys(EXTRACTORS, 0.0)
    for index, (html, url) in enumerate(pages):
        order = list(EXTRACTORS) if index % 2 == 0 else list(reversed(EXTRACTORS))
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            texts[name].append(EXTRACTORS[name](html, url))
            seconds[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
    return {name: (texts[name], seconds[name], cpu[name]) for name in EXTRACTORS}


def token_prf(predicted: str, gold: str) -> tuple[float, float, float]:
    p, g = Counter(_TOKEN.findall(predicted.lower())), Counter(_TOKEN.findall(gold.lower()))
    common = sum((p & g).values())
    precision = common / sum(p.values()) if p else 0.0
    recall = common / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def scrapinghub(eval_dir: Path, limit: int | None):
    truth = json.loads((eval_dir / "scrapinghub_aeb" / "ground-truth.json").read_text())
    items = sorted(truth.items())[:limit]
    pages = [(gzip.open(eval_dir / "scrapinghub_aeb" / "html" / f"{k}.html.gz").read(),
              v["url"], v["articleBody"]) for k, v in items]
    halves = [half(k) for k, _ in items]
    outputs = run_interleaved([(html, url) for html, url, _ in pages])
    results = {}
    for name, (texts, seconds, cpu) in outputs.items():
        scores = [token_prf(t, gold) for t, (_, _, gold) in zip(texts, pages, strict=True)]
        results[name] = {"speed": (len(pages) / seconds, len(pages) / cpu)}
        for part in (None, 0, 1):
            chosen = [s for s, h in zip(scores, halves, strict=True) if part in (None, h)]
            results[name][part] = tuple(sum(s[i] for s in chosen) / len(chosen)
                                        for i in range(3))
    return "ScrapingHub AEB (token P/R/F1 vs gold body, mean over pages)", len(pages), results


def trafilatura_set(eval_dir: Path, limit: int | None):
    data = json.loads((eval_dir / "trafilatura_eval" / "evaldata.json").read_text())
    pages = []
    for url, item in sorted(data.items())[:limit]:
        path = eval_dir / "trafilatura_eval" / "html" / f"{item['file']}.gz"
        if path.exists():
            pages.append((gzip.open(path).read(), url, item.get("with") or [],
                          item.get("without") or []))
    outputs = run_interleaved([(html, url) for html, url, _, _ in pages])
    results = {}
    for name, (texts, seconds, cpu) in outputs.items():
        results[name] = {"speed": (len(pages) / seconds, len(pages) / cpu)}
        for part in (None, 0, 1):
            tp = fn_ = fp = 0
            for text, (_, url, with_, without) in zip(texts, pages, strict=True):
                if part not in (None, half(url)):
                    continue
                found = sum(snippet in text for snippet in with_)
                tp, fn_ = tp + found, fn_ + len(with_) - found
                fp += sum(snippet in text for snippet in without)
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn_) if tp + fn_ else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            results[name][part] = (precision, recall, f1)
    return "trafilatura eval (with/without snippets)", len(pages), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(default_eval()))
    parser.add_argument("--limit", type=int, default=None, help="pages per set (for a quick look)")
    args = parser.parse_args()
    eval_dir = Path(args.eval)
    for bench in (scrapinghub, trafilatura_set):
        title, count, results = bench(eval_dir, args.limit)
        print(f"\n{title}: {count} pages")
        print(f"  {'extractor':18s} {'part':6s} {'P':>6s} {'R':>6s} {'F1':>6s} "
              f"{'pages/s':>8s} {'pages/cpu-s':>11s}")
        for name, parts in results.items():
            wall, cpu = parts["speed"]
            for part in (None, 0, 1):
                p, r, f1 = parts[part]
                label = "all" if part is None else f"half{part}"
                speed = f"{wall:8.1f} {cpu:11.1f}" if part is None else ""
                print(f"  {name:18s} {label:6s} {p:6.4f} {r:6.4f} {f1:6.4f} {speed}")
        base, mine = results["plain trafilatura"], results["newsflow"]
        print(f"  ratio newsflow/plain: F1 x{mine[None][2] / base[None][2]:.3f}, "
              f"speed x{mine['speed'][0] / base['speed'][0]:.2f} wall, "
              f"x{mine['speed'][1] / base['speed'][1]:.2f} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
