"""Flags users filter on, each with a rule a reader can check: ``is_paywalled``, ``is_listing``,
``is_machine_translated`` and ``text_quality``. Rows are flagged, never dropped.

- ``is_paywalled``: the page declares ``isAccessibleForFree: false`` (schema.org JSON-LD or
  microdata), or the cleaner removed a paywall notice ("Subscribe to continue reading", "Pour
  lire la suite", "Jetzt weiterlesen mit ...": the ``paywall`` class of the boilerplate tables).
- ``is_listing``: an index, tag or search page taken for an article: the page declares itself a
  collection (JSON-LD ``CollectionPage``/``SearchResultsPage`` and no ``Article`` type; a
  front page: ``og:type`` website at path ``/``), or its URL is a tag/category/archive/search
  path (a section word and at most one segment after it), or its text is mostly headline-like
  lines (see ``LISTING_*``).
- ``is_machine_translated``: the text says so ("machine translated", "traduction automatique",
  ...), or the article is a translation copy (``dup_kind = translation``: its canonical is in
  another language) that names no translator ("translated by", "traduit par", ...).
- ``text_quality`` (0-1): the mean of four scores: length (words / 150, capped at 1), prose
  (share of lines that are sentences: 8+ words or ending in sentence punctuation), letters
  (share of letters among non-space characters, 1 from 0.75 up) and uniqueness (distinct lines /
  lines); halved for listings. A 600-word story scores ~0.95, a menu or a list of links < 0.5.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

#: A text is a listing when it has at least this many lines ...
LISTING_MIN_LINES = 10
#: ... at least this share of them are headline-like (short, no sentence punctuation) ...
LISTING_HEADLINE_SHARE = 0.8
LISTING_HEADLINE_WORDS = 14
#: ... and fewer than this many are paragraphs (25+ words): an article has a few.
LISTING_MAX_PARAGRAPHS = 3

_FREE = re.compile(r"[\"']?isAccessibleForFree[\"']?\s*[:=]\s*[\"']?(false|False|FALSE|no)\b")
_COLLECTION_TYPES = re.compile(r'"@type"\s*:\s*"(CollectionPage|SearchResultsPage)"')
_ARTICLE_TYPES = re.compile(r'"@type"\s*:\s*\[?\s*"(\w*Article|BlogPosting|Report)"')
#: A section word at the end of the path or followed by one short term: ``/tag/tiktok/``,
#: ``/category/world-news``, ``/page/3`` (``/themen/eu-taxonomie-atomkraft-erdgas-sind-nicht``
#: is an article filed under a section: its slug is a sentence).
_LISTING_PATH = re.compile(
    r"/(tag|tags|category|categories|categorie|kategorie|rubrik|rubrique|seccion|sezione|"
    r"topic|topics|thema|themen|archive|archives|archiv|search|suche|recherche|buscar|author|"
    r"autor|auteur)(/[^/.\-]+(?:-[^/.\-]+){0,2})?/?$|/page/\d+/?$|[?&](s|q|tag)=", re.I)
_SENTENCE_END = re.compile(r"[.!?…。！？:;\"”»)]\s*$")
_MACHINE_TRANSLATED = re.compile(
    r"machine[- ]translat|automatically translated|translated (?:automatically|by ai|using ai|"
    r"with ai)|ai[- ]translated|traduction automatique|traduit automatiquement|"
    r"automatisch übersetzt|maschinell übersetzt|maschinelle übersetzung|traducción automática|"
    r"traducido automáticamente|traduzione automatica|tradotto automaticamente|"
    r"tradução automática|traduzido automaticamente|automatisch vertaald|machinevertaling|"
    r"tłumaczenie maszynowe|машинный перевод|автоматический перевод|机器翻译|機器翻譯|機械翻訳|"
    r"自動翻訳|ترجمة آلية", re.I)
_TRANSLATOR_CREDIT = re.compile(
    r"translated (?:from [\w ]+ )?by\b|translation by\b|traduit (?:de l['’]\w+ )?par\b|"
    r"traduction (?:de|par)\b|übersetzt von\b|übersetzung:?\s|aus dem \w+ von\b|traducido por\b|"
    r"traducción de\b|tradotto da\b|traduzione di\b|traduzido por\b|tradução de\b|"
    r"vertaald door\b|vertaling:?\s|przetłumaczył|tłumaczenie:?\s|перевод[:]?\s|перевела?\b|"
    r"译者|翻译：|翻譯：|翻訳：|訳：|ترجمة:|ترجمة\s", re.I)
#: Runs of what is not a letter (removing them leaves the letters: cheaper than listing each)
#: and runs of kana and CJK ideographs (``text_quality``).
_NOT_LETTERS = re.compile(r"[\W\d_]+", re.UNICODE)
_CJK_RUN = re.compile("[\u3040-\u9fff]+")


def page_signals(tree, html: str, url: str) -> dict[str, Any]:
    """What the page itself declares about access and kind (read during extraction; plain
    substring tests first, so a page that declares nothing costs microseconds)."""
    head = html[:400_000]
    og_type = None
    paywalled = False
    try:
        values = tree.xpath("/html/head/meta[@property='og:type']/@content")
        og_type = str(values[0]).strip().lower() if values else None
        if "isAccessibleForFree" in head:
            paywalled = bool(_FREE.search(head)) or any(
                str(v).strip().lower() in ("false", "no")
                for v in tree.xpath("//*[@itemprop='isAccessibleForFree']/@content"))
    except Exception:  # noqa: BLE001 - a broken tree declares nothing
        pass
    collection = ("CollectionPage" in head or "SearchResultsPage" in head) and bool(
        _COLLECTION_TYPES.search(head)) and not _ARTICLE_TYPES.search(head)
    article = og_type == "article" or (
        ("Article" in head or "BlogPosting" in head) and bool(_ARTICLE_TYPES.search(head)))
    return {"declared_paywall": paywalled, "declared_collection": collection,
            "declared_article": article, "og_type": og_type}


def is_paywalled(record: dict[str, Any]) -> bool:
    signals = record.get("page_signals") or {}
    return bool(signals.get("declared_paywall")) or "paywall" in (
        record.get("boilerplate_found") or ())


def headline_share(text: str) -> tuple[int, float]:
    """Lines, and the share of them that read like headlines or links rather than sentences."""
    lines = [line for line in (text or "").split("\n") if line.strip()]
    if not lines:
        return 0, 0.0
    short = sum(1 for line in lines if len(line.split()) <= LISTING_HEADLINE_WORDS
                and not _SENTENCE_END.search(line))
    return len(lines), short / len(lines)


def is_listing(record: dict[str, Any]) -> bool:
    signals = record.get("page_signals") or {}
    url = record.get("final_url") or record.get("url") or ""
    path = urlsplit(url).path + ("?" + urlsplit(url).query if urlsplit(url).query else "")
    section_url = bool(_LISTING_PATH.search(path))
    if signals.get("declared_collection") or section_url:
        return True
    if signals.get("og_type") == "website" and urlsplit(url).path in ("", "/"):
        return True  # a site's front page
    text = record.get("text") or ""
    lines, share = headline_share(text)
    paragraphs = sum(1 for line in text.split("\n")
                     if len(line.split()) >= 25 or len(line) >= 150)
    return (lines >= LISTING_MIN_LINES and share >= LISTING_HEADLINE_SHARE
            and paragraphs < LISTING_MAX_PARAGRAPHS)


#: Stems one of which any translation phrase above contains (a cheap test before the regexes).
_TRANSLATION_STEMS = ("translat", "tradu", "übersetz", "vertaal", "vertaling", "machinevert",
                      "tłumacz", "перев", "翻", "訳", "ترجم")


def is_machine_translated(record: dict[str, Any]) -> bool:
    text = record.get("text") or ""
    folded = text.casefold()
    mentions = any(stem in folded for stem in _TRANSLATION_STEMS)
    if mentions and _MACHINE_TRANSLATED.search(text):
        return True
    if record.get("dup_kind") == "translation" and not record.get("is_canonical"):
        return not (mentions and _TRANSLATOR_CREDIT.search(text))
    return False


def text_quality(text: str, listing: bool = False) -> float:
    """0-1 score of how much the text reads like an article (rule in the module docstring)."""
    lines = [line for line in (text or "").split("\n") if line.strip()]
    if not lines:
        return 0.0
    words = sum(len(line.split()) for line in lines)
    cjk = sum(map(len, _CJK_RUN.findall(text)))
    words = max(words, cjk // 2)
    length = min(1.0, words / 150)
    prose = sum(1 for line in lines if len(line.split()) >= 8 or _SENTENCE_END.search(line)
                or len(line) >= 40) / len(lines)
    chars = text.replace(" ", "").replace("\n", "")
    letters = min(1.0, len(_NOT_LETTERS.sub("", chars)) / max(1, len(chars)) / 0.75)
    unique = len(set(lines)) / len(lines)
    score = (length + prose + letters + unique) / 4
    return round(score / 2 if listing else score, 3)


def page_flags(record: dict[str, Any]) -> dict[str, Any]:
    """Flags known before duplicate detection (in place); pops the transient inputs."""
    record["is_paywalled"] = is_paywalled(record)
    record["is_listing"] = is_listing(record)
    record["text_quality"] = text_quality(record.get("text") or "", record["is_listing"])
    record["is_machine_translated"] = is_machine_translated(record)
    return record



__all__ = ["is_listing", "is_machine_translated", "is_paywalled", "page_flags", "page_signals",
           "text_quality"]
