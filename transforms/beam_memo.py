"""Two of Beam's introspections remembered per object, so building and starting a pipeline
does not repeat them hundreds of times.

Beam 2.77 recomputes both on every call:
- ``userstate.get_dofn_specs(dofn)`` (which state and timers a ``DoFn`` declares) walks
  ``dir(dofn)`` and takes ``inspect.signature`` of every bound method, ~30 per DoFn; building,
  translating and starting a run asks it ~8 times for each of a run's ~120 DoFns (31k
  signatures);
- ``PipelineOptions.view_as(cls)`` builds a new argparse parser of every registered option
  class and parses the flags again; a run asks ~1,100 times (type checks of every applied
  transform ask which type checker to use).
Together about half of a small run's wall time (a three-record JSONL run: 2.2 s -> 1.0 s in
one warm process), and part of every run's one-core startup. A Beam maintainer proposed the
same two memos upstream (apache/beam#9925, "3x speedup in FnApiRunner for trivial
pipelines"), never merged.

Both answers depend only on the object asked about: a DoFn's specs are the defaults of its
methods' parameters, fixed by its class (or, for ``Map``/``FlatMap``, by the callable it
wraps, which is why the key is the instance, not the class); a view holds no state of its own
(it reads and writes the options' shared ``_all_options`` dict, so a second view of one class
is interchangeable with the first). Entries go when their object is collected. Objects that
cannot be weakly referenced are not remembered.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from apache_beam.options import pipeline_options
from apache_beam.transforms import userstate

_INSTALLED = False


def remembered_per_object(compute: Callable[..., Any]) -> Callable[..., Any]:
    """``compute(obj, *args)`` remembered for each live ``obj`` (by identity, not equality)
    and each ``args``."""
    memo: dict[int, dict[tuple, Any]] = {}

    @functools.wraps(compute)
    def lookup(obj: Any, *args: Any) -> Any:
        known = memo.get(id(obj))
        if known is not None and args in known:
            return known[args]
        value = compute(obj, *args)
        if known is None:
            try:
                weakref.finalize(obj, memo.pop, id(obj), None)
            except TypeError:  # no weak references to it: its id could be reused
                return value
            known = memo[id(obj)] = {}
        known[args] = value
        return value

    lookup.uncached = compute  # type: ignore[attr-defined]
    return lookup


def install() -> None:
    """Replace both in Beam, once per process (every module that calls them through their
    module: ``userstate.get_dofn_specs``, ``options.view_as``)."""
    global _INSTALLED
    if _INSTALLED:
        return
    userstate.get_dofn_specs = remembered_per_object(userstate.get_dofn_specs)
    pipeline_options.PipelineOptions.view_as = remembered_per_object(
        pipeline_options.PipelineOptions.view_as)
    _INSTALLED = True
