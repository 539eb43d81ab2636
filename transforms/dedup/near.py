"""Near duplicates in one language: MinHash over word shingles, LSH banding, Jaccard check.

Syndicated wire copies differ by a headline, a trimmed paragraph or boilerplate, so their texts
share most word 5-grams; independent rewrites (even translations back into the same language)
share almost none (DESIGN.md §8: median Jaccard 0.03). MinHash (rensa) estimates the Jaccard
similarity of the shingle sets; LSH banding turns "similar signatures" into "same bucket" so
only bucket mates are compared, and the estimate verifies each candidate pair.

With ``bands`` b of ``rows`` r, a pair with Jaccard s becomes a candidate with probability
1 - (1 - s^r)^b: for b=32, r=4 that is 0.2% at s=0.1, 50% at s=0.42 and 98% at s=0.6, and the
``threshold`` (default 0.5) then decides. Signatures are stored in the ``minhash`` column, so a
later run compares new articles with recent ones without their text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dedup.members import Edge, member_of
from transforms.enrich import text_key
from transforms.rejects import REJECTS, guarded_batch


@dataclass(frozen=True)
class NearConfig:
    shingle_words: int = 5
    num_perm: int = 128
    bands: int = 32  # rows per band = num_perm // bands
    threshold: float = 0.5  # estimated Jaccard needed to call two texts copies
    max_bucket: int = 200  # larger buckets (boilerplate-only texts) compare to their first 50
    seed: int = 1

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


def shingles(text: str, size: int) -> list[str]:
    words = text_key(text).split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]


def signatures(texts: list[str], config: NearConfig) -> list[list[int]]:
    """Signatures of many texts in one call (rensa's bulk path)."""
    from rensa import RMinHash

    sets = [shingles(t, config.shingle_words) or [""] for t in texts]
    matrix = RMinHash.digest_matrix_from_token_sets(sets, config.num_perm, config.seed)
    return [[int(v) for v in row] for row in matrix.to_rows()]


def jaccard(a: list[int], b: list[int]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def band_keys(language: str | None, sig: list[int], config: NearConfig) -> list[str]:
    rows = config.rows
    keys = []
    for band in range(config.bands):
        chunk = ",".join(map(str, sig[band * rows:(band + 1) * rows]))
        digest = hashlib.blake2b(chunk.encode(), digest_size=8).hexdigest()
        keys.append(f"{language or 'und'}:{band}:{digest}")
    return keys


def bucket_pairs(members: list[tuple[Any, list[int]]], config: NearConfig) -> Iterator[Edge]:
    """Verified copy pairs among the members of one LSH bucket."""
    members = sorted(members, key=lambda m: m[0].article_id)
    anchors = members if len(members) <= config.max_bucket else members[:50]
    for i, (a, sig_a) in enumerate(anchors):
        for b, sig_b in members[i + 1:]:
            if a.article_id == b.article_id or (a.existing and b.existing):
                continue
            score = jaccard(sig_a, sig_b)
            if score >= config.threshold:
                yield Edge(a, b, "near", round(score, 4))


def best_edge(edges: Iterable[Edge]) -> Edge:
    return max(edges, key=lambda e: e.score)


class AddSignatures(beam.DoFn):
    """Sets ``minhash`` on each article (batched through rensa's bulk digest)."""

    REJECTS = REJECTS

    def __init__(self, config: NearConfig):
        self.config = config

    @guarded_batch("dedup")  # a record that breaks the batch is rejected alone
    def process(self, batch: list[dict]) -> Iterator[dict]:
        for record, sig in zip(batch, signatures([r.get("text") or "" for r in batch],
                                                 self.config), strict=True):
            record["minhash"] = sig
            yield record


class NearDuplicateEdges(beam.PTransform):
    """Articles (with ``minhash``; ``existing`` ones from earlier runs too) -> near ``Edge``s."""

    def __init__(self, config: NearConfig):
        super().__init__()
        self.config = config

    def expand(self, articles):
        config = self.config
        counter = Metrics.counter("dedup", "near_candidate_buckets")

        def keyed(record: dict):
            sig = record.get("minhash")
            if not sig:
                return
            member = member_of(record)
            for key in band_keys(record.get("language"), sig, config):
                yield key, (member, sig)

        def pairs(element):
            _, members = element
            members = list(members)
            if len(members) > 1:
                counter.inc()
                yield from bucket_pairs(members, config)

        return (
            articles
            | "BandKeys" >> beam.FlatMap(keyed)
            | "GroupBands" >> beam.GroupByKey()
            | "VerifyBuckets" >> beam.FlatMap(pairs)
            | "KeyPair" >> beam.Map(lambda e: ((e.a.article_id, e.b.article_id), e))
            | "OnePerPair" >> beam.CombinePerKey(best_edge)
            | "DropKey" >> beam.Values()
        )
