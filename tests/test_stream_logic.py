"""The streaming logic under ``TestStream`` (the bundle-based runner, event time driven by the
test): per-feed state and its expiry, window boundaries, a late article, dedup across windows.
Polls are real HTTP requests to a loopback site whose feeds change at every poll."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
import duckdb
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines import streaming
from pipelines.query import connect
from tests.feed_site import GrowingSite
from transforms.enrich import article_id
from transforms.fetch import HttpClient
from transforms.polling import (
    PollFeeds,
    after_failure,
    after_success,
    select_new_entries,
    skip_reason,
)

FETCH_ARGS = ["--allow-host", "127.0.0.1", "--host-delay", "0.02", "--max-retries", "0",
              "--fetch-timeout", "10"]
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z; windows of 10 s start at multiples of 10


def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def ticks(times: list[float], watermark_gaps: dict[float, float] | None = None) -> EventStream:
    """Poll ticks at ``times`` (event time); as under ``PeriodicImpulse`` the watermark reaches
    each tick just before it, or jumps to ``watermark_gaps[t]`` after tick ``t``."""
    stream, mark = EventStream(), times[0] - 1
    for when in times:
        if when - 0.001 > mark:
            mark = when - 0.001
            stream = stream.advance_watermark_to(mark)
        stream = stream.add_elements([TimestampedValue(when, when)])
        if (watermark_gaps or {}).get(when, mark) > mark:
            mark = watermark_gaps[when]
            stream = stream.advance_watermark_to(mark)
    return stream.advance_watermark_to_infinity()


def streaming_pipeline() -> beam.Pipeline:
    return beam.Pipeline(runner="BundleBasedDirectRunner",
                         options=PipelineOptions(["--streaming"]))


def test_select_new_entries_prunes_entries_not_listed_for_ttl():
    a, b = {"url": "http://x/a"}, {"url": "http://x/b", "entry_id": "guid-b"}
    fresh, seen = select_new_entries([a, b, a], {}, 100.0, 50.0)
    assert fresh == [a, b] and seen == {"http://x/a": 100.0, "guid-b": 100.0}
    fresh, seen = select_new_entries([b], seen, 140.0, 50.0)
    assert fresh == [] and seen == {"http://x/a": 100.0, "guid-b": 140.0}
    fresh, seen = select_new_entries([b], seen, 151.0, 50.0)  # a unlisted for > 50 s: gone
    assert fresh == [] and seen == {"guid-b": 151.0}


def _polled(site: GrowingSite, tmp_path, stream: EventStream, ttl: float):
    HttpClient._robots.clear()
    feeds = str(site.feed_list(tmp_path))
    from pipelines.options import NewsflowOptions

    policy = PipelineOptions(FETCH_ARGS).view_as(NewsflowOptions).fetch_policy()
    p = streaming_pipeline()
    polled = p | stream | PollFeeds(feeds, policy, str(tmp_path / "out"), entry_ttl=ttl)
    return p, polled


def _emitted(pcoll, base: str):
    return pcoll | beam.Map(lambda r, ts=beam.DoFn.TimestampParam: (
        r["url"][len(base):], float(ts) - T0))


def test_seen_entries_are_forgotten_after_their_ttl(tmp_path):
    # "kept" is listed at every poll; "dropped" leaves the feed after poll 1, comes back at 4
    feed = {"f": [(1, "/kept.html", "Kept", _utc(2023, 1, 1)),
                  (1, "/dropped.html", "Dropped", _utc(2023, 1, 1), {1, 4}),
                  (3, "/third.html", "Third", _utc(2023, 1, 1))]}
    with GrowingSite(feed) as site:
        p, polled = _polled(site, tmp_path, ticks([T0, T0 + 8, T0 + 16, T0 + 24]), ttl=20.0)
        assert_that(_emitted(polled["requests"], site.base), equal_to([
            ("/kept.html", 0.0), ("/dropped.html", 0.0), ("/third.html", 16.0),
            ("/dropped.html", 24.0),  # unlisted since t=0, forgotten after 20 s
        ]), label="entries")
        assert_that(polled["rejects"], equal_to([]), label="no rejects")
        p.run().wait_until_finish()
    assert site.polls == {"f": 4}


def test_a_feed_not_polled_for_ttl_is_forgotten_by_its_timer(tmp_path):
    feed = {"f": [(1, "/kept.html", "Kept", _utc(2023, 1, 1))]}
    with GrowingSite(feed) as site:
        # polled at 0, then the watermark passes 0 + ttl before the next poll at 40
        p, polled = _polled(site, tmp_path, ticks([T0, T0 + 40], {T0: T0 + 35}), ttl=30.0)
        assert_that(_emitted(polled["requests"], site.base),
                    equal_to([("/kept.html", 0.0), ("/kept.html", 40.0)]))
        p.run().wait_until_finish()
    with GrowingSite(feed) as site:  # polled within the ttl: remembered, asked conditionally
        p, polled = _polled(site, tmp_path, ticks([T0, T0 + 25, T0 + 40]), ttl=30.0)
        assert_that(_emitted(polled["requests"], site.base), equal_to([("/kept.html", 0.0)]))
        p.run().wait_until_finish()
    assert [status for _, path, status in site.log if path.startswith("/live/")] == [
        200, 304, 304]


def test_schedule_not_due_and_backoff():
    assert skip_reason(None, 0.0) is None
    polled = after_success(None, 100.0, [120.0], floor=60.0, ceiling=3600.0)
    assert polled == {"failures": 0, "due": 220.0, "interval": 120.0}
    assert skip_reason(polled, 219.0) == "feed_not_due" and skip_reason(polled, 220.0) is None
    # a 304 without cache headers keeps the declared interval; nothing declared: every tick
    assert after_success(polled, 220.0, [], 60.0, 3600.0)["due"] == 340.0
    assert after_success(None, 5.0, [], 60.0, 3600.0) == {"failures": 0, "due": None,
                                                          "interval": None}
    once = after_failure(polled, 400.0)
    assert once["failures"] == 1 and skip_reason(once, 400.5) is None  # one failure: no wait
    twice = after_failure(once, 401.0)
    assert skip_reason(twice, 401.0 + 1799) == "feed_backoff"
    assert skip_reason(twice, 401.0 + 1800) is None
    assert after_failure(twice, 2300.0)["due"] == 2300.0 + 3600  # doubles


def test_polls_follow_each_feeds_schedule(tmp_path):
    # "cached" says max-age=100: the tick at +50 skips it; "failing" fails its first two
    # requests, so it backs off 30 min: skipped at +100, asked again at +2000
    feeds = {"cached": [(1, "/cached.html", "Cached", _utc(2023, 1, 1))],
             "failing": [(1, "/late.html", "Late", _utc(2023, 1, 1))]}
    with GrowingSite(feeds, fail={("failing", 1), ("failing", 2)}) as site:
        site.feed_headers["cached"] = {"Cache-Control": "max-age=100"}
        p, polled = _polled(site, tmp_path, ticks([T0, T0 + 50, T0 + 100, T0 + 2000]),
                            ttl=7 * 86400.0)
        assert_that(_emitted(polled["requests"], site.base), equal_to([
            ("/cached.html", 0.0), ("/late.html", 2000.0)]), label="entries")
        assert_that(polled["rejects"] | beam.Map(lambda r: r["reason"]),
                    equal_to(["http_error", "http_error"]), label="rejects")
        p.run().wait_until_finish()
    assert site.polls == {"cached": 3, "failing": 3}  # cached: 0, 100, 2000; failing: 0, 50, 2000


def test_the_feed_list_is_read_again_at_every_poll(tmp_path):
    """A feed added to the list (and one removed) between two polls: the next poll follows
    the edit, no restart."""
    feeds = {"a": [(1, "/a.html", "A", _utc(2023, 1, 1))],
             "b": [(1, "/b.html", "B", _utc(2023, 1, 1))]}
    with GrowingSite(feeds) as site:
        listing = site.feed_list(tmp_path, ["a"])

        def edit(name: str, poll: int) -> None:
            if (name, poll) == ("a", 1):  # during the first poll: b replaces a
                listing.write_text(f"{site.base}/live/b.xml\n")

        site.on_poll = edit
        HttpClient._robots.clear()
        from pipelines.options import NewsflowOptions

        policy = PipelineOptions(FETCH_ARGS).view_as(NewsflowOptions).fetch_policy()
        p = streaming_pipeline()
        polled = p | ticks([T0, T0 + 8]) | PollFeeds(str(listing), policy,
                                                     str(tmp_path / "out"), entry_ttl=100.0)
        assert_that(_emitted(polled["requests"], site.base),
                    equal_to([("/a.html", 0.0), ("/b.html", 8.0)]))
        p.run().wait_until_finish()
    assert site.polls == {"a": 1, "b": 1}


def test_a_bounded_stream_by_duration_or_polls():
    options = PipelineOptions(["--poll-interval", "10s", "--duration", "1m"])
    stream = options.view_as(streaming.StreamOptions)
    start, stop, interval = streaming.poll_schedule(stream, now=T0)
    assert (start, stop, interval) == (T0, T0 + 60, 10.0)
    stream.max_polls = 3  # whichever ends first
    assert streaming.poll_schedule(stream, now=T0)[1] == T0 + 25


STATE_ROWS: list[dict] = []  # feed state rows a pipeline yielded (same process)


def _keep_state(row: dict) -> dict:
    STATE_ROWS.append(row)
    return row


def test_a_restarted_stream_starts_from_the_committed_feed_state(tmp_path):
    """The first stream's feed rows, written where a window commit puts them, give the second
    stream its validators (a conditional first poll) and its seen entries."""
    from transforms.sinks import write_parquet

    feed = {"f": [(1, "/a.html", "A", _utc(2023, 1, 1)), (1, "/b.html", "B", _utc(2023, 1, 1)),
                  (3, "/c.html", "C", _utc(2023, 1, 2))]}
    with GrowingSite(feed) as site:
        STATE_ROWS.clear()
        p, polled = _polled(site, tmp_path, ticks([T0, T0 + 8]), ttl=100.0)
        polled["state"] | beam.Map(_keep_state)
        assert_that(_emitted(polled["requests"], site.base),
                    equal_to([("/a.html", 0.0), ("/b.html", 0.0)]))
        p.run().wait_until_finish()
        assert [r["outcome"] for r in STATE_ROWS] == ["fetched"]  # the 304 changed nothing
        write_parquet(str(tmp_path / "out" / "_state" / "kind=feed" / "part-s1.parquet"),
                      STATE_ROWS, "state")
        etag = site.validators_sent[1][1]
        assert etag  # the first stream's second poll was conditional
        # restarted: poll 3 lists a, b and c
        p, polled = _polled(site, tmp_path, ticks([T0 + 16, T0 + 24]), ttl=100.0)
        assert_that(_emitted(polled["requests"], site.base), equal_to([("/c.html", 16.0)]))
        p.run().wait_until_finish()
        assert site.validators_sent[2] == ("f", etag)  # its first poll: conditional
        assert site.validators_sent[3][1] not in (None, etag)  # then poll 3's ETag
    assert [status for _, path, status in site.log if path.startswith("/live/")] == [
        200, 304, 200, 304]


def test_restored_feed_state_from_stream_and_batch_rows():
    from transforms.polling import feed_state_row, restored_feed_state
    from transforms.schedule import parsed_feed_row

    url = "http://x/feed.xml"
    schedule = {"failures": 0, "due": T0 + 600, "interval": 600.0}
    ok = feed_state_row(url, "fetched", T0, {"etag": '"e1"', "last_modified": None}, schedule,
                        {"guid-a": T0 - 50, "guid-old": T0 - 5000}, '[{"url": "http://x/a"}]')
    restored = restored_feed_state([ok], T0 + 10, ttl=1000.0)
    assert restored == {"validators": {"etag": '"e1"', "last_modified": None},
                        "seen": {"guid-a": T0 - 50},  # older than the ttl: forgotten
                        "schedule": schedule, "listing": '[{"url": "http://x/a"}]'}
    assert restored_feed_state([ok], T0 + 1000, ttl=1000.0) is None  # the feed was forgotten
    # two failures after it: validators of the last good poll, backoff from the last failure
    failures = [feed_state_row(url, "failed", T0 + k, None, {"failures": k, "due": None,
                                                            "interval": 600.0}, {}, None, "x")
                for k in (1, 2)]
    assert failures[0]["etag"] is None and failures[0]["next_fetch_at"] is None
    restored = restored_feed_state([*failures, ok], T0 + 10, ttl=1000.0)
    assert restored["validators"]["etag"] == '"e1"' and restored["seen"] == {"guid-a": T0 - 50}
    assert restored["schedule"] == {"failures": 2, "due": T0 + 2 + 1800, "interval": 600.0}
    # a batch run's row: its entry list is what it saw
    when = dt.datetime.fromtimestamp(T0, dt.timezone.utc)
    batch = parsed_feed_row({"url": url, "fetched_at": when, "ttl": "20",
                             "response_headers": {"etag": '"b"'}}, "run1")
    batch.update(time=when, entries='[{"url": "http://x/p", "entry_id": "g1"}]')
    restored = restored_feed_state([batch], T0 + 10, ttl=1000.0)
    assert restored["seen"] == {"g1": T0} and restored["validators"]["etag"] == '"b"'
    assert restored["schedule"] == {"failures": 0, "due": T0 + 1200, "interval": 1200.0}


# ---------------------------------------------------------------------------------------------
# the whole stream under TestStream: windows of 10 s

EN = "/worldnews/2023/sep/15/tiktok-fined-345m-children-data.html"
COPY = "/wire-mirror/tiktok-fined-345m.html"
WINDOWS = {
    # poll 1 at 0 s and poll 2 at 9.999 s fall in the first window, poll 3 at 10 s in the next
    "news": [(1, EN, "TikTok fined", _utc(2023, 9, 15, 9)),
             (2, "/bbc/world-europe-50473792.html", "BBC", _utc(2019, 11, 20, 10)),
             (3, COPY, "TikTok fined (wire)", _utc(2023, 9, 15, 11)),
             # published in 2019, first listed in the second window: a late article
             (3, "/aljazeera/nasa-commercial-moon-shot.html", "Moon", _utc(2019, 11, 19, 4))],
    # another feed lists the first window's story again in the second: fetched once
    "mirror": [(2, EN, "TikTok fined", _utc(2023, 9, 15, 9))],
}


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    work = tmp_path_factory.mktemp("teststream")
    output = str(work / "out")
    with GrowingSite(WINDOWS) as site:
        HttpClient._robots.clear()
        feeds = str(site.feed_list(work / "in"))
        options = PipelineOptions(["--feeds", feeds, "--output", output, "--window", "10s",
                                   "--dedup-levels", "exact,near", "--run-id", "s1",
                                   *FETCH_ARGS])
        opts, stream = (options.view_as(streaming.NewsflowOptions),
                        options.view_as(streaming.StreamOptions))
        p = streaming_pipeline()
        polls = p | ticks([T0, T0 + 9.999, T0 + 10, T0 + 15])
        streaming.process_polls(polls, opts, stream, "s1")
        p.run().wait_until_finish()
        base = site.base
    return {"output": output, "base": base, "windows": streaming.committed_windows(output, "s1")}


def _window_urls(manifest: dict, base: str) -> list[str]:
    paths = [f["path"] for f in manifest["files"] if f["dataset"] == "articles"]
    return sorted(r[0][len(base):] for r in duckdb.sql(
        f"select url from read_parquet({paths})").fetchall())


def test_window_boundaries_one_commit_each(windowed):
    windows, base = windowed["windows"], windowed["base"]
    assert [m["run_id"] for m in windows] == ["s1-w20231114T221320Z", "s1-w20231114T221330Z"]
    assert _window_urls(windows[0], base) == sorted([EN, "/bbc/world-europe-50473792.html"])
    assert _window_urls(windows[1], base) == sorted(
        [COPY, "/aljazeera/nasa-commercial-moon-shot.html"])
    assert windows[0]["window_end"] == windows[1]["window_start"]


def test_late_article_in_its_publication_partition_once(windowed):
    con = connect(windowed["output"])
    rows = con.execute("select cast(date as varchar), run_id from articles "
                       "where url like '%nasa-commercial-moon-shot%'").fetchall()
    assert rows == [("2019-11-19", "s1-w20231114T221330Z")]
    late = [f["path"] for f in windowed["windows"][1]["files"] if "date=2019-11-19" in f["path"]]
    assert len(late) == 1


def test_dedup_across_two_windows(windowed):
    con = connect(windowed["output"])
    base = windowed["base"]
    original, copy = article_id(base + EN), article_id(base + COPY)
    assert con.execute("select copy_group_id, duplicate_of, is_canonical from articles "
                       "where article_id = ?", [copy]).fetchone() == (original, original, False)
    assert con.execute("select copy_group_id, is_canonical from articles "
                       "where article_id = ?", [original]).fetchone() == (original, True)
    assert con.execute("select count(*) from articles").fetchone()[0] == 4


def test_fetched_pages_keep_their_window(tmp_path):
    """Fetch results come out of ``FetchPages`` asynchronously (during later elements, or at the
    end of the bundle): each must stay in its request's window."""
    from apache_beam.transforms import window as beam_window

    from pipelines.options import NewsflowOptions
    from transforms.fetch import FetchPages

    paths = ["/bbc/world-europe-50473792.html", "/reuters/asian-shares-soft.html",
             "/faulty/missing.html", "/aljazeera/nasa-commercial-moon-shot.html"]
    with GrowingSite({}) as site:
        HttpClient._robots.clear()
        policy = PipelineOptions(FETCH_ARGS).view_as(NewsflowOptions).fetch_policy()
        with beam.Pipeline(runner="FnApiRunner") as p:
            fetched = (
                p
                | beam.Create([(site.base + path, T0 + 10 * i) for i, path in enumerate(paths)])
                | beam.Map(lambda e: TimestampedValue({"url": e[0]}, e[1]))
                | beam.WindowInto(beam_window.FixedWindows(10))
                | FetchPages(policy, batch_size=1)
            )

            base = site.base

            def where(r, w=beam.DoFn.WindowParam):
                return (r["url"][len(base):], float(w.start) - T0)

            assert_that(fetched.pages | "Pages" >> beam.Map(where), equal_to(
                [(path, 10.0 * i) for i, path in enumerate(paths) if "missing" not in path]),
                label="pages")
            assert_that(fetched.rejects | "Rejects" >> beam.Map(where),
                        equal_to([("/faulty/missing.html", 20.0)]), label="rejects")
