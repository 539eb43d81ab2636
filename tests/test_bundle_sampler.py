"""Beam's bundle state sampler runs on newsflow's short period (``transforms/bundle_sampler.py``)
in the bundles of a real in-process run, and still charges a step the time spent in it."""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import monitoring_infos
from apache_beam.runners.worker import statesampler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.counters import CounterFactory

import transforms  # noqa: F401  (installs the period, as every newsflow process does)
from transforms.bundle_sampler import SAMPLING_PERIOD_MS


class PeriodOfMyBundle(beam.DoFn):
    def process(self, element):
        time.sleep(0.3)  # long enough for the sampler to charge this step
        yield statesampler.get_current_tracker().sampling_period_ms


def test_a_run_s_bundles_sample_on_the_short_period_and_still_count_their_time():
    assert SAMPLING_PERIOD_MS < 200  # Beam's own default
    pipeline = beam.Pipeline()
    periods = pipeline | beam.Create([1]) | "Period" >> beam.ParDo(PeriodOfMyBundle())
    assert_that(periods, equal_to([SAMPLING_PERIOD_MS]))  # fails the run otherwise
    result = pipeline.run()
    result.wait_until_finish()
    spent = [monitoring_infos.extract_metric_result_map_value(info)
             for info in result.monitoring_infos()
             if info.urn == monitoring_infos.PROCESS_BUNDLE_MSECS_URN
             and info.labels.get("PTRANSFORM") == "Period"]
    assert spent and spent[0] >= 150  # the sleep is charged to the step (sampled, not exact)


def test_a_caller_s_own_period_is_kept():
    assert statesampler.StateSampler("x", CounterFactory(), 50).sampling_period_ms == 50
    assert statesampler.StateSampler("x", CounterFactory()).sampling_period_ms == \
        SAMPLING_PERIOD_MS
