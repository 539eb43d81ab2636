"""What the next run needs to know: HTTP validators and which URLs were already handled.

Each run appends one small Parquet file per kind to ``<root>/_state/kind=<feed|page>/``:
one row per feed or page URL it handled, with the ETag/Last-Modified it got, the text hash and
the outcome. The next run joins its requests with these rows by normalised URL (a
``CoGroupByKey``, so the state never has to fit in one worker) and
- sends ``If-None-Match`` / ``If-Modified-Since`` for every URL it has validators for, so an
  unchanged feed or page costs a 304 and is never re-processed;
- skips feed entries already handled by an earlier run (article, or a permanent reject),
  unless the entry's ``updated`` stamp changed;
- and ``transforms/ledger.py`` uses the same rows to number revisions, drop a record whose
  text hash did not change (``unchanged``) and not repeat a permanent reject, so re-running
  with the same inputs adds no rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas import utcnow
from transforms.commit import live_files
from transforms.enrich import canonical_url
from transforms.schedule import skip_reason
from transforms.sinks import ReadEarlierOutput, matching_files

#: Rejects worth retrying in a later run (the server or network may recover).
TRANSIENT_REASONS = frozenset({"timeout", "connection_error", "dns_error", "truncated",
                               "fetch_error", "tls_error", "too_many_requests",
                               "robots_unavailable"})


def url_key(url: str) -> str:
    return canonical_url(url) or url


def is_transient(reject: dict) -> bool:
    if reject["reason"] in TRANSIENT_REASONS:
        return True
    detail = reject.get("detail") or ""
    return reject["reason"] == "http_error" and ("HTTP 5" in detail or "HTTP 429" in detail)


def state_row(url: str, kind: str, outcome: str, run_id: str, *, etag=None,
              last_modified=None, content_hash=None, next_fetch_at=None,
              data=None, key: str | None = None,
              revision: int | None = None, reason: str | None = None,
              entry_id: str | None = None, entry_updated: str | None = None,
              entries: str | None = None) -> dict[str, Any]:
    return {"url_key": key or url_key(url), "url": url, "kind": kind, "etag": etag,
            "last_modified": last_modified, "content_hash": content_hash, "outcome": outcome,
            "run_id": run_id, "time": utcnow(), "next_fetch_at": next_fetch_at, "data": data,
            "revision": revision, "reason": reason, "entry_id": entry_id,
            "entry_updated": entry_updated, "entries": entries}


def latest_row(rows, *, with_hash: bool = False) -> dict | None:
    """The most recent state row (optionally: the most recent one that knows a text hash)."""
    rows = [r for r in rows if not with_hash or r.get("content_hash")]
    return max(rows, key=lambda r: (r["time"], r.get("run_id") or "")) if rows else None


def validators(headers: dict | None) -> dict[str, str | None]:
    headers = headers or {}
    return {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}


def entry_changed(request: dict, latest: dict | None) -> bool:
    """A feed entry whose ``updated`` stamp differs from the one recorded: fetch it again."""
    now, before = request.get("entry_updated"), (latest or {}).get("entry_updated")
    return bool(now and before and now != before)


def conditional_headers(row: dict | None) -> dict[str, str]:
    if not row:
        return {}
    headers = {}
    if row.get("etag"):
        headers["If-None-Match"] = row["etag"]
    if row.get("last_modified"):
        headers["If-Modified-Since"] = row["last_modified"]
    return headers


def state_pattern(root: str, kind: str) -> str:
    return f"{root.rstrip('/')}/_state/kind={kind}/*.parquet"


class ReadState(beam.PTransform):
    """Earlier runs' state rows of one kind (an empty collection on a first run)."""

    def __init__(self, root: str, kind: str):
        super().__init__()
        self.root, self.kind = root, kind

    def expand(self, pbegin):
        # not the small files a compaction replaced (kept a while for running queries)
        files = live_files(self.root, matching_files(state_pattern(self.root, self.kind)))
        return pbegin | "ReadStateFiles" >> ReadEarlierOutput(files)


def _skips_handled(request: dict, latest: dict) -> bool:
    """Entries of feeds, sitemaps and site pages are read once; a sitemap entry whose
    ``lastmod`` is later than the run that handled it is read again."""
    kind = request.get("source_kind")
    if kind == "sitemap":
        lastmod = request.get("lastmod")
        return lastmod is None or lastmod <= latest["time"]
    return kind in ("feed", "site")


class _Attach(beam.DoFn):
    SKIPPED = "skipped"

    def __init__(self, kind: str):
        self.kind = kind
        self.conditional = Metrics.counter(kind, "conditional_requests")
        self.skipped = Metrics.counter(kind, "skipped_seen")

    def process(self, element: tuple[str, dict]) -> Iterator:
        _, grouped = element
        requests = list(grouped["requests"])
        if not requests:
            return
        rows = sorted(grouped["state"], key=lambda r: r["time"])
        if self.kind == "feed":
            why = skip_reason(rows, utcnow())
            if why is not None:  # polled too recently, or backing off after failures
                Metrics.counter("feed", why).inc()
                for request in requests:
                    yield beam.pvalue.TaggedOutput(self.SKIPPED, {**request, "skip_reason": why})
                return
        latest = latest_row(rows)
        handled = latest is not None and latest.get("outcome") != "transient"
        for request in requests:
            if (self.kind == "page" and handled and _skips_handled(request, latest)
                    and not entry_changed(request, latest)):
                self.skipped.inc()
                yield beam.pvalue.TaggedOutput(self.SKIPPED, request)
                continue
            headers = conditional_headers(latest)
            if headers:
                self.conditional.inc()
                request = {**request, "request_headers": headers,
                           "previous": {"etag": latest.get("etag"),
                                        "last_modified": latest.get("last_modified"),
                                        "content_hash": latest.get("content_hash"),
                                        "data": latest.get("data"),
                                        "revision": latest.get("revision"),
                                        "reason": latest.get("reason"),
                                        "entries": latest.get("entries")}}
            elif latest is not None and latest.get("content_hash"):
                request = {**request, "previous": {"content_hash": latest["content_hash"]}}
            yield request


class AttachState(beam.PTransform):
    """Requests -> requests with conditional headers (``requests``) and, for pages, the feed
    entries an earlier run already handled (``skipped``); for feeds, the feeds not due yet or
    backing off (``skipped``, with ``skip_reason``)."""

    def __init__(self, state, kind: str):
        super().__init__()
        self.state, self.kind = state, kind

    def expand(self, requests):
        keyed = requests | "KeyRequests" >> beam.Map(lambda r: (url_key(r["url"]), r))
        state = self.state | "KeyState" >> beam.Map(lambda r: (r["url_key"], r))
        return (
            {"requests": keyed, "state": state}
            | "JoinState" >> beam.CoGroupByKey()
            | "Attach" >> beam.ParDo(_Attach(self.kind)).with_outputs(_Attach.SKIPPED,
                                                                       main="requests")
        )
