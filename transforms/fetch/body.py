"""Reading a response body within limits: bytes on the wire, decompressed bytes, total time.

A gzip bomb is stopped by decompressing in bounded steps (``max_length``), a huge page by counting
wire bytes, a slow drip by a deadline over the whole body; memory stays near the cap.
"""

from __future__ import annotations

import time
import zlib

import urllib3

from transforms.fetch.errors import read_failure
from transforms.fetch.policy import FetchFailure, FetchPolicy


def _decoder(encoding: str, url: str):
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    if encoding in ("identity", ""):
        return None
    raise FetchFailure("unsupported_encoding", f"Content-Encoding {encoding} from {url}")


def check_declared_length(headers: dict[str, str], policy: FetchPolicy) -> None:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchFailure("too_large",
                           f"Content-Length {declared} exceeds {policy.max_bytes} bytes")


def read_body(resp, url: str, headers: dict[str, str], policy: FetchPolicy,
              ) -> tuple[bytes, int]:
    """The decoded body of ``resp`` and the wire bytes read; raises ``FetchFailure``."""
    check_declared_length(headers, policy)
    encoding = headers.get("content-encoding", "identity").strip().lower()
    decoder = _decoder(encoding, url)
    deadline = time.monotonic() + policy.total_timeout
    chunks: list[bytes] = []
    size = nread = 0
    cap = policy.max_decompressed_bytes if decoder else policy.max_bytes
    try:
        while True:
            if time.monotonic() > deadline:
                raise FetchFailure("timeout", f"response from {url} took over "
                                   f"{policy.total_timeout:.0f} s ({nread} bytes read)")
            chunk = resp.read1(65536, decode_content=False)
            if not chunk:
                break
            nread += len(chunk)
            if nread > policy.max_bytes:
                raise FetchFailure("too_large", f"body exceeds {policy.max_bytes} bytes")
            if decoder is not None:
                try:
                    chunk = decoder.decompress(chunk, cap - size + 1)
                except zlib.error as exc:
                    raise FetchFailure("bad_encoding", f"corrupt {encoding} body: {exc}") from None
                if decoder.unconsumed_tail or size + len(chunk) > cap:
                    raise FetchFailure("too_large", f"decompressed body exceeds {cap} bytes "
                                       f"after {nread} bytes read")
            size += len(chunk)
            chunks.append(chunk)
    except (TimeoutError, urllib3.exceptions.HTTPError) as exc:
        raise read_failure(exc, url) from None
    if decoder is not None:
        tail = decoder.flush()
        if size + len(tail) > cap:
            raise FetchFailure("too_large", f"decompressed body exceeds {cap} bytes")
        chunks.append(tail)
    return b"".join(chunks), nread
