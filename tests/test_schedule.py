"""Polling schedules: the feed's hints and the server's cache headers, floor and ceiling,
backoff after failed runs."""

from __future__ import annotations

import datetime as dt

from transforms.schedule import (
    backoff,
    feed_hints,
    http_hints,
    poll_interval,
    skip_reason,
)

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_feed_hints_ttl_and_syndication_module():
    assert feed_hints(ttl="30") == [1800.0]
    assert feed_hints(update_period="hourly", update_frequency="2") == [1800.0]
    assert feed_hints(update_period="daily") == [86400.0]
    assert feed_hints(ttl="soon", update_period="sometimes") == []


def test_http_hints_max_age_expires_and_no_cache():
    assert http_hints({"cache-control": "public, max-age=600"}, NOW) == [600.0]
    assert http_hints({"expires": "Wed, 01 May 2024 12:05:00 GMT"}, NOW) == [300.0]
    assert http_hints({"cache-control": "no-cache", "expires": "x"}, NOW) == []
    assert http_hints({"expires": "not a date"}, NOW) == []


def test_interval_is_the_longest_hint_between_floor_and_ceiling():
    assert poll_interval([]) is None
    assert poll_interval([5.0]) == 60.0  # floor
    assert poll_interval([600.0, 1800.0]) == 1800.0
    assert poll_interval([86400.0]) == 3600.0  # ceiling
    assert poll_interval([86400.0], ceiling=7200) == 7200


def _row(outcome: str, minutes_ago: float, next_in: float | None = None) -> dict:
    time = NOW - dt.timedelta(minutes=minutes_ago)
    due = None if next_in is None else NOW + dt.timedelta(minutes=next_in)
    return {"outcome": outcome, "time": time, "next_fetch_at": due}


def test_skip_reason_not_due_and_backoff():
    assert skip_reason([], NOW) is None
    assert skip_reason([_row("fetched", 1, next_in=29)], NOW) == "feed_not_due"
    assert skip_reason([_row("fetched", 40, next_in=-10)], NOW) is None
    assert skip_reason([_row("fetched", 90), _row("failed", 1)], NOW) is None  # one failure
    failing = [_row("fetched", 300), _row("failed", 100), _row("failed", 10)]
    assert skip_reason(failing, NOW) == "feed_backoff"  # 2 failures: 30 minutes
    assert skip_reason(failing[:1] + [_row("failed", 100), _row("failed", 31)], NOW) is None
    assert backoff(1) == 0 and backoff(2) == 1800 and backoff(3) == 3600
    assert backoff(50) == 86400
