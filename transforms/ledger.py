"""One ledger for every source: identity, revisions and outcomes of feeds, URLs, WARC and JSONL.

Every input has one identity, its *ledger key*: the normalised URL (courlan; tracking
parameters removed) or, for a record without a usable URL, its position (``file#L<line>``,
``file@<offset>``: the ``input_id`` the WARC/JSONL readers set). The ``_state/kind=page`` rows
of earlier runs, keyed the same way, say what became of it. After enrichment each article is
joined with them (a ``CoGroupByKey``):

- two records of this run with one identity (a JSONL file listing a URL twice, a WARC record
  and a JSONL line of the same page): the first by a stable order is kept, the others become
  reject rows ``input/same_as`` naming the kept URL;
- the text hash equals the latest recorded one: ``unchanged``, not written again;
- otherwise the article is written as ``revision`` n + 1 of the same ``article_id``, with the
  ``previous_content_hash``.

Permanent rejects are recorded too; the same reject of the same input in a later run (a dead
link still dead, a bad JSONL line read again) is counted ``rejected_before`` instead of
written again. Transient rejects (timeouts, 5xx) are always written: they are retried.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.rejects import REJECTS, internal_error, reject
from transforms.state import is_transient, latest_row, url_key

SAME_AS = "same_as"
#: which record of one identity is kept within a run (pages fetched now win over archives)
SOURCE_ORDER = {"url": 0, "feed": 1, "warc": 2, "jsonl": 3}


def ledger_key(item: dict) -> str:
    """The input's identity: its ``input_id`` (set by the WARC/JSONL readers: the URL, else
    the position) or its URL, normalised."""
    return url_key(item.get("input_id") or item["url"])


def reject_key(row: dict) -> str:
    """A ``same_as`` reject is about one spelling of the URL, not about the page."""
    if row.get("reason") == SAME_AS:
        return f"{SAME_AS} {row['url']}"
    return ledger_key(row)


def reject_kind(row: dict) -> str:
    return "feed" if row.get("source_kind") == "feed_list" else "page"


def needs_reject_row(row: dict) -> bool:
    """Permanent rejects get a state row; a feed's failures are in its own ``failed`` rows
    (``transforms/schedule.py``: they drive the polling backoff)."""
    return not is_transient(row) and row.get("source_kind") != "feed_list"


def _feed_failure(row: dict) -> str | None:
    """``feed/<reason>`` of a feed's ``failed`` state row."""
    if row.get("outcome") != "failed":
        return None
    try:
        reason = json.loads(row.get("data") or "{}").get("reason")
    except (ValueError, AttributeError):
        return None
    return f"feed/{reason}" if reason else None


def _order(record: dict) -> tuple:
    return (SOURCE_ORDER.get(record.get("source_kind") or "", 9), record.get("url") or "",
            record.get("content_hash") or "")


def assign_revision(record: dict, state: Iterable[dict]) -> bool:
    """Set ``revision``/``previous_content_hash`` from the state; False when unchanged."""
    latest = latest_row([r for r in state if r.get("kind", "page") == "page"], with_hash=True)
    if latest is None:
        record["revision"], record["previous_content_hash"] = 1, None
        return True
    revision = latest.get("revision") or 1  # rows written before revisions existed
    if latest["content_hash"] == record.get("content_hash"):
        record["revision"] = revision
        return False
    record["revision"], record["previous_content_hash"] = revision + 1, latest["content_hash"]
    return True


class _Revise(beam.DoFn):
    UNCHANGED = "unchanged"
    REJECTS = REJECTS

    def __init__(self):
        self.unchanged = Metrics.counter("ledger", "unchanged")
        self.revised = Metrics.counter("ledger", "new_revisions")

    def process(self, element: tuple[str, dict]) -> Iterator:
        _, grouped = element
        records = sorted(grouped["articles"], key=_order)
        if not records:
            return
        kept, others = records[0], records[1:]
        for other in others:
            yield reject(other, "input", SAME_AS,
                         f"same identity as {kept['url']} ({kept.get('source_kind')}), "
                         "which this run kept")
        try:
            changed = assign_revision(kept, grouped["state"])
        except Exception as exc:  # noqa: BLE001 - one record must not end the run
            yield internal_error(kept, "ledger", exc)
            return
        if not changed:
            self.unchanged.inc()
            yield beam.pvalue.TaggedOutput(self.UNCHANGED, kept)
            return
        if kept["revision"] > 1:
            self.revised.inc()
        yield kept


