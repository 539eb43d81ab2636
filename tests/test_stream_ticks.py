"""Paced poll ticks on the bundle-based runner (``transforms/ticks.py``): windows close, and a
windowed ``GroupByKey`` fires, while the stream is still polling (real wall-clock waits)."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window

from pipelines.direct_fix import tolerate_empty_side_input_bundles
from transforms.ticks import PollTicks, poll_times, wait_for_poll_time

FIRED: list[tuple[float, float]] = []  # (window start, wall time it fired)
POLLED: list[float] = []  # wall time of each tick


def test_poll_times_are_whole_milliseconds_and_stop_is_exclusive():
    assert poll_times(10.0004, 13.0, 1.0) == [10.0, 11.0, 12.0]
    assert poll_times(5.0, 5.0, 1.0) == []


def test_a_late_tick_does_not_wait():
    slept = []
    assert wait_for_poll_time(100.0, clock=lambda: 101.0, sleep=slept.append) == 100.0
    assert wait_for_poll_time(100.0, clock=lambda: 99.5, sleep=slept.append) == 100.0
    assert slept == [0.5]


def _polled(tick: float) -> float:
    POLLED.append(time.time())
    return tick


def _fired(kv, win=beam.DoFn.WindowParam):
    FIRED.append((float(win.start), time.time()))
    return kv


def _count_side(kv, counts):
    return kv[0], counts


def test_windows_fire_while_ticks_are_still_coming():
    FIRED.clear()
    POLLED.clear()
    tolerate_empty_side_input_bundles()
    start = round(time.time() + 0.5)  # on a whole second: windows of 1 s hold a tick each
    options = PipelineOptions(["--streaming"])
    with beam.Pipeline(runner="BundleBasedDirectRunner", options=options) as p:
        grouped = (
            p
            | PollTicks(start, start + 4.0, 1.0, paced=True)
            | beam.Map(_polled)
            | beam.WindowInto(window.FixedWindows(1))
            | beam.Map(lambda t: ("k", t))
            | beam.GroupByKey()
        )
        sizes = grouped | beam.Map(lambda kv: (kv[0], len(kv[1])))
        # a windowed side input downstream, as in the stream (``CommitWindow``)
        (grouped | "Fired" >> beam.Map(_fired)
         | beam.Map(_count_side, beam.pvalue.AsDict(sizes)))
    assert len(POLLED) == 4
    assert [start_ for start_, _ in sorted(FIRED)] == [start + k for k in (0.0, 1.0, 2.0, 3.0)]
    first_fired = min(when for _, when in FIRED)
    assert first_fired < POLLED[-1]  # the first window closed before the last poll
    # no tick is early: each waited for its time
    assert all(when >= start + k for k, when in enumerate(sorted(POLLED)))


def test_the_unbounded_graph_builds_with_periodic_impulse(tmp_path):
    """What Prism, Dataflow and Flink would run (not executed here: no runner for it offline):
    ``PeriodicImpulse`` without a stop, then the whole stream, translated to Beam's portable
    pipeline proto as a runner receives it."""
    from pipelines import streaming

    (tmp_path / "feeds.txt").write_text("http://127.0.0.1:9/feed.xml\n")
    options, opts, stream = streaming.make_options([
        "--feeds", str(tmp_path / "feeds.txt"), "--output", str(tmp_path / "out"),
        "--runner", "PrismRunner", "--poll-interval", "60s", "--window", "5m"])
    start, stop, interval = streaming.poll_schedule(stream, now=1_700_000_000.0)
    assert stop == float("inf") and not streaming.paced("PrismRunner")
    p = beam.Pipeline(options=options)
    ticks = p | "Polls" >> PollTicks(start, stop, interval, paced=False)
    streaming.process_polls(ticks, opts, stream, opts.run_id)
    proto = p.to_runner_api()
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert "Polls/PeriodicImpulse" in names
    assert any(name.endswith("CommitWindow") for name in names)
    assert not any("PollSchedule" in name for name in names)  # no paced ticks there


def test_an_emptied_keyed_state_counts_as_absent():
    """``direct_fix.drop_empty_keyed_states`` drops a key's state once nothing is left in it:
    no value, no timer (a read of an absent window leaves an empty list behind)."""
    from apache_beam.runners.direct.evaluation_context import DirectUnmergedState
    from apache_beam.transforms.timeutil import TimeDomain
    from apache_beam.transforms.trigger import _ListStateTag, _ReadModifyWriteStateTag

    from pipelines.direct_fix import empty_keyed_state

    state, bag, cell = DirectUnmergedState(), _ListStateTag("bag"), _ReadModifyWriteStateTag("c")
    win = window.IntervalWindow(0, 10)
    assert empty_keyed_state(state)
    assert state.get_state(win, bag) == [] and empty_keyed_state(state)  # a read adds nothing
    state.add_state(win, bag, "x")
    assert not empty_keyed_state(state)
    state.clear_state(win, bag)
    assert empty_keyed_state(state)
    state.add_state(win, cell, {"seen": {}})
    assert not empty_keyed_state(state)
    state.add_state(win, cell, 0)  # a falsy value is a value
    assert not empty_keyed_state(state)
    state.clear_state(win, cell)
    state.set_timer(win, "user/expiry", TimeDomain.WATERMARK, 10)
    assert not empty_keyed_state(state)
    state.clear_timer(win, "user/expiry", TimeDomain.WATERMARK)
    assert empty_keyed_state(state)
