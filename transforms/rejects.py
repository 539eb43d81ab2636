"""The one way a stage refuses an input: a reject row on the ``rejects`` output, counted.

Every ``DoFn`` that can fail on input yields ``reject(item, stage, reason, detail)`` instead of
raising; the pipeline merges the ``rejects`` outputs into the rejects dataset, and the Beam
counters ``<stage>.rejected`` and ``<stage>.rejected_<reason>`` say the same in the run log.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas import make_reject

REJECTS = "rejects"


def reject(item: dict[str, Any], stage: str, reason: str, detail: str = "",
           url: str | None = None) -> beam.pvalue.TaggedOutput:
    Metrics.counter(stage, "rejected").inc()
    Metrics.counter(stage, f"rejected_{reason}").inc()
    return beam.pvalue.TaggedOutput(REJECTS, make_reject(
        url if url is not None else item.get("url", ""), stage, reason, detail,
        source_kind=item.get("source_kind"), feed_url=item.get("feed_url")))
