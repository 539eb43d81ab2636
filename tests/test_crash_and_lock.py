"""``newsflow run`` killed with SIGKILL at several points, and two runs on one root.

Each run that is killed is a real subprocess (``python -m pipelines.cli run``) fetching from a
loopback site; a run that is not (refused by the lock, or recovering what a killed one left) is
the same command's ``main`` in the test's process, which has Beam and the models loaded already.
The test hook ``NEWSFLOW_TEST_PAUSE_AT`` (transforms/testhook.py) makes a run sleep at a chosen
point of writing or of the commit, so it can be killed there deterministically; a kill during
fetching waits until the server holds a request open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.query import connect
from tests.localsite import ARTICLE_PAGES, PageServer, sample_page
from transforms.fetch import HttpClient

REPO = Path(__file__).resolve().parents[1]
EXIT_USAGE = 2


@pytest.fixture()
def site():
    with PageServer() as server:
        for page in ARTICLE_PAGES:
            server.pages["/" + page] = ("text/html; charset=utf-8", sample_page(page))
        yield server


def run_args(urls: Path, output: Path) -> list[str]:
    return ["run", "--urls", str(urls), "--output", str(output), "--allow-host", "127.0.0.1",
            "--host-delay", "0", "--dedup_levels", "exact,near"]


def start(urls: Path, output: Path, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "NEWSFLOW_TEST_PAUSE_SECONDS": "120"}
    env.pop("NEWSFLOW_TEST_PAUSE_AT", None)
    if pause:
        env["NEWSFLOW_TEST_PAUSE_AT"] = pause
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *run_args(urls, output)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def run_here(urls: Path, output: Path, capsys, caplog) -> tuple[int, str]:
    """``newsflow run`` in this process, as the console script calls it: (exit code, what it
    printed on stderr and logged)."""
    assert "NEWSFLOW_TEST_PAUSE_AT" not in os.environ
    HttpClient._robots.clear()  # fetched again, whatever an earlier test left in this process
    capsys.readouterr()
    caplog.clear()
    code = main(run_args(urls, output))
    return code, capsys.readouterr().err + caplog.text


def wait_for_pause(proc: subprocess.Popen, point: str) -> str:
    """Read stderr until the test hook reports the pause (or the process ends)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if f"paused at {point}" in line:
            return "".join(seen)
    raise AssertionError(f"run ended (rc {proc.wait()}) without pausing at {point}:\n"
                         + "".join(seen))


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def visible(output: Path) -> list[tuple[str, str]]:
    """(article_id, run_id) of every article row ``newsflow query`` shows, all revisions."""
    con = connect(str(output))
    views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    if "article_revisions" not in views:
        return []
    return con.execute("select article_id, run_id from article_revisions order by 1").fetchall()


def plain_glob_rows(output: Path) -> int:
    files = list(output.glob("articles/**/*.parquet"))
    if not files:
        return 0
    return duckdb.connect().execute(
        f"select count(*) from read_parquet('{output}/articles/**/*.parquet')").fetchone()[0]


def test_kill_during_fetching_and_writing_then_a_second_run_is_refused(site, tmp_path, capsys,
                                                                       caplog):
    urls = tmp_path / "urls.txt"
    output = tmp_path / "out"
    site.pages["/slow.html"] = site.pages["/" + ARTICLE_PAGES[0]]
    site.hang.add("/slow.html")
    urls.write_text("".join(f"{site.base}/{p}\n" for p in [*ARTICLE_PAGES, "slow.html"]))

    # 1. killed while a page is being fetched: nothing is visible, the lock stays behind
    proc = start(urls, output)
    assert site.arrived.wait(60), "the run never asked for the slow page"
    kill(proc)
    assert visible(output) == [] and plain_glob_rows(output) == 0
    assert json.loads((output / "_lock").read_text())["pid"] == proc.pid

    # 2. killed after writing its first temp file; meanwhile a second run is refused
    site.hang.clear()
    site.release.set()
    writer = start(urls, output, pause="write:1")
    log = wait_for_pause(writer, "write:1")
    assert "stale lock" in log, log  # the killed run's lock was taken over
    code, err = run_here(urls, output, capsys, caplog)
    assert code == EXIT_USAGE, err
    assert "is locked by run" in err and str(writer.pid) in err
    kill(writer)
    assert visible(output) == [] and plain_glob_rows(output) == 0
    assert list((output / "_tmp").rglob("*.parquet")), "the killed run wrote no temp file"

    # 3. the next run cleans up and completes: every page once
    code, err = run_here(urls, output, capsys, caplog)
    assert code == 0, err
    assert "did not finish: removing its temp files" in err
    rows = visible(output)
    assert len(rows) == 5 and len({a for a, _ in rows}) == 5
    assert plain_glob_rows(output) == 5
    assert not (output / "_tmp").exists() or not any((output / "_tmp").iterdir())
    assert not (output / "_lock").exists()


@pytest.mark.parametrize("move", [2, 6])  # between two renames; after all, before the manifest
def test_kill_during_the_commit_is_rolled_forward(site, tmp_path, move, capsys, caplog):
    urls = tmp_path / "urls.txt"
    output = tmp_path / "out"
    urls.write_text("".join(f"{site.base}/{p}\n" for p in ARTICLE_PAGES))
    proc = start(urls, output, pause=f"commit:{move}")
    wait_for_pause(proc, f"commit:{move}")
    kill(proc)
    intent = json.loads(next((output / "_tmp").glob("*/commit.json")).read_text())
    assert len(intent["moves"]) == 5  # 4 article partitions + the state file
    assert visible(output) == [], "a query saw part of an uncommitted run"
    assert 0 < plain_glob_rows(output) <= 4  # what a plain glob can see (README caveat)

    code, err = run_here(urls, output, capsys, caplog)
    assert code == 0, err
    assert "killed during its commit: completing it" in err
    rows = visible(output)
    killed_run = intent["run_id"]
    # the killed run's articles, each once; the new run found them all unchanged (304)
    assert sorted(r for _, r in rows) == [killed_run] * 4
    assert len({a for a, _ in rows}) == 4
    assert plain_glob_rows(output) == 4
    manifest = json.loads((output / "_runs" / f"{killed_run}.json").read_text())
    assert manifest["rows"]["articles"] == 4
