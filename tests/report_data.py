"""Synthetic output roots for the report's tests and benchmark, written in newsflow's schemas.

Rows go through ``schemas.to_table`` and the same partition paths as the real sinks, so DuckDB
reads them exactly as it reads a pipeline's output; ``with_entities=False`` drops the
``entities`` column, as in a root written before schema version 3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import ARTICLES, REJECTS, SCHEMA_VERSION, to_table
from transforms.sinks import article_partition, reject_partition

UTC = dt.timezone.utc


def _id(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def write_rows(root: Path, dataset: str, run_id: str, records: list[dict],
               with_entities: bool = False) -> list[dict]:
    """Writes the records as the sinks would; returns the file entries for the manifest."""
    schema = ARTICLES if dataset == "articles" else REJECTS
    partition = article_partition if dataset == "articles" else reject_partition
    parts: dict[str, list[dict]] = defaultdict(list)
    files = []
    for record in records:
        parts[partition(record)].append(record)
    for path, rows in parts.items():
        table = to_table(rows, schema)
        if "revision" not in table.schema.names and any("revision" in r for r in rows):
            table = table.append_column(pa.field("revision", pa.int32()), pa.array(
                [r.get("revision") for r in rows], type=pa.int32()))
        if dataset == "articles" and not with_entities:
            # a root written before the content columns (schema < 4) has no entities column
            table = table.drop_columns(["entities"])
        relative = f"{dataset}/{path}/part-{run_id}-00000.parquet"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
        files.append({"dataset": dataset, "path": str(target), "relative": relative,
                      "rows": table.num_rows})
    return files


def write_manifest(root: Path, run_id: str, started: dt.datetime, seconds: float,
                   articles: int, rejects: dict[str, int], files: list[dict]) -> None:
    """The run's manifest: what marks it committed, and the files the views may read."""
    path = root / "_runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "run_id": run_id, "schema_version": SCHEMA_VERSION,
        "started_at": started.isoformat(),
        "finished_at": (started + dt.timedelta(seconds=seconds)).isoformat(),
        "counts": {f"rejected/{k}": v for k, v in rejects.items()},
        "rows": {"articles": articles, "rejects": sum(rejects.values()), "clusters": 0,
                 "state": 0}, "files": files}))


def article(run_id: str, url: str, lang: str, published: dt.datetime, fetched: dt.datetime,
            title: str, text: str = "", **extra) -> dict:
    host = url.split("/")[2]
    return {"article_id": _id(url), "url": url, "final_url": url, "canonical_url": url,
            "source_domain": host, "source_kind": "feed", "title": title, "text": text,
            "published_at": published, "fetched_at": fetched, "language": lang,
            "word_count": len(text.split()), "copy_group_id": _id(url), "is_canonical": True,
            "story_id": _id(url), "run_id": run_id, "schema_version": SCHEMA_VERSION,
            **extra}


def copy_of(original: dict, run_id: str, url: str, lang: str, delay_hours: float,
            kind: str, title: str, text: str = "", **extra) -> dict:
    row = article(run_id, url, lang, original["published_at"] + dt.timedelta(hours=delay_hours),
                  original["fetched_at"], title, text, **extra)
    row.update(copy_group_id=original["article_id"], is_canonical=False,
               duplicate_of=original["article_id"], dup_kind=kind, dup_score=0.9,
               story_id=original["story_id"])
    return row


LANGS = ("en", "fr", "de", "es", "it", "pt", "ru", "nl", "pl", "uk", "ja", "zh")
SITES = [f"site{i}.example" for i in range(40)]


def synthetic_root(root: Path, articles: int, runs: int = 20, text_chars: int = 2000,
                   seed: int = 7, with_entities: bool = False,
                   start: dt.datetime | None = None, random_text: bool = False) -> Path:
    """``articles`` rows over ``runs`` runs (a third of them copies, some translations), with
    rejects and manifests; ~``text_chars`` of text per article (what the report must not
    read; ``random_text`` makes it incompressible, as real text nearly is)."""
    rng = random.Random(seed)
    start = start or dt.datetime.now(UTC) - dt.timedelta(days=runs)
    lorem = ("lorem ipsum dolor sit amet consectetur " * (text_chars // 38 + 1))[:text_chars]

    def text() -> str:
        return rng.randbytes(text_chars // 2).hex() if random_text else lorem

    per_run = max(1, articles // runs)
    written = 0
    for index in range(runs):
        run_id = f"run{index:04d}"
        began = start + dt.timedelta(days=index)
        rows, originals = [], []
        count = per_run if index < runs - 1 else articles - written
        while len(rows) < count:
            if originals and rng.random() < 0.33:
                source = rng.choice(originals)
                kind = rng.choice(("exact", "near", "translation", "translation"))
                lang = source["language"] if kind != "translation" else rng.choice(
                    [lang for lang in LANGS if lang != source["language"]])
                rows.append(copy_of(source, run_id, f"https://{rng.choice(SITES)}/c/{index}/"
                                    f"{len(rows)}", lang, rng.uniform(0.2, 30), kind,
                                    f"Copy {len(rows)} of {source['title']}", text(),
                                    entities=source.get("entities")))
                continue
            published = began - dt.timedelta(hours=rng.uniform(0, 48))
            entities = ([{"text": f"Person {rng.randrange(50)}", "label": "PER", "count": 2},
                         {"text": f"Place {rng.randrange(20)}", "label": "LOC", "count": 1}]
                        if with_entities else None)
            row = article(run_id, f"https://{rng.choice(SITES)}/a/{index}/{len(rows)}",
                          rng.choice(LANGS), published, began, f"Story {index}-{len(rows)}",
                          text(), entities=entities)
            originals.append(row)
            rows.append(row)
        written += len(rows)
        files = write_rows(root, "articles", run_id, rows, with_entities=with_entities)
        rejects = [{"url": f"https://feeds.example/{f}.xml", "stage": "feed",
                    "reason": "http_error", "detail": "HTTP 500", "run_id": run_id,
                    "time": began, "schema_version": SCHEMA_VERSION,
                    "source_kind": "feed_list"} for f in range(index % 3)]
        rejects += [{"url": f"https://{rng.choice(SITES)}/x/{i}", "stage": "fetch",
                     "reason": rng.choice(("timeout", "http_error", "too_large")),
                     "detail": "", "run_id": run_id, "time": began,
                     "schema_version": SCHEMA_VERSION, "source_kind": "feed"}
                    for i in range(rng.randrange(5, 30))]
        files += write_rows(root, "rejects", run_id, rejects)
        counts: dict[str, int] = defaultdict(int)
        for reject in rejects:
            counts[f"{reject['stage']}/{reject['reason']}"] += 1
        write_manifest(root, run_id, began, rng.uniform(30, 300), len(rows), dict(counts), files)
    return root
