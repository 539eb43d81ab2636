"""The per-record steps of an in-process run on every core: worker processes forked from the
launcher, fed batches of records.

Why not Beam's ``multi_processing`` workers: they are fresh interpreters
(``python -m apache_beam.runners.worker.sdk_worker_main``), so each one imports everything and
loads every model it meets again, and every element, whole HTML included, crosses a gRPC data
plane between the runner and the workers (py-spy of a 2-worker run: 14% in the runner process,
~2,100 of the workers' 23k samples loading models; 74 CPU s against one process's ~65). The
steps that cost most of a run (extraction, cleaning, enrichment: ~2/3 of its CPU) are pure
functions of one record, so the in-process runner keeps the pipeline, and only those steps run
on a pool of forked processes: one copy of each model, shared copy-on-write, no per-element
runner overhead, and the raw HTML is dropped in the worker that extracted it.

No core waits for the models: loading them (langid, spaCy, jieba, the place names: ~5 CPU s)
needs only the launcher, and extraction needs none of them. So the pool starts in two stages:
``record_pool(..., load=...)`` forks an *early* pool at once, whose workers run only a chain's
model-free ``per_record`` steps (extract, clean), and loads the models in a launcher thread
meanwhile; when they are loaded, the next ``RunSteps`` call forks the *full* pool (the models
shared copy-on-write), which runs the ``batched`` step (enrich) on what the early pool returned
and whole chains on the rest. Each model is still loaded once.

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
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
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

#: Launcher threads running chains' ``launcher`` steps (ONNX Runtime releases the GIL).
LAUNCHER_THREADS = 2
#: Records a launcher step takes at once: e5 sorts a call's texts by length before batching
#: them, so 16 records' headlines per call cost 7.1 CPU s on the dev WARC against 4.3 in one.
LAUNCHER_RECORDS = 128

#: What a task runs of its chain: everything, the model-free ``per_record`` steps, or the
#: ``batched`` step on their results.
ALL, EARLY, LATE = "all", "early", "late"
STAGED = "staged"  # a task whose workers are done, waiting for others to join its launcher step
FINISH = "finish"  # a task on a launcher thread, running its chain's launcher step


class _Pools:
    """The launcher's pools: the one tasks go to, whether its workers hold the models, and the
    models' loading (a future the early pool's stage waits on)."""

    def __init__(self):
        self.pool: ProcessPoolExecutor | None = None
        self.full = False  # the pool's workers run whole chains (else only the early steps)
        self.workers = 0
        self.loaded: Future | None = None  # set when the launcher has loaded the models
        self.then: Callable[[], Any] | None = None  # run on a thread once the full pool is up
        self.then_done: Future | None = None  # its future: chains' launcher steps wait on it
        self.lock = threading.Lock()
        self.retired: list[ProcessPoolExecutor] = []
        self.threads: ThreadPoolExecutor | None = None  # where chains' launcher steps run


_POOLS = _Pools()
_CHAINS: dict[str, RecordSteps] = {}  # the chains registered before the pools were forked
_COUNTED: Any = None  # a worker's metrics container
_THREAD = threading.local()  # a launcher thread's metrics container (``container``)


class EachRecord:
    """A per-record DoFn as a step of ``RecordSteps.batched`` (whose steps take lists)."""

    def __init__(self, fn: beam.DoFn):
        self.fn = fn

    def setup(self) -> None:
        self.fn.setup()

    def process(self, records: list[Any]) -> Iterator[Any]:
        for record in records:
            yield from self.fn.process(record) or ()


class RecordSteps:
    """DoFns applied in turn to a batch of records: the first ``per_record`` ones record by
    record, then the ``batched`` ones (DoFns whose ``process`` takes a list) on what is left.

    The ``per_record`` steps must need no model (they run on the early pool, forked before
    the launcher loaded any); ``batched`` may. ``launcher`` (a DoFn over a list too) runs in
    the launcher on each batch's records as they come back (``finish``): a step whose model
    does not survive a fork (ONNX Runtime's), on the launcher's idle thread while the workers
    go on."""

    def __init__(self, name: str, per_record: list[beam.DoFn],
                 batched: list[beam.DoFn | EachRecord] = (), launcher: beam.DoFn | None = None):
        self.name, self.per_record, self.batched = name, per_record, list(batched)
        self.launcher = launcher
        self._ready: set[str] = set()
        self._launcher_ready = False

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ready": set(), "_launcher_ready": False}

    def setup(self, phase: str = ALL) -> None:
        """Sets up the DoFns ``phase`` runs (an early worker: not the model-loading one)."""
        wanted = {EARLY, LATE} if phase == ALL else {phase}
        for part in sorted(wanted - self._ready):
            fns = self.per_record if part == EARLY else self.batched
            for fn in fns:
                fn.setup()
            self._ready.add(part)

    def run(self, records: list[Any], phase: str = ALL) -> list[Any]:
        """Outputs of the batch: records and ``TaggedOutput`` rejects (``EARLY``: the
        rejects and the records the ``batched`` step still has to see)."""
        self.setup(phase)
        outputs: list[Any] = []
        current = records
        if phase != LATE:
            for fn in self.per_record:
                passed = []
                for record in current:
                    for out in fn.process(record) or ():
                        (outputs if isinstance(out, TaggedOutput) else passed).append(out)
                current = passed
        if phase != EARLY:
            for fn in self.batched:
                if not current:
                    break
                passed = []
                for out in fn.process(current) or ():
                    (outputs if isinstance(out, TaggedOutput) else passed).append(out)
                current = passed
        return outputs + current

    def finish(self, outputs: list[Any]) -> list[Any]:
        """In the launcher: ``outputs`` of ``run`` with the ``launcher`` step applied to its
        records."""
        records = [o for o in outputs if not isinstance(o, TaggedOutput)]
        if self.launcher is None or not records:
            return outputs
        if not self._launcher_ready:
            self.launcher.setup()
            self._launcher_ready = True
        return ([o for o in outputs if isinstance(o, TaggedOutput)]
                + list(self.launcher.process(records) or ()))


def _counting() -> Any:
    """A metrics container counting the ``Metrics`` this thread increments (there is no
    Beam step around the DoFns here)."""
    from apache_beam.metrics.execution import MetricsContainer
    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    sampler = statesampler.StateSampler("record_pool", CounterFactory())
    statesampler.set_current_tracker(sampler)
    container = MetricsContainer("record_pool")
    sampler.scoped_state("record_pool", "process", metrics_container=container).__enter__()
    return container


def _counted(container: Any, step: Callable[[], list[Any]]
             ) -> tuple[list[Any], dict[tuple[str, str], int]]:
    """``step()``'s outputs and the Beam counters it incremented."""
    container.metrics.clear()
    outputs = step()
    counters = {(key.metric_name.namespace, key.metric_name.name): cell.get_cumulative()
                for key, cell in container.metrics.items()
                if type(cell).__name__ == "CounterCell"}
    return outputs, counters


def _counted_run(name: str, phase: str,
                 records: list[Any]) -> tuple[list[Any], dict[tuple[str, str], int]]:
    """In a worker: the chain's outputs and the Beam counters its DoFns incremented."""
    return _counted(_COUNTED, lambda: _CHAINS[name].run(records, phase))


def finish_together(chain: RecordSteps, parts: list[list[Any]]) -> list[list[Any]]:
    """``chain.finish`` over several tasks' outputs in one call, each task's share back (a
    record to the task it came from; the step's own rejects to the first)."""
    owner = {id(o): i for i, part in enumerate(parts) for o in part
             if not isinstance(o, TaggedOutput)}
    shares: list[list[Any]] = [[] for _ in parts]
    for out in chain.finish([o for part in parts for o in part]):
        shares[0 if isinstance(out, TaggedOutput) else owner.get(id(out), 0)].append(out)
    return shares


def _counted_finish(chain: RecordSteps, parts: list[list[Any]]
                    ) -> tuple[list[list[Any]], dict[tuple[str, str], int]]:
    """On a launcher thread: ``finish_together`` and the counters it incremented."""
    if getattr(_THREAD, "container", None) is None:
        _THREAD.container = _counting()
    return _counted(_THREAD.container, lambda: finish_together(chain, parts))


def _exit_with_launcher(launcher: int) -> None:
    """A worker whose launcher was killed exits (its siblings hold the task pipe open, so no
    end of file would ever tell it)."""
    while os.getppid() == launcher:
        time.sleep(1.0)
    os._exit(1)


def _worker_init(phase: str) -> None:
    """Counts the DoFns' ``Metrics`` in this worker (there is no Beam step around them); ends
    the worker with its launcher."""
    global _COUNTED
    threading.Thread(target=_exit_with_launcher, args=(os.getppid(),), daemon=True,
                     name="record-pool-watchdog").start()
    _COUNTED = _counting()
    for chain in _CHAINS.values():
        chain.setup(phase)


def _fork(processes: int, phase: str) -> ProcessPoolExecutor:
    """``processes`` workers forked now, knowing the registered chains (and whatever the
    launcher has loaded: shared copy-on-write)."""
    gc.collect()
    gc.freeze()  # objects made so far stay put: fewer pages copied in the workers
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                               initializer=_worker_init, initargs=(phase,))
    pool.submit(int).result()  # forks every worker now
    return pool


