"""A stream killed (SIGKILL) in the middle of a window's commit, then restarted.

The stream is a real subprocess (``python -m pipelines.cli stream``) polling a loopback feed;
the test hook ``NEWSFLOW_TEST_PAUSE_AT=commit:2`` (transforms/testhook.py) stops it after the
first file of its first window was moved into the dataset, before the window's manifest.
Nothing of that window may be visible; the restart completes the commit (rolled forward),
polls conditionally with the feed state that commit held, and every entry still listed ends up
stored exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipelines import streaming
from pipelines.query import connect
from tests.feed_site import GrowingSite
from transforms.fetch import HttpClient

REPO = Path(__file__).resolve().parents[1]
FETCH_ARGS = ["--allow-host", "127.0.0.1", "--host-delay", "0.02", "--max-retries", "0",
              "--fetch-timeout", "10", "--dedup-levels", "exact"]


def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


FEED = {"f": [(1, "/bbc/world-europe-50473792.html", "BBC", _utc(2019, 11, 20, 10)),
              (1, "/aljazeera/nasa-commercial-moon-shot.html", "Moon", _utc(2019, 11, 19, 4)),
              (3, "/reuters/asian-shares-soft.html", "Markets", _utc(2019, 11, 20, 1))]}


def _articles(output: Path) -> list[str]:
    con = connect(str(output))
    views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    if "articles" not in views:
        return []
    return sorted(r[0] for r in con.execute("select url from articles").fetchall())


def test_killed_mid_commit_then_restarted_stores_every_entry_once(tmp_path):
    output = tmp_path / "out"
    with GrowingSite(FEED) as site:
        feeds = site.feed_list(tmp_path / "in")
        env = {**os.environ, "NEWSFLOW_TEST_PAUSE_AT": "commit:2",
               "NEWSFLOW_TEST_PAUSE_SECONDS": "120"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "stream", "--feeds", str(feeds),
             "--output", str(output), "--poll-interval", "1s", "--window", "2s",
             "--max-polls", "3", *FETCH_ARGS],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "paused at commit:2" in line:
                break
        else:
            raise AssertionError(f"stream ended (rc {proc.wait()}) without pausing:\n"
                                 + "".join(seen))
        killed = json.loads((output / "_lock").read_text())["run_id"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # a file moved, no manifest: nothing of the window is visible
        assert list(output.glob("articles/**/*.parquet")) or list(
            output.glob("_state/**/*.parquet"))
        assert _articles(output) == []
        assert streaming.committed_windows(str(output), killed) == []

        HttpClient._robots.clear()
        before = len(site.validators_sent)
        restart_id, result = streaming.run([
            "--feeds", str(feeds), "--output", str(output), "--poll-interval", "1s",
            "--window", "2s", "--max-polls", "1", *FETCH_ARGS])
        assert str(result.state) == "DONE"
        # the rolled-forward window held the feed's state row: the restart's first poll
        # sends back an ETag (a new pipeline: it can only come from the committed state)
        (_, etag), *_ = site.validators_sent[before:]
        assert etag is not None
    base = site.base
    assert _articles(output) == sorted(base + e[1] for e in FEED["f"])  # each exactly once
    (first,) = streaming.committed_windows(str(output), killed)  # rolled forward
    assert first["rows"]["articles"] == 2
    assert sum(m["rows"]["articles"]
               for m in streaming.committed_windows(str(output), restart_id)) == 1
    assert not list(output.glob("_tmp/**/*.parquet"))
