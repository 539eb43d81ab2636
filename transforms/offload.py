"""A ``ParDo`` over grouped elements whose work is done by other processes of the machine.

After the record pool's per-record steps (``pipelines/record_pool.py``) its workers are idle,
while the in-process runner runs the later steps one bundle at a time on one core. A step
that is a pure function of one group (a day pool of the translation detectors) can run
there: ``Offloaded`` sends a few groups per task through ``offload`` (``record_pool.on_pool``),
keeps a few tasks in flight, and emits each group's outputs in its window and in input order,
all before the bundle ends (a runner commits a bundle's outputs only after
``finish_bundle``). Without a pool, or when a task does not come back, the group is done here:
the outputs are the same either way.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

LOG = logging.getLogger(__name__)

#: Runs ``fn(*args)`` elsewhere and returns its future, or None when it cannot.
Offload = Callable[..., "Future | None"]

#: Groups per task (most day pools take well under a millisecond) and tasks in flight (also
#: the Parquet writes' of ``transforms/sinks.py``).
GROUPS_PER_TASK = 16
TASKS_IN_FLIGHT = 8


def run_groups(fn: Callable[..., Iterable[Any]], args: tuple,
               groups: list[tuple[Any, list]]) -> list[list[Any]]:
    """``fn(group, *args)``'s outputs of each group (one task, in a worker or here)."""
    return [list(fn(group, *args)) for group in groups]


class Tasks:
    """Items handed to ``offload`` ``per_task`` at a time, at most ``in_flight`` tasks waiting:
    ``add`` and ``drain`` yield ``(kept, result)`` of each item, in input order, with what the
    caller kept of it. ``fn`` maps a list of items to their results; it runs here on a task's
    items when the task could not be sent or did not come back (a dead worker; an error of
    the work itself recurs here and is raised)."""

    def __init__(self, offload: Offload, fn: Callable[[list], list], per_task: int,
                 what: str, in_flight: int = TASKS_IN_FLIGHT):
        self.offload, self.fn, self.per_task, self.in_flight = offload, fn, per_task, in_flight
        self.what = what
        self.pending: list[tuple[Any, Any]] = []
        self.tasks: deque[tuple[Future | None, list[tuple[Any, Any]]]] = deque()

    def add(self, item: Any, kept: Any) -> Iterator[tuple[Any, Any]]:
        self.pending.append((item, kept))
        if len(self.pending) >= self.per_task:
            self._send()
        while len(self.tasks) > self.in_flight:
            yield from self._collect()

    def drain(self) -> Iterator[tuple[Any, Any]]:
        self._send()
        while self.tasks:
            yield from self._collect()

    def _send(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, []
            self.tasks.append((self.offload(self.fn, [item for item, _ in pending]), pending))

    def _collect(self) -> Iterator[tuple[Any, Any]]:
        future, pending = self.tasks.popleft()
        try:
            results = future.result() if future is not None else None
        except Exception as exc:  # noqa: BLE001 - a dead worker; a real error recurs here
            LOG.warning("offloaded %s failed (%s): done here", self.what, exc)
            results = None
        if results is None:
            results = self.fn([item for item, _ in pending])
        for (_, kept), result in zip(pending, results, strict=True):
            yield kept, result


class Offloaded(beam.DoFn):
    """``(key, values)`` -> ``fn((key, [values]), *args)``'s outputs (``TaggedOutput`` ones
    too), computed through ``offload`` when given; ``fn`` must be a module-level function
    (a task names it). ``counter`` (namespace, name) counts the groups."""

    def __init__(self, fn: Callable[..., Iterable[Any]], args: tuple = (),
                 offload: Offload | None = None, counter: tuple[str, str] | None = None):
        self.fn, self.args, self.offload = fn, tuple(args), offload
        self.groups = Metrics.counter(*counter) if counter else None

    def start_bundle(self) -> None:
        self.tasks = (Tasks(self.offload, partial(run_groups, self.fn, self.args),
                            GROUPS_PER_TASK, self.fn.__name__)
                      if self.offload is not None else None)

    def process(self, element: tuple[Any, Iterable[Any]], window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        key, values = element
        group = (key, list(values))  # a runner's lazy iterable of grouped values
        if self.groups is not None:
            self.groups.inc()
        if self.tasks is None:
            yield from self.fn(group, *self.args)
            return
        yield from _in_windows(self.tasks.add(group, (window, timestamp)))

    def finish_bundle(self) -> Iterator[Any]:
        if self.tasks is not None:
            yield from _in_windows(self.tasks.drain())


def _in_windows(done: Iterable[tuple[tuple[Any, Any], list[Any]]]) -> Iterator[Any]:
    """Each group's outputs in its input's window (outputs after ``process`` returned, or in
    ``finish_bundle``, must carry their window)."""
    for (window, timestamp), outs in done:
        for out in outs:
            if isinstance(out, TaggedOutput):
                yield TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
            else:
                yield WindowedValue(out, timestamp, [window])
