"""Beam wiring of the cross-language detectors: articles -> day pools -> translation edges
(main output) and story edges (``stories``)."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from transforms.dedup.alignment import translation_edges
from transforms.dedup.cascade import needs_segments
from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import member_of
from transforms.dedup.pools import PoolDoc, day_number
from transforms.dedup.stories import story_edges
from transforms.embedding import unpack
from transforms.offload import Offload, Offloaded


def _pool_entries(record: dict, window_days: int):
    day = day_number(record)
    slim = {
        "member": member_of(record),
        "language": record.get("language") or "und",
        "seg_vectors": record.get("seg_vectors"),
        "seg_dim": record.get("seg_dim") or 384,
        "anchors": record.get("anchors") or [],
        "names": record.get("story_names") or [],
        "day": day,
    }
    yield day, {**slim, "home": True}
    for back in range(1, window_days + 1):
        yield day - back, {**slim, "home": False}


def _pool_docs(entries) -> list[PoolDoc]:
    # one order whatever the shuffle delivered, so ties break the same way every run
    entries = sorted(entries, key=lambda e: (e["member"].article_id, e["home"]))
    return [PoolDoc(e["member"], e["language"], unpack(e["seg_vectors"], e["seg_dim"]),
                    frozenset(e["anchors"]), e["day"], e["home"], tuple(e["names"]))
            for e in entries]


def pool_candidates(element: tuple[int, list], config: TranslationConfig) -> list[str]:
    """A day pool's articles worth embedding in full (``cascade.needs_segments``)."""
    return list(needs_segments(_pool_docs(element[1]), config))


class SegmentCandidates(beam.PTransform):
    """Articles with headline vectors -> ids of the new articles worth embedding in full
    (``cascade.needs_segments``), once each; the pools through ``offload``
    (``transforms/offload.py``) when given."""

    def __init__(self, config: TranslationConfig, offload: Offload | None = None):
        super().__init__()
        self.config, self.offload = config, offload

    def expand(self, articles):
        config = self.config
        window = max(config.window_days, config.story_window_days)  # the pools stories see
        return (
            articles
            | "PoolByDay" >> beam.FlatMap(lambda r: _pool_entries(r, window))
            | "GroupPools" >> beam.GroupByKey()
            | "Candidates" >> beam.ParDo(Offloaded(pool_candidates, (config,), self.offload))
            | "Once" >> beam.Distinct()
        )


STORIES = "stories"


def pool_edges(element: tuple[int, list], config: TranslationConfig,
               known: frozenset[str] | None) -> Iterator:
    """A day pool's translation edges, and its story edges tagged ``stories``."""
    day, entries = element
    docs = _pool_docs(entries)
    # stories may look further ahead than translations (story_window_days)
    near = [d for d in docs if d.day - day <= config.window_days]
    yield from translation_edges(near, config, known)
    for edge in story_edges(docs, config):
        yield beam.pvalue.TaggedOutput(STORIES, edge)


class TranslationEdges(beam.PTransform):
    """Articles with ``seg_vectors`` -> translation ``Edge``s (main) and story edges
    (``stories``), pooled by publication-day windows (the wider of the two windows; each
    detector sees its own)."""

    def __init__(self, config: TranslationConfig, known: frozenset[str] | None,
                 offload: Offload | None = None):
        super().__init__()
        self.config, self.known, self.offload = config, known, offload

    def expand(self, articles):
        window = max(self.config.window_days, self.config.story_window_days)
        return (
            articles
            | "PoolByDay" >> beam.FlatMap(lambda r: _pool_entries(r, window))
            | "GroupPools" >> beam.GroupByKey()
            | "AlignPools" >> beam.ParDo(Offloaded(
                pool_edges, (self.config, self.known), self.offload,
                counter=("dedup", "translation_pools"))).with_outputs(
                STORIES, main="translations")
        )
