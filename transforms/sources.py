"""Offline inputs: WARC files (backfills, Common Crawl news); JSONL lives in ``jsonl.py``.

WARC response records become the same *page* dicts that ``FetchPages`` emits, so they go through
the same extraction. Every response record either becomes an article or a reject row.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from transforms.enrich import canonical_url, parse_datetime
from transforms.fetch import HTML_TYPES, parse_content_type
from transforms.jsonl import ReadJsonl  # noqa: F401 - kept importable from here
from transforms.rejects import REJECTS, internal_error, reject


def write_warc(path: str, pages: list[tuple[str, bytes]]) -> None:
    """(url, HTML body) pairs -> a gzipped WARC of 200 ``text/html`` responses: how the
    benchmarks and tests build the WARCs this module reads."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))


class WarcRecordError(ValueError):
    """A WARC record that cannot become a page: ``reason`` is the reject code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def warc_page(record, max_bytes: int) -> tuple[dict | None, tuple[str, str] | None]:
    """A warcio response record -> (page, None) or (partial page, (reason, detail)).

    WARC headers are validated here: a response without a usable ``WARC-Target-URI`` or
    ``WARC-Date`` is rejected (``bad_warc_header``) rather than stored under a guessed URL/date.
    """
    url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]  # WARC 1.0 writers that followed the spec's angle-bracket typo
    if not url:
        return {"url": ""}, ("bad_warc_header", "response record without WARC-Target-URI")
    if canonical_url(url) is None:
        return {"url": url}, ("bad_warc_header", f"WARC-Target-URI {url[:200]!r} is not an "
                                                 "http(s) URL")
    fetched_at = parse_datetime(record.rec_headers.get_header("WARC-Date"))
    if fetched_at is None:
        return {"url": url}, ("bad_warc_header", "missing or unparseable WARC-Date "
                              f"{record.rec_headers.get_header('WARC-Date')!r}")
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


def _tail_is_blank(readable: fileio.ReadableFile, offset: int) -> bool:
    """Whether the bytes of a WARC file after ``offset`` are only the blank lines that end a
    record (uncompressed WARCs count them outside the record)."""
    with readable.open(compression_type="uncompressed") as stream:
        stream.seek(offset)
        tail = stream.read(65)
    return len(tail) <= 64 and not tail.strip()


class ReadWarcPages(beam.DoFn):
    """A matched WARC file -> page dicts for its HTML responses; other responses -> rejects.

    A file cut in the middle of a record keeps the records before the cut; the cut record (or
    the bytes after the last complete one) is a ``truncated_warc`` reject, not an empty page.
    Every record carries ``input_id``: its URL, else ``<file>@<offset>``.
    """

    REJECTS = REJECTS

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.records = Metrics.counter("warc", "responses")

    def process(self, readable: fileio.ReadableFile) -> Iterator:
        from warcio.archiveiterator import ArchiveIterator

        path = readable.metadata.path
        size = readable.metadata.size_in_bytes
        end = 0  # where the last complete record ended
        count = 0
        whole = {"url": path, "input_id": path, "source_kind": "warc"}
        try:
            with readable.open(compression_type="uncompressed") as stream:
                records = ArchiveIterator(stream)
                for record in records:
                    if record.format != "warc":
                        # warcio reads any text as (old-style) ARC lines
                        yield reject(whole, "warc", "bad_warc",
                                     f"{path}: not a WARC file (the record at offset "
                                     f"{records.offset} has no WARC header; ARC files are "
                                     "not read)")
                        return
                    outputs = list(self._record(record, records, path))
                    offset, length = records.get_record_offset(), records.get_record_length()
                    if record.raw_stream.limit <= 0:
                        yield from outputs
                    else:  # Content-Length promised more bytes than the file holds
                        target = _target(record)
                        yield reject({"url": target or f"{path}@{offset}",
                                      "input_id": target if canonical_url(target)
                                      else f"{path}@{offset}", "source_kind": "warc"},
                                     "warc", "truncated_warc",
                                     f"{path}: the file ends inside the record at offset "
                                     f"{offset} ({record.raw_stream.limit} bytes missing)")
                        return
                    end = offset + length
                    count += 1
        except Exception as exc:  # noqa: BLE001 - warcio raises many types on broken input
            # warcio meets the end of a cut file as EOFError, zlib.error, or (a header cut
            # short) AttributeError; anything else is a malformed file
            cut = isinstance(exc, EOFError | AttributeError | zlib.error)
            yield reject(whole, "warc", "truncated_warc" if cut else "bad_warc",
                         f"{path}: after {count} complete records (offset {end}): "
                         f"{type(exc).__name__}: {str(exc).strip()[:300]}")
            return
        if size is not None and end < size and not _tail_is_blank(readable, end):
            yield reject(whole, "warc", "truncated_warc" if count else "bad_warc",
                         f"{path}: {size - end} bytes after the last complete record (offset "
                         f"{end}) do not form a record (file cut off?)")

    def _record(self, record, records, path: str) -> Iterator:
        if record.rec_type != "response":
            return
        self.records.inc()
        offset = records.offset  # where this record starts (warcio updates it per record)
        try:
            page, problem = warc_page(record, self.max_bytes)
        except Exception as exc:  # noqa: BLE001 - one record must not end the file or the run
            where = f"{path}@{offset}"
            yield internal_error({"url": _target(record) or where, "input_id": where,
                                  "source_kind": "warc"}, "warc", exc)
            return
        page["source_kind"] = "warc"
        page["url"] = page.get("url") or f"{path}@{offset}"
        page["input_id"] = page["url"] if canonical_url(page.get("url")) else f"{path}@{offset}"
        if problem is None:
            yield page
        else:
            yield reject(page, "warc", *problem)


def _target(record) -> str:
    return (record.rec_headers.get_header("WARC-Target-URI") or "").strip()


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
