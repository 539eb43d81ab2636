"""Pools: windows of publication days in which translations and stories are looked for.

A document meets the documents of its own day and of the next, so translations published up to
a day apart are compared, and margins are computed against what was published around the same
time. Each pair is decided in the window of its earlier day only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from transforms.dedup.config import TranslationConfig
from transforms.dedup.members import Member


@dataclass
class PoolDoc:
    member: Member
    language: str
    vectors: np.ndarray  # segments x dim, L2-normalised
    anchors: frozenset[str]
    day: int
    home: bool  # this pool is the document's own window (else it is a guest from the next day)
    names: tuple[str, ...] = ()  # stories.story_names of the article


def pair_allowed(a: PoolDoc, b: PoolDoc, config: TranslationConfig) -> bool:
    if a.member.existing and b.member.existing:
        return False  # decided by an earlier run
    if not (a.home or b.home) or abs(a.day - b.day) > config.window_days:
        return False
    # evaluated in the window of the earlier day only, so each pair is decided once
    return (a.home and b.home) or (a.home and b.day == a.day + 1) or (
        b.home and a.day == b.day + 1)


def day_number(record: dict[str, Any]) -> int:
    when = record.get("published_at") or record.get("fetched_at")
    if not isinstance(when, dt.datetime):
        when = dt.datetime.now(dt.timezone.utc)
    return when.toordinal()
