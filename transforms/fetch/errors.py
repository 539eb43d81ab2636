"""Which reject reason a network exception is: one table, ordered most specific first.

urllib3 2 makes ``NewConnectionError`` (a refused or unreachable connection) a subclass of
``ConnectTimeoutError`` (DESIGN.md §9), so a handler that tests for the timeout first reports
every refused connection as a timeout. TLS problems are not retried (a bad certificate does not
heal in a second); refused connections and timeouts are.
"""

from __future__ import annotations

import socket
import ssl

import urllib3.exceptions as u3

from transforms.fetch.policy import FetchFailure


def connect_failure(exc: BaseException, host: str) -> FetchFailure:
    """The failure of opening or using a connection to ``host`` (before a response arrived)."""
    if isinstance(exc, u3.NameResolutionError) or isinstance(exc, socket.gaierror):
        return FetchFailure("dns_error", f"cannot resolve {host}: {exc}", True)
    if isinstance(exc, u3.SSLError) or isinstance(exc, ssl.SSLError):
        return FetchFailure("tls_error", f"{host}: {exc}")
    if isinstance(exc, u3.NewConnectionError):  # before ConnectTimeoutError: it is a subclass
        return FetchFailure("connection_error", f"cannot connect to {host}: {exc}", True)
    if isinstance(exc, u3.ConnectTimeoutError):
        return FetchFailure("timeout", f"connect timeout to {host}: {exc}", True)
    if isinstance(exc, (u3.ReadTimeoutError, TimeoutError, socket.timeout)):
        return FetchFailure("timeout", f"read timeout from {host}: {exc}", True)
    if isinstance(exc, u3.ProtocolError):
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, (ssl.SSLError,)):
            return FetchFailure("tls_error", f"{host}: {exc}")
        return FetchFailure("connection_error", f"{host}: {exc}", True)
    return FetchFailure("connection_error", f"{host}: {exc}", True)


def read_failure(exc: BaseException, url: str) -> FetchFailure:
    """The failure of reading a response body that had started."""
    if isinstance(exc, (u3.ReadTimeoutError, TimeoutError, socket.timeout)):
        return FetchFailure("timeout", f"read timeout from {url}: {exc}", True)
    if isinstance(exc, u3.ProtocolError):
        return FetchFailure("truncated", f"connection broken while reading {url}: {exc}")
    return FetchFailure("truncated", f"while reading {url}: {exc}")
