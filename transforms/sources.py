"""Offline inputs: WARC files (backfills, Common Crawl news) and pre-extracted JSONL records.

WARC response records become the same *page* dicts that ``FetchPages`` emits, so they go through
the same extraction; JSONL records from another system are already articles and join the flow
at cleaning. Both count as input URLs: every record either becomes an article or a reject row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from transforms.enrich import parse_datetime
from transforms.fetch import HTML_TYPES, parse_content_type
from transforms.rejects import REJECTS, reject


def warc_page(record, max_bytes: int) -> tuple[dict | None, tuple[str, str] | None]:
    """A warcio response record -> (page, None) or (None, (reason, detail))."""
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    fetched_at = parse_datetime(record.rec_headers.get_header("WARC-Date"))
    status = None
    content_type = None
    if record.http_headers is not None:
        try:
            status = int(record.http_headers.get_statuscode() or 0)
        except ValueError:
            status = 0
        content_type = record.http_headers.get_header("Content-Type")
    mime, charset = parse_content_type(content_type)
    if status and not 200 <= status < 300:
        return {"url": url}, ("http_error", f"archived HTTP {status}")
    if mime and not mime.startswith(HTML_TYPES):
        return {"url": url}, ("unsupported_content_type", f"archived {mime} is not HTML")
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        return {"url": url}, ("too_large", f"record exceeds {max_bytes} bytes")
    return {
        "url": url, "final_url": url, "source_kind": "warc", "status": status, "body": body,
        "content_type": mime, "charset": charset, "fetched_at": fetched_at,
    }, None


class ReadWarcPages(beam.DoFn):
    """A matched WARC file -> page dicts for its HTML responses; other responses -> rejects."""

    REJECTS = REJECTS

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.records = Metrics.counter("warc", "responses")

    def process(self, readable: fileio.ReadableFile) -> Iterator:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        path = readable.metadata.path
        try:
            with readable.open(compression_type="uncompressed") as stream:
                for record in ArchiveIterator(stream):
                    if record.rec_type != "response":
                        continue
                    self.records.inc()
                    page, problem = warc_page(record, self.max_bytes)
                    if problem is None:
                        yield page
                    else:
                        yield reject({**page, "source_kind": "warc"}, "warc", *problem)
        except (ArchiveLoadFailed, OSError, ValueError) as exc:
            yield reject({"url": path, "source_kind": "warc"}, "warc", "bad_warc",
                         f"{path}: {exc}")


class ReadWarc(beam.PTransform):
    def __init__(self, pattern: str, max_bytes: int):
        super().__init__()
        self.pattern, self.max_bytes = pattern, max_bytes

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchWarc" >> fileio.MatchFiles(self.pattern)
            | "OpenWarc" >> fileio.ReadMatches()
            | "WarcRecords" >> beam.ParDo(ReadWarcPages(self.max_bytes)).with_outputs(
                ReadWarcPages.REJECTS, main="pages")
        )


def jsonl_article(line: str) -> dict[str, Any]:
    """One JSONL line -> an article record; ValueError names what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("a JSONL record must be an object")
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ValueError("record has no 'url'")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("record has no 'text'")
    authors = data.get("authors") or ([data["author"]] if data.get("author") else [])
    return {
        "url": url.strip(),
        "final_url": url.strip(),
        "source_kind": "jsonl",
        "title": data.get("title"),
        "text": text,
        "summary": data.get("summary"),
        "authors": [str(a) for a in authors] if isinstance(authors, list) else [str(authors)],
        "sitename": data.get("sitename"),
        "published_at": data.get("published_at"),
        "language": data.get("language"),
        "canonical_url": data.get("canonical_url"),
        "feed_url": data.get("feed_url"),
    }


class ParseJsonl(beam.DoFn):
    REJECTS = REJECTS

    def __init__(self):
        self.records = Metrics.counter("jsonl", "records")

    def process(self, item: tuple[str, str]) -> Iterator:
        path, line = item
        if not line.strip():
            return
        try:
            self.records.inc()
            yield jsonl_article(line)
        except ValueError as exc:
            url = ""
            try:
                url = str(json.loads(line).get("url") or "")
            except Exception:  # noqa: BLE001 - the line is broken anyway
                pass
            yield reject({"url": url or f"{path}#{line[:60]}", "source_kind": "jsonl"},
                         "jsonl", "bad_record", f"{path}: {exc}")


class ReadJsonl(beam.PTransform):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "ReadJsonlLines" >> beam.io.ReadFromTextWithFilename(self.pattern)
            | "ParseJsonl" >> beam.ParDo(ParseJsonl()).with_outputs(
                ParseJsonl.REJECTS, main="articles")
        )
