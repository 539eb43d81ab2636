"""Enrichment: identifiers, canonical URL, source, language, dates, counts and content hash,
then the content columns (flags, entities, keywords, attributed source: one module each).

Each value is derived by a well-kept library where one exists (courlan for URLs, py3langid for
language, dateparser only for dates that ISO parsing cannot read), so the rules are the same in
every run and on every worker. ``article_id`` hashes the normalised input URL, so the same URL
gets the same id in every run; ``content_hash`` hashes the normalised text, so exact copies
under different URLs share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from courlan import extract_domain, normalize_url

from schemas import SCHEMA_VERSION
from transforms.attribution import attributed_source
from transforms.entities import EntityRecognizer
from transforms.flags import page_flags
from transforms.keywords import keywords
from transforms.per_process import once_per_process
from transforms.rejects import REJECTS, guarded_batch
from transforms.table_cache import on_disk

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)

#: Below this many letters language identification is a guess: keep it, with low confidence.
MIN_LANG_CHARS = 20


def lang_tag(value: str) -> str | None:
    """``fr``, ``fr-CA``, ``fr_FR`` -> ``fr``; None when it is not a language tag."""
    match = re.match(r"^([a-z]{2,3})(?:[-_][a-z0-9]{2,8})*$", (value or "").strip().lower())
    return match.group(1) if match else None


@lru_cache(maxsize=1 << 16)
def canonical_url(url: str | None) -> str | None:
    """Normalised URL (lower-case host, default port and tracking parameters removed,
    parameters sorted, no fragment); None when it is not an http(s) URL. Cached: a run asks
    it about the same URLs at every step that keys or ranks articles (~9 calls an article in
    the launcher), and courlan's normalisation costs ~0.1 ms a call."""
    if not url:
        return None
    try:
        normalized = normalize_url(url.strip())
        parts = urlsplit(normalized)
    except (ValueError, TypeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(char.isspace() or ord(char) < 32 for char in parts.netloc):
        return None  # "https://exa mple.com/": no host has a space in its name
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def article_id(url: str) -> str:
    key = canonical_url(url) or url
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def source_domain(url: str | None) -> str | None:
    if not url:
        return None
    try:
        domain = extract_domain(url)
        return domain or (urlsplit(url).hostname or None)
    except (ValueError, TypeError):
        return None


def text_key(text: str) -> str:
    """Text reduced to what survives re-publishing: case, punctuation and spacing removed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return _NOT_WORD.sub(" ", text).strip()


def content_hash(text: str) -> str:
    return hashlib.blake2b(text_key(text).encode("utf-8"), digest_size=16).hexdigest()


def word_count(text: str) -> int:
    """Unicode words; each CJK character counts as one word (those scripts use no spaces)."""
    cjk = len(_CJK.findall(text or ""))
    return len(_WORD.findall(_CJK.sub(" ", text or ""))) + cjk


def parse_datetime(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime from a datetime, date, ISO string or free-form date."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            import dateparser

            when = dateparser.parse(text, settings={"TIMEZONE": "UTC",
                                                    "RETURN_AS_TIMEZONE_AWARE": True})
            if when is None:
                return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    if not 1990 <= when.year <= dt.datetime.now(dt.timezone.utc).year + 1:
        return None  # a parsed but implausible date is worse than none
    return when


def _has_letters(text: str, needed: int) -> bool:
    """Whether ``text`` holds at least ``needed`` letters (stops counting there: an article
    reaches 20 in its first words, a count over 3,000 characters cost a fifth of identifying)."""
    for ch in text:
        if ch.isalpha():
            needed -= 1
            if needed <= 0:
                return True
    return needed <= 0


@once_per_process()
def _langid_model():
    """One py3langid model per process (read-only once loaded): a runner that sets a DoFn up
    per bundle (Beam's bundle-based runner) must not read the model file every bundle."""
    return _built_langid_model()


@on_disk("py3langid-model", ("py3langid", "numpy"))
def _built_langid_model():
    """py3langid's model, built from its LZMA-compressed file (0.9 CPU s; from the table cache
    0.15)."""
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as _Identifier

    return _Identifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageIdentifier:
    """py3langid with normalised probabilities, loaded once per process (``DoFn.setup``)."""

    def __init__(self):
        self._identifier = _langid_model()

    def identify(self, text: str) -> tuple[str | None, float]:
        sample = (text or "")[:3000]
        if not _has_letters(sample, MIN_LANG_CHARS):
            return None, 0.0
        lang, prob = self._identifier.classify(sample)
        return lang, float(prob)


def enrich(record: dict[str, Any], identifier: LanguageIdentifier, run_id: str,
           started: dt.datetime | None = None) -> dict[str, Any]:
    """Fill the derived columns of an article record (in place) and return it. Records
    without a fetch time (JSONL) get the run's start, ``started``: one value for the whole
    run, so the canonical choice among equally dated copies never depends on the order in
    which workers happened to process them."""
    url = record["url"]
    final = record.get("final_url") or url
    # The input's identity names the article: a JSONL record whose ``url`` is no URL
    # (``doc-17``, ``javascript:...``) is keyed by its position, and so is its id (two such
    # records with one ``url`` are two articles, not two rows of one).
    record["article_id"] = article_id(record.get("input_id") or url)
    page_canonical = record.get("canonical_url")
    if page_canonical:
        page_canonical = canonical_url(_absolute(final, page_canonical))
        record["page_canonical_url"] = page_canonical  # for attribution
    record["canonical_url"] = page_canonical or canonical_url(final) or final
    record["source_domain"] = source_domain(final)
    text = record.get("text") or ""
    declared = lang_tag(record.get("language") or "")
    if declared:
        # records from another system (JSONL) that state their language are believed: the
        # detector knows 97 languages, the sender may know better (e.g. Livonian)
        lang, confidence = declared, 1.0
    else:
        lang, confidence = identifier.identify((record.get("title") or "") + "\n" + text)
    record["language"] = lang
    record["language_confidence"] = round(confidence, 4)
    # most precise first: the page's own timestamp, the feed entry's, then the page's day
    page_published = record.pop("page_published", None)
    precise = parse_datetime(page_published) if page_published and ":" in page_published else None
    entry = parse_datetime(record.pop("entry_published_at", None))
    page_day = parse_datetime(record.pop("page_date", None))
    record["published_at"] = (precise or entry or page_day
                              or parse_datetime(record.get("published_at")))
    record["fetched_at"] = parse_datetime(record.get("fetched_at")) or started or (
        dt.datetime.now(dt.timezone.utc))
    record["word_count"] = word_count(text)
    record["content_hash"] = content_hash(text)
    record["run_id"] = run_id
    record["schema_version"] = SCHEMA_VERSION
    return record


def enrich_content(record: dict[str, Any], recognizer: EntityRecognizer,
                   entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Flags, entities (``entities`` when already found for a batch), keywords and the credited
    source (in place); after ``enrich``, which settles language and canonical URL. Drops the
    transient fields extraction and cleaning left for it."""
    text, title, lang = record.get("text") or "", record.get("title"), record.get("language")
    page_flags(record)
    record["entities"] = (recognizer.entities(text, lang, title) if entities is None
                          else entities)
    record["keywords"] = keywords(text, title, lang)
    record["attributed_source"] = attributed_source(record)
    for key in ("page_signals", "boilerplate_found", "credit_lines", "embedded_domains",
                "page_canonical_url"):
        record.pop(key, None)
    return record


def enrich_batch(records: list[dict[str, Any]], identifier: LanguageIdentifier,
                 recognizer: EntityRecognizer, run_id: str,
                 started: dt.datetime | None = None) -> list[dict[str, Any]]:
    """``enrich`` then ``enrich_content`` of each record, on copies (a batch that fails is
    retried record by record from the records as they came, not half-enriched ones); the
    entity model parses the batch's articles of one language in one call."""
    records = [enrich(dict(record), identifier, run_id, started) for record in records]
    found = recognizer.entities_many(
        [(r.get("text") or "", r.get("language"), r.get("title")) for r in records])
    return [enrich_content(record, recognizer, entities)
            for record, entities in zip(records, found, strict=True)]


def _absolute(base: str, url: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, url)


# ---------------------------------------------------------------------------------------------
# Beam wiring


class EnrichArticles(beam.DoFn):
    """Batches of cleaned articles -> enriched articles (the language and entity models are
    opened once per worker); a record that makes enrichment fail -> ``rejects`` (stage
    ``enrich``, ``internal_error``: the batch is retried record by record). Batched because
    spaCy parses a batch of heads with less CPU than each alone (``enrich_step`` puts
    ``BatchElements`` before it)."""

    REJECTS = REJECTS

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.started = dt.datetime.now(dt.timezone.utc)  # set in the launcher: one per run
        self.enriched = Metrics.counter("enrich", "enriched")

    def setup(self):
        self.identifier = LanguageIdentifier()
        self.recognizer = EntityRecognizer()

    @guarded_batch("enrich")
    def process(self, batch: list[dict]) -> Iterator[dict]:
        records = enrich_batch(batch, self.identifier, self.recognizer, self.run_id,
                               self.started)
        for record in records:
            self.enriched.inc()
            Metrics.counter("enrich", "source_" + (record.get("source_kind") or "unknown")).inc()
            for flag in ("is_paywalled", "is_listing", "is_machine_translated"):
                if record.get(flag):
                    Metrics.counter("enrich", flag).inc()
        yield from records


#: Articles per ``EnrichArticles`` batch (``BatchElements`` adapts between the two).
ENRICH_BATCH = (8, 64)


def enrich_step(articles: beam.PCollection, run_id: str, label: str = "Enrich"
                ) -> beam.pvalue.DoOutputsTuple:
    """``articles`` -> batched ``EnrichArticles``: outputs ``articles`` and ``rejects``."""
    return (articles
            | f"BatchFor{label}" >> beam.BatchElements(min_batch_size=ENRICH_BATCH[0],
                                                       max_batch_size=ENRICH_BATCH[1])
            | label >> beam.ParDo(EnrichArticles(run_id)).with_outputs(
                EnrichArticles.REJECTS, main="articles"))
