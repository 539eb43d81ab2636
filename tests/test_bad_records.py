"""Bad records are reject rows, never a crashed run: every JSONL shape we could think of, WARC
files cut short or with broken headers, and a stage that raises on one record. Real runner,
Parquet read back with DuckDB."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.batch import run
from pipelines.query import connect
from transforms.lines import numbered_lines
from transforms.rejects import REJECTS, guarded

STORY = ("The city council approved the new budget on Tuesday after a long debate about "
         "schools, roads and the harbour, and the mayor said work would start in spring.")


def good(n: int, **extra) -> dict:
    return {"url": f"https://good.example/{n}", "text": f"Story {n}. {STORY}", **extra}


def dumps(record) -> bytes:
    return json.dumps(record).encode("utf-8")


#: (line bytes, expected outcome): ("article", url) or ("reject", reason)
SHAPES: list[tuple[bytes, tuple[str, str]]] = [
    (b"\xef\xbb\xbf" + dumps(good(1, title="With a BOM")), ("article", "https://good.example/1")),
    (dumps(good(2, title=5)), ("article", "https://good.example/2")),
    (dumps(good(3, language=["en"])), ("reject", "wrong_type")),
    (dumps({"url": "https://bad.example/no-text", "title": "No text"}), ("reject", "missing_text")),
    (dumps({"url": "https://bad.example/null-text", "text": None}), ("reject", "missing_text")),
    (dumps({"url": "https://bad.example/blank-text", "text": "  \n "}), ("reject", "missing_text")),
    (dumps({"url": "https://bad.example/num-text", "text": 12}), ("reject", "wrong_type")),
    (dumps({"url": 5, "text": STORY}), ("reject", "wrong_type")),
    (dumps({"url": {"href": "https://bad.example/nested"}, "text": STORY}),
     ("reject", "wrong_type")),
    (dumps(good(4, title={"en": "A nested title"})), ("reject", "wrong_type")),
    (dumps(good(5, authors=True)), ("reject", "wrong_type")),
    (dumps(good(6, published_at=["2024-01-01"])), ("reject", "wrong_type")),
    (dumps(good(7, title="caf\xe9")).replace(b"caf\\u00e9", b"caf\xe9"),
     ("reject", "invalid_utf8")),
    (dumps([good(8)]), ("reject", "not_an_object")),
    (b'"just a string"', ("reject", "not_an_object")),
    (b"null", ("reject", "not_an_object")),
    (b"{not json", ("reject", "invalid_json")),
    (b'{"url": "https://bad.example/nan", "text": "x", "title": NaN}', ("reject", "invalid_json")),
    (dumps(good(9)) + dumps(good(10)), ("reject", "invalid_json")),
    (b"[" * 100_000 + b"]" * 100_000, ("reject", "invalid_json")),
    (b'{"url": "https://bad.example/a", "url": "https://bad.example/b", "text": "x"}',
     ("reject", "duplicate_field")),
    (b'{"url": "https://bad.example/surrogate", "text": "broken \\ud800 text"}',
     ("reject", "invalid_unicode")),
    (dumps(good(11, published_at="#### no date here ####")), ("reject", "bad_date")),
    (dumps(good(12, published_at="1850-01-01")), ("reject", "bad_date")),
    (dumps(good(13, published_at=1709632800, authors="Jane Doe")),
     ("article", "https://good.example/13")),
    (dumps(good(14, authors=[{"name": "Ann Lee", "@type": "Person"}, "Bo Li", 7],
                published_at="2024-03-05T10:00:00+01:00")), ("article", "https://good.example/14")),
    (dumps({"text": f"No URL at all. {STORY}", "doc_key": "x:1"}), ("article", "#L")),
    (dumps({"url": "doc-17", "text": f"An id, not a URL. {STORY}"}), ("article", "doc-17")),
    # the same non-URL again (another record, keyed by its own line: a second article)
    (dumps({"url": "doc-17", "text": "Another record that reuses the id doc-17 for a report on "
                                     "the football league, the coach and the new stadium."}),
     ("article", "doc-17")),
    (dumps({"url": "javascript:void(0)", "text": f"A script link. {STORY}"}),
     ("article", "javascript:void(0)")),
    (b"   ", ("skip", "")),
    (b"\r", ("skip", "")),
]
TRUNCATED_LAST = b'{"url": "https://cut.example/last", "text": "The story was cut in the mid'


def write_shapes(path: Path) -> None:
    path.write_bytes(b"\n".join(line for line, _ in SHAPES) + b"\n" + TRUNCATED_LAST)


def test_every_bad_jsonl_shape_is_a_reject_and_good_lines_are_stored(tmp_path):
    write_shapes(tmp_path / "shapes.jsonl")
    with gzip.open(tmp_path / "packed.jsonl.gz", "wb") as handle:
        handle.write(dumps(good(20)) + b"\n")
    (tmp_path / "wide.jsonl").write_bytes(dumps(good(21)).decode().encode("utf-16"))
    out = tmp_path / "out"
    run(["--jsonl", str(tmp_path / "*.jsonl*"), "--output", str(out), "--dedup-levels", "exact"])
    con = connect(str(out))
    shapes = str(tmp_path / "shapes.jsonl")

    articles = {url: (title, authors, published)
                for url, title, authors, published in con.execute(
                    "select url, title, authors, strftime(published_at, '%Y-%m-%d %H:%M') "
                    "from articles").fetchall()}
    expected_articles = {u for _, (kind, u) in SHAPES if kind == "article" and u != "#L"}
    no_url = f"{shapes}#L{[o for _, o in SHAPES].index(('article', '#L')) + 1}"
    assert set(articles) == expected_articles | {no_url, "https://good.example/20"}
    assert articles["https://good.example/1"][0] == "With a BOM"
    assert articles["https://good.example/2"][0] == "5"  # a numeric title is kept as text
    assert articles["https://good.example/13"][1:] == (["Jane Doe"], "2024-03-05 10:00")
    assert articles["https://good.example/14"][1:] == (["Ann Lee", "Bo Li", "7"],
                                                        "2024-03-05 09:00")

    rejects = con.execute("select url, reason, detail from rejects where stage = 'jsonl'"
                          ).fetchall()
    by_line = {}
    for url, reason, detail in rejects:
        where, _, _ = detail.partition(": ")
        by_line[where] = (reason, url)
    for number, (_, (kind, reason)) in enumerate(SHAPES, start=1):
        if kind == "reject":
            assert by_line.pop(f"{shapes}:{number}")[0] == reason, number
    last = len(SHAPES) + 1
    assert by_line.pop(f"{shapes}:{last}") == ("truncated_line", "https://cut.example/last")
    wide = str(tmp_path / "wide.jsonl")
    assert by_line == {wide: ("unsupported_encoding", wide)}
    # a reject row names the record's URL when it has a readable one, else its position
    urls = {url for url, _, _ in rejects}
    assert "https://good.example/3" in urls and f"{shapes}#L17" in urls
    # records keyed by their line have their own article_id, whatever their ``url`` says
    ids = con.execute("select count(*), count(distinct article_id) from article_revisions "
                      "where url = 'doc-17'").fetchone()
    assert ids == (2, 2)
    # every non-blank line is exactly one row
    lines = sum(1 for _, (kind, _) in SHAPES if kind != "skip") + 1
    stored = con.execute("select count(*) from articles").fetchone()[0]
    assert stored + len(rejects) == lines + 2  # + packed (an article) and wide (a reject)


def test_numbered_lines_skips_an_over_long_line_without_holding_it():
    stream = io.BytesIO(b"short\n" + b"x" * 5000 + b"\nafter\nlast")
    lines = [(n, len(raw), ended) for n, raw, ended in numbered_lines(stream, limit=100)]
    assert lines == [(1, 5, True), (2, 101, True), (3, 5, True), (4, 4, False)]


def _warc_bytes(records, gz: bool = True) -> tuple[bytes, list[int]]:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    offsets = []
    for url, body, warc_headers in records:
        offsets.append(buffer.tell())
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                   protocol="HTTP/1.1")
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                           http_headers=headers, warc_headers_dict=warc_headers)
        writer.write_record(record)
    return buffer.getvalue(), offsets


def _page(n: int) -> bytes:
    paragraphs = "".join(f"<p>Paragraph {i} of report {n}: {STORY}</p>" for i in range(6))
    return (f"<html><head><title>Report {n}</title></head><body><article><h1>Report {n}</h1>"
            f"{paragraphs}</article></body></html>").encode()


def test_a_cut_warc_keeps_the_records_before_the_cut(tmp_path):
    pages = [(f"https://warc.example/{n}", _page(n), {}) for n in range(3)]
    data, offsets = _warc_bytes(pages, gz=False)
    (tmp_path / "cut-body.warc").write_bytes(data[:offsets[2] + 900])  # inside record 3's body
    data, offsets = _warc_bytes([(u.replace("warc.", "gz."), b, h) for u, b, h in pages])
    (tmp_path / "cut-header.warc.gz").write_bytes(data[:offsets[2] + 40])  # inside a header
    bad_headers = [("https://headers.example/ok", _page(7), {}),
                   ("mailto:someone@example.org", _page(8), {}),
                   ("https://headers.example/no-date", _page(9), {"WARC-Date": "yesterday-ish"})]
    (tmp_path / "headers.warc.gz").write_bytes(_warc_bytes(bad_headers)[0])
    (tmp_path / "garbage.warc").write_bytes(b"this is not a WARC file\n" * 10)
    out = tmp_path / "out"
    run(["--warc", str(tmp_path / "*.warc*"), "--output", str(out), "--dedup-levels", "exact"])
    con = connect(str(out))
    stored = sorted(r[0] for r in con.execute("select url from articles").fetchall())
    assert stored == ["https://gz.example/0", "https://gz.example/1",
                      "https://headers.example/ok", "https://warc.example/0",
                      "https://warc.example/1"]
    rejects = sorted(con.execute("select url, reason from rejects").fetchall())
    assert rejects == [
        (str(tmp_path / "cut-header.warc.gz"), "truncated_warc"),
        (str(tmp_path / "garbage.warc"), "bad_warc"),
        ("https://headers.example/no-date", "bad_warc_header"),
        ("https://warc.example/2", "truncated_warc"),
        ("mailto:someone@example.org", "bad_warc_header"),
    ]
    detail = con.execute("select detail from rejects where url = 'https://warc.example/2'"
                         ).fetchone()[0]
    assert "ends inside the record" in detail and "cut-body.warc" in detail


def test_a_record_that_breaks_a_stage_is_rejected_and_the_others_are_stored(tmp_path):
    rows = [good(n, language="en", published_at="2024-03-05") for n in range(6)]
    rows[3]["text"] = f"POISON in story 3. {STORY}"
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    run(["--jsonl", str(tmp_path / "docs.jsonl"), "--output", str(out),
         "--embedder", "py:tests.faulty_embedder:PoisonedEmbedder"])
    con = connect(str(out))
    stored = sorted(r[0] for r in con.execute("select url from articles").fetchall())
    assert stored == [f"https://good.example/{n}" for n in (0, 1, 2, 4, 5)]
    (url, stage, reason, detail), = con.execute(
        "select url, stage, reason, detail from rejects").fetchall()
    assert (url, stage, reason) == ("https://good.example/3", "dedup", "internal_error")
    assert detail.startswith("ValueError: this model cannot embed the word POISON (at ")
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    assert manifest["counts"]["rejected/dedup/internal_error"] == 1


class _Halve(beam.DoFn):
    REJECTS = REJECTS

    @guarded("halve")
    def process(self, record: dict):
        yield {**record, "half": 10 // record["n"]}  # ZeroDivisionError for n = 0


def test_guarded_turns_an_exception_into_a_reject_row():
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create([{"url": f"u{n}", "n": n} for n in range(3)])
               | beam.ParDo(_Halve()).with_outputs(REJECTS, main="ok"))
        assert_that(out.ok | beam.Map(lambda r: (r["url"], r["half"])),
                    equal_to([("u1", 10), ("u2", 5)]), label="ok")
        assert_that(out.rejects | beam.Map(lambda r: (r["url"], r["stage"], r["reason"],
                                                      r["detail"].split(" (at ")[0])),
                    equal_to([("u0", "halve", "internal_error",
                               "ZeroDivisionError: integer division or modulo by zero")]),
                    label="rejects")


def test_a_glob_that_matches_no_file_is_a_usage_error(tmp_path, capsys):
    from pipelines.cli import main

    for option in ("--warc", "--jsonl"):
        pattern = str(tmp_path / "missing" / "*.gz")
        assert main(["run", option, pattern, "--output", str(tmp_path / "out")]) == 2
        assert f"{option} {pattern!r} matches no file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was created


def test_a_host_with_a_space_is_not_a_url():
    from transforms.enrich import canonical_url

    assert canonical_url("https://exa mple.com/a b") is None
    assert canonical_url("https://example.com/a b") == "https://example.com/a%20b"


def test_query_on_a_root_without_rejects_answers_no_rows(tmp_path):
    """A run that rejected nothing wrote no ``rejects`` file: the README's query still works."""
    from pipelines.query import run_query

    (tmp_path / "one.jsonl").write_bytes(dumps(good(1)) + b"\n")
    out = str(tmp_path / "out")
    run(["--jsonl", str(tmp_path / "one.jsonl"), "--output", out, "--dedup-levels", "exact"])
    assert run_query(out, "select stage, reason, count(*) from rejects group by all")[1] == []
    assert run_query(out, "select count(*) from clusters")[1] == [(0,)]
    assert run_query(out, "select url from articles")[1] == [("https://good.example/1",)]
    # a root no run has committed to yet has the views too, with no rows
    (tmp_path / "fresh").mkdir()
    assert run_query(str(tmp_path / "fresh"), "select count(*) from articles")[1] == [(0,)]
