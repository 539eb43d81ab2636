"""``newsflow stream``: the batch pipeline's transforms as a streaming Beam job.

``PeriodicImpulse`` ticks every ``--poll-interval``; at each tick the feed list is read again and
every feed is polled by a stateful ``DoFn`` keyed by feed URL (``transforms/polling.py``:
validators, entries already emitted, expiry). New entries are timestamped at their poll and cut
into fixed windows of ``--window``; each window then runs the batch run's steps (validate,
fetch with per-host pacing, extract, clean, enrich, exact/near/translation copies, stories) and
is committed once: its files, then a manifest ``_runs/<stream id>-w<window start>.json``.

Dedup across windows: a window's pool holds its own articles, the articles of the previous
``--history-windows`` windows (carried forward as ``existing`` members, so the result does not
depend on the order a runner finishes windows in) and the output's committed articles published
within ``--history-days`` of the window's articles (the batch run's ``ReadRecentArticles``),
never the whole history.

Run it:

    newsflow stream --feeds feeds.opml --output ./news --poll-interval 60s --window 5m \\
        --max-polls 20                       # bounded, in-process (bundle-based) runner
    newsflow stream ... --runner PrismRunner                 # unbounded, local (downloads Prism)
    newsflow stream ... --runner DataflowRunner --project P --region R \\
        --temp_location gs://B/tmp --setup_file ./setup.py   # unbounded, on Dataflow

Locally (the default, Beam's bundle-based runner) a bounded stream's poll ticks come from
``transforms/ticks.py`` (a known schedule paced to the wall clock) and each window commits
while the stream runs; on the ``FnApiRunner`` windows are only processed and committed when
the last poll is done (DESIGN.md §8): see the README's "Streaming" section.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import window as beam_window
from apache_beam.utils.timestamp import Timestamp

from pipelines.batch import (
    UsageError,
    clean_and_enrich,
    deduplicate,
    extract_pages,
    page_state_row,
    reject_state_row,
    settle_run_options,
    unique_requests,
)
from pipelines.direct_fix import fix_bundle_based_runner
from pipelines.options import NewsflowOptions, with_default_runner
from pipelines.preload import preload_models
from transforms.commit import publish_files, recover
from transforms.dedup.history import HISTORY_COLUMNS
from transforms.feeds import RefuseUnusableEntries
from transforms.fetch import FetchPages
from transforms.ledger import (
    assign_revision,
    needs_reject_row,
)
from transforms.lock import RootLock
from transforms.polling import PollFeeds
from transforms.sinks import WriteDataset, join, read_manifest, window_run_id
from transforms.ticks import PollTicks

LOG = logging.getLogger(__name__)

#: Beam's in-process runners (``...DirectRunner`` also matches the bundle-based one).
BUNDLE_TIMER_RUNNERS = ("FnApiRunner", "DirectRunner", "SwitchingDirectRunner")

#: The local default: Beam's bundle-based runner, watermark-driven, fed paced poll ticks
#: (``transforms/ticks.py``), so each window commits while the stream runs.
LOCAL_STREAM_RUNNER = "BundleBasedDirectRunner"


def in_process(runner: str) -> bool:
    """Beam's in-process runners: bounded streams only."""
    return any(runner.endswith(name) for name in BUNDLE_TIMER_RUNNERS)


def paced(runner: str) -> bool:
    """The bundle-based runner: paced ticks instead of ``PeriodicImpulse``, which it refuses."""
    return runner.endswith(LOCAL_STREAM_RUNNER)


