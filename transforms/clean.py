"""Text normalisation and removal of boilerplate residue that survives extraction.

Extractors keep whatever a theme puts inside the content block: share bars ("Partager :
Facebook Twitter"), "ADVERTISEMENT" labels, comment-form lines, newsletter prompts, "Read more:"
links, and embeds that a plugin printed as (escaped) markup. Two kinds of rule remove them, line
by line, never inside a sentence: lines that are code rather than prose (``transforms.markup``)
and lines that are a boilerplate phrase of one of the per-language tables
(``transforms.boilerplate``); a trailing comment section is cut at its heading. Which classes of
boilerplate a page had is kept for the flags (a paywall notice makes ``is_paywalled``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms.attribution import embedded_domains
from transforms.boilerplate import exact_key, matcher
from transforms.enrich import word_count
from transforms.markup import is_data_line, is_markup_line, strip_shortcodes
from transforms.rejects import REJECTS, guarded, reject

#: Fewer words than this in an extracted page means a menu, stub or error page, not an article.
#: (Records given as JSONL are trusted: short texts there are what the user sent.)
MIN_PAGE_WORDS = 10

#: This many consecutive paragraphs seen again verbatim are a second copy of the story.
REPEATED_BLOCK = 5

_TRIM = " \t\u00a0-–—:|•·*#>[](){}.!…"
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def line_class(line: str) -> str | None:
    """Why a line is boilerplate (``markup``, ``empty`` or a table class), None for prose."""
    core = line.strip(_TRIM)
    if not core:
        return "empty"
    if is_markup_line(line) or is_data_line(line):
        return "markup"
    return matcher().classify(line)


def is_boilerplate(line: str) -> bool:
    """True for a line that is entirely boilerplate (label, share bar, form field, markup)."""
    return line_class(line) is not None


def normalize_text(text: str) -> str:
    """NFC, one space between words, no zero-width characters, no empty lines."""
    text = unicodedata.normalize("NFC", text or "")
    text = _ZERO_WIDTH.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def clean_report(text: str, removed: list[str] | None = None) -> tuple[str, set[str]]:
    """Cleaned text and the boilerplate classes that were removed from it; the removed credit
    and markup lines are appended to ``removed`` when given (attribution reads them)."""
    lines = [strip_shortcodes(line) for line in normalize_text(text).split("\n")]
    classes = [line_class(line) for line in lines]
    # a lone token between metadata lines ("BusinessInsiderDe" after a URL) is metadata too
    for i, line in enumerate(lines):
        if classes[i] is None and " " not in line.strip() and any(
                0 <= j < len(lines) and classes[j] == "markup" and is_data_line(lines[j])
                for j in (i - 1, i + 1)):
            classes[i] = "markup"
    repeated = _repeated_blocks(lines, classes)
    kept: list[str] = []
    found: set[str] = set()
    heading = matcher().is_comment_heading
    for index, (line, cls) in enumerate(zip(lines, classes, strict=True)):
        if index >= max(3, len(lines) // 2) and heading(line):
            found.add("comments")
            break
        if index in repeated:
            found.add("repeated")
        elif cls is None:
            kept.append(line)
        elif cls != "empty":
            found.add(cls)
            if removed is not None and cls in ("credits", "markup") and len(removed) < 20:
                removed.append(line)
    return "\n".join(kept), found


def _repeated_blocks(lines: list[str], classes: list[str | None]) -> set[int]:
    """Indexes of lines in a second copy of a block of ``REPEATED_BLOCK`` consecutive
    paragraphs (a page that prints the story twice: AMP or newsletter version). A single
    repeated line is kept: interviews repeat questions, recipes repeat ingredients."""
    prose = [i for i, cls in enumerate(classes) if cls is None and len(lines[i]) >= 40]
    seen: set[tuple[str, ...]] = set()
    repeated: set[int] = set()
    for start in range(len(prose) - REPEATED_BLOCK + 1):
        block_idx = prose[start:start + REPEATED_BLOCK]
        block = tuple(lines[i] for i in block_idx)
        if block in seen:
            repeated.update(block_idx)
        else:
            seen.add(block)
    return repeated


def clean_text(text: str) -> str:
    """Normalised text without boilerplate lines and without a trailing comment section."""
    return clean_report(text)[0]


def without_headline(text: str, title: str | None) -> str:
    """The text without a first line that repeats the headline (extractors often keep it; it
    has its own column, and copies re-titled by a partner would differ by it)."""
    first, _, rest = text.partition("\n")
    if title and rest and exact_key(first) == exact_key(title):
        return rest
    return text


def clean_article(record: dict[str, Any]) -> dict[str, Any]:
    """Clean text, title and summary of an article record in place and return it."""
    removed: list[str] = []
    record["text"], found = clean_report(record.get("text") or "", removed)
    record["text"] = without_headline(record["text"], record.get("title"))
    # transient fields for the flags and attribution (not columns)
    record["boilerplate_found"] = sorted(found)
    record["credit_lines"] = [line for line in removed if not is_markup_line(line)]
    record["embedded_domains"] = embedded_domains(removed)
    for key in ("title", "summary"):
        if record.get(key):
            record[key] = normalize_text(record[key]).replace("\n", " ") or None
    return record


# ---------------------------------------------------------------------------------------------
# Beam wiring


class CleanArticles(beam.DoFn):
    """Articles -> cleaned articles; pages left with too little text -> rejects."""

    REJECTS = REJECTS

    @guarded("clean")
    def process(self, record: dict) -> Iterator:
        record = clean_article(record)
        words = word_count(record["text"])
        if words and (words >= MIN_PAGE_WORDS or record.get("source_kind") == "jsonl"):
            yield record
        elif words:
            yield reject(record, "clean", "too_short",
                         f"{words} words of text: a menu or stub page, not an article "
                         f"(pages need {MIN_PAGE_WORDS})")
        else:
            yield reject(record, "clean", "empty_after_cleaning",
                         "only boilerplate was left after removing share bars, forms and labels")
