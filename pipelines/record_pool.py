"""The per-record steps of an in-process run on every core: worker processes forked from the
launcher, fed batches of records.

Why not Beam's ``multi_processing`` workers: they are fresh interpreters
(``python -m apache_beam.runners.worker.sdk_worker_main``), so each one imports everything and
loads every model it meets again, and every element, whole HTML included, crosses a gRPC data
plane between the runner and the workers (py-spy of a 2-worker run: 14% in the runner process,
~2,100 of the workers' 23k samples loading models; 74 CPU s against one process's ~65). The
steps that cost most of a run (extraction, cleaning, enrichment: ~2/3 of its CPU) are pure
functions of one record, so the in-process runner keeps the pipeline, and only those steps run
on a pool of processes forked *after* the launcher loaded the models: one copy of each model,
shared copy-on-write, no per-element runner overhead, and the raw HTML is dropped in the worker
that extracted it.

Correctness does not depend on the pool: ``RunSteps`` runs the same DoFns' ``process`` (their
rejects and ``guarded`` wrappers included) in the worker, and runs them in its own process when
no pool was started (another runner, a test building the pipeline itself) or when a worker
died. The DoFns' Beam counters are counted in the worker and added to the step's counters.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

LOG = logging.getLogger(__name__)

#: Records per task sent to a worker: big enough that pickling and the pipe cost little next
#: to extraction (~20 ms a page) and that spaCy parses a batch of heads, small enough that
#: the workers finish together.
TASK_RECORDS = 16

_POOL: ProcessPoolExecutor | None = None
_WORKERS = 0
_CHAINS: dict[str, RecordSteps] = {}  # the chains registered before the pool was forked
_COUNTED: Any = None  # a worker's metrics container


class RecordSteps:
    """DoFns applied in turn to a batch of records: the first ``per_record`` ones record by
    record, then ``batched`` (a DoFn whose ``process`` takes a list) on what is left."""

    def __init__(self, name: str, per_record: list[beam.DoFn], batched: beam.DoFn | None = None):
        self.name, self.per_record, self.batched = name, per_record, batched
        self._ready = False

    def setup(self) -> None:
        if not self._ready:
            for fn in [*self.per_record, *([self.batched] if self.batched else [])]:
                fn.setup()
            self._ready = True

    def run(self, records: list[Any]) -> list[Any]:
        """Outputs of the batch: records and ``TaggedOutput`` rejects."""
        self.setup()
        outputs: list[Any] = []
        current = records
        for fn in self.per_record:
            passed = []
            for record in current:
                for out in fn.process(record) or ():
                    (outputs if isinstance(out, TaggedOutput) else passed).append(out)
            current = passed
        if self.batched is not None and current:
            current = list(self.batched.process(current) or ())
        return outputs + current


def _counted_run(name: str, records: list[Any]) -> tuple[list[Any], dict[tuple[str, str], int]]:
    """In a worker: the chain's outputs and the Beam counters its DoFns incremented."""
    _COUNTED.metrics.clear()
    outputs = _CHAINS[name].run(records)
    counters = {(key.metric_name.namespace, key.metric_name.name): cell.get_cumulative()
                for key, cell in _COUNTED.metrics.items()
                if type(cell).__name__ == "CounterCell"}
    return outputs, counters


def _exit_with_launcher(launcher: int) -> None:
    """A worker whose launcher was killed exits (its siblings hold the task pipe open, so no
    end of file would ever tell it)."""
    while os.getppid() == launcher:
        time.sleep(1.0)
    os._exit(1)


def _worker_init() -> None:
    """Counts the DoFns' ``Metrics`` in this worker (there is no Beam step around them); ends
    the worker with its launcher."""
    global _COUNTED
    threading.Thread(target=_exit_with_launcher, args=(os.getppid(),), daemon=True,
                     name="record-pool-watchdog").start()
    from apache_beam.metrics.execution import MetricsContainer
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    sampler = statesampler.StateSampler("record_pool", CounterFactory())
    statesampler.set_current_tracker(sampler)
    _COUNTED = MetricsContainer("record_pool")
    sampler.scoped_state("record_pool", "process", metrics_container=_COUNTED).__enter__()
    for chain in _CHAINS.values():
        chain.setup()


@contextmanager
def record_pool(processes: int, chains: list[RecordSteps]) -> Iterator[None]:
    """Forks ``processes`` workers knowing ``chains`` (the launcher's models loaded already are
    shared with them) for the duration of the block; none when ``processes`` < 2."""
    global _POOL, _WORKERS
    if processes < 2 or not chains:
        yield
        return
    _CHAINS.update({chain.name: chain for chain in chains})
    gc.collect()
    gc.freeze()  # objects made so far stay put: fewer pages copied in the workers
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                               initializer=_worker_init)
    pool.submit(int).result()  # forks every worker now, before the runner starts its threads
    _POOL, _WORKERS = pool, processes
    try:
        yield
    finally:
        _POOL, _WORKERS = None, 0
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
        for chain in chains:
            _CHAINS.pop(chain.name, None)


class RunSteps(beam.DoFn):
    """Applies a ``RecordSteps`` chain on the record pool (in this process without one), a few
    batches in flight, outputs in the input elements' windows."""

    def __init__(self, chain: RecordSteps, task_records: int = TASK_RECORDS):
        self.chain, self.task_records = chain, task_records

    def start_bundle(self) -> None:
        self.buffer: list[tuple[Any, Any, Any]] = []
        self.pending: deque[tuple[list, Future | None]] = deque()

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterator:
        if self.buffer and (self.buffer[0][1], self.buffer[0][2]) != (timestamp, window):
            self._submit()  # a task's outputs take its elements' one timestamp and window
        self.buffer.append((element, timestamp, window))
        if len(self.buffer) >= self.task_records:
            self._submit()
        while self.pending and (len(self.pending) > 2 * max(_WORKERS, 1)
                                or self.pending[0][1] is None or self.pending[0][1].done()):
            yield from self._emit(*self.pending.popleft())

    def finish_bundle(self) -> Iterator:
        self._submit()
        while self.pending:
            yield from self._emit(*self.pending.popleft())

    def _submit(self) -> None:
        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        future = None
        if _POOL is not None and self.chain.name in _CHAINS:
            try:
                future = _POOL.submit(_counted_run, self.chain.name, [b[0] for b in batch])
            except (BrokenProcessPool, RuntimeError):
                future = None
        self.pending.append((batch, future))

    def _emit(self, batch: list, future: Future | None) -> Iterator:
        records = [b[0] for b in batch]
        outputs = None
        if future is not None:
            try:
                outputs, counters = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker, a result that did not come back
                LOG.warning("record pool: %s: the batch runs in the launcher", exc)
            else:
                for (namespace, name), value in counters.items():
                    Metrics.counter(namespace, name).inc(value)
        if outputs is None:
            outputs = self.chain.run(records)
        _, timestamp, window = batch[0]
        for out in outputs:
            if isinstance(out, TaggedOutput):
                yield TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
            else:
                yield WindowedValue(out, timestamp, [window])