def _load_in_thread(load: Callable[[], Any], name: str = "record-pool-models") -> Future:
    """``load()`` run on a launcher thread; its future."""
    done: Future = Future()

    def target() -> None:
        try:
            done.set_result(load())
        except BaseException as exc:  # noqa: BLE001 - re-raised where the full pool is forked
            done.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return done


def _full_pool() -> bool:
    """Whether tasks can run whole chains on the pool; forks the full pool (in the calling
    thread, the runner's) once the models are loaded. Re-raises a failed load."""
    pools = _POOLS
    if pools.pool is None or pools.full:
        return pools.full
    if pools.loaded is None or not pools.loaded.done():
        return False
    with pools.lock:
        if not pools.full:
            pools.loaded.result()  # a model that failed to load fails the run, as before
            early = pools.pool
            pools.pool, pools.full = _fork(pools.workers, ALL), True
            early.shutdown(wait=False)  # its tasks in flight still finish
            pools.retired.append(early)
            LOG.info("record pool: models loaded, %d workers forked with them", pools.workers)
            _then()
    return True


def _then() -> None:
    """Starts the work that must wait for the last fork (a model that does not survive one)."""
    then, _POOLS.then = _POOLS.then, None
    if then is not None:
        _POOLS.then_done = _load_in_thread(then, "record-pool-then")


