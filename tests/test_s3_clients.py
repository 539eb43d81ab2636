"""Beam's S3 filesystem shares one boto3 client per process and setting
(``transforms/s3_clients.py``); building a client needs no server, so no moto here."""

from __future__ import annotations

from apache_beam.io.aws.clients.s3 import boto3_client
from apache_beam.options.pipeline_options import PipelineOptions

import transforms  # noqa: F401 - importing the package installs the sharing
from transforms.s3_clients import SharedSession


def _options(endpoint: str) -> PipelineOptions:
    return PipelineOptions([f"--s3_endpoint_url={endpoint}", "--s3_region_name=us-east-1",
                            "--s3_access_key_id=a", "--s3_secret_access_key=b"])


def test_beam_s3_clients_are_shared_per_setting():
    first = boto3_client.Client(options=_options("http://127.0.0.1:9"))
    again = boto3_client.Client(options=_options("http://127.0.0.1:9"))
    other = boto3_client.Client(options=_options("http://127.0.0.1:10"))
    assert first.client is again.client
    assert first is not again  # Beam's per-instance download state stays per instance
    assert other.client is not first.client
    assert other.client.meta.endpoint_url == "http://127.0.0.1:10"


def test_environment_changes_get_their_own_client(monkeypatch):
    shared = SharedSession()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "one")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    first = shared.client(service_name="s3")
    assert shared.client(service_name="s3") is first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "two")
    second = shared.client(service_name="s3")
    assert second is not first
    assert second.meta.region_name == "us-east-1"
