"""The commit protocol and the root lock, step by step on a real directory (no runner)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path

import pytest

from transforms.commit import commit_run, committed_files, recover, write_file_list
from transforms.lock import LockHeld, RootLock, stale_reason


def stage_run(root: Path, run_id: str, names: list[str]) -> list[dict]:
    """Temp files of a run as its pipeline would leave them, plus ``files.json``."""
    files = []
    for name in names:
        temp = root / "_tmp" / run_id / "articles" / "date=2024-01-01" / "lang=en" / name
        temp.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(b"parquet bytes of " + name.encode())
        files.append({"dataset": "articles", "temp": str(temp), "rows": 1,
                      "path": str(root / "articles" / "date=2024-01-01" / "lang=en" / name)})
    write_file_list(str(root), run_id, files, {"unchanged": 2})
    return files


def test_commit_is_idempotent_and_never_deletes_a_published_file(tmp_path):
    files = stage_run(tmp_path, "r1", ["part-r1-0.parquet", "part-r1-1.parquet"])
    manifest = commit_run(str(tmp_path), "r1", {"inputs": {}})
    assert manifest["rows"]["articles"] == 2 and manifest["counts"] == {"unchanged": 2}
    assert [f["relative"] for f in manifest["files"]] == [
        "articles/date=2024-01-01/lang=en/part-r1-0.parquet",
        "articles/date=2024-01-01/lang=en/part-r1-1.parquet"]
    assert not (tmp_path / "_tmp" / "r1").exists()
    published = Path(files[0]["path"])
    before = published.read_bytes()
    assert commit_run(str(tmp_path), "r1", {"inputs": {}})["run_id"] == "r1"  # again: no-op
    assert published.read_bytes() == before
    assert committed_files(str(tmp_path), "articles") == sorted(f["path"] for f in files)


def test_recover_rolls_forward_a_journal_and_back_a_run_without_one(tmp_path):
    stage_run(tmp_path, "killed-in-commit", ["part-a.parquet", "part-b.parquet"])
    intent = tmp_path / "_tmp" / "killed-in-commit" / "commit.json"
    # the journal was written and the first move done when the run died
    from transforms.commit import build_intent, write_json_atomic
    listing = json.loads((tmp_path / "_tmp" / "killed-in-commit" / "files.json").read_text())
    journal = build_intent(str(tmp_path), "killed-in-commit", listing, {"inputs": {}})
    write_json_atomic(str(intent), journal)
    first_temp, first_final = journal["moves"][0]
    Path(first_final).parent.mkdir(parents=True, exist_ok=True)
    os.rename(first_temp, first_final)
    stage_run(tmp_path, "killed-in-pipeline", ["part-c.parquet"])
    assert committed_files(str(tmp_path)) == []  # nothing committed yet

    actions = recover(str(tmp_path))
    assert actions == {"killed-in-commit": "rolled_forward",
                       "killed-in-pipeline": "rolled_back"}
    assert [Path(p).name for p in committed_files(str(tmp_path))] == ["part-a.parquet",
                                                                      "part-b.parquet"]
    assert not (tmp_path / "_tmp" / "killed-in-pipeline").exists()
    assert not list(tmp_path.glob("articles/**/part-c.parquet"))
    assert recover(str(tmp_path)) == {}


def test_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path):
    root = str(tmp_path)
    with RootLock(root, "first"):
        info = json.loads((tmp_path / "_lock").read_text())
        assert info["pid"] == os.getpid() and info["run_id"] == "first"
        with pytest.raises(LockHeld, match="is locked by run first"):
            RootLock(root, "second").acquire()
    assert not (tmp_path / "_lock").exists()

    now = dt.datetime.now(dt.timezone.utc)
    alive = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": now.isoformat()}
    assert stale_reason(alive, max_age=3600) is None
    old = {**alive, "started_at": (now - dt.timedelta(hours=2)).isoformat()}
    assert "older than" in stale_reason(old, max_age=3600)
    elsewhere = {**alive, "host": "another-host", "pid": 1}
    assert stale_reason(elsewhere, max_age=3600) is None  # cannot see its pid: trust the age
    assert "unreadable" in stale_reason(None, max_age=3600)

    (tmp_path / "_lock").write_text(json.dumps({**old, "run_id": "old"}))
    with RootLock(root, "third", max_age=3600):  # taken over, with a warning
        assert json.loads((tmp_path / "_lock").read_text())["run_id"] == "third"
