"""History by publication date: a run matches against the partitions of its articles'
publication days (+- --history_days), whatever today's date is, and only those."""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from pipelines.batch import run
from transforms.dedup.history import history_patterns, history_row, partition_may_exist

WORDS = ("the council approved a new budget for the harbour district after a long debate "
         "about ferry routes school repairs and the cost of winter road clearing which rose "
         "sharply last year according to the finance office that presented figures to members "
         "of the assembly on tuesday evening while residents waited outside the town hall for "
         "news about the closure of the old market hall and the future of the fishing port").split()


def _write(path, rows) -> str:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return str(path)


def _article(url: str, day: str, words: list[str]) -> dict:
    return {"url": url, "title": "Harbour budget", "text": " ".join(words), "language": "en",
            "published_at": f"{day}T09:00:00+00:00"}


def test_a_backfill_matches_history_of_its_own_dates_and_lists_only_those(tmp_path):
    root = str(tmp_path / "out")
    base = ["--output", root, "--dedup_levels", "exact,near", "--history_days", "3"]
    edited = list(WORDS)
    edited[5], edited[40] = "revised", "Wednesday"
    # the same text in January: outside the window of the runs below, never read by them
    run(["--jsonl", _write(tmp_path / "january.jsonl", [
        _article("https://b.example/2019/harbour-old", "2019-01-01", WORDS)]), *base])
    run(["--jsonl", _write(tmp_path / "march.jsonl", [
        _article("https://a.example/2019/harbour", "2019-03-04", WORDS)]), *base])
    second = _write(tmp_path / "second.jsonl", [
        _article("https://c.example/2019/harbour-copy", "2019-03-05", edited),
    ])
    run(["--jsonl", second, *base])
    rows = dict(duckdb.connect().execute(
        f"select url, duplicate_of from read_parquet('{root}/articles/**/*.parquet', "
        "hive_partitioning = true)").fetchall())
    ids = dict(duckdb.connect().execute(
        f"select url, article_id from read_parquet('{root}/articles/**/*.parquet', "
        "hive_partitioning = true)").fetchall())
    # the 2019 copy joined the 2019-03-04 article of the earlier run (not today's history),
    # and not the January one, whose partition was not read
    assert rows["https://c.example/2019/harbour-copy"] == ids["https://a.example/2019/harbour"]


def test_history_patterns_name_only_the_window_of_a_day():
    import datetime as dt

    day = dt.date(2019, 3, 5).toordinal()
    assert history_patterns("s3://bucket/news/", day, 1) == [
        f"s3://bucket/news/articles/date=2019-03-0{d}/*/*.parquet" for d in (4, 5, 6)]
    assert history_patterns("/out", day, 0) == ["/out/articles/date=2019-03-05/*/*.parquet"]


def test_only_globs_of_date_partitions_that_exist_are_matched_locally(tmp_path):
    root = tmp_path / "out"
    (root / "articles" / "date=2024-03-05" / "lang=en").mkdir(parents=True)
    here, gone = (history_patterns(str(root), dt.date(2024, 3, d).toordinal(), 0)[0]
                  for d in (5, 6))
    assert partition_may_exist(here) and not partition_may_exist(gone)
    assert partition_may_exist("gs://bucket/out/articles/date=2024-03-06/*/*.parquet")


def test_history_rows_of_another_embedder_lose_their_vectors_only():
    row = {"article_id": "a", "minhash": [1, 2], "seg_vectors": b"\x00\x01", "seg_dim": 1,
           "embedder": "use"}
    other, same = history_row(row, "e5")
    assert not same and other["seg_vectors"] is None and other["seg_dim"] is None
    assert other["minhash"] == [1, 2] and other["existing"]  # still an exact/near candidate
    kept, same = history_row({**row, "embedder": "e5"}, "e5")
    assert same and kept["seg_vectors"] == b"\x00\x01"
    # an older file (no embedder column) with vectors is not compared either
    assert not history_row({**row, "embedder": None}, "e5")[1]
    assert history_row({"article_id": "b", "seg_vectors": None}, "e5")[1]