class AssignRevisions(beam.PTransform):
    """Articles -> ``articles`` (with revision), ``unchanged``, ``rejects`` (``same_as``)."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def expand(self, articles):
        keyed = articles | "KeyArticles" >> beam.Map(lambda r: (ledger_key(r), r))
        state = self.state | "KeyPageState" >> beam.Map(lambda r: (r["url_key"], r))
        return (
            {"articles": keyed, "state": state}
            | "JoinLedger" >> beam.CoGroupByKey()
            | "Revise" >> beam.ParDo(_Revise()).with_outputs(
                _Revise.UNCHANGED, _Revise.REJECTS, main="articles")
        )


def repeated_reject(row: dict, state: Iterable[dict]) -> bool:
    """The latest outcome recorded for this input is this same permanent reject."""
    if is_transient(row):
        return False
    kind = reject_kind(row)
    latest = latest_row([r for r in state if r.get("kind") == kind])
    if latest is None:
        return False
    recorded = _feed_failure(latest) if kind == "feed" else latest.get("reason")
    return recorded == f"{row['stage']}/{row['reason']}"


class _DropRepeated(beam.DoFn):
    REPEATED = "repeated"

    def __init__(self):
        self.repeated = Metrics.counter("ledger", "rejected_before")

    def process(self, element: tuple[str, dict]) -> Iterator:
        _, grouped = element
        state = list(grouped["state"])
        for row in grouped["rejects"]:
            if repeated_reject(row, state):
                self.repeated.inc()
                yield beam.pvalue.TaggedOutput(self.REPEATED, row)
            else:
                yield row


class DropRepeatedRejects(beam.PTransform):
    """Rejects -> new ``rejects`` and ``repeated`` (the same permanent reject as last time)."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def expand(self, rejects):
        keyed = rejects | "KeyRejects" >> beam.Map(lambda r: (reject_key(r), r))
        state = self.state | "KeyState" >> beam.Map(lambda r: (r["url_key"], r))
        return (
            {"rejects": keyed, "state": state}
            | "JoinLedger" >> beam.CoGroupByKey()
            | "DropRepeated" >> beam.ParDo(_DropRepeated()).with_outputs(
                _DropRepeated.REPEATED, main="rejects")
        )


# ---------------------------------------------------------------------------------------------
# feed entries remembered for 304 answers


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


ENTRY_FIELDS = ("url", "source_kind", "feed_url", "feed_title", "entry_id", "entry_updated",
                "entry")


def entries_json(requests: list[dict]) -> str:
    """The page requests a feed listed, as the feed's state keeps them."""
    return json.dumps([_jsonable({k: r.get(k) for k in ENTRY_FIELDS}) for r in requests],
                      ensure_ascii=False, sort_keys=True)


def replay_entries(feed_request: dict) -> list[dict]:
    """A feed that answered 304: the entries of its last full answer, to be checked again."""
    stored = (feed_request.get("previous") or {}).get("entries")
    if not stored:
        return []
    try:
        entries = json.loads(stored)
    except ValueError:
        return []
    return [{**e, "replayed": True} for e in entries if isinstance(e, dict) and e.get("url")]


# ---------------------------------------------------------------------------------------------
# history for duplicate detection: one row per article, the latest revision


class _LatestHistory(beam.DoFn):
    def __init__(self):
        self.superseded = Metrics.counter("ledger", "history_superseded")

    def process(self, element: tuple[str, dict]) -> Iterator[dict]:
        _, grouped = element
        rows = list(grouped["history"])
        if not rows:
            return
        if any(True for _ in grouped["new"]):
            self.superseded.inc(len(rows))  # this run writes a newer revision of it
            return
        self.superseded.inc(len(rows) - 1)
        yield max(rows, key=lambda r: (r.get("fetched_at") is not None, r.get("fetched_at")
                                       or 0, r.get("content_hash") or ""))


class LatestHistory(beam.PTransform):
    """Earlier runs' articles -> the latest revision of each, minus the articles this run
    writes a new revision of: an article is never compared with its own older text (it would
    become a copy of itself)."""

    def __init__(self, new_articles):
        super().__init__()
        self.new_articles = new_articles

    def expand(self, history):
        keyed = history | "KeyHistory" >> beam.Map(lambda r: (r["article_id"], r))
        new = self.new_articles | "NewIds" >> beam.Map(lambda r: (r["article_id"], None))
        return ({"history": keyed, "new": new}
                | "JoinNew" >> beam.CoGroupByKey()
                | "Latest" >> beam.ParDo(_LatestHistory()))


def not_a_copy_of_itself(record: dict) -> dict:
    """A new revision that joins the copy group its older text leads: it is that group's
    canonical again, not a copy of itself."""
    if record.get("duplicate_of") and record["duplicate_of"] == record.get("article_id"):
        record.update(duplicate_of=None, is_canonical=True, dup_kind=None, dup_score=None)
    return record