def per_bundle_timers(runner: str) -> bool:
    """Runners that fire event-time timers at the end of every bundle (DESIGN.md §8)."""
    return in_process(runner) and not paced(runner)


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int) -> float:
    """``"90"``, ``"90s"``, ``"5m"``, ``"2h"``, ``"7d"`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"not a duration: {text!r} (use e.g. 60s, 5m, 2h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class StreamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("newsflow stream")
        group.add_argument("--poll_interval", "--poll-interval", dest="poll_interval",
                           default="60s", help="time between two polls of the feeds (60s)")
        group.add_argument("--window", default="5m",
                           help="articles are committed once per window of this length (5m)")
        group.add_argument("--max_polls", "--max-polls", dest="max_polls", type=int,
                           default=None, help="stop after N polls (a bounded stream)")
        group.add_argument("--duration", default=None,
                           help="stop after this long, e.g. 2h (a bounded stream)")
        group.add_argument("--history_windows", "--history-windows", dest="history_windows",
                           type=int, default=3,
                           help="match a window's articles against those of the previous N "
                                "windows of this stream (3), besides --history-days")
        group.add_argument("--entry_ttl", "--entry-ttl", dest="entry_ttl", default="7d",
                           help="forget a feed entry not listed for this long (7d)")


# ---------------------------------------------------------------------------------------------
# cross-window history


def carry_forward(record: dict, windows: int, window=beam.DoFn.WindowParam) -> Iterator:
    """An article's signatures, as an ``existing`` pool member of each of the next ``windows``
    windows (timestamped at their start, so each lands in exactly one of them)."""
    slim = {k: record.get(k) for k in HISTORY_COLUMNS}
    slim["existing"] = True
    start, size = window.start.micros, window.end.micros - window.start.micros
    for ahead in range(1, windows + 1):
        yield beam_window.TimestampedValue(slim, Timestamp(micros=start + size * ahead))


# ---------------------------------------------------------------------------------------------
# one commit per window


def commit_window(root: str, run_id: str, files: list[dict], manifest: dict[str, Any]) -> dict:
    """Commit one window's files through the batch run's commit protocol
    (``transforms/commit.py``: intent, moves, manifest ``_runs/<run_id>.json``); a repeated
    call (a retried bundle) finds the commit done and changes nothing."""
    return publish_files(root, run_id, files, manifest)


class CommitWindow(beam.DoFn):
    """A window's file infos (all datasets, gathered once the window is complete) -> the
    window's commit. Runs once per window; a retry of it is a no-op."""

    def __init__(self, root: str, run_id: str, manifest: dict[str, Any]):
        self.root, self.run_id, self.manifest = root, run_id, manifest

    def process(self, files: list[dict], counts: dict,
                window=beam.DoFn.WindowParam) -> Iterator[dict]:
        window_id = window_run_id(self.run_id, window)
        manifest = {
            **self.manifest, "stream_id": self.run_id,
            "window_start": _iso(window.start), "window_end": _iso(window.end),
            "counts": dict(sorted(counts.items())),
        }
        yield commit_window(self.root, window_id, files, manifest)


def _iso(when) -> str:
    return dt.datetime.fromtimestamp(when.micros / 1e6, dt.timezone.utc).isoformat()


def _first_revision(record: dict) -> dict:
    assign_revision(record, [])
    return record


def _stamp_window(record: dict, run_id: str, window=beam.DoFn.WindowParam) -> dict:
    return {**record, "run_id": window_run_id(run_id, window)}


# ---------------------------------------------------------------------------------------------
# the pipeline


