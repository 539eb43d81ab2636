"""``newsflow compact``: small files of closed partitions merged through the commit protocol,
every row kept, a concurrent query sees every row exactly once, later runs still work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.batch import run
from pipelines.compact import compact
from pipelines.query import connect
from transforms.commit import committed_files

ROOT = Path(__file__).resolve().parents[1]
STORY = ("The city council approved the new budget on Tuesday after a long debate about "
         "schools, roads and the harbour, and the mayor said work would start in spring.")


def _run(tmp_path: Path, out: Path, n: int) -> None:
    """One run adding articles on two old publication days, in two languages, and a reject."""
    path = tmp_path / f"batch{n}.jsonl"
    rows = [{"url": f"https://c.example/{n}/{i}", "language": "en" if i % 2 else "de",
             "published_at": f"2024-03-0{5 + i % 2}T0{i}:00:00Z",
             "text": f"Batch {n} story {i}. {STORY}"} for i in range(4)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    run(["--jsonl", str(path), "--output", str(out), "--dedup-levels", "exact"])


def _rows(out: Path) -> dict[str, list]:
    con = connect(str(out))
    return {
        "articles": con.execute("select article_id, run_id, url, cast(date as varchar), lang, "
                                "published_at from article_revisions order by all").fetchall(),
        "rejects": con.execute("select url, reason, run_id from rejects order by all").fetchall(),
        "state": sorted(tuple(r.values()) for f in committed_files(str(out), "state")
                        for r in pq.read_table(f).to_pylist()),
    }


def _files(out: Path, dataset_dir: str) -> list[Path]:
    return sorted((out / dataset_dir).rglob("*.parquet"))


def test_compaction_keeps_every_row_in_fewer_sorted_files(tmp_path):
    out = tmp_path / "out"
    for n in range(3):
        _run(tmp_path, out, n)
    before = _rows(out)
    assert len(before["articles"]) == 12 and len(before["rejects"]) == 3
    article_files = _files(out, "articles")
    assert len(article_files) == 6  # 3 runs x 2 days x ... (one language per day here)

    summary = compact(str(out), older_than=0, grace=0)
    assert _rows(out) == before  # every row, exactly once
    after = _files(out, "articles")
    assert len(after) == 2 and not set(after) & set(article_files)  # replaced files deleted
    for path in after:
        published = pq.read_table(path, columns=["published_at"]).column(0).to_pylist()
        assert published == sorted(published)
    assert summary["files_after"] < summary["files_before"]
    manifest = json.loads(next((out / "_runs").glob("*compact*.json")).read_text())
    assert manifest["kind"] == "compaction" and len(manifest["replaces"]) == summary[
        "files_before"]
    assert compact(str(out), older_than=0, grace=0)["partitions"] == 0  # nothing left to do

    # later runs still work: the same input again adds nothing, a new one adds its rows
    _run(tmp_path, out, 2)
    assert _rows(out)["articles"] == before["articles"]
    _run(tmp_path, out, 3)
    assert len(_rows(out)["articles"]) == 16


def _count(out: Path) -> tuple[int, int]:
    con = connect(str(out))
    return (con.execute("select count(*) from article_revisions").fetchone()[0],
            con.execute("select count(distinct article_id) from article_revisions").fetchone()[0])


def test_a_query_during_compaction_sees_every_row_once(tmp_path):
    out = tmp_path / "out"
    for n in range(2):
        _run(tmp_path, out, n)
    assert _count(out) == (8, 8)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def query_while_compacting():
        while not stop.is_set():
            seen.append(_count(out))

    # the compaction pauses between its first and second move (new files partly in place)
    env = {**os.environ, "NEWSFLOW_TEST_PAUSE_AT": "commit:2", "NEWSFLOW_TEST_PAUSE_SECONDS": "3"}
    reader = threading.Thread(target=query_while_compacting)
    reader.start()
    try:
        result = subprocess.run([sys.executable, "-m", "pipelines.cli", "compact", str(out),
                                 "--older-than", "0.001s"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        reader.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "paused at" in result.stderr, result.stderr
    assert len(seen) > 3 and set(seen) == {(8, 8)}, seen
    assert _count(out) == (8, 8)
    before, after = re.search(r"(\d+) files -> (\d+)", result.stdout).groups()
    assert int(before) >= 4 and int(after) < int(before), result.stdout  # articles + state
