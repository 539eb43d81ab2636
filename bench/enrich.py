"""What enrichment costs: ms per article per stage, against the whole pipeline in the same run.

    python bench/enrich.py [--eval ../shared/eval] [--pages N]

Takes N pages of ``../shared/eval`` (ScrapingHub's set and trafilatura's, alternating), writes
them into one WARC and
1. times every stage in this process, article by article: extract, clean, the core of enrich
   (ids, language, dates, hashes) and each content column (flags, entities, keywords,
   attribution), in ms per article; entities over batches of 64 articles, as ``EnrichArticles``
   gets them;
2. runs the whole pipeline (``newsflow run --warc``, all dedup levels, in-process runner) on the
   same WARC and reports its ms per article.
The content columns' share of the whole run's time per article is the figure the issue bounds
(<= 15%). Run by hand, not in tests; the machine is shared, so run it twice.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.entities import default_eval  # noqa: E402
from bench.pipeline import write_warc  # noqa: E402
from pipelines.batch import run  # noqa: E402
from transforms.attribution import attributed_source  # noqa: E402
from transforms.clean import clean_article  # noqa: E402
from transforms.enrich import ENRICH_BATCH, LanguageIdentifier, enrich  # noqa: E402
from transforms.entities import EntityRecognizer  # noqa: E402
from transforms.extract import ExtractError, decode_html, extract_page  # noqa: E402
from transforms.flags import page_flags  # noqa: E402
from transforms.keywords import keywords  # noqa: E402


def load_pages(eval_dir: Path, count: int) -> list[tuple[str, bytes]]:
    truth = json.loads((eval_dir / "scrapinghub_aeb" / "ground-truth.json").read_text())
    sh = [(v["url"], gzip.open(eval_dir / "scrapinghub_aeb" / "html" / f"{k}.html.gz").read())
          for k, v in sorted(truth.items())]
    data = json.loads((eval_dir / "trafilatura_eval" / "evaldata.json").read_text())
    tr = []
    for url, item in sorted(data.items()):
        path = eval_dir / "trafilatura_eval" / "html" / f"{item['file']}.gz"
        if path.exists() and url.startswith("http"):
            tr.append((url, gzip.open(path).read()))
    pages = [page for pair in zip(sh, tr, strict=False) for page in pair]
    return pages[:count]


def stage_times(pages: list[tuple[str, bytes]]) -> tuple[dict[str, float], int]:
    identifier, recognizer = LanguageIdentifier(), EntityRecognizer()
    for sentence, lang in (("Warm up the models.", "en"), ("Bonjour.", "fr"),
                           ("東京に行く。", "ja"), ("北京很大。", "zh")):
        recognizer.entities(sentence, lang)  # models load once per process, not per article
        keywords(sentence, None, lang)  # so do jieba's dictionaries
    seconds: dict[str, float] = dict.fromkeys(
        ("extract", "clean", "enrich core", "flags", "entities", "keywords", "attribution"), 0.0)
    articles = 0
    batch: list[tuple[str, str | None, str | None]] = []
    for url, body in pages:
        clock = time.perf_counter()
        try:
            record = {"url": url, "final_url": url, **extract_page(decode_html(body), url)}
        except ExtractError:
            continue
        now = time.perf_counter()
        seconds["extract"] += now - clock
        clock = now
        clean_article(record)
        now = time.perf_counter()
        seconds["clean"] += now - clock
        clock = now
        enrich(record, identifier, "bench")
        now = time.perf_counter()
        seconds["enrich core"] += now - clock
        text, title, lang = record.get("text") or "", record.get("title"), record.get("language")
        for name, step, arguments in (
                ("flags", page_flags, (record,)),
                ("keywords", keywords, (text, title, lang)),
                ("attribution", attributed_source, (record,))):
            clock = time.perf_counter()
            step(*arguments)
            seconds[name] += time.perf_counter() - clock
        batch.append((text, lang, title))
        articles += 1
    for start in range(0, len(batch), ENRICH_BATCH[1]):  # as the run does: batches of 64
        clock = time.perf_counter()
        recognizer.entities_many(batch[start:start + ENRICH_BATCH[1]])
        seconds["entities"] += time.perf_counter() - clock
    return {k: 1000 * v / max(1, articles) for k, v in seconds.items()}, articles


def whole_run(pages: list[tuple[str, bytes]], work: Path) -> tuple[float, int]:
    warc = work / "pages.warc.gz"
    write_warc(pages, warc)
    start = time.perf_counter()
    run(["--warc", str(warc), "--output", str(work / "out"), "--history_days", "0"])
    seconds = time.perf_counter() - start
    import duckdb

    articles = duckdb.connect().execute(
        f"select count(*) from read_parquet('{work}/out/articles/**/*.parquet')").fetchone()[0]
    return seconds, articles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(default_eval()))
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    pages = load_pages(Path(args.eval), args.pages)
    per_stage, articles = stage_times(pages)
    with tempfile.TemporaryDirectory() as work:
        seconds, written = whole_run(pages, Path(work))
    whole = 1000 * seconds / max(1, written)
    content = sum(per_stage[k] for k in ("flags", "entities", "keywords", "attribution"))
    print(f"{len(pages)} pages, {articles} articles (stages), {written} written (whole run)")
    print(f"  {'stage':14s} {'ms/article':>10s}")
    for name, ms in per_stage.items():
        print(f"  {name:14s} {ms:10.2f}")
    print(f"  {'whole run':14s} {whole:10.2f}   ({written / seconds:.1f} articles/s)")
    print(f"  content columns: {content:.2f} ms/article = {100 * content / whole:.1f}% of the "
          f"whole run's time per article")
    return 0


if __name__ == "__main__":
    sys.exit(main())
