"""Workarounds for Beam's bundle-based ``DirectRunner`` (2.77), the local streaming runner.

Empty bundles: that runner hands every consumer one bundle per output of each evaluated
bundle, empty ones included, and maps the main input's window onto each side input from the
bundle's *elements*: for an empty bundle the window is ``None``, so a ``ParDo`` with a windowed
side input (the stream's ``CommitWindow``, ``EmbedCandidates``, ``MarkCopies``) fails in
``map_via_end`` (``'NoneType' object has no attribute 'max_timestamp'``), its worker thread
dies and the pipeline hangs. An empty bundle reads no side input, so it is given the earliest
window of event time, which every side input has passed once the stream's first poll is in.

Keyed state: the runner keeps one state object per key and stateful step (every
``GroupByKey`` and stateful ``DoFn``) for the whole run, also once its windows have fired and
its state and timers are cleared, and scans all of them at every watermark update: a stream's
memory and per-bundle work then grow with every key it has ever seen (URLs, content hashes,
LSH buckets, partitions). A key whose state is empty is equivalent to an absent one (the runner
creates an empty one on the next access), so it is dropped when its bundle commits.
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.direct import evaluation_context, executor
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp

#: What an empty bundle's "window" maps onto a side input from: the first microsecond of 1970.
EMPTY_BUNDLE_WINDOW = IntervalWindow(Timestamp(micros=0), Timestamp(micros=1))


def tolerate_empty_side_input_bundles() -> None:
    """Patches ``TransformExecutor.call`` once per process (idempotent)."""
    cls = executor.TransformExecutor
    if getattr(cls.call, "_newsflow_fix", False):
        return
    original = cls.call

    def call(self, state_sampler):
        if self._latest_main_input_window is None and self._applied_ptransform.side_inputs:
            self._latest_main_input_window = EMPTY_BUNDLE_WINDOW
        return original(self, state_sampler)

    call._newsflow_fix = True
    cls.call = call


def empty_keyed_state(state: Any) -> bool:
    """No timers, no global state, and no window holding a value (the runner's
    ``InMemoryUnmergedState``; reads of an absent tag leave an empty list behind, which is
    what an absent tag reads as; any other value, even 0 or ``{}``, is a value)."""
    return (not state.timers and not state.global_state
            and all(values == [] and isinstance(values, list)
                    for tags in state.state.values() for values in tags.values()))


def drop_empty_keyed_states() -> None:
    """Patches ``EvaluationContext.handle_result`` once per process (idempotent): the keys a
    bundle left empty are removed from the step's keyed states."""
    cls = evaluation_context.EvaluationContext
    if getattr(cls.handle_result, "_newsflow_fix", False):
        return
    original = cls.handle_result

    def handle_result(self, completed_bundle, completed_timers, result):
        committed = original(self, completed_bundle, completed_timers, result)
        if result.partial_keyed_state:
            watermarks = self._watermark_manager.get_watermarks(result.transform)
            # both locks: the runner's timer scan iterates these states under the second
            with self._lock, watermarks._lock:
                states = self._transform_keyed_states[result.transform]
                for key in result.partial_keyed_state:
                    state = states.get(key)
                    if state is not None and empty_keyed_state(state):
                        del states[key]
        return committed

    handle_result._newsflow_fix = True
    cls.handle_result = handle_result


def fix_bundle_based_runner() -> None:
    """Both workarounds (the stream on the bundle-based runner)."""
    tolerate_empty_side_input_bundles()
    drop_empty_keyed_states()
