"""Polite, bounded HTTP fetching: the only place newsflow talks to the web.

Split by rule, each in one small module with its tests:
``policy`` (limits, content types, ``Accept`` headers, results), ``robots`` (RFC 9309 cache with
per-origin futures), ``pacer`` (one request at a time per host, host delay / Crawl-delay),
``body`` (bounded body reader: wire bytes, decompressed bytes, total time), ``errors``
(exception -> reject reason), ``client`` (the request loop: guard, retries, redirects, meta
refresh) and ``transform`` (``FetchPages``, the Beam wiring by host batches).
"""

from transforms.fetch.client import HttpClient, meta_refresh_target
from transforms.fetch.pacer import PACER, HostPacer
from transforms.fetch.policy import (
    ANY_TYPE,
    DEFAULT_USER_AGENT,
    FEED_TYPES,
    HTML_TYPES,
    PROJECT_URL,
    RETRY_STATUSES,
    SITEMAP_TYPES,
    TEXT_TYPES,
    FetchFailure,
    FetchPolicy,
    FetchResult,
    accept_header,
    accepts,
    parse_content_type,
    parse_retry_after,
)
from transforms.fetch.robots import ROBOTS, RobotsCache, RobotsRules, rules_from_response
from transforms.fetch.transform import FetchHostsDoFn, FetchPages, host_batches, host_of

__all__ = [
    "ANY_TYPE", "DEFAULT_USER_AGENT", "FEED_TYPES", "HTML_TYPES", "PACER", "PROJECT_URL",
    "RETRY_STATUSES", "ROBOTS", "SITEMAP_TYPES", "TEXT_TYPES", "FetchFailure",
    "FetchHostsDoFn", "FetchPages", "FetchPolicy", "FetchResult", "HostPacer", "HttpClient",
    "RobotsCache", "RobotsRules", "accept_header", "accepts", "host_batches", "host_of",
    "meta_refresh_target", "parse_content_type", "parse_retry_after", "rules_from_response",
]
