"""Beam's DoFn and options introspections remembered per object (``transforms/beam_memo.py``):
the same answers as Beam's own, asked once per object, forgotten with it; a stateful DoFn
still runs as one on the in-process runner."""

from __future__ import annotations

import gc

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    StandardOptions,
)
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

import transforms  # noqa: F401  (installs the memos, as every newsflow process does)
from transforms.beam_memo import remembered_per_function, remembered_per_object


class Counted:
    """A weakly referenceable object."""


def test_each_object_is_asked_once_per_arguments_and_forgotten_with_it():
    calls: list[tuple[int, object]] = []

    def compute(obj, arg):
        calls.append((id(obj), arg))
        return (id(obj), arg)

    lookup = remembered_per_object(compute)
    a, b = Counted(), Counted()
    assert lookup(a, 1) == lookup(a, 1) == (id(a), 1)
    assert lookup(a, 2) == (id(a), 2) and lookup(b, 1) == (id(b), 1)
    assert len(calls) == 3
    # ints cannot be weakly referenced: asked every time, never remembered
    assert lookup(7, 1) == lookup(7, 1) and len(calls) == 5
    del a
    gc.collect()
    reborn = Counted()  # may reuse the collected one's id: must not get its answer
    calls.clear()
    assert lookup(reborn, 1) == (id(reborn), 1) and calls == [(id(reborn), 1)]


def test_a_functions_arguments_are_asked_once_for_it_and_all_its_bound_methods():
    from apache_beam.transforms import core

    asked: list[object] = []

    def compute(f):
        asked.append(f)
        return core.get_function_args_defaults.uncached(f)

    lookup = remembered_per_function(compute)
    one, two = CountPerKey(), CountPerKey()
    args, defaults = lookup(one.process)
    assert (args, defaults) == core.get_function_args_defaults.uncached(two.process)
    assert args == ["element", "count"] and defaults == [COUNT_STATE]
    args.append("changed")  # a caller's change stays in its own list
    assert lookup(two.process) == (["element", "count"], [COUNT_STATE])
    assert lookup(CountPerKey.process)[0] == ["self", "element", "count"]  # unbound: its own
    assert len(asked) == 2
    assert lookup(len) == lookup(len) and len(asked) == 4  # builtins: asked every time


COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())
COUNT_STATE = beam.DoFn.StateParam(COUNT)


class CountPerKey(beam.DoFn):
    def process(self, element, count=COUNT_STATE):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen


def test_specs_are_beams_own_and_a_stateful_dofn_still_runs_as_one(monkeypatch):
    fn = CountPerKey()
    assert userstate.get_dofn_specs(fn) == userstate.get_dofn_specs.uncached(fn)
    assert {s.name for s in userstate.get_dofn_specs(fn)[0]} == {"count"}
    assert userstate.is_stateful_dofn(fn)
    assert not userstate.is_stateful_dofn(beam.Map(lambda x: x).dofn)

    asked: list[int] = []
    uncached = userstate.get_dofn_specs.uncached

    def counting(dofn):
        asked.append(id(dofn))
        return uncached(dofn)

    monkeypatch.setattr(userstate, "get_dofn_specs", remembered_per_object(counting))
    options = PipelineOptions(direct_num_workers=1)
    with beam.Pipeline(options=options) as p:
        out = (p | beam.Create([("a", 1), ("b", 1), ("a", 1)])
               | beam.ParDo(CountPerKey()))
        assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))
    # Beam asks about each DoFn several times while building, translating and starting the
    # pipeline (and again for each copy a bundle unpickles): each object is inspected once
    assert asked and len(asked) == len(set(asked))


def test_views_are_reused_and_share_every_value():
    options = PipelineOptions(["--direct_num_workers", "3"])
    view = options.view_as(DirectOptions)
    assert options.view_as(DirectOptions) is view and view.direct_num_workers == 3
    view.direct_num_workers = 5  # through one view, seen through the others
    assert options.view_as(DirectOptions).direct_num_workers == 5
    assert options.get_all_options()["direct_num_workers"] == 5
    standard = options.view_as(StandardOptions)
    standard.streaming = True
    assert view.view_as(StandardOptions).streaming is True
    other = PipelineOptions(["--direct_num_workers", "3"])
    assert other.view_as(DirectOptions) is not view
    assert other.view_as(DirectOptions).direct_num_workers == 3