def _launcher_free() -> Future | None:
    """What a chain's launcher step waits for (the model ``then()`` loads), if not there."""
    done = _POOLS.then_done
    return done if done is not None and not done.done() else None


@contextmanager
def record_pool(processes: int, chains: list[RecordSteps],
                load: Callable[[], Any] | None = None,
                then: Callable[[], Any] | None = None) -> Iterator[None]:
    """Forks ``processes`` workers knowing ``chains`` for the duration of the block; none when
    ``processes`` < 2. Without ``load``, the workers share what the launcher loaded already;
    with it, an early pool is forked at once and ``load()`` runs on a launcher thread, after
    which ``RunSteps`` forks the full pool (module docstring). ``then()`` runs on a launcher
    thread once the last pool is forked (what the launcher alone needs, loaded ahead)."""
    pools = _POOLS
    if processes < 2 or not chains:
        yield
        return
    _CHAINS.update({chain.name: chain for chain in chains})
    pools.workers, pools.then = processes, then
    if any(chain.launcher is not None for chain in chains):
        pools.threads = ThreadPoolExecutor(LAUNCHER_THREADS, thread_name_prefix="record-pool")
    if load is None:
        pools.pool, pools.full = _fork(processes, ALL), True
        _then()
    else:
        pools.pool, pools.full = _fork(processes, EARLY), False
        pools.loaded = _load_in_thread(load)
    try:
        yield
    finally:
        pool, retired, threads = pools.pool, pools.retired, pools.threads
        pools.pool, pools.full, pools.workers, pools.loaded, pools.retired = (
            None, False, 0, None, [])
        pools.then = pools.then_done = pools.threads = None
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        for old in [*retired, *([pool] if pool else [])]:
            old.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
        for chain in chains:
            _CHAINS.pop(chain.name, None)


