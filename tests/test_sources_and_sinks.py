"""Offline inputs (WARC, JSONL) through the real runner, and atomic publication of files."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import apache_beam as beam
import duckdb
from apache_beam.testing import test_pipeline
from offloads import broken_pool, no_pool

from pipelines.batch import run
from pipelines.query import connect
from pipelines.record_pool import RecordSteps, on_pool, record_pool
from schemas import make_reject
from transforms.sinks import WriteDataset, publish_run

SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"


def write_warc(path: Path) -> None:
    import gzip

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    html = gzip.open(SITE / "lastampa" / "temperature-in-calo.html.gz").read()
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, status, ctype, body in (
            ("https://www.lastampa.it/cronaca/temperature", "200 OK", "text/html", html),
            ("https://cdn.example/report.pdf", "200 OK", "application/pdf", b"%PDF-1.4"),
            ("https://gone.example/page", "404 Not Found", "text/html", b"<html>404</html>"),
        ):
            headers = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                               http_headers=headers)
            writer.write_record(record)


def test_warc_and_jsonl_inputs_need_no_network(tmp_path):
    write_warc(tmp_path / "news.warc.gz")
    rows = [
        {"url": "https://a.example/1", "title": "Un", "language": "fr",
         "text": "Le gouvernement a présenté mardi un projet de loi sur le climat.",
         "published_at": "2024-03-05T10:00:00+01:00"},
        {"url": "https://b.example/copy", "title": "Copy",
         "text": "Le gouvernement a présenté mardi un projet de loi sur le climat!"},
        {"url": "https://c.example/no-text"},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    (tmp_path / "docs.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    run_id, result = run(["--warc", str(tmp_path / "*.warc.gz"),
                          "--jsonl", str(tmp_path / "*.jsonl"), "--output", str(out)])
    con = connect(str(out))
    articles = con.execute("select url, source_kind, language, cast(date as varchar), "
                           "duplicate_of is not null from articles order by url").fetchall()
    assert articles == [
        ("https://a.example/1", "jsonl", "fr", "2024-03-05", False),
        ("https://b.example/copy", "jsonl", "fr", articles[1][3], True),  # same normalised text
        ("https://www.lastampa.it/cronaca/temperature", "warc", "it", "2020-02-19", False),
    ]
    rejects = con.execute("select stage, reason from rejects order by all").fetchall()
    assert rejects == [("jsonl", "invalid_json"), ("jsonl", "missing_text"),
                       ("warc", "http_error"), ("warc", "unsupported_content_type")]


def test_files_are_invisible_until_the_run_is_published(tmp_path):
    root = str(tmp_path / "out")
    record = make_reject("https://x.example/a", "fetch", "timeout", "slow", run_id="r1")
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        infos = (p | beam.Create([record]) | WriteDataset(root, "r1", "rejects")
                 | beam.combiners.ToList())
        infos | beam.Map(lambda files: Path(tmp_path / "infos.json").write_text(
            json.dumps(files)))
    pattern = f"{root}/rejects/**/*.parquet"
    assert not list(Path(root).glob("rejects/**/*.parquet")), "visible before publication"
    assert list(Path(root, "_tmp", "r1").rglob("*.parquet")), "temp file missing"
    files = json.loads((tmp_path / "infos.json").read_text())
    manifest = publish_run(root, "r1", files, {"counts": {"rejected/fetch/timeout": 1}})
    assert manifest["rows"] == {"articles": 0, "rejects": 1, "clusters": 0, "state": 0}
    got = duckdb.sql(f"select url, stage, reason from read_parquet('{pattern}', "
                     "hive_partitioning = true)").fetchall()
    assert got == [("https://x.example/a", "fetch", "timeout")]
    assert not Path(root, "_tmp", "r1").exists()
    assert Path(root, "_runs", "r1.json").exists()
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    assert Path(root, "rejects", f"date={today}", "stage=fetch").is_dir()


def test_a_partition_is_written_in_files_of_bounded_size(tmp_path):
    """A partition streams into files of ``rows_per_file`` rows (memory holds one file's rows),
    each sorted by URL, every row written once."""
    root = str(tmp_path / "out")
    records = [make_reject(f"https://x.example/{i}", "fetch", "timeout", run_id="r1")
               for i in (4, 0, 3, 1, 2)]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        infos = (p | beam.Create(records) | WriteDataset(root, "r1", "rejects", rows_per_file=2)
                 | beam.combiners.ToList())
        infos | beam.Map(lambda files: Path(tmp_path / "infos.json").write_text(
            json.dumps(files)))
    files = json.loads((tmp_path / "infos.json").read_text())
    assert sorted(f["rows"] for f in files) == [1, 2, 2]
    urls = []
    for info in files:
        got = [r[0] for r in duckdb.sql(f"select url from read_parquet('{info['temp']}')")
               .fetchall()]
        assert got == sorted(got)
        urls += got
    assert sorted(urls) == sorted(r["url"] for r in records)


def _written(tmp_path: Path, name: str, records: list[dict], offload) -> tuple[list, list]:
    """(file infos without the root, rows of every file) of ``records`` written as rejects
    one row per file under ``tmp_path/name``."""
    root = str(tmp_path / name)
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        infos = (p | beam.Create(records)
                 | WriteDataset(root, "r1", "rejects", rows_per_file=1, offload=offload)
                 | beam.combiners.ToList())
        infos | beam.Map(lambda files: Path(tmp_path / f"{name}.json").write_text(
            json.dumps(files)))
    files = sorted(json.loads((tmp_path / f"{name}.json").read_text()), key=lambda f: f["temp"])
    rows = [duckdb.sql(f"select url, stage, reason from read_parquet('{f['temp']}')").fetchall()
            for f in files]
    return [{k: v.replace(root, "ROOT") if isinstance(v, str) else v for k, v in f.items()}
            for f in files], rows


def test_files_written_on_the_record_pool_are_the_files_written_here(tmp_path):
    """Offloaded to the record pool's workers (more files than the tasks in flight), or to an
    offload that cannot take them or loses them: the same files, names and rows."""
    records = [make_reject(f"https://x.example/{i}", "fetch", "timeout", run_id="r1")
               for i in range(300)]
    here = _written(tmp_path, "here", records, None)
    assert len(here[0]) == 300 and all(len(rows) == 1 for rows in here[1])
    with record_pool(2, [RecordSteps("sinks-test", [])]):
        assert on_pool(int).result() == 0  # there is a pool to offload to
        pooled = _written(tmp_path, "pooled", records, on_pool)
    assert pooled == here
    assert _written(tmp_path, "no-pool", records, no_pool) == here
    assert _written(tmp_path, "broken", records, broken_pool) == here