def process_polls(ticks, opts: NewsflowOptions, stream: StreamOptions, run_id: str,
                  expire_idle: bool = True) -> dict[str, Any]:
    """Poll ticks (floats, timestamped at the poll, global window) -> windowed, committed
    datasets. Returns the main PCollections (for tests)."""
    window = beam_window.FixedWindows(parse_duration(stream.window))
    policy = opts.fetch_policy()
    polled = ticks | "PollFeeds" >> PollFeeds(opts.feeds, policy, opts.output,
                                              parse_duration(stream.entry_ttl), expire_idle,
                                              opts.feed_min_interval, opts.feed_max_interval)
    requests = polled["requests"] | "EntryWindows" >> beam.WindowInto(window)
    feed_rejects = polled["rejects"] | "FeedRejectWindows" >> beam.WindowInto(window)
    # each poll's feed state row is committed with the entries that poll emitted
    feed_state = polled["state"] | "FeedStateWindows" >> beam.WindowInto(window)
    unique, invalid = unique_requests([requests])
    fetchable = unique | "RefuseUnusable" >> beam.ParDo(
        RefuseUnusableEntries()).with_outputs(RefuseUnusableEntries.REJECTS, main="ok")
    fetched = fetchable.ok | "FetchPages" >> FetchPages(
        policy, stage="fetch", batch_size=opts.fetch_batch, max_threads=opts.fetch_threads)
    extracted, extract_rejects = extract_pages([fetched.pages])
    enriched, clean_rejects = clean_and_enrich([extracted], run_id)
    def history(signed):
        return (
            signed
            | "CarryForward" >> beam.FlatMap(carry_forward, stream.history_windows)
            | "CarriedWindows" >> beam.WindowInto(window)
        )

    dedup_rejects: list = []
    # each URL enters a stream once (``FirstPerUrl``) and only if no run handled it before:
    # its first revision in the ledger's terms
    enriched = enriched | "FirstRevision" >> beam.Map(_first_revision)
    final, clusters, _ = deduplicate(opts, run_id, enriched, dedup_rejects, history)
    rejects = (
        (feed_rejects, *invalid, fetchable.rejects, fetched.rejects, extract_rejects,
         *clean_rejects, *dedup_rejects)
        | "AllRejects" >> beam.Flatten()
    )
    counts = (
        (rejects | "RejectKey" >> beam.Map(lambda r: f"rejected/{r['stage']}/{r['reason']}"),
         fetched.not_modified | "PageNotModified" >> beam.Map(lambda r: "not_modified"))
        | "AllOutcomes" >> beam.Flatten()
        | "CountOutcomes" >> beam.combiners.Count.PerElement()
    )
    # what a batch run or a restarted stream must not fetch again (``transforms/state.py``),
    # and the feeds' validators, schedules and seen entries
    state_rows = (
        feed_state,
        final | "ArticleStateRows" >> beam.Map(
            page_state_row, run_id, "article"),
        rejects
        | "PermanentRejects" >> beam.Filter(needs_reject_row)
        | "RejectStateRows" >> beam.Map(
            reject_state_row, run_id),
    ) | "AllState" >> beam.Flatten()
    stamped = {name: pcoll | f"Stamp{name.title()}" >> beam.Map(_stamp_window, run_id)
               for name, pcoll in (("articles", final), ("rejects", rejects),
                                   ("clusters", clusters), ("state", state_rows))}
    files = [pcoll | f"Write{name.title()}" >> WriteDataset(opts.output, run_id, name)
             for name, pcoll in stamped.items()]
    manifest = {"started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "inputs": {"feeds": opts.feeds}, "output": opts.output}
    commits = (
        files
        | "AllFiles" >> beam.Flatten()
        | "GatherWindowFiles" >> beam.CombineGlobally(
            beam.combiners.ToListCombineFn()).without_defaults()
        | "CommitWindow" >> beam.ParDo(CommitWindow(opts.output, run_id, manifest),
                                       beam.pvalue.AsDict(counts))
    )
    return {"articles": stamped["articles"], "rejects": stamped["rejects"], "commits": commits}


def poll_schedule(stream: StreamOptions, now: float | None = None) -> tuple[float, float, float]:
    """``(first poll, stop, interval)`` for PeriodicImpulse (stop is exclusive)."""
    interval = parse_duration(stream.poll_interval)
    start = time.time() if now is None else now
    stop = float("inf")
    if stream.max_polls is not None:
        if stream.max_polls < 1:
            raise UsageError("--max-polls must be at least 1")
        stop = start + (stream.max_polls - 1) * interval + interval / 2
    if stream.duration:
        stop = min(stop, start + parse_duration(stream.duration))
    return start, stop, interval


def make_options(argv: list[str]) -> tuple[PipelineOptions, NewsflowOptions, StreamOptions]:
    options = PipelineOptions(argv)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = LOCAL_STREAM_RUNNER
    options = with_default_runner(options)
    options.view_as(StandardOptions).streaming = True
    opts = options.view_as(NewsflowOptions)
    stream = options.view_as(StreamOptions)
    if not opts.output:
        raise UsageError("--output ROOT is required (a local path, gs://... or s3://...)")
    if not opts.feeds:
        raise UsageError("newsflow stream polls feeds: --feeds FILE is required")
    if opts.urls or opts.warc or opts.jsonl:
        raise UsageError("newsflow stream reads --feeds only (use newsflow run for "
                         "--urls, --warc, --jsonl)")
    for value in (stream.poll_interval, stream.window, stream.entry_ttl):
        parse_duration(value)
    if stream.duration:
        parse_duration(stream.duration)
    runner = str(options.view_as(StandardOptions).runner or "")
    if in_process(runner) and stream.max_polls is None and not stream.duration:
        raise UsageError(f"the in-process runner ({runner}) runs bounded streams only: "
                         "give --max-polls N or --duration D, or use --runner PrismRunner / "
                         "DataflowRunner / FlinkRunner")
    if "://" not in opts.feeds:
        opts.feeds = os.path.abspath(opts.feeds)  # re-read at each poll, maybe by another process
    settle_run_options(opts)
    return options, opts, stream


def run(argv: list[str]) -> tuple[str, Any]:
    """Runs a stream (until its last poll when bounded); returns ``(stream id, result)``.

    Holds the output root's lock while the launcher waits (a batch run on the same root is
    refused meanwhile) and first finishes or rolls back what a killed run left."""
    options, opts, stream = make_options(argv)
    poll_schedule(stream)  # a usage error before the lock
    runner = str(options.view_as(StandardOptions).runner or "")
    expire_idle = not per_bundle_timers(runner)
    with RootLock(opts.output, opts.run_id, max_age=opts.lock_max_age):
        recover(opts.output)
        if in_process(runner):  # the launcher is the worker: memory flat from the first poll
            preload_models(opts)
        start, stop, interval = poll_schedule(stream)  # the first poll once the models are in
        if paced(runner):
            fix_bundle_based_runner()
        pipeline = beam.Pipeline(options=options)
        ticks = pipeline | "Polls" >> PollTicks(start, stop, interval, paced(runner))
        process_polls(ticks, opts, stream, opts.run_id, expire_idle=expire_idle)
        result = pipeline.run()
        result.wait_until_finish()
    return opts.run_id, result


def committed_windows(root: str, run_id: str) -> list[dict]:
    """Manifests of the windows a stream committed, oldest first."""
    from transforms.sinks import matching_files

    found = []
    for path in matching_files(join(root, "_runs", f"{run_id}-w*.json")):
        name = path.rsplit("/", 1)[-1][:-len(".json")]
        found.append(read_manifest(root, name))
    return sorted(found, key=lambda m: m["window_start"])
