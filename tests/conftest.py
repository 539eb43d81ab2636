"""Shared fixtures: the bundled sample served on 127.0.0.1 and one pipeline run over it.

The run is real (FnApiRunner, HTTP over loopback, Parquet read back with DuckDB) and shared by
the tests that inspect its output, so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from pipelines.batch import run
from pipelines.demo import SampleServer, demo_argv
from pipelines.query import connect
from transforms.fetch import HttpClient

_real_create_connection = socket.create_connection


def pytest_configure(config):
    """Built models (e5's graph) go to a cache of this test session, not the user's
    ``~/.cache/newsflow``: a test run leaves nothing behind. Set before xdist starts its
    workers, which inherit it (and share it: one worker's build is the other's hit)."""
    if "NEWSFLOW_CACHE_DIR" not in os.environ and not hasattr(config, "workerinput"):
        os.environ["NEWSFLOW_CACHE_DIR"] = tempfile.mkdtemp(prefix="newsflow-test-cache-")
        config._newsflow_cache = os.environ["NEWSFLOW_CACHE_DIR"]


def pytest_unconfigure(config):
    if getattr(config, "_newsflow_cache", None):
        shutil.rmtree(config._newsflow_cache, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    """Fail any test that tries to connect outside 127.0.0.0/8 (the suite must stay offline)."""
    original_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not (
            str(host).startswith("127.") or host in ("::1", "localhost")
        ):
            raise AssertionError(f"test tried to connect outside loopback: {address}")
        return original_connect(self, address)

    socket.socket.connect = guarded
    yield
    socket.socket.connect = original_connect


@pytest.fixture(scope="session")
def sample_server():
    with SampleServer() as server:
        yield server


@pytest.fixture(scope="session")
def sample_run(sample_server, tmp_path_factory):
    """One batch run over the bundled sample: returns (output root, run_id, server log)."""
    work = tmp_path_factory.mktemp("sample-run")
    output = str(work / "out")
    # robots.txt is cached per process and origin: a test that ran earlier against this server
    # (or an earlier server on the same port) must not make this run skip its robots.txt fetch
    HttpClient._robots.clear()
    start = len(sample_server.log)
    run_id, result = run(demo_argv(sample_server, output, work / "inputs", []))
    assert str(result.state) == "DONE"
    return output, run_id, sample_server.log[start:]


@pytest.fixture(scope="session")
def sample_db(sample_run):
    output, _, _ = sample_run
    return connect(output)


def load_manifest(output: str, run_id: str) -> dict:
    return json.loads(Path(output, "_runs", f"{run_id}.json").read_text())
