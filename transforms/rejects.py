"""The one way a stage refuses an input: a reject row on the ``rejects`` output, counted.

Every ``DoFn`` that can fail on input yields ``reject(item, stage, reason, detail)`` instead of
raising; the pipeline merges the ``rejects`` outputs into the rejects dataset, and the Beam
counters ``<stage>.rejected`` and ``<stage>.rejected_<reason>`` say the same in the run log.

Code has bugs and libraries meet pages nobody tested them on, so no exception may end a run
because of one record: ``guarded(stage)`` wraps a per-record ``process`` (an exception becomes
an ``internal_error`` reject naming the traceback's last line, and the element's outputs are
dropped, so it is never both stored and rejected), and ``guarded_batch(stage)`` wraps a
``process`` over a list of records (a failing batch is re-run one record at a time, so only the
record that fails is rejected).
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas import make_reject

REJECTS = "rejects"

log = logging.getLogger(__name__)


def reject(item: dict[str, Any], stage: str, reason: str, detail: str = "",
           url: str | None = None) -> beam.pvalue.TaggedOutput:
    Metrics.counter(stage, "rejected").inc()
    Metrics.counter(stage, f"rejected_{reason}").inc()
    row = make_reject(url if url is not None else item.get("url", ""), stage, reason, detail,
                      source_kind=item.get("source_kind"), feed_url=item.get("feed_url"))
    if item.get("input_id"):
        row["input_id"] = item["input_id"]  # the input's identity, for the run's ledger
    return beam.pvalue.TaggedOutput(REJECTS, row)


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file.py:12 in func)``: the traceback's last line and where it was."""
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        frame = frames[-1]
        where = frame.filename.rsplit("/", 1)[-1]
        last += f" (at {where}:{frame.lineno} in {frame.name})"
    return last


def _element_item(element: Any) -> dict[str, Any]:
    """What a reject row can say about an element of any shape (record, keyed group, file)."""
    if isinstance(element, dict):
        return element
    metadata = getattr(element, "metadata", None)  # fileio.ReadableFile
    if metadata is not None and getattr(metadata, "path", None):
        return {"url": metadata.path}
    if isinstance(element, tuple) and element:
        return _element_item(element[1]) if isinstance(element[1], dict) else {
            "url": str(element[0])[:500]}
    return {"url": repr(element)[:200]}


def internal_error(element: Any, stage: str, exc: BaseException) -> beam.pvalue.TaggedOutput:
    """The reject row of an element that made a stage raise (logged with its traceback)."""
    item = _element_item(element)
    detail = describe_exception(exc)
    log.warning("%s: internal error on %s: %s", stage, item.get("url"), detail,
                exc_info=(type(exc), exc, exc.__traceback__))
    Metrics.counter(stage, "internal_errors").inc()
    return reject(item, stage, "internal_error", detail)


Process = Callable[..., Iterable[Any] | None]


def guarded(stage: str) -> Callable[[Process], Process]:
    """Decorates ``DoFn.process``: an exception on an element becomes an ``internal_error``
    reject of that element instead of failing the bundle (and with it the run).

    The element's outputs are collected first and emitted only when ``process`` returns, so a
    record is never both passed on and rejected. Meant for DoFns with a few outputs per element.
    """
    def decorate(process: Process) -> Process:
        @functools.wraps(process)
        def run(self, element, *args, **kwargs) -> Iterator[Any]:
            try:
                outputs = list(process(self, element, *args, **kwargs) or ())
            except Exception as exc:  # noqa: BLE001 - one record must not end the run
                yield internal_error(element, stage, exc)
                return
            yield from outputs
        return run
    return decorate


def guarded_batch(stage: str) -> Callable[[Process], Process]:
    """Decorates a ``process`` over a list of records: when the batch raises, each record is
    processed alone, so only the records that raise on their own are rejected."""
    def decorate(process: Process) -> Process:
        @functools.wraps(process)
        def run(self, batch, *args, **kwargs) -> Iterator[Any]:
            try:
                outputs = list(process(self, batch, *args, **kwargs) or ())
            except Exception as exc:  # noqa: BLE001 - find the record that fails
                log.warning("%s: a batch of %d failed (%s); retrying record by record",
                            stage, len(batch), describe_exception(exc))
                Metrics.counter(stage, "batches_split").inc()
                outputs = []
                for record in batch:
                    try:
                        outputs += list(process(self, [record], *args, **kwargs) or ())
                    except Exception as one:  # noqa: BLE001 - this record is the bad one
                        outputs.append(internal_error(record, stage, one))
            yield from outputs
        return run
    return decorate
