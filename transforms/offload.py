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
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

LOG = logging.getLogger(__name__)

#: Runs ``fn(*args)`` elsewhere and returns its future, or None when it cannot.
Offload = Callable[..., "Future | None"]

#: Groups per task (most day pools take well under a millisecond) and tasks in flight.
GROUPS_PER_TASK = 16
TASKS_IN_FLIGHT = 8


def run_groups(fn: Callable[..., Iterable[Any]], groups: list[tuple[Any, list]],
               args: tuple) -> list[list[Any]]:
    """``fn(group, *args)``'s outputs of each group (one task, in a worker or here)."""
    return [list(fn(group, *args)) for group in groups]


class Offloaded(beam.DoFn):
    """``(key, values)`` -> ``fn((key, [values]), *args)``'s outputs (``TaggedOutput`` ones
    too), computed through ``offload`` when given; ``fn`` must be a module-level function
    (a task names it). ``counter`` (namespace, name) counts the groups."""

    def __init__(self, fn: Callable[..., Iterable[Any]], args: tuple = (),
                 offload: Offload | None = None, counter: tuple[str, str] | None = None):
        self.fn, self.args, self.offload = fn, tuple(args), offload
        self.groups = Metrics.counter(*counter) if counter else None

    def start_bundle(self) -> None:
        self.batch: list[tuple[tuple[Any, list], Any, Any]] = []
        self.tasks: deque[tuple[Future | None, list]] = deque()

    def process(self, element: tuple[Any, Iterable[Any]], window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        key, values = element
        group = (key, list(values))  # a runner's lazy iterable of grouped values
        if self.groups is not None:
            self.groups.inc()
        if self.offload is None:
            yield from self.fn(group, *self.args)
            return
        self.batch.append((group, window, timestamp))
        if len(self.batch) >= GROUPS_PER_TASK:
            self._send()
        while len(self.tasks) > TASKS_IN_FLIGHT:
            yield from self._collect()

    def finish_bundle(self) -> Iterator[Any]:
        if self.offload is None:
            return
        self._send()
        while self.tasks:
            yield from self._collect()

    def _send(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.tasks.append((self.offload(run_groups, self.fn, [g for g, _, _ in batch],
                                            self.args), batch))

    def _collect(self) -> Iterator[Any]:
        future, batch = self.tasks.popleft()
        try:
            outputs = future.result() if future is not None else None
        except Exception as exc:  # noqa: BLE001 - a dead worker; a real error recurs here
            LOG.warning("offloaded %s failed (%s): done here", self.fn.__name__, exc)
            outputs = None
        if outputs is None:
            outputs = run_groups(self.fn, [g for g, _, _ in batch], self.args)
        for (_, window, timestamp), outs in zip(batch, outputs, strict=True):
            for out in outs:
                if isinstance(out, TaggedOutput):
                    yield TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
                else:
                    yield WindowedValue(out, timestamp, [window])