def on_pool(fn: Callable[..., Any], *args: Any) -> Future | None:
    """``fn(*args)`` (a module-level function: it is pickled by name) on a worker of the
    record pool while the launcher goes on; None when there is no pool (another runner, a
    one-process run) or it broke: the caller runs it itself. After the per-record steps
    the workers are idle, and the launcher's later steps are single-core Python."""
    pool = _POOLS.pool
    if pool is None:
        return None
    try:
        return pool.submit(fn, *args)
    except (BrokenProcessPool, RuntimeError):
        return None


class _Task:
    """A batch in flight: its elements, what its future computes, the rejects its early phase
    returned."""

    __slots__ = ("batch", "future", "phase", "outputs", "passed", "share")

    def __init__(self, batch: list[tuple[Any, Any, Any]], future: Future | None, phase: str):
        self.batch, self.future, self.phase = batch, future, phase
        self.outputs: list[Any] = []  # the early phase's rejects
        self.passed: list[Any] = []  # the early phase's records, the batched step's input
        self.share = 0  # its place among the tasks of one launcher call


class RunSteps(beam.DoFn):
    """Applies a ``RecordSteps`` chain on the record pool (in this process without one), a few
    batches in flight, outputs in the input elements' windows and in their order. A chain's
    ``launcher`` step runs on the pool's launcher threads, so the runner thread goes on
    feeding the workers meanwhile."""

    def __init__(self, chain: RecordSteps, task_records: int = TASK_RECORDS):
        self.chain, self.task_records = chain, task_records

    def start_bundle(self) -> None:
        self.buffer: list[tuple[Any, Any, Any]] = []
        self.pending: deque[_Task] = deque()

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterator:
        if self.buffer and (self.buffer[0][1], self.buffer[0][2]) != (timestamp, window):
            self._submit()  # a task's outputs take its elements' one timestamp and window
        self.buffer.append((element, timestamp, window))
        if len(self.buffer) >= self.task_records:
            self._submit()
        yield from self._drain(everything=False)

    def finish_bundle(self) -> Iterator:
        self._submit()
        yield from self._drain(everything=True)

    def _submit(self) -> None:
        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        phase = ALL if _full_pool() else EARLY
        task = _Task(batch, self._send(phase, [b[0] for b in batch]), phase)
        if task.future is None:
            task.phase = ALL  # no pool: the whole chain runs here when emitted
        self.pending.append(task)

    def _send(self, phase: str, records: list[Any]) -> Future | None:
        pool = _POOLS.pool
        if pool is None or self.chain.name not in _CHAINS:
            return None
        try:
            return pool.submit(_counted_run, self.chain.name, phase, records)
        except (BrokenProcessPool, RuntimeError):
            return None

    def _drain(self, everything: bool) -> Iterator:
        """Emits the finished tasks at the head; waits while more than two tasks per worker
        are in flight (or, with ``everything``, until none is left)."""
        while True:
            self._advance(everything)
            while self.pending and self._ready(self.pending[0]):
                yield from self._emit(self.pending.popleft())
            if not self.pending:
                return
            running = [t.future for t in self.pending if t.future is not None
                       and t.phase != FINISH and not t.future.done()]
            if not everything and len(running) <= 2 * max(_POOLS.workers, 1):
                return
            finishing = [t.future for t in self.pending if t.phase == FINISH
                         and not t.future.done()] if everything else []
            models = [f for f in (None if _POOLS.full else _POOLS.loaded,
                                  _launcher_free() if self.chain.launcher else None) if f]
            if not running and not finishing and not models:
                continue  # nothing to wait for: the head runs here (no pool)
            wait([*running, *finishing, *models], return_when=FIRST_COMPLETED)

    def _advance(self, everything: bool = False) -> None:
        """Tasks whose early phase returned go on to their batched step once the full pool is
        there; tasks whose workers are done go on to the launcher step on its threads,
        ``LAUNCHER_RECORDS`` at a time (all that are done, with ``everything``)."""
        full = _full_pool() or _POOLS.pool is None
        threads = _POOLS.threads if self.chain.launcher and _launcher_free() is None else None
        for task in self.pending:
            if task.future is None or not task.future.done():
                continue
            if task.phase == EARLY and full:
                outputs = self._result(task.future)
                if outputs is None:  # the early worker died: the whole chain runs here
                    task.future, task.phase = None, ALL
                    continue
                task.outputs = [o for o in outputs if isinstance(o, TaggedOutput)]
                task.passed = [o for o in outputs if not isinstance(o, TaggedOutput)]
                task.phase = LATE
                task.future = self._send(LATE, task.passed) if task.passed else None
                if task.future is None and task.passed:  # no pool any more: here
                    task.outputs += self.chain.run(task.passed, LATE)
            elif task.phase in (ALL, LATE) and threads is not None:
                task.outputs, task.phase = self._outputs(task), STAGED
        if threads is not None:
            self._launch(threads, everything)

    def _launch(self, threads: ThreadPoolExecutor, everything: bool) -> None:
        """Staged tasks to the launcher threads, one call per run of tasks with the same
        timestamp and window, once they hold ``LAUNCHER_RECORDS`` records (or ``everything``,
        or nothing else is in flight)."""
        staged = [t for t in self.pending if t.phase == STAGED]
        busy = any(t.phase in (EARLY, ALL, LATE) for t in self.pending)
        if not staged or (not everything and busy
                          and sum(len(t.outputs) for t in staged) < LAUNCHER_RECORDS):
            return
        runs: list[list[_Task]] = []
        for task in staged:
            key = task.batch[0][1:]
            if runs and runs[-1][0].batch[0][1:] == key:
                runs[-1].append(task)
            else:
                runs.append([task])
        for run in runs:
            future = threads.submit(_counted_finish, self.chain, [t.outputs for t in run])
            for share, task in enumerate(run):
                task.future, task.phase, task.share = future, FINISH, share

    def _ready(self, task: _Task) -> bool:
        """Its outputs can be emitted without waiting (while the launcher step's model loads,
        the runner thread goes on feeding the workers)."""
        if task.phase == STAGED:
            return False
        if task.future is None:
            return self.chain.launcher is None or _launcher_free() is None
        if not task.future.done() or task.phase == EARLY:
            return False
        return (task.phase == FINISH or self.chain.launcher is None
                or (_POOLS.threads is None and _launcher_free() is None))

    def _outputs(self, task: _Task) -> list[Any]:
        """A task's outputs before the launcher step (computed here if its worker failed)."""
        records = [b[0] for b in task.batch]
        if task.future is None:
            return self.chain.run(records) if task.phase == ALL else task.outputs
        outputs = self._result(task.future)
        if task.phase == LATE:  # the early phase's outputs stand; its counters are in
            return task.outputs + (self.chain.run(task.passed, LATE) if outputs is None
                                   else outputs)
        return self.chain.run(records) if outputs is None else outputs

    @staticmethod
    def _result(future: Future) -> list[Any] | None:
        """A task's outputs, its counters added to this step's; None if it did not come
        back."""
        try:
            outputs, counters = future.result()
        except Exception as exc:  # noqa: BLE001 - a dead worker, a result that did not come back
            LOG.warning("record pool: %s: the batch runs in the launcher", exc)
            return None
        for (namespace, name), value in counters.items():
            Metrics.counter(namespace, name).inc(value)
        return outputs

    def _emit(self, task: _Task) -> Iterator:
        if task.phase == FINISH:
            shares, counters = task.future.result()  # the launcher step's errors fail the run
            outputs = shares[task.share]
            if task.share == 0:  # a call's counters, once
                for (namespace, name), value in counters.items():
                    Metrics.counter(namespace, name).inc(value)
        else:
            outputs = self.chain.finish(self._outputs(task))
        _, timestamp, window = task.batch[0]
        for out in outputs:
            if isinstance(out, TaggedOutput):
                yield TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
            else:
                yield WindowedValue(out, timestamp, [window])
