"""Feed polling for a stream: one stateful ``DoFn`` keyed by feed URL remembers, between polls,
the feed's validators (ETag/Last-Modified, for a conditional GET) and the entries it has already
emitted, so each entry enters the stream once.

What bounds the state: per feed, the validators plus one timestamp per entry the feed listed in
the last ``entry_ttl`` seconds. An entry is forgotten when the feed has not listed it for
``entry_ttl`` (pruned at the next poll), and all of a feed's state is cleared by an event-time
timer ``entry_ttl`` after its last poll (a feed removed from the list). ``entry_ttl`` must be
longer than an entry can stay off a feed and come back (default 7 days): such an entry would
enter the stream again.

A failed poll (network error, HTTP 5xx, malformed feed) is a reject row and changes no entry
state: the next poll asks again (with the last successful poll's validators) and emits every
entry not yet emitted, so nothing listed during a failure is lost.

Each feed also keeps its schedule (``transforms/schedule.py``, as between batch runs): after a
good poll the feed's own ``ttl`` / ``sy:updatePeriod`` and its server's ``Cache-Control`` /
``Expires`` give the earliest next poll (between ``--feed-min-interval`` and
``--feed-max-interval``; a feed that says nothing is polled at every tick); after two failed
polls in a row it waits ``backoff(failures)`` (30 min, doubling, at most a day). A tick before
that skips the feed (counters ``poll/feed_not_due``, ``poll/feed_backoff``), not an error.

Across restarts: every poll that changes a feed's state (a 200, a failure, a 304 that moves
its schedule) also yields a ``_state`` row (``kind=feed``, the batch run's feed row: validators,
``next_fetch_at``, outcome, the entry list of the last 200, plus the seen map in ``data``),
timestamped at the poll, so it is committed with the window whose entries it accounts for and
never ahead of them. A stream's first poll of a feed starts from the latest such row (its own
or a batch run's) if that is younger than ``entry_ttl``: conditional requests, the schedule and
backoff, and no entry emitted again that an earlier stream already emitted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.coders import PickleCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.commit import live_files
from transforms.feeds import FeedError, InputListError, load_feed_list, read_feed
from transforms.fetch import FEED_TYPES, HTML_TYPES, TEXT_TYPES, FetchPolicy, HttpClient
from transforms.ledger import entries_json
from transforms.rejects import REJECTS, reject
from transforms.schedule import (
    MAX_INTERVAL,
    MIN_INTERVAL,
    backoff,
    consecutive_failures,
    feed_hints,
    http_hints,
    poll_interval,
)
from transforms.sinks import matching_files
from transforms.state import (
    conditional_headers,
    latest_row,
    state_pattern,
    state_row,
    url_key,
    validators,
)

LOG = logging.getLogger(__name__)

DEFAULT_ENTRY_TTL = 7 * 24 * 3600.0


def entry_key(request: dict[str, Any]) -> str:
    """An entry's identity within its feed: its GUID, else its link."""
    return str(request.get("entry_id") or request["url"])


def select_new_entries(entries: Iterable[dict], seen: dict[str, float], now: float,
                       ttl: float) -> tuple[list[dict], dict[str, float]]:
    """Entries not emitted before, and the seen map after this poll.

    Every entry listed now gets ``now`` as its last-listed time; entries not listed for
    ``ttl`` seconds are dropped from the map (that is what keeps it bounded)."""
    fresh: list[dict] = []
    updated = {key: when for key, when in seen.items() if when > now - ttl}
    for entry in entries:
        key = entry_key(entry)
        if key not in updated and key not in {entry_key(e) for e in fresh}:
            fresh.append(entry)
        updated[key] = max(now, updated.get(key, now))
    return fresh, updated


def skip_reason(schedule: dict | None, now: float) -> str | None:
    """``feed_backoff`` / ``feed_not_due`` when the feed's schedule says not yet, else None."""
    due = (schedule or {}).get("due")
    if due is None or now >= due:
        return None
    return "feed_backoff" if schedule.get("failures", 0) >= 2 else "feed_not_due"


def after_failure(schedule: dict | None, now: float) -> dict:
    """The schedule after a failed poll: backoff from the second failure in a row on."""
    failures = (schedule or {}).get("failures", 0) + 1
    wait = backoff(failures)
    return {"failures": failures, "due": now + wait if wait else None,
            "interval": (schedule or {}).get("interval")}


