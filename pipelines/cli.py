"""The ``newsflow`` command: ``run``, ``stream``, ``watch``, ``compact``, ``demo``, ``query``
and ``report``.

Exit status of ``run`` and ``demo``: 0 when every input became an article, 3 when the run
finished but rejected some inputs (see the summary and the ``rejects`` dataset), 1 when the
pipeline failed, 2 for a usage error (missing option, unreadable feed list...) or when another
run holds the output root's lock.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import sys
import textwrap

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3

RUN_HELP = """\
usage: newsflow run [--feeds FILE] [--urls FILE] [--sitemaps FILE] [--sites FILE]
                    [--warc GLOB] [--jsonl GLOB] --output ROOT
                    [newsflow options] [any Apache Beam pipeline option]

Fetch, extract, clean, enrich and deduplicate news, and write hive-partitioned Parquet:
  ROOT/articles/date=YYYY-MM-DD/lang=xx/*.parquet   one row per input URL that became an article
  ROOT/rejects/date=YYYY-MM-DD/stage=xxx/*.parquet  one row per input refused, with stage + reason
  ROOT/_runs/<run_id>.json                          manifest of each finished run

Runner options are Beam's own and pass through unchanged, e.g.
  --runner FnApiRunner (default, in-process)  --direct_num_workers 2 --direct_running_mode
  multi_processing  |  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
  --setup_file ./setup.py  |  --runner FlinkRunner --flink_master HOST:8081  |  --runner
  SparkRunner --spark_master_url spark://HOST:7077
Without --runner or --direct_running_mode, inputs of 4 MB or more extract and enrich on one
forked worker process per core (the record pool; --direct_num_workers N sets N, 1 forces one
process); smaller ones run in one process.

Exit status: 0 all inputs became articles, 3 finished with rejects, 1 failed, 2 usage error
or another run holds ROOT/_lock.
"""


def _print_options_help() -> None:
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    from pipelines.options import NewsflowOptions

    parser = _BeamArgumentParser(prog="newsflow run", add_help=False)
    NewsflowOptions._add_argparse_args(parser)
    print(RUN_HELP)
    text = parser.format_help()
    print(text[text.index("\n\n") + 2:] if "\n\n" in text else text)


def print_metrics(result) -> None:
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # noqa: BLE001 - some runners cannot report metrics
        return
    totals: dict[str, int] = {}
    for counter in counters:
        key = f"{counter.key.metric.namespace}.{counter.key.metric.name}"
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[key] = totals.get(key, 0) + (value or 0)
    if totals:
        print("\nCounters (Beam metrics):")
        for key in sorted(totals):
            print(f"  {key:40s} {totals[key]:>8d}")


SUMMARY_LANGUAGES = 12  # languages listed in the run summary (the largest); the rest summed
SUMMARY_DATES = 3  # busiest publication dates shown per language
SUMMARY_GROUPS = 10  # largest copy groups listed


def partition_counts(manifest: dict, dataset: str = "articles") -> dict[tuple[str, ...], int]:
    """Rows per hive partition (``("lang=en", "date=...")`` sorted) of a run, from its
    manifest alone: the summary opens no data file for them."""
    counts: dict[tuple[str, ...], int] = {}
    for info in manifest.get("files", []):
        if info.get("dataset") == dataset:
            relative = info.get("relative") or info.get("path", "")
            key = tuple(sorted(part for part in relative.split("/") if "=" in part))
            counts[key] = counts.get(key, 0) + info.get("rows", 0)
    return counts


def language_lines(manifest: dict) -> list[str]:
    """Articles per language (largest first) with its busiest publication dates."""
    per_lang: dict[str, dict[str, int]] = {}
    for key, rows in partition_counts(manifest).items():
        parts = dict(part.split("=", 1) for part in key)
        dates = per_lang.setdefault(parts.get("lang", "?"), {})
        dates[parts.get("date", "?")] = dates.get(parts.get("date", "?"), 0) + rows
    ranked = sorted(per_lang.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    rows = []
    for lang, dates in ranked[:SUMMARY_LANGUAGES]:
        busiest = sorted(dates.items(), key=lambda item: (-item[1], item[0]))[:SUMMARY_DATES]
        rows.append((lang, sum(dates.values()), len(dates),
                     ", ".join(f"{day} ({n})" for day, n in busiest)))
    from pipelines.query import format_table

    lines = format_table(["lang", "articles", "dates", "busiest publication dates"], rows,
                         max_width=80).splitlines()
    rest = ranked[SUMMARY_LANGUAGES:]
    if rest:
        lines.append(f"... {len(rest)} more languages, "
                     f"{sum(sum(d.values()) for _, d in rest)} articles")
    return lines


def run_files(root: str, manifest: dict, dataset: str) -> list[str]:
    from transforms.commit import join

    return [join(root, info["relative"]) if info.get("relative") else info["path"]
            for info in manifest.get("files", []) if info.get("dataset") == dataset]


def summarize(root: str, run_id: str) -> int:
    """Prints a short run summary; returns rejects. Reads only this run's files (per-language
    counts come from its manifest), so its cost follows the run, not the output root."""
    from pipelines.query import format_table
    from transforms.sinks import read_manifest

    manifest = read_manifest(root, run_id)
    rows = manifest["rows"]
    print(f"\nRun {run_id}: {rows['articles']} articles, {rows['rejects']} rejects -> {root}")
    polling = {k: v for k, v in manifest.get("counts", {}).items()
               if k in ("feed_not_modified", "feed_not_due", "feed_backoff")}
    if polling:  # feeds that were not read this run, and why (none of them is an error)
        print("  feeds: " + ", ".join(f"{v} {k.removeprefix('feed_').replace('_', ' ')}"
                                      for k, v in sorted(polling.items())))
    if rows["articles"]:
        print("\nArticles per language and date (largest languages first):")
        print(textwrap.indent("\n".join(language_lines(manifest)), "  "))
    if "://" in root:
        for key, value in sorted(manifest.get("counts", {}).items()):
            print(f"  rejected {key}: {value}")
        return rows["rejects"]
    import duckdb

    con = duckdb.connect()

    def run_table(dataset: str) -> str | None:
        files = run_files(root, manifest, dataset)
        if not files:
            return None
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"

    clusters, articles = run_table("clusters"), run_table("articles")
    if clusters and articles:
        groups = con.execute(f"""
            select canonical_id, size as members, array_to_string(languages, ',') as languages,
                   array_to_string(dup_kinds, ',') as kinds
            from {clusters} where kind = 'copy_group'""").fetchall()
        if groups:
            groups.sort(key=lambda g: (-g[1], g[0]))
            top = groups[:SUMMARY_GROUPS]
            ids = ", ".join("'" + g[0].replace("'", "''") + "'" for g in top)
            titles = dict(con.execute(
                f"select article_id, title from {articles} where article_id in ({ids})"
            ).fetchall())
            table = sorted(((m, langs, kinds, titles.get(cid) or "") for cid, m, langs, kinds
                            in top), key=lambda r: (-r[0], r[3]))
            print(f"\nCopy groups: {len(groups)} (the canonical article and its copies, any "
                  "language; the largest):")
            print(textwrap.indent(format_table(
                ["members", "languages", "kinds", "canonical_title"], table), "  "))
            if len(groups) > len(top):
                print(f"  ... {len(groups) - len(top)} more")
    rejects = run_table("rejects")
    if rejects:
        cursor = con.execute(f"""
            select stage, reason, count(*) as rejects from {rejects}
            group by all order by stage, reason""")
        found = cursor.fetchall()
        if found:
            print("\nRejects by stage and reason:")
            print(textwrap.indent(format_table([d[0] for d in cursor.description], found), "  "))
    print(f"\nQuery it: newsflow query {root} \"select title, language from articles\"; "
          f"all runs on one page: newsflow report {root}")
    return rows["rejects"]


def _finish(root: str, run_id: str, result) -> int:
    from apache_beam.runners.runner import PipelineState

    if result.state != PipelineState.DONE:
        print(f"pipeline ended in state {result.state}", file=sys.stderr)
        return EXIT_FAILED
    print_metrics(result)
    rejects = summarize(root, run_id)
    return EXIT_REJECTS if rejects else EXIT_OK


def cmd_run(argv: list[str]) -> int:
    from pipelines.batch import UsageError, run
    from transforms.feeds import InputListError
    from transforms.lock import LockHeld

    if not argv or "-h" in argv or "--help" in argv:
        _print_options_help()
        return EXIT_OK if argv else EXIT_USAGE
    try:
        run_id, result = run(argv)
    except (UsageError, InputListError, LockHeld) as exc:
        print(f"newsflow run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from pipelines.batch import make_options

    _, opts = make_options([*argv, "--run_id", run_id])
    return _finish(opts.output, run_id, result)


STREAM_HELP = """\
usage: newsflow stream --feeds FILE --output ROOT [--poll-interval 60s] [--window 5m]
                       [--max-polls N | --duration D] [newsflow options] [Beam options]

Poll the feeds continuously (the list is read again at every poll) and commit new articles
once per window: each window's files and its manifest ROOT/_runs/<stream id>-w<start>.json
become visible together. Without --max-polls/--duration the stream runs until stopped.

Runners: the default in-process runner (Beam's bundle-based runner) runs a bounded stream
(--max-polls or --duration) and commits each window while the stream runs, once the poll
after it is in (--runner FnApiRunner commits them all after the last poll); --runner
PrismRunner (local, downloads its binary at first use), DataflowRunner or FlinkRunner run it
unbounded, a window committed about one window after it closes. Every `newsflow run` option
applies (fetching, dedup).
"""


def cmd_stream(argv: list[str]) -> int:
    from pipelines.batch import UsageError
    from transforms.feeds import InputListError
    from transforms.lock import LockHeld

    if not argv or "-h" in argv or "--help" in argv:
        from apache_beam.options.pipeline_options import _BeamArgumentParser

        from pipelines.streaming import StreamOptions

        parser = _BeamArgumentParser(prog="newsflow stream", add_help=False)
        StreamOptions._add_argparse_args(parser)
        print(STREAM_HELP)
        text = parser.format_help()
        print(text[text.index("\n\n") + 2:] if "\n\n" in text else text)
        return EXIT_OK if argv else EXIT_USAGE
    from pipelines.streaming import committed_windows, run

    try:
        run_id, result = run(argv)
    except (UsageError, InputListError, LockHeld) as exc:
        print(f"newsflow stream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from apache_beam.runners.runner import PipelineState

    from pipelines.streaming import make_options

    if result.state != PipelineState.DONE:
        print(f"stream ended in state {result.state}", file=sys.stderr)
        return EXIT_FAILED
    print_metrics(result)
    _, opts, _ = make_options([*argv, "--run_id", run_id])
    windows = committed_windows(opts.output, run_id)
    rejects = 0
    print(f"\nStream {run_id}: {len(windows)} window(s) committed -> {opts.output}")
    for manifest in windows:
        rows = manifest["rows"]
        rejects += rows["rejects"]
        print(f"  {manifest['window_start']}  {rows['articles']:>5d} articles "
              f"{rows['rejects']:>4d} rejects  ({manifest['run_id']})")
    print(f"\nQuery it: newsflow query {opts.output} \"select title, language from articles\"")
    return EXIT_REJECTS if rejects else EXIT_OK


def cmd_demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="newsflow demo",
        description="Serve the bundled offline sample on 127.0.0.1 and run the real pipeline "
                    "on it; prints a DuckDB summary of what was written. Extra arguments are "
                    "passed to the pipeline (e.g. --runner, --direct_num_workers 2).")
    parser.add_argument("--output", help="output root (default: a new temporary directory)")
    args, extra = parser.parse_known_args(argv)
    from pipelines.demo import run_demo

    print("newsflow demo: serving the bundled sample on 127.0.0.1 and running the pipeline...")
    output, run_id, result = run_demo(args.output, extra)
    code = _finish(output, run_id, result)
    # the sample contains broken inputs on purpose: rejects are the expected outcome here
    return EXIT_OK if code == EXIT_REJECTS else code


def cmd_query(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="newsflow query",
        description="Run SQL with DuckDB over the files of an output root's committed runs. "
                    "Views: articles (latest revision of each article), article_revisions "
                    "(every revision), rejects, clusters (no rows when no run wrote them), "
                    "read with hive partitioning (columns date, lang, stage, kind come from "
                    "the paths).")
    parser.add_argument("root", help="output root written by newsflow run")
    parser.add_argument("sql", help='SQL, e.g. "select lang, count(*) from articles group by 1"')
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    args = parser.parse_args(argv)
    from pipelines.query import MissingDependency, format_table, run_query

    try:
        columns, rows = run_query(args.root, args.sql)
    except (FileNotFoundError, MissingDependency) as exc:
        print(f"newsflow query: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - DuckDB errors are the user's to read
        print(f"newsflow query: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.format == "table":
        print(format_table(columns, rows))
    elif args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        import json

        for row in rows:
            record = dict(zip(columns, row, strict=False))
            print(json.dumps(record, default=str, ensure_ascii=False))
    return EXIT_OK


def cmd_report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="newsflow report",
        description="Write one self-contained HTML page about an output root (articles per "
                    "day and language, rejects, copy groups, stories across languages, "
                    "republishing sites, run health), computed with DuckDB. The page loads "
                    "nothing from anywhere: it opens offline, e.g. as a mail attachment.")
    parser.add_argument("root", help="output root written by newsflow run")
    parser.add_argument("--since", help="only what came in during the last N minutes/hours/"
                                        "days/weeks, e.g. 30m, 12h, 7d, 2w (default: all)")
    parser.add_argument("--output", default="report.html",
                        help="HTML file to write (default: report.html)")
    args = parser.parse_args(argv)
    from pipelines.report import ReportError, write_report

    try:
        size = write_report(args.root, args.output, args.since)
    except ReportError as exc:
        print(f"newsflow report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"newsflow report: wrote {args.output} ({size / 1024:.0f} kB)")
    return EXIT_OK


def cmd_watch(argv: list[str]) -> int:
    from pipelines.watch import cmd_watch as watch

    return watch(argv)


def cmd_compact(argv: list[str]) -> int:
    from pipelines.compact import cmd_compact as compact

    return compact(argv)


COMMANDS = {"run": cmd_run, "stream": cmd_stream, "demo": cmd_demo, "query": cmd_query,
            "report": cmd_report, "watch": cmd_watch, "compact": cmd_compact}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the interpreter's last collection at exit walks every object the run left (models,
    # caches: 0.4 s after a dev-WARC run, at 100% of one core); frozen, it skips them, and
    # their memory goes back with the process
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    # Beam's GCP module warns about optional client libraries on import; not our users' concern
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(textwrap.dedent("""\
            usage: newsflow {run,stream,watch,compact,demo,query,report} ...

            newsflow turns news feeds and pages into deduplicated, enriched, hive-partitioned
            Parquet (an Apache Beam pipeline).

              demo    serve the bundled offline sample on 127.0.0.1 and run the pipeline on it
              run     run the batch pipeline (newsflow run --help for all options)
              stream  poll feeds continuously, commit once per window (newsflow stream --help)
              watch   run it every interval until stopped (newsflow watch --every 15m ...)
              compact merge the small files of closed partitions (newsflow compact ROOT)
              query   SQL with DuckDB over committed runs (articles, article_revisions, rejects...)
              report  one self-contained HTML page about an output root (charts, no SQL)
            """))
        return EXIT_OK if argv and argv[0] in ("-h", "--help") else EXIT_USAGE
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
