"""Workarounds for Beam's bundle-based ``DirectRunner`` (2.77), the local streaming runner.

Empty bundles: that runner hands every consumer one bundle per output of each evaluated
bundle, empty ones included, and maps the main input's window onto each side input from the
bundle's *elements*: for an empty bundle the window is ``None``, so a ``ParDo`` with a windowed
side input (the stream's ``CommitWindow``, ``EmbedCandidates``, ``MarkCopies``) fails in
``map_via_end`` (``'NoneType' object has no attribute 'max_timestamp'``), its worker thread
dies and the pipeline hangs. An empty bundle reads no side input, so it is given the earliest
window of event time, which every side input has passed once the stream's first poll is in.

Keyed state: the runner keeps one state object per key and stateful step (every
``GroupByKey`` and stateful ``DoFn``) for the whole run and scans all of them at every
watermark update; a ``GroupByKey`` also keeps, per key and window, its trigger's bookkeeping
(pane index, window id) after the window fired, with no garbage collection of expired windows:
a stream's memory and per-bundle work then grow with every key it has ever seen (LSH buckets,
content hashes, URLs, partitions). Two things are dropped, each equivalent to what the runner
would do with an absent entry: a ``GroupByKey``'s state of windows that expired (the input
watermark is past the window's end plus its allowed lateness, so the trigger ignores any
element for it, and no timer is left), and a key whose state is then empty (the runner
creates an empty one on the next access).
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.direct import evaluation_context, executor
from apache_beam.runners.direct.direct_runner import _StreamingGroupAlsoByWindow
from apache_beam.transforms.window import BoundedWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp

#: The global-state tag under which a ``GroupByKey``'s trigger maps windows to state ids
#: (``apache_beam.transforms.trigger.MergeableStateAdapter``).
WINDOW_IDS = "window_ids"

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


def drop_expired_windows(state: Any, watermark: Timestamp, lateness: Any) -> None:
    """Removes a ``GroupByKey`` key's state of the windows that ended (plus ``lateness``)
    before ``watermark`` and hold no timer."""
    ids = state.global_state.get(WINDOW_IDS)
    if isinstance(ids, dict):  # windows -> state ids (the trigger's adapter)
        for window, window_ids in list(ids.items()):
            if (watermark > window.end + lateness
                    and not any(state.timers.get(i) for i in window_ids)):
                for i in window_ids:
                    state.state.pop(i, None)
                    state.timers.pop(i, None)
                del ids[window]
        if not ids:
            del state.global_state[WINDOW_IDS]
        return
    for window in list(state.state):
        if (isinstance(window, BoundedWindow) and watermark > window.end + lateness
                and not state.timers.get(window)):
            state.state.pop(window, None)
            state.timers.pop(window, None)


def drop_empty_keyed_states() -> None:
    """Patches ``EvaluationContext.handle_result`` once per process (idempotent): after a
    bundle of a ``GroupByKey`` step whose input watermark moved, its expired windows' state is
    dropped; keys left empty (there, or by the bundle) are removed."""
    cls = evaluation_context.EvaluationContext
    if getattr(cls.handle_result, "_newsflow_fix", False):
        return
    original = cls.handle_result

    def handle_result(self, completed_bundle, completed_timers, result):
        committed = original(self, completed_bundle, completed_timers, result)
        transform = result.transform
        watermarks = self._watermark_manager.get_watermarks(transform)
        keys = list(result.partial_keyed_state or ())
        swept = getattr(self, "_newsflow_swept", None)
        if swept is None:
            swept = self._newsflow_swept = {}
        grouping = isinstance(transform.transform, _StreamingGroupAlsoByWindow)
        watermark = watermarks.input_watermark if grouping else None
        sweep = grouping and swept.get(transform) != watermark
        if not keys and not sweep:
            return committed
        # both locks: the runner's timer scan iterates these states under the second
        with self._lock, watermarks._lock:
            states = self._transform_keyed_states[transform]
            if sweep:
                swept[transform] = watermark
                lateness = transform.transform.windowing.allowed_lateness
                keys = list(states)
                for key in keys:
                    drop_expired_windows(states[key], watermark, lateness)
            for key in keys:
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
