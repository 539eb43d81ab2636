"""Settings of the cross-language detectors (segments, alignment, stories, pools) in one place."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.embedding import E5_MARGIN_FLOOR, E5_THIN_MARGIN_FLOOR


@dataclass(frozen=True)
class TranslationConfig:
    segments: int = 5  # headline + first sentences embedded per document
    segment_chars: int = 300
    neighbours: int = 8  # k of the ratio margin
    # each of the k counts at least margin_floor (None: as found), and at least
    # thin_margin_floor where the other side has fewer than `neighbours` documents: a pool
    # of a few documents has no close neighbours to offer, so its best pair stands out by
    # construction (alignment._floors). Properties of the embedder's cosine scale: e5's
    # (embedding.E5_MARGIN_FLOOR, E5_THIN_MARGIN_FLOOR) by default, a run takes its
    # embedder's (embedding.embedder_margin_floors)
    margin_floor: float | None = E5_MARGIN_FLOOR
    thin_margin_floor: float | None = E5_THIN_MARGIN_FLOOR
    segment_margin: float = 1.025  # a segment pair aligns when mutual best with this margin
    short_margin: float = 1.05  # ...and this one when a document has a single segment
    # ...but two documents of short_pair_segments or fewer, of equal length, at this one (WMT
    # all domains: en-uk chat turns, one sentence each, are mutual best at margin 1.02-1.05)
    short_pair_margin: float = 1.02
    short_pair_segments: int = 2
    min_aligned_fraction: float = 0.4  # of the shorter document's segments
    min_aligned: int = 2  # documents with one segment need their single segment aligned
    # weakly modelled languages (Hausa) align in order at lower margins: an order-preserving
    # chain of mutual best segments at chain_margin covering chain_fraction of the shorter
    # document (strong_chain_fraction when a pair reaches short_margin) is a borderline link
    chain_margin: float = 0.995
    chain_fraction: float = 0.8
    strong_chain_fraction: float = 0.6
    candidates: int = 10  # nearest documents per other language to verify
    anchor_threshold: float = 0.34  # anchor Jaccard for languages the model does not know
    min_anchors: int = 3
    # "same story" (stories.story_vectors): story_text_weight x the cosine of mean segment
    # vectors with each language's average direction in the pool removed + the rest x the
    # cosine of rarity-weighted names and numbers; stories merge while their average
    # similarity is at least story_threshold, and two of story_tight or more members each only
    # while it is at least story_cohesion x the tighter one's own average (stories.
    # average_linkage). Pools under story_min_pool documents compare raw vectors
    story_threshold: float = 0.36
    story_text_weight: float = 0.6
    story_cohesion: float = 0.7
    story_tight: int = 5
    # a report average linkage leaves alone joins the story it is closest to on average, among
    # those its links above story_threshold reach, when that average is >= story_attach x
    # story_threshold (stories.attach_lone_reports; 0 turns it off)
    story_attach: float = 0.8
    story_raw_threshold: float = 0.93
    story_min_pool: int = 12
    story_neighbours: int = 10  # candidate story links per new document (its nearest)
    # reports of one event spread over days (BASIL: 11% of same-event pairs 2-4 days apart):
    # a story pool holds its day and the story_window_days after it (translations: window_days)
    story_window_days: int = 3
    # the cascade (cascade.py): headline cosine that makes a document a candidate, so its
    # other segments are embedded
    gate_cosine: float = 0.8  # to a document in another language
    gate_story: float = 0.3  # story similarity from headline vectors (stories.story_vectors)
    # ...in pools under story_min_pool: raw headline cosine, with names' cosine >= gate_story
    gate_small_cosine: float = 0.85
    cascade: bool = True  # False: every new document is a candidate (streams, --no_cascade)
    window_days: int = 1
    embedder: str = "e5"
    # SDK processes sharing one machine (0: one per core, as on Dataflow): the embedder's
    # threads are this process's share of the cores (embedding.threads_per_process)
    processes_per_machine: int = 1
