"""Beam's per-bundle state sampler on a short period, so that ending a bundle does not wait
out the sampler's sleep.

Every bundle Beam's SDK harness runs (``bundle_processor.BundleProcessor``) has a
``statesampler.StateSampler``: a thread that sleeps, then charges the time since to the step
the bundle is in (the ``msecs`` counters). Its sleep ramps up to 200 ms, and ``stop()`` at the
bundle's end joins the thread, so it waits for the sleep to run out ("May have to wait up to
sampling_period_ms", ``statesampler_fast.pyx``). In an in-process run every stage is a bundle
on the launcher's main thread, one after another: a WARC run of the 1,171 dev pages ended 53
bundles and waited 0.69 s in ``stop()`` (up to 133 ms for one), while nothing else ran on that
thread. With a 5 ms period a bundle waits 5 ms at most; the sampler wakes 200 times a second
while a bundle runs, each wake a lock and a few additions (without the GIL), and the counters
it keeps are the same, sampled more finely. Beam has no option for the period, so the default
of ``StateSampler.__init__`` is replaced, once per process (a caller passing its own period
keeps it).
"""

from __future__ import annotations

import logging

from apache_beam.runners.worker import statesampler

log = logging.getLogger(__name__)

#: sampling period of a bundle's state sampler (Beam's default: 200 ms)
SAMPLING_PERIOD_MS = 5


def install() -> None:
    """Make ``SAMPLING_PERIOD_MS`` the default period of every state sampler this process
    creates from now on. A Beam whose ``StateSampler.__init__`` has another shape is left as
    it is (a slower run, never a failed one; tests/test_bundle_sampler.py fails there)."""
    init = statesampler.StateSampler.__init__
    names = init.__code__.co_varnames[:init.__code__.co_argcount]
    if names[-1:] != ("sampling_period_ms",) or len(init.__defaults__ or ()) != 1:
        log.warning("Beam's StateSampler.__init__%s is not the one expected: its sampling "
                    "period is left at Beam's default", names)
        return
    init.__defaults__ = (SAMPLING_PERIOD_MS,)
