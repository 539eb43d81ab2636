"""Duplicate detection, one concern per module.

Detectors produce ``Edge``s between articles (``members``): ``exact`` (same canonical URL or
text hash), ``near`` (MinHash/LSH, same language), ``alignment`` (translations: segment margins
in day ``pools``, vectors from ``segments``, maths in ``similarity``; Beam wiring in
``pool_edges``; ``cascade`` decides which articles get more than their headline embedded).
``groups`` turns copy edges into copy groups with a canonical member and marks
the articles; ``stories`` links looser same-event articles; ``history`` reads earlier runs'
signatures; ``clusters`` writes one row per group and story. Settings live in ``config``
(translation, stories, pools) and ``near.NearConfig``.
"""

from transforms.dedup.clusters import Clusters
from transforms.dedup.config import TranslationConfig
from transforms.dedup.groups import MarkDuplicates
from transforms.dedup.history import EmbedHistoryCandidates, ReadRecentArticles
from transforms.dedup.members import Edge, Member
from transforms.dedup.near import AddSignatures, NearConfig, NearDuplicateEdges
from transforms.dedup.pool_edges import SegmentCandidates, TranslationEdges
from transforms.dedup.segments import EmbedSegments
from transforms.dedup.stories import AddStoryNames

__all__ = ["AddSignatures", "Clusters", "Edge", "EmbedHistoryCandidates", "EmbedSegments",
           "MarkDuplicates", "Member", "NearConfig", "NearDuplicateEdges", "ReadRecentArticles",
           "SegmentCandidates", "TranslationConfig", "TranslationEdges", "AddStoryNames"]
