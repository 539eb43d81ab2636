"""``--output s3://...`` against a real S3-compatible server (moto_server, started here on
127.0.0.1): write, re-run, compact, read back. DuckDB cannot read s3:// here (its httpfs
extension is not installable offline for this DuckDB), so rows are read back through Beam's
FileSystems and pyarrow from the files the committed manifests name, and ``newsflow query``
must fail naming what to install."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines.batch import run
from pipelines.compact import compact
from pipelines.query import MissingDependency, connect
from transforms.commit import committed_files, manifests

STORY = ("The city council approved the new budget on Tuesday after a long debate about "
         "schools, roads and the harbour, and the mayor said work would start in spring.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_bucket(monkeypatch):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
            monkeypatch.setenv(key, value)
        import boto3

        boto3.client("s3").create_bucket(Bucket="news")
        yield "s3://news/root"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _read(paths: list[str]) -> pa.Table:
    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            tables.append(pq.read_table(pa.BufferReader(handle.read())))
    return pa.concat_tables(tables, promote_options="default")


def test_write_rerun_compact_and_read_back_on_s3(tmp_path, s3_bucket):
    root = s3_bucket
    rows = [{"url": f"https://s3.example/{i}", "language": "en",
             "published_at": f"2024-03-0{5 + i % 2}T10:00:00Z", "text": f"Story {i}. {STORY}"}
            for i in range(4)]
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n{broken\n")
    second = tmp_path / "b.jsonl"
    second.write_text("\n".join(json.dumps(r) for r in rows[2:]) + "\n")
    argv = ["--output", root, "--dedup-levels", "exact"]
    run(["--jsonl", str(first), *argv])
    run(["--jsonl", str(tmp_path / "*.jsonl"), *argv])  # a.jsonl again (nothing new) + b.jsonl
    assert len(manifests(root)) == 2
    before = _read(committed_files(root, "articles"))
    assert sorted(before.column("url").to_pylist()) == [r["url"] for r in rows]
    assert _read(committed_files(root, "rejects")).column("reason").to_pylist() == [
        "invalid_json"]

    files_before = len(committed_files(root, "articles"))
    summary = compact(root, older_than=0, grace=0)
    assert summary["files_after"] < summary["files_before"]
    after = committed_files(root, "articles")
    assert len(after) == 2 < files_before  # one per publication day
    table = _read(after)
    assert sorted(table.column("url").to_pylist()) == [r["url"] for r in rows]
    listed = {m.path for r in FileSystems.match([f"{root}/articles/**"]) for m in r.metadata_list}
    assert listed == set(after)  # the replaced files are gone from the bucket
    assert not FileSystems.exists(f"{root}/_lock")

    try:
        con = connect(root)  # works only where DuckDB's httpfs is installed
    except MissingDependency as exc:
        assert "httpfs" in str(exc) and "pip install" in str(exc)
    else:
        assert con.execute("select count(*) from articles").fetchone()[0] == 4
