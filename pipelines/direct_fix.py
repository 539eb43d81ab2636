"""A workaround for Beam's bundle-based ``DirectRunner`` (2.77), the local streaming runner.

That runner hands every consumer one bundle per output of each evaluated bundle, empty ones
included, and maps the main input's window onto each side input from the bundle's *elements*:
for an empty bundle the window is ``None``, so a ``ParDo`` with a windowed side input (the
stream's ``CommitWindow``, ``EmbedCandidates``, ``MarkCopies``) fails in ``map_via_end``
(``'NoneType' object has no attribute 'max_timestamp'``), its worker thread dies and the
pipeline hangs. An empty bundle reads no side input, so it is given the earliest window of
event time, which every side input has passed once the stream's first poll is in.
"""

from __future__ import annotations

from apache_beam.runners.direct import executor
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
