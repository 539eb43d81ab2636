"""Pre-extracted JSONL records from another system, validated at the boundary.

Each line is read as bytes with its number, so a bad line becomes a reject row naming the file
and the line (``docs.jsonl:17``) and every line has an identity for the run's ledger
(``input_id``: the record's URL when it has a usable one, else ``<file>#L<line>``). Beam's
``ReadFromText`` gives neither line numbers nor a say in how bytes are decoded, hence the own
reader. Validation happens here, once, so later stages only see values of the declared types.

What is accepted and what is changed (also in the README's JSONL input description):

- required: ``text``, a non-blank string. ``url`` is optional: a record without one is
  identified (and its ``url`` column filled) by its position ``<file>#L<line>``;
- strings stay strings; a number where a string is expected (``"title": 5``) becomes its
  decimal text; booleans, lists and objects there are rejected (``wrong_type``);
- ``authors``: a list of names; a single string becomes a one-element list, list items that are
  numbers become text, objects with a ``name`` (schema.org ``Person``) become that name;
  ``author`` (singular) is read when ``authors`` is absent;
- ``published_at``: ISO 8601 or a free-form date, or Unix seconds (milliseconds when > 10^11);
  a value that is not a date between 1990 and next year is rejected (``bad_date``);
- a UTF-8 byte order mark at the start of a line is dropped; blank lines are skipped;
- other fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from transforms.enrich import canonical_url, parse_datetime
from transforms.lines import MAX_LINE_BYTES, numbered_lines
from transforms.rejects import REJECTS, internal_error, reject

STAGE = "jsonl"

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

#: Optional string fields of a record (``text`` and ``url`` are checked on their own).
STRING_FIELDS = ("title", "summary", "sitename", "language", "canonical_url", "feed_url")
#: Fields whose repetition inside one object is ambiguous (JSON parsers keep the last one).
KNOWN_FIELDS = ("url", "text", "authors", "author", "published_at", *STRING_FIELDS)


class BadLine(ValueError):
    """A line that cannot become an article: ``reason`` is the reject code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen and key in KNOWN_FIELDS and seen[key] != value:
            raise BadLine("duplicate_field", f"field {key!r} appears twice with different values")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise BadLine("invalid_json", f"{name} is not valid JSON")


def _string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric headline ("2024") typed as a number by the exporter
    raise BadLine("wrong_type", f"{key!r} is {_type_name(value)}, expected a string")


def _authors(data: dict[str, Any]) -> list[str]:
    value = data.get("authors")
    key = "authors"
    if value is None:
        value, key = data.get("author"), "author"
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise BadLine("wrong_type", f"{key!r} is {_type_name(value)}, expected a list of names")
    names = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            item = item["name"]
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise BadLine("wrong_type", f"{key!r} holds {_type_name(item)}, expected names")
        if item.strip():
            names.append(item.strip())
    return names


def _published(data: dict[str, Any]) -> dt.datetime | None:
    value = data.get("published_at")
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            when = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            when = None
        when = parse_datetime(when)
    elif isinstance(value, str):
        when = parse_datetime(value)
    else:
        raise BadLine("wrong_type", f"'published_at' is {_type_name(value)}, expected a date")
    if when is None:
        raise BadLine("bad_date", f"'published_at' {str(value)[:80]!r} is not a date between "
                                  "1990 and next year")
    return when


def _check_encodable(record: dict[str, Any]) -> None:
    """JSON escapes can spell lone surrogates (``"\\ud800"``) that no UTF-8 file can hold."""
    for key, value in record.items():
        for text in (value if isinstance(value, list) else [value]):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadLine("invalid_unicode",
                                  f"{key!r} holds a lone surrogate escape (not Unicode text)"
                                  ) from None


def usable_url(url: str | None) -> bool:
    return bool(url) and canonical_url(url) is not None