def after_success(schedule: dict | None, now: float, hints: list[float],
                  floor: float = MIN_INTERVAL, ceiling: float = MAX_INTERVAL) -> dict:
    """The schedule after a good poll (200 or 304): the longest hint, kept between ``floor``
    and ``ceiling``; a 304 without cache headers keeps the interval the feed declared."""
    if not hints and (schedule or {}).get("interval") is not None:
        hints = [schedule["interval"]]
    interval = poll_interval(hints, floor, ceiling)
    return {"failures": 0, "due": None if interval is None else now + interval,
            "interval": interval}


def _utc(when: float | None) -> dt.datetime | None:
    return None if when is None else dt.datetime.fromtimestamp(when, dt.timezone.utc)


def feed_state_row(feed_url: str, outcome: str, tick: float, kept: dict | None,
                   schedule: dict, seen: dict[str, float], listing: str | None,
                   reason: str | None = None) -> dict:
    """The ``_state`` row (``kind=feed``) of a poll that changed the feed's state: the batch
    run's feed row (``transforms/schedule.py``), so a batch run after a stream, or a restarted
    stream, reads it; ``data`` adds the stream's seen map. ``run_id`` is the window's, set
    when the window is written."""
    data: dict[str, Any] = {"interval": schedule.get("interval"), "seen": seen}
    if reason:
        data["reason"] = reason
    failed = outcome == "failed"
    kept = {} if failed else (kept or {})  # a failed row has no validators (as in a batch run)
    row = state_row(feed_url, "feed", outcome, "", etag=kept.get("etag"),
                    last_modified=kept.get("last_modified"),
                    next_fetch_at=None if failed else _utc(schedule.get("due")),
                    data=json.dumps(data, sort_keys=True), entries=listing)
    row["time"] = _utc(tick)
    return row


def _data(row: dict) -> dict:
    try:
        data = json.loads(row.get("data") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def restored_feed_state(rows: list[dict], now: float, ttl: float) -> dict | None:
    """A feed's state at a stream's first poll of it, from its ``_state`` rows (a stream's or a
    batch run's): ``{"validators", "seen", "schedule", "listing"}``; None when there are no
    rows or the latest is older than ``ttl`` (the stream would have forgotten the feed)."""
    rows = sorted(rows, key=lambda r: (r["time"], r.get("run_id") or ""))
    if not rows or rows[-1]["time"].timestamp() <= now - ttl:
        return None
    latest = rows[-1]
    good = [r for r in rows if r.get("outcome") != "failed"]
    last_good = latest_row(good) if good else None
    failures = consecutive_failures(rows)
    interval = _data(last_good or latest).get("interval")
    if failures:
        wait = backoff(failures)
        due = latest["time"].timestamp() + wait if wait else None
    else:
        due = latest["next_fetch_at"].timestamp() if latest.get("next_fetch_at") else None
    schedule = {"failures": failures, "due": due,
                "interval": float(interval) if isinstance(interval, (int, float)) else None}
    seen: dict[str, float] = {}
    if last_good is not None:
        stored = _data(last_good).get("seen")
        if isinstance(stored, dict):  # a stream's row
            seen = {str(k): float(v) for k, v in stored.items()
                    if isinstance(v, (int, float)) and v > now - ttl}
        else:  # a batch run's row: the entries of its last 200, listed then
            try:
                listed = json.loads(last_good.get("entries") or "[]")
            except ValueError:
                listed = []
            when = last_good["time"].timestamp()
            seen = {entry_key(e): when for e in listed
                    if isinstance(e, dict) and e.get("url")}
    return {"validators": validators({"etag": (last_good or {}).get("etag"),
                                      "last-modified": (last_good or {}).get("last_modified")}),
            "seen": seen, "schedule": schedule,
            "listing": (last_good or {}).get("entries")}


def stored_feed_rows(root: str) -> dict[str, list[dict]]:
    """The output's committed ``_state`` rows of feeds, by URL key."""
    rows: dict[str, list[dict]] = {}
    columns = ["url_key", "outcome", "time", "run_id", "etag", "last_modified",
               "next_fetch_at", "data", "entries"]
    for path in live_files(root, matching_files(state_pattern(root, "feed"))):
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle, columns=columns)
        for row in table.to_pylist():
            rows.setdefault(row["url_key"], []).append(row)
    return rows


