"""``newsflow stream``: a bounded stream against a loopback site whose feeds grow between polls
(real HTTP, the in-process runner in streaming mode, Parquet read back with DuckDB), and the
streaming logic under ``TestStream`` (windows, late articles, state expiry, cross-window dedup).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines import streaming
from pipelines.batch import run as run_batch
from pipelines.query import connect
from tests.feed_site import GrowingSite
from transforms.enrich import article_id
from transforms.fetch import HttpClient


def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


TIKTOK_EN = "/worldnews/2023/sep/15/tiktok-fined-345m-children-data.html"
TIKTOK_FR = "/actu-tech/2023/09/16/tiktok-amende-345-millions-donnees-enfants/"

SCHEDULE = {
    # answers 304 from poll 3 on (nothing new after poll 2)
    "world": [(1, "/bbc/world-europe-50473792.html", "BBC", _utc(2019, 11, 20, 10)),
              (1, "/aljazeera/nasa-commercial-moon-shot.html", "Moon", _utc(2019, 11, 19, 4)),
              (2, "/reuters/asian-shares-soft.html", "Markets", _utc(2019, 11, 20, 1))],
    # the French translation appears two polls after the English original
    "tiktok": [(1, TIKTOK_EN, "TikTok fined", _utc(2023, 9, 15, 9)),
               (3, TIKTOK_FR, "TikTok amende", _utc(2023, 9, 15, 14)),
               (4, "/faulty/missing.html", "Dead link", _utc(2023, 9, 15, 15))],
    # fails at its second poll, when its second entry first appears
    # (the English copy of the Russian original comes with the failed poll)
    "flaky": [(1, "/kommersant/hi-tech/135-billion-apps.html", "Apps ru", _utc(2022, 1, 12, 9)),
              (2, "/techdigest/135-billion-went-into-apps.html", "Apps", _utc(2022, 1, 12, 15))],
}
FAIL = {("flaky", 2)}

FETCH_ARGS = ["--allow-host", "127.0.0.1", "--host-delay", "0.02", "--max-retries", "0",
              "--fetch-timeout", "10"]

#: Columns that depend on when or by which run a row was written.
VOLATILE = {"run_id", "fetched_at", "dup_score", "seg_vectors"}


def _rows(root: str) -> dict[str, dict]:
    con = connect(root)
    cursor = con.execute("select * from articles")
    names = [d[0] for d in cursor.description]
    rows = {}
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        assert row["url"] not in rows, f"{row['url']} stored twice"
        rows[row["url"]] = {k: v for k, v in row.items() if k not in VOLATILE}
    return rows


@pytest.fixture(scope="module")
def stream_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("stream")
    with GrowingSite(SCHEDULE, FAIL) as site:
        HttpClient._robots.clear()
        feeds = site.feed_list(work / "in")
        output = str(work / "out")
        run_id, result = streaming.run([
            "--feeds", str(feeds), "--output", output, "--poll-interval", "1s",
            "--window", "2s", "--max-polls", "5", *FETCH_ARGS])
        assert str(result.state) == "DONE"
        polls, log = dict(site.polls), list(site.log)
        # a restarted stream: it starts from the committed feed state (validators, seen
        # entries), and what the first one committed is not redone
        HttpClient._robots.clear()
        restart_id, restart = streaming.run([
            "--feeds", str(feeds), "--output", output, "--poll-interval", "1s",
            "--window", "2s", "--max-polls", "2", *FETCH_ARGS])
        assert str(restart.state) == "DONE"
        restart_log = [(path, status) for _, path, status in site.log[len(log):]
                       if path.startswith("/live/")]
        restart_sent = site.validators_sent[sum(polls.values()):]
        # the same feeds, as they finally are, through a batch run into another root
        site.frozen_at = 99
        HttpClient._robots.clear()
        batch_out = str(work / "batch")
        _, batch_result = run_batch(["--feeds", str(feeds), "--output", batch_out, *FETCH_ARGS])
        assert str(batch_result.state) == "DONE"
    yield {"base": site.base, "polls": polls, "log": log, "output": output, "run_id": run_id,
           "batch": batch_out, "restart_id": restart_id, "restart_log": restart_log,
           "restart_sent": restart_sent}


def test_every_entry_once_and_the_translation_joins_its_original(stream_run):
    base, output = stream_run["base"], stream_run["output"]
    con = connect(output)
    urls = [r[0] for r in con.execute(
        "select url from articles union all select url from rejects "
        "where stage <> 'feed'").fetchall()]
    expected = {base + e[1] for entries in SCHEDULE.values() for e in entries}
    assert sorted(urls) == sorted(expected)  # each entry exactly once: article or reject
    (reason,) = con.execute(
        "select reason from rejects where url like '%missing.html'").fetchone()
    assert reason == "http_error"
    english, french = article_id(base + TIKTOK_EN), article_id(base + TIKTOK_FR)
    group, kind, duplicate_of = con.execute(
        "select copy_group_id, dup_kind, duplicate_of from articles where article_id = ?",
        [french]).fetchone()
    assert (group, kind, duplicate_of) == (english, "translation", english)


def test_failed_poll_loses_nothing_and_unchanged_feeds_answer_304(stream_run):
    base, output = stream_run["base"], stream_run["output"]
    con = connect(output)
    feed_rejects = con.execute(
        "select url, reason from rejects where stage = 'feed'").fetchall()
    assert feed_rejects == [(base + "/live/flaky.xml", "http_error")]
    assert con.execute("select count(*) from articles where url like '%techdigest%'"
                       ).fetchone()[0] == 1
    statuses = [status for _, path, status in stream_run["log"] if path == "/live/world.xml"]
    assert statuses == [200, 200, 304, 304, 304]
    assert stream_run["polls"] == {"world": 5, "tiktok": 5, "flaky": 5}


def test_one_commit_per_window_naming_every_file(stream_run):
    output, run_id = stream_run["output"], stream_run["run_id"]
    windows = streaming.committed_windows(output, run_id)
    # 5 polls 1 s apart in 2 s windows; a window without new entries commits nothing
    assert len(windows) >= 2
    windows_of = {}
    for manifest in windows:
        for info in manifest["files"]:
            if info["dataset"] == "articles":
                for (url,) in duckdb.sql(f"select url from '{info['path']}'").fetchall():
                    windows_of[url] = manifest["window_start"]
    base = stream_run["base"]
    assert windows_of[base + TIKTOK_EN] < windows_of[base + TIKTOK_FR]  # two polls apart
    named = sorted(f["path"] for m in windows for f in m["files"])
    on_disk = sorted(str(p) for p in Path(output).glob("*/**/*.parquet")
                     if "_tmp" not in p.parts)
    assert named == on_disk
    for manifest in windows:
        ids = {r[0] for r in duckdb.sql(
            f"select distinct run_id from read_parquet({[f['path'] for f in manifest['files']]})"
        ).fetchall()}
        assert ids == {manifest["run_id"]}
    assert sum(m["rows"]["articles"] for m in windows) == 7
    assert not list(Path(output, "_tmp").glob("**/*.parquet"))


def test_a_restarted_stream_polls_conditionally_and_adds_nothing(stream_run):
    output = stream_run["output"]
    # the feeds' validators came back from the committed ``_state``: every poll of the
    # restarted stream was conditional, and the unchanged feeds answered 304
    assert sorted(stream_run["restart_log"]) == sorted(
        (f"/live/{name}.xml", 304) for name in SCHEDULE for _ in range(2))
    assert all(etag for _, etag in stream_run["restart_sent"])
    assert len(stream_run["restart_sent"]) == 6
    feed_rows = connect(output).execute(
        "select count(*), count(distinct url_key) from read_parquet(?)",
        [f"{output}/_state/kind=feed/*.parquet"]).fetchone()
    assert feed_rows[1] == 3 and feed_rows[0] >= 3  # one row per poll that changed a feed
    # nothing new: the restarted stream's windows committed nothing
    assert streaming.committed_windows(output, stream_run["restart_id"]) == []
    con = connect(output)
    assert con.execute("select count(*) from articles").fetchone()[0] == 7
    assert con.execute("select count(*) from rejects").fetchone()[0] == 2  # 404 + failed poll
    handled = con.execute("select outcome, count(*) from read_parquet(?) group by 1 order by 1",
                          [f"{output}/_state/kind=page/*.parquet"]).fetchall()
    assert handled == [("article", 7), ("reject", 1)]


def test_same_article_rows_as_a_batch_run(stream_run):
    streamed, batch = _rows(stream_run["output"]), _rows(stream_run["batch"])
    assert streamed.keys() == batch.keys()
    for url in batch:
        assert streamed[url] == batch[url], url


@pytest.mark.parametrize("args, message", [
    (["--output", "OUT"], "--feeds FILE is required"),
    (["--feeds", "FEEDS", "--output", "OUT"], "give --max-polls N or --duration D"),
    (["--feeds", "FEEDS", "--output", "OUT", "--max-polls", "2", "--window", "soon"],
     "not a duration"),
    (["--feeds", "FEEDS", "--output", "OUT", "--max-polls", "0"], "at least 1"),
])
def test_stream_usage_errors_exit_2(args, message, tmp_path, capsys):
    from pipelines.cli import main

    (tmp_path / "feeds.txt").write_text("http://127.0.0.1:9/feed.xml\n")
    args = [str(tmp_path / "feeds.txt") if a == "FEEDS" else
            str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert main(["stream", *args]) == 2
    assert message in capsys.readouterr().err
