"""Arrow schemas of every dataset newsflow writes, and helpers to build rows that fit them.

The schemas are the product's contract with its users (DuckDB queries, analytics jobs), so they
live in one place, carry a version number written into every row, and every writer conforms
records to them instead of letting pyarrow infer types from whatever a batch happened to hold.
Bump ``SCHEMA_VERSION`` whenever a column is added, removed or changes meaning.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: dedup signatures (minhash, seg_vectors, anchors), clusters;
#                    3: story_names (articles);
#                    4: revision, previous_content_hash, embedder (articles); entry state (state);
#                       content flags, entities, keywords, attribution (articles)

_TS = pa.timestamp("us", tz="UTC")

#: One named entity of an article: its surface text, PER/ORG/LOC (or NAME when the type is
#: unknown), and how many times it occurs.
ENTITY = pa.struct([pa.field("text", pa.string()), pa.field("label", pa.string()),
                    pa.field("count", pa.int32())])

#: One row per fetched (or otherwise ingested) URL, copies included and marked.
#: Partition columns ``date`` and ``lang`` are in the path, not in the files.
ARTICLES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),  # stable hash of normalised URL
        pa.field("url", pa.string(), nullable=False),  # the input URL, as listed
        pa.field("final_url", pa.string()),  # after redirects
        pa.field("canonical_url", pa.string()),  # rel=canonical (else final URL), normalised
        pa.field("source_domain", pa.string()),
        pa.field("source_kind", pa.string()),  # feed / url / warc / jsonl
        pa.field("feed_url", pa.string()),
        pa.field("feed_title", pa.string()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("authors", pa.list_(pa.string())),
        pa.field("sitename", pa.string()),
        pa.field("published_at", _TS),
        pa.field("fetched_at", _TS),
        pa.field("language", pa.string()),  # ISO 639-1 (or 639-3 when no 639-1 exists)
        pa.field("language_confidence", pa.float32()),
        pa.field("word_count", pa.int32()),
        pa.field("content_hash", pa.string()),  # hash of the normalised text
        pa.field("copy_group_id", pa.string()),
        pa.field("is_canonical", pa.bool_()),
        pa.field("duplicate_of", pa.string()),  # article_id of the canonical copy
        pa.field("dup_kind", pa.string()),  # exact / near / translation
        pa.field("dup_score", pa.float32()),
        pa.field("story_id", pa.string()),  # independent articles on the same event
        # signatures a later run matches against without rereading the text:
        pa.field("minhash", pa.list_(pa.uint32())),  # MinHash of word 5-gram shingles
        pa.field("seg_vectors", pa.binary()),  # headline + first sentences, float16 rows
        pa.field("seg_dim", pa.int16()),  # width of a seg_vectors row
        pa.field("anchors", pa.list_(pa.string())),  # numbers (#) and name skeletons (@)
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
        # since version 3 (at the end, so older files still line up by position):
        pa.field("story_names", pa.list_(pa.string())),  # names mentioned most (stories)
        # since version 4:
        pa.field("revision", pa.int32()),  # 1, 2, ... each time the article's text changed
        pa.field("previous_content_hash", pa.string()),  # content_hash of the revision before
        pa.field("embedder", pa.string()),  # what made seg_vectors (--embedder)
        # content flags and enrichment (transforms/flags.py, entities.py, keywords.py,
        # attribution.py):
        pa.field("is_paywalled", pa.bool_()),
        pa.field("is_listing", pa.bool_()),
        pa.field("is_machine_translated", pa.bool_()),
        pa.field("text_quality", pa.float32()),  # 0-1, rule in transforms/flags.py
        pa.field("entities", pa.list_(ENTITY)),
        pa.field("keywords", pa.list_(pa.string())),
        pa.field("attributed_source", pa.string()),  # outlet the page credits (a domain if known)
        # copies: does what they credit match the canonical member's domain
        pa.field("attribution_matches_canonical", pa.bool_()),
    ],
    metadata={"newsflow.dataset": "articles", "newsflow.schema_version": str(SCHEMA_VERSION)},
)

#: One row per copy group and per story that this run's articles belong to (with two or more
#: members, or joining an earlier run's group).
CLUSTERS = pa.schema(
    [
        pa.field("cluster_id", pa.string(), nullable=False),  # copy_group_id or story_id
        pa.field("kind", pa.string(), nullable=False),  # copy_group / story
        pa.field("canonical_id", pa.string()),  # the canonical article of a copy group
        pa.field("member_ids", pa.list_(pa.string())),  # this run's members
        pa.field("languages", pa.list_(pa.string())),
        pa.field("dup_kinds", pa.list_(pa.string())),
        pa.field("first_seen", _TS),  # earliest publication among this run's members
        pa.field("size", pa.int32()),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ],
    metadata={"newsflow.dataset": "clusters", "newsflow.schema_version": str(SCHEMA_VERSION)},
)

#: One row per input that did not become an article, with the stage that refused it and why.
REJECTS = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # input / feed / fetch / extract / ...
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable code
        pa.field("detail", pa.string()),  # human-readable explanation
        pa.field("source_kind", pa.string()),
        pa.field("feed_url", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("time", _TS, nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ],
    metadata={"newsflow.dataset": "rejects", "newsflow.schema_version": str(SCHEMA_VERSION)},
)

#: What the next run needs (``_state/kind=feed|page|discovery/``): one row per URL handled by a
#: run, with its HTTP validators, text hash and outcome. Internal, but versioned like the rest.
STATE = pa.schema(
    [
        pa.field("url_key", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # feed / page
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("content_hash", pa.string()),
        # fetched / article / reject / not_modified / unchanged
        pa.field("outcome", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        # feeds: when the next run may poll again (the feed's ttl / cache headers)
        pa.field("next_fetch_at", pa.timestamp("us", tz="UTC")),
        # discovery (kind=discovery): what was found on a site, as JSON
        pa.field("data", pa.string()),
        # since version 4:
        pa.field("revision", pa.int32()),  # latest revision written for this URL
        pa.field("reason", pa.string()),  # stage/reason of a permanent reject
        pa.field("entry_id", pa.string()),  # feed entry GUID (else link) that listed the page
        pa.field("entry_updated", pa.string()),  # the entry's updated/published stamp
        pa.field("entries", pa.string()),  # feeds: JSON entry list of the last 200, for 304s
    ],
    metadata={"newsflow.dataset": "state", "newsflow.schema_version": str(SCHEMA_VERSION)},
)

DATASETS: dict[str, pa.Schema] = {"articles": ARTICLES, "rejects": REJECTS,
                                   "clusters": CLUSTERS, "state": STATE}

#: Directory of each dataset under the output root.
DATASET_DIRS = {"articles": "articles", "rejects": "rejects", "clusters": "clusters",
                "state": "_state"}

_LANG_TAG = re.compile(r"^[a-z]{2,3}$")
_STAGE = re.compile(r"^[a-z_]{1,32}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def lang_partition(language: str | None) -> str:
    """A partition value that is always a language tag (``und`` when unknown), never a path."""
    tag = (language or "").strip().lower()
    return tag if _LANG_TAG.match(tag) else "und"


def stage_partition(stage: str | None) -> str:
    tag = (stage or "").strip().lower()
    return tag if _STAGE.match(tag) else "unknown"


def date_partition(value: dt.datetime | None, fallback: dt.datetime) -> str:
    """``YYYY-MM-DD`` of the UTC date; the fallback (fetch time) when the date is unknown."""
    when = value or fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d")


def make_reject(
    url: str,
    stage: str,
    reason: str,
    detail: str = "",
    *,
    run_id: str = "",
    source_kind: str | None = None,
    feed_url: str | None = None,
) -> dict[str, Any]:
    """A rejects row. ``run_id`` may be filled in later by the pipeline."""
    return {
        "url": url or "",
        "stage": stage,
        "reason": reason,
        "detail": (detail or "")[:2000],
        "source_kind": source_kind,
        "feed_url": feed_url,
        "run_id": run_id,
        "time": utcnow(),
        "schema_version": SCHEMA_VERSION,
    }


def conform(record: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """Keep exactly the schema's columns (missing ones as None), so a table builds strictly."""
    return {name: record.get(name) for name in schema.names}


def to_table(records: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table with the declared types; raises if a value does not fit its column."""
    return pa.Table.from_pylist([conform(r, schema) for r in records], schema=schema)