@lru_cache(maxsize=4)
def _feed_rows_at_start(root: str, token: str) -> dict[str, list[dict]]:
    """``stored_feed_rows`` read once per stream (``token``) and process; only the first poll
    of each feed reads it (what the stream changes after that is in its own state)."""
    return stored_feed_rows(root)


def feed_targets(tick: Any, feeds_path: str) -> Iterator[tuple[str, float]]:
    """A poll tick -> ``(feed_url, tick)`` per feed of the list, read again at every poll (edits
    take effect at the next poll; an unreadable list skips one poll and keeps all state)."""
    try:
        urls = sorted(set(load_feed_list(feeds_path)))
    except (InputListError, OSError) as exc:
        Metrics.counter("poll", "unreadable_feed_list").inc()
        LOG.error("poll skipped: %s", exc)
        return
    for url in urls:
        yield url, float(tick)


_VALIDATORS = ReadModifyWriteStateSpec("validators", PickleCoder())
_SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())  # entry key -> last time listed
_SCHEDULE = ReadModifyWriteStateSpec("schedule", PickleCoder())  # due, failures, interval
_LISTING = ReadModifyWriteStateSpec("listing", PickleCoder())  # entry list of the last 200
_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_VALIDATORS_STATE = beam.DoFn.StateParam(_VALIDATORS)
_SEEN_STATE = beam.DoFn.StateParam(_SEEN)
_SCHEDULE_STATE = beam.DoFn.StateParam(_SCHEDULE)
_LISTING_STATE = beam.DoFn.StateParam(_LISTING)
_EXPIRY_TIMER = beam.DoFn.TimerParam(_EXPIRY)