def jsonl_article(raw: bytes, path: str, line: int, last: bool = False) -> dict[str, Any]:
    """One line (bytes, without its newline) -> an article record; raises ``BadLine``.

    ``last`` says the line is the file's last and had no newline: a line that then fails to
    parse was most likely cut off (``truncated_line``), not written wrong.
    """
    position = f"{path}#L{line}"
    if len(raw) > MAX_LINE_BYTES:
        raise BadLine("too_large", f"line longer than {MAX_LINE_BYTES} bytes")
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine("invalid_utf8", f"not UTF-8 at byte {exc.start}: "
                                      f"{raw[exc.start:exc.start + 4]!r}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except BadLine:
        raise
    except RecursionError:
        raise BadLine("invalid_json", "nested too deeply to parse") from None
    except json.JSONDecodeError as exc:
        if last and (exc.pos >= len(text.rstrip()) - 1
                     or exc.msg.startswith("Unterminated string")):
            raise BadLine("truncated_line", "the last line ends in the middle of a record "
                                            "(file cut off?)") from None
        raise BadLine("invalid_json", f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise BadLine("not_an_object", f"a JSONL line must be an object, this is "
                                       f"{_type_name(data)}")
    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise BadLine("wrong_type", f"'url' is {_type_name(url)}, expected a string")
    url = (url or "").strip()
    body = data.get("text")
    if body is None:
        raise BadLine("missing_text", "record has no 'text'" if "text" not in data
                      else "'text' is null")
    if not isinstance(body, str):
        raise BadLine("wrong_type", f"'text' is {_type_name(body)}, expected a string")
    if not body.strip():
        raise BadLine("missing_text", "'text' is blank")
    fields = {key: _string(data, key) for key in STRING_FIELDS}
    record = {
        "url": url or position,
        "final_url": url or position,
        "input_id": url if usable_url(url) else position,
        "source_kind": "jsonl",
        "text": body,
        "authors": _authors(data),
        "published_at": _published(data),
        **fields,
    }
    _check_encodable(record)
    return record


_URL_FIELD = re.compile(rb'"url"\s*:\s*"([^"\\]{1,2000})"')


def _url_hint(raw: bytes) -> str | None:
    """The ``url`` of a line that was rejected, when it can still be read (also from a line
    that is not valid JSON, such as a cut-off one)."""
    try:
        data = json.loads(raw.lstrip(_BOM).decode("utf-8", "replace"))
        url = data.get("url") if isinstance(data, dict) else None
    except Exception:  # noqa: BLE001 - the line is broken anyway
        match = _URL_FIELD.search(raw[:100_000])
        url = match.group(1).decode("utf-8", "replace") if match else None
    return url.strip() if isinstance(url, str) and url.strip() else None


class ParseJsonlFile(beam.DoFn):
    """A matched JSONL file -> article records, one per valid line; bad lines -> rejects."""

    REJECTS = REJECTS

    def __init__(self):
        self.records = Metrics.counter(STAGE, "records")
        self.blank = Metrics.counter(STAGE, "blank_lines")

    def process(self, readable: fileio.ReadableFile) -> Iterator:
        path = readable.metadata.path
        try:
            stream = readable.open()  # compression from the file name (.gz, .bz2, ...)
            with stream:
                yield from self._lines(stream, path)
        except (OSError, EOFError, ValueError) as exc:  # unreadable or cut compressed file
            yield reject({"url": path, "input_id": path, "source_kind": "jsonl"}, STAGE,
                         "unreadable_file", f"{path}: {type(exc).__name__}: {exc}")

    def _lines(self, stream, path: str) -> Iterator:
        for number, raw, ended in numbered_lines(stream):
            if number == 1 and raw.startswith(_UTF16_BOMS):
                yield reject({"url": path, "input_id": path, "source_kind": "jsonl"}, STAGE,
                             "unsupported_encoding",
                             f"{path}: UTF-16 file (byte order mark); JSONL must be UTF-8")
                return
            if not raw.lstrip(_BOM).strip():
                self.blank.inc()
                continue
            self.records.inc()
            yield from self._line(raw, path, number, not ended)

    def _line(self, raw: bytes, path: str, number: int, last: bool) -> Iterator:
        position = f"{path}#L{number}"
        try:
            yield jsonl_article(raw, path, number, last)
        except BadLine as bad:
            url = _url_hint(raw)
            yield reject({"url": url or position, "source_kind": "jsonl",
                          "input_id": url if usable_url(url) else position},
                         STAGE, bad.reason, f"{path}:{number}: {bad.detail}")
        except Exception as exc:  # noqa: BLE001 - one line must not end the run
            yield internal_error({"url": position, "input_id": position,
                                  "source_kind": "jsonl"}, STAGE, exc)


class ReadJsonl(beam.PTransform):
    """JSONL files (a glob on any Beam filesystem) -> ``articles`` and ``rejects``."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchJsonl" >> fileio.MatchFiles(self.pattern)
            | "OpenJsonl" >> fileio.ReadMatches()
            | "ParseJsonl" >> beam.ParDo(ParseJsonlFile()).with_outputs(REJECTS, main="articles")
        )
