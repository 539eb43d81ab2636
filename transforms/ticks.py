"""Poll ticks of a stream: one element per poll, timestamped at the poll's wall-clock time.

On a streaming runner (Prism, Dataflow, Flink) this is Beam's ``PeriodicImpulse``. Beam's
in-process runners cannot run it as a stream: the ``FnApiRunner`` runs a ``GroupByKey`` only
when its input is complete (every window would commit after the last poll), and the bundle-based
``DirectRunner`` refuses its splittable ``DoFn``. For a *bounded* stream the poll times are known
at launch, so there the ticks come from an event list (Beam's ``TestStream`` primitive, which
the bundle-based runner executes with real watermarks) that a ``WaitForPollTime`` step paces to
the wall clock: a tick waits until its time comes, and because the waiting tick is a pending
element the watermark downstream stays at its poll time until it has been polled. Each window
therefore closes, and commits, while the stream runs.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP


def poll_times(start: float, stop: float, interval: float) -> list[float]:
    """Poll times from ``start`` every ``interval``, ``stop`` exclusive (a bounded stream),
    on whole milliseconds (what a watermark holds)."""
    first = round(start, 3)
    times, index = [], 0
    while first + index * interval < stop:
        times.append(round(first + index * interval, 3))
        index += 1
    return times


def wait_for_poll_time(when: float, clock=time.time, sleep=time.sleep) -> float:
    """Blocks until ``when`` (a late tick, e.g. after a long window, goes at once)."""
    delay = when - clock()
    if delay > 0:
        sleep(delay)
    return when


class PollTicks(beam.PTransform):
    """``pipeline`` -> poll times (floats, timestamped at the poll, global window).

    ``paced=True`` (the bundle-based in-process runner, bounded streams only) builds the ticks
    from the known poll times; otherwise ``PeriodicImpulse`` (unbounded when ``stop`` is inf)."""

    def __init__(self, start: float, stop: float, interval: float, paced: bool):
        super().__init__()
        self.start, self.stop, self.interval, self.paced = start, stop, interval, paced

    def expand(self, pbegin):
        if not self.paced:
            stop = self.stop if self.stop != float("inf") else MAX_TIMESTAMP
            return pbegin | "PeriodicImpulse" >> PeriodicImpulse(
                start_timestamp=self.start, stop_timestamp=stop,
                fire_interval=self.interval, apply_windowing=False)
        if self.stop == float("inf"):
            raise ValueError("paced poll ticks need a bounded stream (a stop time)")
        events = TestStream()
        for when in poll_times(self.start, self.stop, self.interval):
            events = (events.add_elements([TimestampedValue(when, when)])
                      .advance_watermark_to(when))
        return (
            pbegin
            | "PollSchedule" >> events.advance_watermark_to_infinity()
            | "WaitForPollTime" >> beam.Map(wait_for_poll_time)
        )
