"""Beam wiring of the fetcher: ``FetchPages`` keys requests by host, in batches.

A host's URLs are grouped and cut into batches of ``batch_size``; each batch is one element, so
the runner spreads hosts (and the batches of a very large host) over workers instead of a fixed
number of shards, and no bundle is pinned for hours by one big site. Inside a worker, batches run
in a thread pool (different hosts in parallel); each batch fetches its URLs one after the other,
and the process-wide ``HostPacer`` keeps two batches of one host from overlapping in one process.
Two worker *processes* holding batches of the same host do not coordinate (README, politeness).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from schemas import utcnow
from transforms.fetch.client import HttpClient
from transforms.fetch.policy import HTML_TYPES, FetchPolicy, FetchResult
from transforms.progress import Progress
from transforms.rejects import REJECTS, reject

#: Response headers kept on a fetched record (validators for the next run, polling hints).
KEPT_HEADERS = ("etag", "last-modified", "cache-control", "expires")


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_batches(element: tuple[str, Iterable[dict]], batch_size: int
                 ) -> Iterator[tuple[tuple[str, int], list[dict]]]:
    """``(host, requests)`` -> ``((host, index), batch)`` of at most ``batch_size`` requests,
    in a stable order (so a rerun cuts the same batches)."""
    host, requests = element
    ordered = sorted(requests, key=lambda r: r["url"])
    for index, start in enumerate(range(0, len(ordered), max(1, batch_size))):
        yield (host, index), ordered[start:start + batch_size]


class FetchHostsDoFn(beam.DoFn):
    """Fetches host batches: hosts in parallel threads (at most ``max_threads``), each host's
    batches and URLs one at a time.

    Input: ``((host, index), [request, ...])``. Each request is a dict with at least ``url``;
    the output is the request plus ``final_url``, ``status``, ``body``, ``content_type``,
    ``charset``, ``fetched_at``. Failures go to the ``rejects`` output with stage ``stage``.
    """

    REJECTS = REJECTS
    NOT_MODIFIED = "not_modified"

    def __init__(self, policy: FetchPolicy, stage: str = "fetch", accept=HTML_TYPES,
                 max_threads: int = 8):
        self.policy, self.stage, self.accept, self.max_threads = policy, stage, accept, max_threads
        self.fetched = Metrics.counter(stage, "fetched")
        self.not_modified = Metrics.counter(stage, "not_modified")
        self.retries = Metrics.counter(stage, "retries")
        self.bytes = Metrics.counter(stage, "bytes_read")

    def setup(self):
        self.client = HttpClient(self.policy)
        self.progress = Progress(self.stage)

    def teardown(self):
        self.client.close()

    def start_bundle(self):
        self._out: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._slots = threading.Semaphore(self.max_threads)
        self._lock = threading.Lock()  # guards ``_queues`` only
        #: host -> batches waiting for the thread that serves that host (present while it runs):
        #: a second batch of a busy host queues behind the first instead of taking a thread
        #: slot only to wait for the host's turn
        self._queues: dict[str, deque[list[dict]]] = {}
        self._running = 0

    def _host_worker(self, host: str) -> None:
        try:
            while True:
                with self._lock:
                    waiting = self._queues[host]
                    if not waiting:
                        del self._queues[host]
                        return
                    batch, where = waiting.popleft()
                for request in batch:
                    try:
                        result = self.client.fetch(request["url"], accept=self.accept,
                                                   headers=request.get("request_headers"))
                    except Exception as exc:  # noqa: BLE001 - a bug must not lose the URL
                        result = FetchResult(url=request["url"], reason="fetch_error",
                                             detail=repr(exc))
                    self._out.put((request, result, where))
        finally:
            self._out.put(None)
            self._slots.release()

    def _drain(self, block: bool) -> Iterator:
        while True:
            try:
                item = self._out.get(block=block)
            except queue.Empty:
                return
            if item is None:
                self._running -= 1
                if block and self._running == 0:
                    return
                continue
            request, result, (timestamp, window) = item
            # results come out during later elements or at bundle end: each keeps the
            # timestamp and window of its own batch (a stream's windows must not mix)
            for out in self._emit(request, result):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(
                        out.tag, WindowedValue(out.value, timestamp, [window]))
                else:
                    yield WindowedValue(out, timestamp, [window])

    def process(self, element: tuple[Any, list[dict]], timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterator:
        _, requests = element
        requests = list(requests)
        if not requests:
            return
        host = host_of(requests[0]["url"])
        with self._lock:
            if host in self._queues:  # that host's thread takes this batch after its current one
                self._queues[host].append((requests, (timestamp, window)))
                queued = True
            else:
                queued = False
        if not queued:
            while not self._slots.acquire(timeout=0.05):
                yield from self._drain(block=False)  # results flow while the pool is full
            with self._lock:
                self._queues[host] = deque([(requests, (timestamp, window))])
            self._running += 1
            thread = threading.Thread(target=self._host_worker, args=(host,), daemon=True)
            thread.start()
            self._threads.append(thread)
        yield from self._drain(block=False)

    def finish_bundle(self):
        if self._running:
            yield from self._drain(block=True)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._running = 0

    def _emit(self, request: dict, result: FetchResult) -> Iterator:
        self.retries.inc(max(0, result.attempts - 1 - result.redirects))
        self.bytes.inc(result.bytes_read)
        self.progress.tick(result.ok)
        if not result.ok:
            yield reject(request, self.stage, result.reason or "fetch_error", result.detail)
            return
        if result.not_modified:
            self.not_modified.inc()
            yield beam.pvalue.TaggedOutput(self.NOT_MODIFIED, {
                **request, "status": 304, "fetched_at": utcnow(),
                "response_headers": {k: v for k, v in result.headers.items()
                                     if k in KEPT_HEADERS}})
            return
        self.fetched.inc()
        yield {
            **request,
            "final_url": result.final_url,
            "status": result.status,
            "body": result.body,
            "content_type": result.content_type,
            "charset": result.charset,
            "response_headers": {k: v for k, v in result.headers.items() if k in KEPT_HEADERS},
            "fetched_at": utcnow(),
        }


class FetchPages(beam.PTransform):
    """``requests`` (dicts with ``url``, optional ``request_headers`` for conditional GET) ->
    fetched responses (``pages``), plus ``rejects`` and ``not_modified`` (304) outputs.

    Requests are grouped by host and cut into batches of ``batch_size`` URLs; a batch is fetched
    one URL at a time with ``policy.host_delay`` (or Crawl-delay) between requests, while other
    hosts proceed in parallel (threads inside a worker, batches across workers).
    """

    def __init__(self, policy: FetchPolicy, stage: str = "fetch", accept=HTML_TYPES,
                 batch_size: int = 100, max_threads: int = 8):
        super().__init__()
        self.policy, self.stage, self.accept = policy, stage, accept
        self.batch_size, self.max_threads = batch_size, max_threads

    def expand(self, requests):
        batch_size = self.batch_size
        return (
            requests
            | "KeyByHost" >> beam.Map(lambda r: (host_of(r["url"]), r))
            | "GroupHosts" >> beam.GroupByKey()
            | "HostBatches" >> beam.FlatMap(host_batches, batch_size)
            | "SpreadBatches" >> beam.Reshuffle()
            | "Fetch" >> beam.ParDo(
                FetchHostsDoFn(self.policy, self.stage, self.accept, self.max_threads)
            ).with_outputs(FetchHostsDoFn.REJECTS, FetchHostsDoFn.NOT_MODIFIED, main="pages")
        )