class PollFeed(beam.DoFn):
    """``(feed_url, tick)`` -> page requests for the feed's new entries (timestamped at the
    poll); failed polls -> ``rejects`` (stage ``feed``); polls that change the feed's state ->
    ``state`` (its ``_state`` row, committed with the poll's window).

    With ``root``, a feed's first poll in this stream starts from the output's committed feed
    state (``restored_feed_state``)."""

    REJECTS = REJECTS
    STATE = "state"

    def __init__(self, policy: FetchPolicy, entry_ttl: float = DEFAULT_ENTRY_TTL,
                 expire_idle: bool = True, floor: float = MIN_INTERVAL,
                 ceiling: float = MAX_INTERVAL, root: str | None = None):
        self.policy, self.entry_ttl, self.expire_idle = policy, entry_ttl, expire_idle
        self.floor, self.ceiling, self.root = floor, ceiling, root
        self.token = uuid.uuid4().hex  # one reading of ``_state`` per stream and process
        self.polls = Metrics.counter("poll", "polls")
        self.not_modified = Metrics.counter("poll", "not_modified")
        self.new_entries = Metrics.counter("poll", "new_entries")
        self.known_entries = Metrics.counter("poll", "known_entries")
        self.expired = Metrics.counter("poll", "expired_feeds")
        self.restored = Metrics.counter("poll", "restored_feeds")

    def setup(self):
        self.client = HttpClient(self.policy)

    def teardown(self):
        self.client.close()

    def _restore(self, feed_url: str, tick: float, stored_validators, stored_seen,
                 stored_listing) -> dict | None:
        """The feed's committed state, into this stream's state cells (first poll only)."""
        if not self.root:
            return None
        rows = _feed_rows_at_start(self.root, self.token).get(url_key(feed_url), [])
        restored = restored_feed_state(rows, tick, self.entry_ttl)
        if restored is None:
            return None
        self.restored.inc()
        stored_validators.write(restored["validators"])
        stored_seen.write(restored["seen"])
        stored_listing.write(restored["listing"])
        return restored["schedule"]

    def process(self, element: tuple[str, float],
                timestamp=beam.DoFn.TimestampParam,
                stored_validators=_VALIDATORS_STATE, stored_seen=_SEEN_STATE,
                stored_schedule=_SCHEDULE_STATE, stored_listing=_LISTING_STATE,
                expiry=_EXPIRY_TIMER) -> Iterator:
        feed_url, tick = element
        tick = float(tick)
        if self.expire_idle:  # still listed, even when not due: not idle
            expiry.set(Timestamp.of(timestamp) + Duration.of(self.entry_ttl))
        schedule = stored_schedule.read()
        if schedule is None:  # this stream's first poll of the feed (or it was forgotten)
            schedule = self._restore(feed_url, tick, stored_validators, stored_seen,
                                     stored_listing)
            if schedule is not None:
                stored_schedule.write(schedule)
        skipped = skip_reason(schedule, tick)
        if skipped:
            Metrics.counter("poll", skipped).inc()
            return
        self.polls.inc()
        source = {"url": feed_url, "source_kind": "feed_list", "feed_url": feed_url}
        previous = stored_validators.read()

        def failed(reason: str, detail: str | None) -> Iterator:
            after = after_failure(schedule, tick)
            stored_schedule.write(after)
            yield reject(source, "feed", reason, detail)
            yield beam.pvalue.TaggedOutput(self.STATE, feed_state_row(
                feed_url, "failed", tick, None, after, stored_seen.read() or {}, None, reason))

        try:
            result = self.client.fetch(feed_url, accept=FEED_TYPES + HTML_TYPES + TEXT_TYPES,
                                       headers=conditional_headers(previous))
        except Exception as exc:  # noqa: BLE001 - a client bug must not end the stream
            yield from failed("fetch_error", repr(exc))
            return
        if not result.ok:
            yield from failed(result.reason or "fetch_error", result.detail)
            return
        polled_at = dt.datetime.fromtimestamp(tick, dt.timezone.utc)
        cache_hints = http_hints(result.headers, polled_at)
        if result.not_modified:
            self.not_modified.inc()
            after = after_success(schedule, tick, cache_hints, self.floor, self.ceiling)
            stored_schedule.write(after)
            if after != schedule:  # e.g. a new due time, or the end of a failure streak
                yield beam.pvalue.TaggedOutput(self.STATE, feed_state_row(
                    feed_url, "not_modified", tick, previous, after,
                    stored_seen.read() or {}, stored_listing.read()))
            return
        try:
            parsed = read_feed(result.body or b"", result.final_url or feed_url,
                               result.content_type, result.charset)
        except FeedError as exc:
            yield from failed(exc.reason, exc.detail)
            return
        except Exception as exc:  # noqa: BLE001 - a parser bug must not end the stream
            yield from failed("parse_error", repr(exc))
            return
        after = after_success(
            None, tick,
            feed_hints(parsed.ttl, parsed.update_period, parsed.update_frequency) + cache_hints,
            self.floor, self.ceiling)
        stored_schedule.write(after)
        # entries without a usable link travel on as requests marked ``unusable`` and become
        # reject rows of their window (``RefuseUnusableEntries``), once, like any entry
        entries = parsed.requests + [
            {"url": bad["url"], "source_kind": "feed", "feed_url": feed_url,
             "unusable": {"reason": bad["reason"], "detail": bad["detail"]}}
            for bad in parsed.unusable]
        fresh, seen = select_new_entries(entries, stored_seen.read() or {}, tick,
                                         self.entry_ttl)
        kept = validators(result.headers)
        listing = entries_json(parsed.requests)
        stored_seen.write(seen)
        stored_validators.write(kept)
        stored_listing.write(listing)
        yield beam.pvalue.TaggedOutput(self.STATE, feed_state_row(
            feed_url, "fetched", tick, kept, after, seen, listing))
        self.new_entries.inc(len(fresh))
        self.known_entries.inc(len(entries) - len(fresh))
        for request in fresh:
            request["feed_url"] = feed_url
            yield request

    @on_timer(_EXPIRY)
    def expire(self, stored_validators=_VALIDATORS_STATE, stored_seen=_SEEN_STATE,
               stored_schedule=_SCHEDULE_STATE, stored_listing=_LISTING_STATE):
        """Not listed for ``entry_ttl``: the feed left the list; forget it."""
        self.expired.inc()
        stored_validators.clear()
        stored_seen.clear()
        stored_schedule.clear()
        stored_listing.clear()


_EMITTED = ReadModifyWriteStateSpec("emitted", PickleCoder())  # when the URL was emitted
_URL_EXPIRY = TimerSpec("url_expiry", TimeDomain.WATERMARK)
_EMITTED_STATE = beam.DoFn.StateParam(_EMITTED)
_URL_EXPIRY_TIMER = beam.DoFn.TimerParam(_URL_EXPIRY)


