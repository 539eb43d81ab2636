"""When to poll a feed again: its own hints, the server's cache headers, and backoff on failure.

A feed says how often it changes (RSS ``ttl`` in minutes, ``sy:updatePeriod`` /
``sy:updateFrequency``); its server says how long the response stays fresh
(``Cache-Control: max-age``, ``Expires``). The longest of these, kept between a floor and a
ceiling, is when the next run may ask again; a run before that skips the feed (counted as
``feed_not_due``, not an error). A feed that said nothing is polled every run (a conditional GET
makes that cheap). A feed that failed two or more runs in a row waits
``BACKOFF_BASE * 2**(failures - 2)`` (at most ``BACKOFF_MAX``) before the next try
(``feed_backoff``). Pure functions: the Beam wiring is in ``state.py`` and ``batch.py``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Iterable
from typing import Any

PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400,
           "yearly": 365 * 86400}
MIN_INTERVAL = 60.0  # the floor: no feed is asked twice a minute, whatever it says
MAX_INTERVAL = 3600.0  # the ceiling: a feed is polled at least hourly, whatever it says
BACKOFF_BASE = 1800.0
BACKOFF_MAX = 86400.0

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.I)


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def feed_hints(ttl: Any = None, update_period: Any = None, update_frequency: Any = None
               ) -> list[float]:
    """Seconds between updates that the feed itself declares."""
    hints = []
    minutes = _number(ttl)
    if minutes is not None:
        hints.append(minutes * 60)
    period = PERIODS.get(str(update_period or "").strip().lower())
    if period is not None:
        frequency = _number(update_frequency) or 1.0
        hints.append(period / max(frequency, 1.0))
    return hints


def http_hints(headers: dict[str, str] | None, now: dt.datetime) -> list[float]:
    """Seconds the server says the response stays fresh (``max-age``, else ``Expires``)."""
    headers = headers or {}
    control = headers.get("cache-control") or ""
    if re.search(r"no-store|no-cache", control, re.I):
        return []
    match = _MAX_AGE.search(control)
    if match:
        return [float(match.group(1))]
    expires = headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return []
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return [max(0.0, (when - now).total_seconds())]
    return []


def poll_interval(hints: Iterable[float], floor: float = MIN_INTERVAL,
                  ceiling: float = MAX_INTERVAL) -> float | None:
    """The wait before the next poll, or None when nothing was declared."""
    hints = list(hints)
    if not hints:
        return None
    return min(max(max(hints), floor), ceiling)


def next_poll(fetched_at: dt.datetime, interval: float | None) -> dt.datetime | None:
    return None if interval is None else fetched_at + dt.timedelta(seconds=interval)


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failed runs in a row (none after a single failure)."""
    if failures < 2:
        return 0.0
    return min(BACKOFF_BASE * 2 ** (failures - 2), BACKOFF_MAX)


def consecutive_failures(rows: list[dict]) -> int:
    """Failed runs in a row at the end of a feed's state rows (sorted by time)."""
    count = 0
    for row in reversed(rows):
        if row.get("outcome") != "failed":
            break
        count += 1
    return count


def skip_reason(rows: list[dict], now: dt.datetime) -> str | None:
    """Why a feed is not polled this run (``feed_not_due`` / ``feed_backoff``), or None."""
    if not rows:
        return None
    latest = rows[-1]
    failures = consecutive_failures(rows)
    if failures >= 2 and now < latest["time"] + dt.timedelta(seconds=backoff(failures)):
        return "feed_backoff"
    due = latest.get("next_fetch_at")
    if failures == 0 and due is not None and now < due:
        return "feed_not_due"
    return None


# -- state rows of feeds (what the next run's ``skip_reason`` reads) ------------------------------


def _interval_data(interval: float | None) -> str | None:
    return None if interval is None else json.dumps({"interval": interval})


def _previous_interval(previous: dict | None) -> float | None:
    try:
        return float(json.loads((previous or {}).get("data") or "{}").get("interval"))
    except (TypeError, ValueError, AttributeError):
        return None


def parsed_feed_row(feed: dict, run_id: str, floor: float = MIN_INTERVAL,
                    ceiling: float = MAX_INTERVAL) -> dict:
    """State row of a feed fetched this run and parsed, or refused by the parser
    (``ParseFeeds.FEEDS`` record)."""
    from transforms.state import state_row, validators

    if feed.get("failed"):  # fetched but unusable: validators kept, so an unchanged body is a 304
        return state_row(feed["url"], "feed", "failed", run_id,
                         **validators(feed.get("response_headers")),
                         data=json.dumps({"reason": feed["failed"]}))
    fetched_at = feed.get("fetched_at") or dt.datetime.now(dt.timezone.utc)
    interval = poll_interval(
        feed_hints(feed.get("ttl"), feed.get("update_period"), feed.get("update_frequency"))
        + http_hints(feed.get("response_headers"), fetched_at), floor, ceiling)
    return state_row(feed["url"], "feed", "fetched", run_id,
                     **validators(feed.get("response_headers")),
                     next_fetch_at=next_poll(fetched_at, interval),
                     data=_interval_data(interval))


def not_modified_feed_row(record: dict, run_id: str, floor: float = MIN_INTERVAL,
                          ceiling: float = MAX_INTERVAL) -> dict:
    """State row of a feed that answered 304: validators kept, interval from the 304's cache
    headers or, failing those, the one the feed declared when it was last parsed."""
    from transforms.state import state_row

    previous = record.get("previous") or {}
    fetched_at = record.get("fetched_at") or dt.datetime.now(dt.timezone.utc)
    hints = http_hints(record.get("response_headers"), fetched_at)
    earlier = _previous_interval(previous)
    if earlier is not None:
        hints.append(earlier)
    interval = poll_interval(hints, floor, ceiling)
    return state_row(record["url"], "feed", "not_modified", run_id, etag=previous.get("etag"),
                     last_modified=previous.get("last_modified"),
                     next_fetch_at=next_poll(fetched_at, interval),
                     data=_interval_data(interval))


def failed_feed_row(reject: dict, run_id: str) -> dict:
    """State row of a feed that could not be fetched (counted for backoff; no validators, so
    the next try is unconditional)."""
    from transforms.state import state_row

    return state_row(reject["url"], "feed", "failed", run_id,
                     data=json.dumps({"reason": reject.get("reason")}))
