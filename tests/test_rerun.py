"""A second run against an unchanged server: only conditional requests, no new article rows."""

from __future__ import annotations

import shutil

from pipelines.batch import run
from pipelines.demo import demo_argv
from pipelines.query import connect
from tests.conftest import load_manifest
from transforms.fetch import HttpClient


def test_second_run_is_conditional_and_adds_nothing(sample_server, sample_run, tmp_path):
    # the first run is the session's run over the same server, copied (the root is relocatable)
    first_output, first_id, _ = sample_run
    output = str(tmp_path / "out")
    shutil.copytree(first_output, output)
    HttpClient._robots.clear()  # as in a new process
    start = len(sample_server.log)
    second_id, result = run(demo_argv(sample_server, output, tmp_path / "in2", []))
    assert str(result.state) == "DONE"
    requests = sample_server.log[start:]
    fetched = [(path, headers) for _, path, headers in requests if path != "/robots.txt"]
    assert fetched, "the second run asked nothing"
    unconditional = [p for p, h in fetched
                     if "If-None-Match" not in h and "If-Modified-Since" not in h]
    # a feed that failed last time (404, malformed) is asked again; nothing else is
    assert sorted(unconditional) == ["/feeds/gone.xml"]
    con = connect(output)
    first = con.execute("select count(*) from articles where run_id = ?",
                        [first_id]).fetchone()[0]
    second = con.execute("select count(*) from articles where run_id = ?",
                         [second_id]).fetchone()[0]
    assert first == 18 and second == 0
    counts = load_manifest(output, second_id)["counts"]
    assert counts["feed_not_modified"] == 3  # world, international, broken (unchanged bytes)
    assert counts["not_modified"] == 3  # the URL-list pages, asked conditionally
    # the 304 feeds' entries are replayed from state; all were handled: none is fetched
    assert counts["skipped_seen"] == 20
    assert counts["rejected_before"] == 2  # gone.xml 404 and the ftp:// URL: not written again
    assert con.execute("select count(*) from rejects where run_id = ?",
                       [second_id]).fetchone()[0] == 0

    # a server that ignores validators: feeds come back whole, but every entry was handled
    # before (article or permanent reject) and is skipped; re-fetched pages are unchanged
    sample_server.conditional = False
    try:
        start = len(sample_server.log)
        third_id, _ = run(demo_argv(sample_server, output, tmp_path / "in3", []))
    finally:
        sample_server.conditional = True
    pages = [p for _, p, _ in sample_server.log[start:] if not p.startswith(("/feeds/",
                                                                               "/robots"))]
    assert sorted(pages) == ["/cooperativa/presidente-boric.html", "/farang/grab-bote.html",
                             "/reuters/asian-shares-soft.html"]  # the URL list, nothing else
    counts = load_manifest(output, third_id)["counts"]
    # 21 feed entries, one of them also in the URL list (fetched as a URL-list page)
    assert counts["unchanged"] == 3 and counts["skipped_seen"] == 20
    assert con.execute("select count(*) from articles").fetchone()[0] == 18