def handled_urls(root: str) -> set[str]:
    """URL keys whose latest outcome in the output's committed ``_state`` (batch runs and
    earlier streams) is final: an article or a permanent reject (transient ones are retried)."""
    latest: dict[str, tuple] = {}
    for path in matching_files(state_pattern(root, "page")):
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle, columns=["url_key", "outcome", "time"])
        for row in table.to_pylist():
            known = latest.get(row["url_key"])
            if known is None or row["time"] > known[0]:
                latest[row["url_key"]] = (row["time"], row["outcome"])
    return {key for key, (_, outcome) in latest.items() if outcome != "transient"}


@lru_cache(maxsize=4)
def _handled_at_start(root: str, token: str) -> frozenset[str]:
    """``handled_urls`` read once per stream (``token``) and process, also where a runner sets
    a DoFn up per bundle: what the stream commits itself is in its ``emitted`` state."""
    return frozenset(handled_urls(root))


class FirstPerUrl(beam.DoFn):
    """``(url_key, request)`` -> the request, the first time any feed lists that URL.

    Keyed by normalised URL, so two feeds listing one page emit it once, and a URL that a batch
    run or an earlier stream already handled (the output's ``_state``, read once per process)
    is not fetched again after a restart. The key's state (one timestamp) is cleared by a timer
    ``ttl`` after it was emitted (left out on the in-process runner, see ``PollFeeds``)."""

    def __init__(self, root: str, ttl: float = DEFAULT_ENTRY_TTL, expire: bool = True):
        self.root, self.ttl, self.expire = root, ttl, expire
        self.token = uuid.uuid4().hex  # one reading of ``_state`` per stream and process
        self.repeated = Metrics.counter("poll", "repeated_urls")
        self.skipped = Metrics.counter("poll", "skipped_seen")

    def setup(self):
        self.handled: set[str] | None = None

    def process(self, element: tuple[str, dict], timestamp=beam.DoFn.TimestampParam,
                emitted=_EMITTED_STATE, expiry=_URL_EXPIRY_TIMER) -> Iterator[dict]:
        key, request = element
        if emitted.read() is not None:
            self.repeated.inc()
            return
        if self.handled is None:
            self.handled = _handled_at_start(self.root, self.token)
        emitted.write(float(timestamp))
        if self.expire:
            expiry.set(Timestamp.of(timestamp) + Duration.of(self.ttl))
        if key in self.handled:
            self.skipped.inc()
            return
        yield request

    @on_timer(_URL_EXPIRY)
    def forget(self, emitted=_EMITTED_STATE):
        emitted.clear()


class PollFeeds(beam.PTransform):
    """Poll ticks -> ``{"requests": new entries of every listed feed, each URL once,
    "rejects": failed polls, "state": the feeds' ``_state`` rows}``; each feed starts from
    the output's committed feed state (a restarted stream polls conditionally).

    ``expire_idle=False`` leaves out the idle-feed timer: Beam's in-process runner fires
    event-time timers at the end of every bundle, whatever the watermark (DESIGN.md §8), which
    would forget every feed after each poll. Entry pruning by age still bounds the state there.
    """

    def __init__(self, feeds_path: str, policy: FetchPolicy, root: str,
                 entry_ttl: float = DEFAULT_ENTRY_TTL, expire_idle: bool = True,
                 floor: float = MIN_INTERVAL, ceiling: float = MAX_INTERVAL):
        super().__init__()
        self.feeds_path, self.policy, self.root = feeds_path, policy, root
        self.entry_ttl, self.expire_idle = entry_ttl, expire_idle
        self.floor, self.ceiling = floor, ceiling

    def expand(self, ticks):
        path = self.feeds_path
        polled = (
            ticks
            | "ReadFeedList" >> beam.FlatMap(feed_targets, path)
            | "PollFeed" >> beam.ParDo(
                PollFeed(self.policy, self.entry_ttl, self.expire_idle, self.floor,
                         self.ceiling, self.root)).with_outputs(
                PollFeed.REJECTS, PollFeed.STATE, main="requests")
        )
        requests = (
            polled.requests
            | "KeyByUrl" >> beam.Map(lambda r: (url_key(r["url"]), r))
            | "FirstPerUrl" >> beam.ParDo(
                FirstPerUrl(self.root, self.entry_ttl, self.expire_idle))
        )
        return {"requests": requests, "rejects": polled.rejects, "state": polled.state}

