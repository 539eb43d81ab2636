"""The scheduled batch run: feeds, page URLs, WARC and JSONL in; partitioned Parquet out.

    newsflow run --feeds feeds.opml --output ./out                 # local, in-process runner
    newsflow run --urls urls.txt --output gs://bucket/news \\
        --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp \\
        --setup_file ./setup.py                                    # the same code on Dataflow

Flow (DESIGN.md §1): FetchFeeds -> ParseFeeds -> (dedupe input URLs) -> FetchPages -> Extract ->
Clean -> Enrich -> MarkDuplicates -> MarkCopyContent -> Write; every stage's failures are reject
rows, merged into the ``rejects`` dataset, so each input URL ends up exactly once in ``articles``
or ``rejects``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import (
    NewsflowOptions,
    processes_per_machine,
    record_processes,
    use_cores,
    with_default_runner,
)
from pipelines.preload import preload_models, warm_up_enrichment
from pipelines.record_pool import EachRecord, RecordSteps, RunSteps, on_pool, record_pool
from transforms.clean import CleanArticles
from transforms.commit import RecordRunFiles, commit_run, recover, use_pipeline_options
from transforms.copy_flags import MarkCopyContent
from transforms.dedup import (
    AddSignatures,
    AddStoryNames,
    Clusters,
    EmbedHistoryCandidates,
    EmbedSegments,
    MarkDuplicates,
    NearConfig,
    NearDuplicateEdges,
    ReadRecentArticles,
    SegmentCandidates,
    TranslationConfig,
    TranslationEdges,
)
from transforms.discovery import DiscoverSiteList
from transforms.embedding import embedder_languages, embedder_margin_floors
from transforms.enrich import EnrichArticles, canonical_url, enrich_step
from transforms.extract import ExtractArticles
from transforms.feeds import ParseFeeds, RefuseUnusableEntries, load_feed_list, load_url_list
from transforms.fetch import FEED_TYPES, HTML_TYPES, TEXT_TYPES, FetchPages, FetchPolicy
from transforms.guard import ALLOWED_SCHEMES
from transforms.input_lists import ReadFeedList, ReadUrlList
from transforms.jsonl import ReadJsonl
from transforms.ledger import (
    SAME_AS,
    AssignRevisions,
    DropRepeatedRejects,
    LatestHistory,
    ledger_key,
    needs_reject_row,
    not_a_copy_of_itself,
    reject_key,
    reject_kind,
    replay_entries,
)
from transforms.lock import LockHeld, RootLock
from transforms.offload import Offload
from transforms.rejects import REJECTS, guarded, reject
from transforms.schedule import failed_feed_row, not_modified_feed_row, parsed_feed_row
from transforms.sinks import WriteDataset
from transforms.sitemaps import ReadSitemapList, parse_since
from transforms.sources import ReadWarc
from transforms.state import AttachState, ReadState, state_row, validators


def new_run_id() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class UsageError(ValueError):
    """Bad command-line input (missing output, unreadable list...): exit status 2."""


# ---------------------------------------------------------------------------------------------
# small DoFns


def _request_key(request: dict) -> tuple[str, dict]:
    return (canonical_url(request["url"]) or request["url"], request)


class PickFirstRequest(beam.DoFn):
    """One request per distinct normalised URL.

    The same spelling listed twice (two feeds, a feed and the URL list) is fetched once and
    counted ``repeated_urls``; another spelling of it (tracking parameters, ``http`` vs
    ``https`` of the same normalised URL...) becomes a reject row ``input/same_as`` naming
    the URL that was kept."""

    REJECTS = REJECTS

    def __init__(self):
        self.repeated = Metrics.counter("input", "repeated_urls")

    @guarded("input")
    def process(self, element: tuple[str, Any]) -> Iterator:
        _, requests = element
        requests = sorted(requests, key=lambda r: (r.get("feed_url") or "", r["url"]))
        kept = requests[0]
        spellings = {kept["url"]}
        for other in requests[1:]:
            if other["url"] in spellings:
                self.repeated.inc()
                continue
            spellings.add(other["url"])
            yield reject(other, "input", SAME_AS, f"same page as {kept['url']} (kept)")
        yield kept


class ValidateRequest(beam.DoFn):
    REJECTS = REJECTS

    @guarded("input")
    def process(self, request: dict) -> Iterator:
        url = request["url"]
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ALLOWED_SCHEMES:
            yield reject(request, "input", "bad_scheme",
                         f"only http/https URLs are fetched: {url!r}")
        elif canonical_url(url) is None:
            yield reject(request, "input", "invalid_url", f"cannot parse URL {url!r}")
        else:
            yield request


def _kept(previous: dict | None) -> dict:
    """Validators of a 304 response are the ones we sent; what we knew stays known."""
    previous = previous or {}
    return {key: previous.get(key)
            for key in ("etag", "last_modified", "content_hash", "revision", "reason")}


def _stamp(run_id: str):
    def stamp(reject: dict) -> dict:
        reject["run_id"] = run_id
        return reject
    return stamp


# ---------------------------------------------------------------------------------------------
# the pipeline


def page_state_row(record: dict, run_id: str, outcome: str) -> dict:
    """The ``_state`` row of a page that became an article (or came back unchanged): what the
    next run (or a restarted stream) needs to send a conditional request and skip it."""
    return state_row(record["url"], "page", outcome, run_id, key=ledger_key(record),
                     content_hash=record["content_hash"], revision=record["revision"],
                     entry_id=record.get("entry_id"), entry_updated=record.get("entry_updated"),
                     **validators(record.get("response_headers")))


def reject_state_row(reject: dict, run_id: str) -> dict:
    """The ``_state`` row of a permanent reject, so a later run does not repeat it."""
    return state_row(reject["url"], reject_kind(reject), "reject", run_id,
                     key=reject_key(reject), reason=f"{reject['stage']}/{reject['reason']}")


def build_pipeline(p: beam.Pipeline, opts: NewsflowOptions, run_id: str) -> dict[str, Any]:
    """Adds the batch flow to ``p``; returns its main PCollections (for tests and reuse)."""
    policy: FetchPolicy = opts.fetch_policy()
    rejects = []
    requests = []
    outcomes = []  # (count key) per input that is neither an article nor a reject
    state_rows = []  # what the next run needs (validators, handled URLs)
    page_state = p | "ReadPageState" >> ReadState(opts.output, "page")
    ledger_state = [page_state]
    site_feeds, site_sitemaps = [], []
    if opts.sites:
        found = p | "Sites" >> DiscoverSiteList(load_url_list(opts.sites), opts.output, policy,
                                                run_id, opts.site_max_links)
        rejects.append(found.rejects)
        requests.append(found.pages)
        state_rows.append(found.state)
        site_feeds.append(found.feeds)
        site_sitemaps.append(found.sitemaps)
    if opts.feeds or site_feeds:
        listed_feeds = []
        if opts.feeds:
            load_feed_list(opts.feeds)  # a broken feed list is a usage error, before any work
            listed_feeds = [p | "FeedList" >> ReadFeedList(opts.feeds)]  # read by a worker
        feed_state = p | "ReadFeedState" >> ReadState(opts.output, "feed")
        ledger_state.append(feed_state)
        unique_feeds = (
            [*listed_feeds, *site_feeds]
            | "AllFeeds" >> beam.Flatten()
            | "KeyFeeds" >> beam.Map(_request_key)
            | "GroupFeeds" >> beam.GroupByKey()
            | "OneFeedPerUrl" >> beam.ParDo(PickFirstRequest()).with_outputs(
                PickFirstRequest.REJECTS, main="requests")
        )
        rejects.append(unique_feeds.rejects)
        feed_requests = (
            unique_feeds.requests
            | "FeedState" >> AttachState(feed_state, "feed")
        )
        feeds = feed_requests.requests | "FetchFeeds" >> FetchPages(
            policy, stage="feed", accept=FEED_TYPES + HTML_TYPES + TEXT_TYPES,
            batch_size=opts.fetch_batch, max_threads=opts.fetch_threads)
        entries = feeds.pages | "ParseFeeds" >> beam.ParDo(ParseFeeds()).with_outputs(
            ParseFeeds.REJECTS, ParseFeeds.FEEDS, main="requests")
        rejects += [feeds.rejects, entries.rejects]
        # a 304 feed's entries are those of its last 200: checked again like new ones, so an
        # entry that failed transiently is retried although the feed did not change
        replayed = feeds.not_modified | "ReplayEntries" >> beam.FlatMap(replay_entries)
        requests += [entries.requests, replayed]
        floor, ceiling = opts.feed_min_interval, opts.feed_max_interval
        state_rows += [
            entries.feeds | "FeedStateRows" >> beam.Map(
                lambda f: {**parsed_feed_row(f, run_id, floor, ceiling),
                           "entries": f.get("entry_list")}),
            feeds.not_modified | "FeedStateKept" >> beam.Map(
                lambda r: {**not_modified_feed_row(r, run_id, floor, ceiling),
                           "entries": (r.get("previous") or {}).get("entries")}),
            feeds.rejects
            | "FailedFeeds" >> beam.Filter(lambda r: r.get("source_kind") == "feed_list")
            | "FeedFailureRows" >> beam.Map(failed_feed_row, run_id),
        ]
        outcomes += [
            feeds.not_modified | "FeedNotModified" >> beam.Map(lambda r: "feed_not_modified"),
            feed_requests.skipped | "FeedsNotPolled" >> beam.Map(lambda r: r["skip_reason"]),
        ]
    if opts.sitemaps or site_sitemaps:
        listed = load_url_list(opts.sitemaps) if opts.sitemaps else []
        sitemaps = (
            [p | "SitemapList" >> beam.Create([{"url": u, "source_kind": "sitemap_list"}
                                               for u in listed]), *site_sitemaps]
            | "AllSitemaps" >> beam.Flatten()
            | "ReadSitemaps" >> ReadSitemapList(opts.output, policy, run_id,
                                                parse_since(opts.since), opts.sitemap_max_urls,
                                                opts.sitemap_depth)
        )
        requests.append(sitemaps.requests)
        rejects.append(sitemaps.rejects)
        state_rows.append(sitemaps.state)
        outcomes.append(sitemaps.outcomes)
    if opts.urls:
        if not FileSystems.exists(opts.urls):
            raise UsageError(f"{opts.urls}: cannot read: no such file")
        listed = p | "UrlList" >> ReadUrlList(opts.urls)  # read by workers, line by line
        requests.append(listed.requests)
        rejects.append(listed.rejects)

    pages = []
    if requests:
        checked = (
            requests
            | "AllRequests" >> beam.Flatten()
            | "ValidateUrls" >> beam.ParDo(ValidateRequest()).with_outputs(
                ValidateRequest.REJECTS, main="ok")
        )
        rejects.append(checked.rejects)
        unique = (
            checked.ok
            | "KeyByUrl" >> beam.Map(_request_key)
            | "GroupByUrl" >> beam.GroupByKey()
            | "OnePerUrl" >> beam.ParDo(PickFirstRequest()).with_outputs(
                PickFirstRequest.REJECTS, main="requests")
        )
        rejects.append(unique.rejects)
        unique = unique.requests | "PageState" >> AttachState(page_state, "page")
        fetchable = unique.requests | "RefuseUnusable" >> beam.ParDo(
            RefuseUnusableEntries()).with_outputs(RefuseUnusableEntries.REJECTS, main="ok")
        rejects.append(fetchable.rejects)
        fetched = fetchable.ok | "FetchPages" >> FetchPages(
            policy, stage="fetch", batch_size=opts.fetch_batch, max_threads=opts.fetch_threads)
        pages.append(fetched.pages)
        rejects.append(fetched.rejects)
        outcomes += [
            unique.skipped | "SkippedSeen" >> beam.Map(lambda r: "skipped_seen"),
            fetched.not_modified | "PageNotModified" >> beam.Map(lambda r: "not_modified"),
        ]
        state_rows.append(fetched.not_modified | "PageStateKept" >> beam.Map(
            lambda r: state_row(r["url"], "page", "not_modified", run_id,
                                entry_id=r.get("entry_id"), entry_updated=r.get("entry_updated"),
                                **_kept(r.get("previous")))))
    if opts.warc:
        warc = p | "ReadWarc" >> ReadWarc(opts.warc, policy.max_bytes)
        pages.append(warc.pages)
        rejects.append(warc.rejects)

    if not (pages or opts.jsonl):
        raise UsageError("no input: give at least one of --feeds, --urls, --sitemaps, --sites, "
                         "--warc, --jsonl")
    pooled = record_processes(p.options)
    # on a pool, the launcher embeds each batch's headlines as the workers return it
    headlines = pooled > 1 and "translation" in opts.levels()
    if pooled >= 1:  # the in-process runner, with or without a pool
        enriched, steps = _steps_on_pool(
            p, opts, run_id, pages, rejects,
            translation_config(opts, processes_per_machine(p.options)) if headlines else None)
    else:
        enriched, steps = _steps_in_beam(p, opts, run_id, pages, rejects), []
    enriched = (
        enriched
        | "Ledger" >> AssignRevisions(page_state)
    )
    rejects.append(enriched.rejects)
    # the record pool's workers, idle after the per-record steps, take the day pools'
    # detectors and the Parquet files
    offload = on_pool if pooled > 1 else None
    final, clusters, edges = _deduplicate(p, opts, run_id, enriched.articles, rejects,
                                          processes_per_machine(p.options),
                                          signed=pooled >= 1, headlines_embedded=headlines,
                                          offload=offload)
    outcomes.append(enriched.unchanged | "Unchanged" >> beam.Map(lambda r: "unchanged"))

    checked_rejects = (
        rejects
        | "AllRejects" >> beam.Flatten()
        | "StampRejects" >> beam.Map(_stamp(run_id))
        | "RejectLedger" >> DropRepeatedRejects(ledger_state | "LedgerState" >> beam.Flatten())
    )
    all_rejects = checked_rejects.rejects
    outcomes.append(checked_rejects.repeated | "RejectedBefore" >> beam.Map(
        lambda r: "rejected_before"))
    page_kinds = ("feed", "url", "sitemap", "site")  # fetched over HTTP: validators worth keeping
    state_rows += [
        final | "ArticleStateRows" >> beam.Map(
            page_state_row, run_id, "article"),
        enriched.unchanged
        | "UnchangedPages" >> beam.Filter(lambda r: r.get("source_kind") in page_kinds)
        | "UnchangedStateRows" >> beam.Map(
            page_state_row, run_id, "unchanged"),
        all_rejects
        | "PermanentRejects" >> beam.Filter(needs_reject_row)
        | "RejectStateRows" >> beam.Map(
            reject_state_row, run_id),
    ]
    counts = (
        (all_rejects | "RejectKey" >> beam.Map(
            lambda r: f"rejected/{r['stage']}/{r['reason']}"),
         *outcomes)
        | "AllOutcomes" >> beam.Flatten()
        | "CountOutcomes" >> beam.combiners.Count.PerElement()
    )
    files = (
        final | "WriteArticles" >> WriteDataset(opts.output, run_id, "articles",
                                                offload=offload),
        all_rejects | "WriteRejects" >> WriteDataset(opts.output, run_id, "rejects",
                                                     offload=offload),
        state_rows | "AllState" >> beam.Flatten()
        | "WriteState" >> WriteDataset(opts.output, run_id, "state", offload=offload),
        clusters | "WriteClusters" >> WriteDataset(opts.output, run_id, "clusters",
                                                   offload=offload),
    ) | "AllFiles" >> beam.Flatten()
    listing = files | "RecordRunFiles" >> RecordRunFiles(opts.output, run_id, counts)
    return {"articles": final, "rejects": all_rejects, "files": listing, "edges": edges,
            "clusters": clusters, "record_steps": steps}


def _steps_in_beam(p, opts: NewsflowOptions, run_id: str, pages: list, rejects: list):
    """Extract, Clean and Enrich as Beam steps (Beam's workers share them out): the enriched
    articles; their rejects are appended to ``rejects``."""
    articles = []
    if pages:
        extracted = (
            pages
            | "AllPages" >> beam.Flatten()
            | "SpreadPages" >> beam.Reshuffle()  # one WARC file's pages over every worker
            | "Extract" >> beam.ParDo(ExtractArticles()).with_outputs(
                ExtractArticles.REJECTS, main="articles")
        )
        articles.append(extracted.articles)
        rejects.append(extracted.rejects)
    if opts.jsonl:
        jsonl = p | "ReadJsonl" >> ReadJsonl(opts.jsonl)
        articles.append(jsonl.articles | "SpreadRecords" >> beam.Reshuffle())
        rejects.append(jsonl.rejects)
    cleaned = (
        articles
        | "AllArticles" >> beam.Flatten()
        | "Clean" >> beam.ParDo(CleanArticles()).with_outputs(CleanArticles.REJECTS,
                                                               main="articles")
    )
    rejects.append(cleaned.rejects)
    enriched = enrich_step(cleaned.articles, run_id)
    rejects.append(enriched.rejects)
    return enriched.articles


def _steps_on_pool(p, opts: NewsflowOptions, run_id: str, pages: list, rejects: list,
                   headlines: TranslationConfig | None = None):
    """The same steps fused, on the record pool (``pipelines/record_pool.py``): no shuffle of
    whole pages, the HTML dropped where it was extracted; the per-record parts of duplicate
    detection (MinHash signatures, story names) too; with ``headlines``, the cascade's
    headline embeddings, in the launcher, while the workers go on (ONNX Runtime's sessions
    do not survive a fork). Returns ``(articles, chains)``."""
    late = [EnrichArticles(run_id), AddSignatures(NearConfig(threshold=opts.near_threshold)),
            EachRecord(AddStoryNames())]
    embed = EmbedSegments(headlines) if headlines is not None else None
    chains, articles = [], []
    if pages:
        chain = RecordSteps(f"pages-{run_id}", [ExtractArticles(), CleanArticles()], late,
                            embed)
        done = (pages
                | "AllPages" >> beam.Flatten()
                | "ExtractCleanEnrich" >> beam.ParDo(RunSteps(chain)).with_outputs(
                    REJECTS, main="articles"))
        chains.append(chain)
        articles.append(done.articles)
        rejects.append(done.rejects)
    if opts.jsonl:
        jsonl = p | "ReadJsonl" >> ReadJsonl(opts.jsonl)
        chain = RecordSteps(f"records-{run_id}", [CleanArticles()], late, embed)
        done = jsonl.articles | "CleanEnrich" >> beam.ParDo(RunSteps(chain)).with_outputs(
            REJECTS, main="articles")
        chains.append(chain)
        articles.append(done.articles)
        rejects += [jsonl.rejects, done.rejects]
    return articles | "AllArticles" >> beam.Flatten(), chains


def translation_config(opts: NewsflowOptions, processes: int = 1) -> TranslationConfig:
    """The translation level's settings of a run whose SDK processes share a machine's cores
    ``processes`` at a time."""
    floor, thin_floor = embedder_margin_floors(opts.embedder)
    return TranslationConfig(segments=opts.translation_segments,
                             segment_margin=opts.translation_margin,
                             story_threshold=opts.story_threshold, embedder=opts.embedder,
                             margin_floor=floor, thin_margin_floor=thin_floor,
                             processes_per_machine=processes)


def _deduplicate(p, opts: NewsflowOptions, run_id: str, articles, rejects: list,
                 processes: int = 1, extra_history=None, signed: bool = False,
                 headlines_embedded: bool = False, offload: Offload | None = None):
    """Signatures, then exact / near / translation edges against this run and recent history,
    then copy groups, stories and the clusters rows, and the group-dependent content columns
    (a group's canonical member may be a history row). Records whose signature fails are
    appended to ``rejects``. With ``signed``, the articles carry their signatures and story
    names already (the record steps'), with ``headlines_embedded`` their headline vectors
    too (the record pool's launcher step). ``offload`` (``record_pool.on_pool``) takes the
    translation detectors' day pools."""
    levels = opts.levels()
    near_config = NearConfig(threshold=opts.near_threshold)
    config = translation_config(opts, processes)
    if signed:
        signed = articles
    else:
        signed = (
            articles
            | "BatchForMinHash" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
            | "MinHash" >> beam.ParDo(AddSignatures(near_config)).with_outputs(REJECTS,
                                                                               main="articles")
        )
        rejects.append(signed.rejects)
        named = signed.articles | "StoryNames" >> beam.ParDo(AddStoryNames()).with_outputs(
            REJECTS, main="articles")
        rejects.append(named.rejects)
        signed = named.articles
    history = (articles
               | "RecentArticles" >> ReadRecentArticles(opts.output, opts.history_days,
                                                        config.embedder)
               | "LatestHistory" >> LatestHistory(signed))
    if extra_history is not None or not opts.cascade:
        # a stream: articles carried from earlier windows were embedded in their own window,
        # so the cascade's candidate test cannot see them: every article is a candidate
        # (as with --no_cascade)
        config = dataclasses.replace(config, cascade=False)
    if "translation" in levels:
        # the cascade: every headline embedded, the other segments only for candidates
        if headlines_embedded:
            headlined = signed
        else:
            headlines = (
                signed
                | "BatchForHeadlines" >> beam.BatchElements(
                    min_batch_size=128, max_batch_size=512, target_batch_duration_secs=10)
                | "EmbedHeadlines" >> beam.ParDo(EmbedSegments(config)).with_outputs(
                    REJECTS, main="articles")
            )
            rejects.append(headlines.rejects)
            headlined = headlines.articles
        candidates = (
            (headlined, history) | "HeadlinesAndRecent" >> beam.Flatten()
            | "SegmentCandidates" >> SegmentCandidates(config, offload)
            | "CandidateKeys" >> beam.Map(lambda article_id: (article_id, True))
        )
        embedded = (
            headlined
            | "BatchForSegments" >> beam.BatchElements(
                min_batch_size=128, max_batch_size=512, target_batch_duration_secs=10)
            | "EmbedCandidates" >> beam.ParDo(EmbedSegments(config, rest=True),
                                              beam.pvalue.AsDict(candidates)).with_outputs(
                REJECTS, main="articles")
        )
        rejects.append(embedded.rejects)
        signed = embedded.articles
        # earlier articles stored with their headline only that are candidates now
        history = history | "EmbedHistoryCandidates" >> EmbedHistoryCandidates(
            candidates, config)
    # a stream adds the articles of its last windows (``extra_history(signed)``) to the pool
    extra_pool = [extra_history(signed)] if extra_history is not None else []
    pool = (signed, history, *extra_pool) | "NewAndRecent" >> beam.Flatten()
    extra, stories = [], []
    if "near" in levels:
        extra.append(pool | "NearEdges" >> NearDuplicateEdges(near_config))
    if "translation" in levels:
        translated = pool | "TranslationEdges" >> TranslationEdges(
            config, embedder_languages(opts.embedder), offload)
        extra.append(translated.translations)
        stories.append(translated.stories)
    final = (signed
             | "Dedup" >> MarkDuplicates(pool=pool, extra_edges=extra, story_edges=stories)
             | "NotACopyOfItself" >> beam.Map(not_a_copy_of_itself))
    clusters = final | "Clusters" >> Clusters(run_id)
    edges = (extra or [articles.pipeline | "NoEdges" >> beam.Create([])]) | "DetectorEdges" >> (
        beam.Flatten())
    final = final | "CopyContent" >> MarkCopyContent(earlier=[history, *extra_pool])
    return final, clusters, edges


#: A line of a feed or URL list stands for about this many bytes of pages to fetch and extract.
LISTED_BYTES_PER_BYTE = 1000


def input_bytes(opts: NewsflowOptions) -> int:
    """How much work the run's inputs hold, roughly (bytes of WARC/JSONL, lists scaled up)."""
    from apache_beam.io.filesystems import FileSystems

    def size(pattern: str | None) -> int:
        if not pattern:
            return 0
        try:
            return sum(m.size_in_bytes for r in FileSystems.match([pattern])
                       for m in r.metadata_list)
        except Exception:  # noqa: BLE001 - unreadable inputs are reported by the pipeline
            return 0

    return (size(opts.warc) + size(opts.jsonl)
            + LISTED_BYTES_PER_BYTE * (size(opts.feeds) + size(opts.urls)))


def _require_matches(option: str, pattern: str | None) -> None:
    """A glob that names no file is a typo or a missing mount, not an empty run: say so."""
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    if not pattern:
        return
    try:
        found = any(result.metadata_list for result in FileSystems.match([pattern]))
    except (BeamIOError, ValueError) as exc:
        raise UsageError(f"--{option} {pattern!r}: cannot list: {exc}") from None
    if not found:
        raise UsageError(f"--{option} {pattern!r} matches no file")


# ---------------------------------------------------------------------------------------------
# steps shared with the streaming pipeline (``pipelines/streaming.py``), in any windowing


def unique_requests(requests: list) -> tuple[Any, list]:
    """Page requests -> (one valid request per distinct URL, [rejects])."""
    checked = (
        requests
        | "AllRequests" >> beam.Flatten()
        | "ValidateUrls" >> beam.ParDo(ValidateRequest()).with_outputs(
            ValidateRequest.REJECTS, main="ok")
    )
    unique = (
        checked.ok
        | "KeyByUrl" >> beam.Map(_request_key)
        | "GroupByUrl" >> beam.GroupByKey()
        | "OnePerUrl" >> beam.ParDo(PickFirstRequest()).with_outputs(REJECTS, main="ok")
    )
    return unique.ok, [checked.rejects, unique.rejects]


def extract_pages(pages: list) -> tuple[Any, Any]:
    """Fetched pages -> (extracted articles, rejects)."""
    extracted = (
        pages
        | "AllPages" >> beam.Flatten()
        | "Extract" >> beam.ParDo(ExtractArticles()).with_outputs(
            ExtractArticles.REJECTS, main="articles")
    )
    return extracted.articles, extracted.rejects


def clean_and_enrich(articles: list, run_id: str) -> tuple[Any, list]:
    """Articles -> (enriched articles, [rejects])."""
    cleaned = (
        articles
        | "AllArticles" >> beam.Flatten()
        | "Clean" >> beam.ParDo(CleanArticles()).with_outputs(CleanArticles.REJECTS,
                                                               main="articles")
    )
    enriched = enrich_step(cleaned.articles, run_id)
    return enriched.articles, [cleaned.rejects, enriched.rejects]


def deduplicate(opts: NewsflowOptions, run_id: str, articles, rejects: list, extra_history):
    """The batch run's duplicate detection plus ``extra_history(signed)`` in the pool; then the
    group-dependent content columns. Returns ``(articles, clusters, edges)``."""
    return _deduplicate(articles.pipeline, opts, run_id, articles, rejects, 1, extra_history)


def make_options(argv: list[str]) -> tuple[PipelineOptions, NewsflowOptions]:
    options = PipelineOptions(argv)
    use_pipeline_options(options)  # the launcher's own s3:// / gs:// I/O (lock, commit)
    opts = options.view_as(NewsflowOptions)
    use_cores(options, argv, input_bytes(opts))
    with_default_runner(options)
    if not opts.output:
        raise UsageError("--output ROOT is required (a local path, gs://... or s3://...)")
    if not (opts.feeds or opts.urls or opts.warc or opts.jsonl or opts.sitemaps or opts.sites):
        raise UsageError("no input: give at least one of --feeds, --urls, --sitemaps, --sites, "
                         "--warc, --jsonl")
    try:
        parse_since(opts.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for option in ("warc", "jsonl"):
        _require_matches(option, getattr(opts, option))
    settle_run_options(opts)
    return options, opts


def settle_run_options(opts: NewsflowOptions) -> None:
    """What a batch run and a stream both fix before building: an absolute local output (workers
    may run in other processes), a run id, and dedup levels checked (a usage error, exit 2)."""
    if "://" not in opts.output:
        opts.output = os.path.abspath(opts.output)
    if not opts.run_id:
        opts.run_id = new_run_id()
    try:
        opts.levels()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_manifest(opts: NewsflowOptions, started_at: str) -> dict[str, Any]:
    """What the manifest says about the run besides its files and counts."""
    return {"started_at": started_at,
            "inputs": {k: getattr(opts, k) for k in ("feeds", "urls", "sitemaps", "sites", "warc",
                                                      "jsonl")},
            "output": opts.output}


#: Adds steps to the outputs of ``build_pipeline`` before the run (a benchmark captures edges).
Extend = Callable[[dict], None]


def run_pipeline(options: PipelineOptions, opts: NewsflowOptions,
                 extend: Extend | None = None) -> Any:
    """Build and run the pipeline of ``opts.run_id`` (no lock, no commit); returns the result."""
    pipeline = beam.Pipeline(options=options)
    outputs = build_pipeline(pipeline, opts, opts.run_id)
    if extend is not None:
        extend(outputs)
    processes = record_processes(options)

    def load_models() -> None:  # on a launcher thread while the early pool extracts
        preload_models(opts, embedder=False)  # one copy for every worker of the full pool
        warm_up_enrichment()

    def load_embedder_here() -> None:  # after the last fork: ONNX Runtime does not survive one
        from transforms.embedding import load_embedder, threads_per_process

        config = translation_config(opts, processes_per_machine(options))
        load_embedder(config.embedder, threads_per_process(config.processes_per_machine))

    embedder = load_embedder_here if "translation" in opts.levels() else None
    with record_pool(processes, outputs["record_steps"], load_models, embedder):
        result = pipeline.run()
        result.wait_until_finish()
    return result


def run(argv: list[str], extend: Extend | None = None) -> tuple[str, Any]:
    """Runs a batch pipeline to completion and commits it; returns ``(run_id, PipelineResult)``.

    Holds the output root's lock throughout; first finishes or rolls back whatever a killed
    run left (``transforms/commit.py``); commits only when the pipeline is DONE."""
    from apache_beam.runners.runner import PipelineState

    options, opts = make_options(argv)
    started_at = dt.datetime.now(dt.timezone.utc).isoformat()
    with RootLock(opts.output, opts.run_id, max_age=opts.lock_max_age):
        recover(opts.output)
        result = run_pipeline(options, opts, extend)
        if result.state == PipelineState.DONE:
            commit_run(opts.output, opts.run_id, run_manifest(opts, started_at))
            _say_other_embedder(result, opts.embedder)
    return opts.run_id, result


def _say_other_embedder(result: Any, embedder: str) -> None:
    """Once per run: history rows whose vectors another embedder made were not compared."""
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.dedup.history import OTHER_EMBEDDER

    found = result.metrics().query(MetricsFilter().with_name(OTHER_EMBEDDER))["counters"]
    count = sum(c.committed or 0 for c in found)
    if count:
        logging.getLogger("newsflow").warning(
            "%d earlier articles carry vectors of another embedder than --embedder %s: "
            "matched as exact/near copies only, not as translations or stories", count,
            embedder)


__all__ = ["LockHeld", "UsageError", "build_pipeline", "make_options", "run", "run_pipeline"]
