"""Beam's introspections of DoFns and options remembered per object, so building and starting
a pipeline does not repeat them hundreds of times.

Beam 2.77 recomputes them on every call:
- ``userstate.get_dofn_specs(dofn)`` (which state and timers a ``DoFn`` declares) walks
  ``dir(dofn)`` and takes ``inspect.signature`` of every bound method, ~30 per DoFn; building,
  translating and starting a run asks it ~8 times for each of a run's ~120 DoFns (31k
  signatures);
- ``PipelineOptions.view_as(cls)`` builds a new argparse parser of every registered option
  class and parses the flags again; a run asks ~1,100 times (type checks of every applied
  transform ask which type checker to use);
- ``core.get_function_args_defaults(method)`` (``inspect.signature``), behind the first: each
  bundle of a run unpickles its own copies of its DoFns, whose specs are then taken again,
  method by method, though most methods are ``DoFn``'s own and the same function for all.
Together about half of a small run's wall time (a three-record JSONL run: 2.2 s -> 1.2 s in
one warm process), and part of every run's one-core startup. A Beam maintainer proposed the
same memos upstream (apache/beam#9925, "3x speedup in FnApiRunner for trivial pipelines"),
never merged.

The answers depend only on the object asked about: a DoFn's specs are the defaults of its
methods' parameters, fixed by its class (or, for ``Map``/``FlatMap``, by the callable it
wraps, which is why the key is the instance, not the class); a view holds no state of its own
(it reads and writes the options' shared ``_all_options`` dict, so a second view of one class
is interchangeable with the first); a method's arguments and defaults are those of its
function (the bound ``self`` dropped), so they are remembered per plain Python function, and
handed out as new lists. Entries go when their object is collected; objects that
cannot be weakly referenced are not remembered.
"""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable
from typing import Any

from apache_beam.options import pipeline_options
from apache_beam.transforms import core, userstate

_INSTALLED = False


class PerObject:
    """Answers remembered for each live object, by identity (not equality), under any
    hashable key; an object's answers go when it is collected."""

    def __init__(self) -> None:
        self._memo: dict[int, dict[Any, Any]] = {}

    def get(self, obj: Any, key: Any, compute: Callable[[], Any]) -> Any:
        known = self._memo.get(id(obj))
        if known is not None and key in known:
            return known[key]
        value = compute()
        if known is None:
            try:
                weakref.finalize(obj, self._memo.pop, id(obj), None).atexit = False
            except TypeError:  # no weak references to it: its id could be reused
                return value
            known = self._memo.setdefault(id(obj), {})
        known[key] = value
        return value


def remembered_per_object(compute: Callable[..., Any]) -> Callable[..., Any]:
    """``compute(obj, *args)`` remembered for each live ``obj`` and each ``args``."""
    memo = PerObject()

    @functools.wraps(compute)
    def lookup(obj: Any, *args: Any) -> Any:
        return memo.get(obj, args, lambda: compute(obj, *args))

    lookup.uncached = compute  # type: ignore[attr-defined]
    return lookup


def remembered_per_function(
        compute: Callable[[Any], tuple[list, list]]) -> Callable[[Any], tuple[list, list]]:
    """``compute(f)`` (Beam's ``get_function_args_defaults``) remembered for each plain
    Python function, and for any method bound to it (a new object at every attribute access,
    its answer the same for every ``self``); other callables (builtins, partials, callable
    objects) are asked every time. New lists each call: callers may change theirs."""
    memo = PerObject()

    @functools.wraps(compute)
    def lookup(f: Any) -> tuple[list, list]:
        bound = isinstance(f, types.MethodType)
        function = f.__func__ if bound else f
        if not isinstance(function, types.FunctionType):
            return compute(f)
        args, defaults = memo.get(function, bound, lambda: compute(f))
        return list(args), list(defaults)

    lookup.uncached = compute  # type: ignore[attr-defined]
    return lookup


def _new_sets(lookup: Callable[[Any], tuple[set, set]]) -> Callable[[Any], tuple[set, set]]:
    """The remembered specs handed out as new sets (no Beam caller changes them; none
    should see another's change if one did)."""

    @functools.wraps(lookup)
    def specs(dofn: Any) -> tuple[set, set]:
        states, timers = lookup(dofn)
        return set(states), set(timers)

    return specs


def install() -> None:
    """Replace them in Beam, once per process (every caller that reaches them through their
    module or class: ``userstate.get_dofn_specs``, ``core.get_function_args_defaults``,
    ``options.view_as``)."""
    global _INSTALLED
    if _INSTALLED:
        return
    userstate.get_dofn_specs = _new_sets(remembered_per_object(userstate.get_dofn_specs))
    core.get_function_args_defaults = remembered_per_function(core.get_function_args_defaults)
    pipeline_options.PipelineOptions.view_as = remembered_per_object(
        pipeline_options.PipelineOptions.view_as)
    _INSTALLED = True
