"""Feed and URL lists are read by the pipeline, not put into its graph: a list of 1M URLs must
not make a job graph of tens of MB (Dataflow refuses graphs over its limit)."""

from __future__ import annotations

import apache_beam as beam

from pipelines.batch import build_pipeline, make_options, run
from pipelines.query import connect


def _graph_bytes(tmp_path, name: str, lines: list[str], flag: str) -> int:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    options, opts = make_options([flag, str(path), "--output", str(tmp_path / f"out-{name}"),
                                  "--dedup-levels", "exact"])
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, opts, opts.run_id)
    return len(pipeline.to_runner_api().SerializeToString())


def test_the_graph_does_not_grow_with_the_lists(tmp_path):
    small = [f"https://news{i}.example/story/{i}" for i in range(10)]
    large = [f"https://news{i}.example/story/{i}" for i in range(20_000)]  # ~700 KB of URLs
    # same-length file names, so only the lists differ
    urls = (_graph_bytes(tmp_path, "s.txt", small, "--urls"),
            _graph_bytes(tmp_path, "l.txt", large, "--urls"))
    feeds = (_graph_bytes(tmp_path, "fs.txt", small, "--feeds"),
             _graph_bytes(tmp_path, "fl.txt", large, "--feeds"))
    # the same list twice gives graphs ~100 bytes apart (the run's own ids in compressed
    # pickles; 276 seen once): far under the ~700 KB the large list would add in the graph
    assert abs(urls[1] - urls[0]) < 2_000, urls
    assert abs(feeds[1] - feeds[0]) < 2_000, feeds


def test_a_bad_line_of_a_url_list_is_a_reject_naming_file_and_line(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# today's pages\nhttps://127.0.0.1:9/a\n\nnot a url\nftp://x.example/f\n")
    out = tmp_path / "out"
    run(["--urls", str(urls), "--output", str(out), "--dedup-levels", "exact"])
    rows = connect(str(out)).execute(
        "select stage, reason, url, detail from rejects order by stage, reason").fetchall()
    assert [r[:3] for r in rows] == [
        ("fetch", "blocked_address", "https://127.0.0.1:9/a"),  # 127.0.0.1 is not allowed
        ("input", "bad_scheme", "ftp://x.example/f"),
        ("input", "invalid_url", "not a url"),
    ]
    assert rows[2][3].startswith(f"{urls}:4: not a URL")
