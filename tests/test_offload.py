"""Grouped work done by the record pool's workers: the same outputs (tagged ones too) and
counters as done here, with a pool, without one, and when a task does not come back."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.pvalue import TaggedOutput
from offloads import broken_pool, no_pool

from pipelines.record_pool import RecordSteps, on_pool, record_pool
from transforms.offload import GROUPS_PER_TASK, TASKS_IN_FLIGHT, Offloaded

GROUPS = 400  # more than the groups of the tasks in flight: the writer waits mid-bundle
assert GROUPS > GROUPS_PER_TASK * (TASKS_IN_FLIGHT + 1)


def _scaled(group: tuple[int, list[int]], scale: int):
    """Each value scaled, and the group's sum tagged ``sums``."""
    key, values = group
    for value in sorted(values):
        yield value * scale
    yield TaggedOutput("sums", (key, sum(values)))


def _outputs(tmp_path: Path, name: str, offload) -> tuple[list, list, int]:
    """(scaled values, sums, groups counted) of ``GROUPS`` groups of three values."""
    p = beam.Pipeline(runner="FnApiRunner")
    out = (p | beam.Create([(k % GROUPS, k) for k in range(3 * GROUPS)])
           | beam.GroupByKey()
           | beam.ParDo(Offloaded(_scaled, (3,), offload, counter=("test", "groups")))
           .with_outputs("sums", main="scaled"))
    for tag in ("scaled", "sums"):
        (out[tag] | f"List{tag}" >> beam.combiners.ToList()
         | f"Save{tag}" >> beam.Map(lambda rows, tag=tag: (tmp_path / f"{name}-{tag}.json")
                                    .write_text(json.dumps(rows))))
    result = p.run()
    result.wait_until_finish()
    counted = sum(c.committed for c in result.metrics().query(
        MetricsFilter().with_name("groups"))["counters"])
    scaled, sums = (sorted(json.loads((tmp_path / f"{name}-{tag}.json").read_text()))
                    for tag in ("scaled", "sums"))
    return scaled, [tuple(s) for s in sums], counted


def test_groups_done_on_the_pool_give_what_they_give_here(tmp_path):
    here = _outputs(tmp_path, "here", None)
    assert here[0] == [3 * k for k in range(3 * GROUPS)]
    assert here[1] == [(k, 3 * k + 3 * GROUPS) for k in range(GROUPS)]
    assert here[2] == GROUPS
    with record_pool(2, [RecordSteps("offload-test", [])]):
        assert on_pool(int).result() == 0  # there is a pool to offload to
        assert _outputs(tmp_path, "pooled", on_pool) == here
    assert _outputs(tmp_path, "no-pool", no_pool) == here
    assert _outputs(tmp_path, "lost", broken_pool) == here
