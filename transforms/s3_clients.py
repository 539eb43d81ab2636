"""One boto3 S3 client per process and per set of S3 settings, for Beam's S3 filesystem.

Beam's ``S3FileSystem`` (2.77) builds a new ``S3IO`` for every call (match, open, exists,
rename, delete...) and each ``S3IO`` a new boto3 ``Session`` and client. A new session has
an empty loader, so every call re-parses botocore's JSON service models: about 0.4 CPU s per
call, 167 calls (70 % of the CPU) in ``tests/test_s3.py``'s two small runs, and the same on
every real ``s3://`` run, launcher and workers alike. boto3 clients are thread-safe (its
docs: "Low-level clients are thread safe"); sessions are not, so clients are built once
under a lock and shared. The key holds every argument Beam passes and the environment
variables boto3 reads for endpoint, region and credentials, so a changed setting gets its
own client. Patching Beam's module-level ``boto3`` name keeps Beam's own ``Client`` code
(requests, multipart uploads, per-instance download state) untouched.
"""

from __future__ import annotations

import os
import threading
import types
from typing import Any

#: Environment variables boto3 reads for where and as whom a client connects.
_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


class SharedSession:
    """Stands in for ``boto3.session.Session()`` inside Beam's S3 client module: hands out
    one client per distinct (arguments, environment), built from one real session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple, Any] = {}

    def client(self, **kwargs: Any) -> Any:
        import boto3

        key = (tuple(sorted((name, repr(value)) for name, value in kwargs.items())),
               tuple(os.environ.get(name) for name in _ENVIRONMENT))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = boto3.session.Session().client(**kwargs)
            return client

    def __call__(self) -> SharedSession:
        return self


def share_s3_clients() -> None:
    """Makes Beam's S3 filesystem reuse its clients in this process (idempotent; a no-op
    without ``apache-beam[aws]``)."""
    try:
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:
        return
    if boto3_client.boto3 is None or isinstance(
            getattr(boto3_client.boto3, "session", None), types.SimpleNamespace):
        return
    shared = SharedSession()
    boto3_client.boto3 = types.SimpleNamespace(session=types.SimpleNamespace(Session=shared))
