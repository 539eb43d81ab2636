"""``newsflow watch``: two short cycles, then Ctrl-C (SIGINT to the process) stops it cleanly
after the current run has committed; a failed run is retried; a locked root is skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.query import connect
from pipelines.watch import parse_duration
from transforms.lock import RootLock

ROOT = Path(__file__).resolve().parents[1]
STORY = ("The city council approved the new budget on Tuesday after a long debate about "
         "schools, roads and the harbour, and the mayor said work would start in spring.")


def _jsonl(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({"url": f"https://w.example/{i}", "language": "en",
                                        "text": f"Story {i}. {STORY}"}) + "\n"
                            for i in range(n)))


def _watch(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "watch", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def _lines_until(proc: subprocess.Popen, predicate, limit: float = 300) -> list[str]:
    """Lines of the watch's output until ``predicate(lines)`` holds (or the process ends)."""
    lines: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if predicate(lines):
            return lines
    raise AssertionError("watch output did not show what was expected:\n" + "\n".join(lines))


def _rest(proc: subprocess.Popen, limit: float = 300) -> list[str]:
    """The remaining output until the watch exits (killed after ``limit`` seconds)."""
    watchdog = threading.Timer(limit, proc.kill)
    watchdog.start()
    try:
        rest = proc.stdout.read()  # not communicate(): it would skip what readline buffered
        proc.wait()
    finally:
        watchdog.cancel()
    return rest.splitlines()


def _status(lines: list[str], word: str) -> list[str]:
    return [line for line in lines if " run " in line and f": {word}" in line]


def test_two_cycles_then_ctrl_c_lets_the_current_run_commit(tmp_path):
    _jsonl(tmp_path / "docs.jsonl", 3)
    out = tmp_path / "out"
    proc = _watch("--every", "1s", "--jsonl", str(tmp_path / "docs.jsonl"),
                  "--output", str(out), "--dedup-levels", "exact")
    try:
        lines = _lines_until(proc, lambda ls: len(_status(ls, "ok")) >= 2)
        time.sleep(1.5)  # the third run is under way (runs start back to back at 1 s)
        proc.send_signal(signal.SIGINT)
        rest = _rest(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += rest
    assert proc.returncode == 0, "\n".join(lines)
    ok = _status(lines, "ok")
    assert len(ok) >= 3, "\n".join(lines)  # the interrupted run finished and reported
    assert any("stop requested: the current run finishes" in line for line in lines)
    assert lines[-1].endswith("watch stopped")
    first = ok[0]
    assert ", 3 articles, 0 rejects, " in first and "; next run " in first
    assert "next run" not in ok[-1]  # the last one says nothing about a next run
    # every run that reported is committed; nothing half-done is left behind
    run_ids = {line.split(" run ", 1)[1].split(" ", 1)[0] for line in ok}
    assert {p.stem for p in (out / "_runs").glob("*.json")} == run_ids
    assert not (out / "_lock").exists()
    assert not list((out / "_tmp").glob("*")) if (out / "_tmp").exists() else True
    con = connect(str(out))
    assert con.execute("select count(distinct article_id) from articles").fetchone()[0] == 3


def test_a_failed_run_is_retried_and_a_locked_root_is_skipped(tmp_path):
    _jsonl(tmp_path / "docs.jsonl", 2)
    out = tmp_path / "out"
    out.mkdir()
    lock = RootLock(str(out), "someone-else")
    lock.acquire()  # another run holds the root
    proc = _watch("--every", "3s", "--retry-delay", "1s", "--max-runs", "3",
                  "--jsonl", str(tmp_path / "docs.jsonl"), "--output", str(out),
                  "--dedup-levels", "exact")
    try:
        lines = _lines_until(proc, lambda ls: _status(ls, "not run"))
        assert "is locked by run someone-else" in _status(lines, "not run")[0], lines
        lock.release()
        (out / "_tmp").write_text("a file where the run needs a directory")  # next run fails
        lines += _lines_until(proc, lambda ls: _status(ls, "FAILED"))
        (out / "_tmp").unlink()
        rest = _rest(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        lock.release()
    lines += rest
    assert proc.returncode == 0, "\n".join(lines)
    assert any(line.startswith("    | ") for line in lines), "\n".join(lines)  # its output
    assert len(_status(lines, "ok")) == 1, "\n".join(lines)  # the retry ran and committed
    assert len(list((out / "_runs").glob("*.json"))) == 1


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("15m", 900),
                                               ("1.5h", 5400), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
