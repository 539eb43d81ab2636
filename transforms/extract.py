"""HTML bytes -> article text and metadata, with trafilatura.

Decoding comes first because servers lie about charsets: a body that is valid UTF-8 is read as
UTF-8 whatever the header says (Latin-1 never fails to decode, so trusting a wrong Latin-1 header
would garble every accent), so is a body that is UTF-8 but for a few invalid sequences, then
the declared charsets are tried, then detection. Binary bodies
labelled ``text/html`` are refused here, before the parser sees them. Extraction keeps the main
text only (no comments), prunes the containers themes use for share bars, related posts and
comment forms, and lets the feed entry fill metadata the page lacks.

A page that declares itself an article (``og:type`` article, JSON-LD ``*Article``) is extracted
with trafilatura's precision focus, which drops the link-dense blocks (related headlines,
newsletter modules, "top stories") that the balanced focus keeps inside news pages; when that
leaves a short text that is less than half of what the balanced focus finds, the balanced
extraction is the fallback (precision skips trafilatura's own rescue stages, so it can lose a
short story, a recipe's lists or a table). Other pages (recipes, products, FAQs) keep the
balanced focus, whose lists and tables are their content. Chosen on half of ``../shared/eval``
(``bench/extraction.py`` prints both halves). Before either run, ``transforms.tree_repairs``
joins a story split into chunks and keeps linked subheadings (layouts trafilatura loses text on).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from copy import copy
from functools import lru_cache
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from charset_normalizer import from_bytes
from lxml import html as lxml_html
from lxml.etree import ElementDefaultClassLookup, ElementNamespaceClassLookup, XPath
from lxml.html import fromstring
from trafilatura.core import trafilatura_sequence
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.settings import Extractor
from trafilatura.utils import (
    DOCTYPE_TAG,
    INVALID_XML_CHARS,
    is_dubious_html,
    repair_faulty_html,
)
from trafilatura.xml import xmltotxt

from transforms.flags import page_signals
from transforms.progress import Progress
from transforms.prune_xpaths import install as install_fast_prunes
from transforms.rejects import REJECTS, guarded, reject
from transforms.tree_repairs import repair_tree

install_fast_prunes()  # trafilatura's discard XPaths, same nodes at a third of the cost

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")

#: Containers that themes place inside the article block and that never hold the story.
#: Kept to class/id names that are unambiguous; trafilatura already drops the usual navigation.
#: Only those whose marker occurs in the page are pruned (``page_prune``).
_PRUNE = {  # marker that must occur in the raw HTML: [(attribute, test of its value), ...]
    "sharedaddy": [("class", "contains(concat(' ', normalize-space(.), ' '), ' sharedaddy ')")],
    "jp-relatedposts": [("class", "contains(., 'jp-relatedposts')")],
    "share-buttons": [("class", "contains(., 'share-buttons')")],
    "social-share": [("class", "contains(., 'social-share')")],
    "sharing-buttons": [("class", "contains(., 'sharing-buttons')")],
    "addtoany": [("class", "contains(., 'addtoany')")],
    "respond": [("id", ".='respond'"), ("class", "contains(., 'comment-respond')")],
    "comments": [("class", "contains(., 'comments-area')"), ("id", ".='comments'")],
    "newsletter-signup": [("class", "contains(., 'newsletter-signup')")],
    "newsletter-form": [("class", "contains(., 'newsletter-form')")],
}
#: The page itself is never pruned (``prune_expression``): site builders put theme switches in
#: ``<body class>`` (Squarespace's ``tweak-...-share-buttons...``), which the substring tests match.


#: The ``<meta>`` attributes that declare a full publication timestamp in ``content``
#: (trafilatura/htmldate keep only the day); ``<time itemprop="datePublished">`` in ``datetime``.
PUBLISHED_META = frozenset({
    ("property", "article:published_time"), ("name", "article:published_time"),
    ("itemprop", "datePublished"), ("property", "og:published_time"), ("name", "pubdate"),
    ("name", "publishdate"), ("name", "DC.date.issued"), ("name", "dcterms.created"),
})
_JSONLD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')


class ExtractError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(body: bytes, declared: str | None = None) -> str:
    """Decode a page whatever its headers claim; ``ExtractError`` for binary or undecodable."""
    if not body:
        raise ExtractError("empty_body", "the response body is empty")
    head = body[:4096]
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    if b"\x00" in head:
        raise ExtractError("binary_content", "the body contains NUL bytes: not an HTML page")
    declared_codecs = []
    meta = _META_CHARSET.search(head)
    for name in (declared, meta.group(1).decode("ascii", "ignore") if meta else None):
        codec = _codec(name)
        if codec and codec != "utf-8" and codec not in declared_codecs:
            declared_codecs.append(codec)
    text = _strict(body, "utf-8") or _mostly_utf8(body)
    for codec in declared_codecs:
        text = text or _strict(body, codec)
    if text is None:
        best = from_bytes(body[:500_000]).best()
        if best is None:
            raise ExtractError("undecodable", "no character encoding fits the body")
        text = body.decode(best.encoding, errors="replace")
    sample = text[:20000]
    if sample and len(_CONTROL.findall(sample)) > 0.02 * len(sample):
        raise ExtractError("binary_content", "the body is mostly control characters")
    return text


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


#: A body is UTF-8 with a few broken bytes when its valid multi-byte characters outnumber its
#: invalid sequences this many times (a CMS that cut a string inside a character).
UTF8_VALID_PER_INVALID = 20


def _mostly_utf8(body: bytes) -> str | None:
    """The body as UTF-8 with its few invalid sequences replaced, when it is UTF-8 text with a
    broken byte or two, else None. Strict decoding fails on one truncated character and
    detection then reads the whole page as a legacy codec (every accent garbled: "ają" ->
    "ajńÖ"); a page in a legacy codec has invalid sequences at every accent and next to no
    valid multi-byte ones, so it is left to the declared charset and detection."""
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - invalid
    return text if invalid and valid >= UTF8_VALID_PER_INVALID * invalid else None


def _stripped(value: str | None) -> str | None:
    return value.strip() or None if value else None


def declared_url_and_time(tree) -> tuple[str | None, str | None]:
    """The canonical URL the page declares (``<link rel="canonical">`` in the head, else
    ``og:url``) and its publication timestamp (``PUBLISHED_META``), the first non-empty value
    of each in document order. One pass over the ``link``, ``meta`` and ``time`` elements: an
    XPath per value walks the whole tree each time (three walks cost three times this)."""
    canonical = og_url = published = None
    for element in tree.iter("link", "meta", "time"):
        if element.tag == "time":
            if published is None and element.get("itemprop") == "datePublished":
                published = _stripped(element.get("datetime"))
            continue
        if element.tag == "meta" and published is None and any(
                item in PUBLISHED_META for item in element.items()):
            published = _stripped(element.get("content"))
        parent = element.getparent()
        if parent is None or parent.tag != "head":
            continue
        if element.tag == "link":
            if canonical is None and element.get("rel") == "canonical":
                canonical = _stripped(element.get("href"))
        elif og_url is None and element.get("property") == "og:url":
            og_url = _stripped(element.get("content"))
    return canonical or og_url, published


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def page_metadata(tree, url: str, published: str | None = None):
    """Title, author, description, site name and date, with trafilatura's own extractors.

    Trafilatura's full metadata pass also derives categories, tags and licence, which newsflow
    does not use and which cost as much as the rest; this keeps its order of sources (meta
    tags, then JSON-LD, then page heuristics) for the fields we store, to stay within 0.8x of
    plain ``trafilatura.extract`` speed (``bench/extraction.py``).
    """
    from htmldate import find_date
    from trafilatura import metadata as tm

    meta = tm.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # single tokens there are usually handles or site names
    try:
        meta = tm.extract_meta_json(tree, meta)
    except Exception:  # noqa: BLE001 - broken JSON-LD just adds nothing
        pass
    meta.title = meta.title or tm.extract_title(tree)
    # (no byline heuristics over the body: they cost as much as the rest of the metadata and
    # the feed entry usually names the author; meta tags and JSON-LD are kept)
    meta.sitename = (meta.sitename or tm.extract_sitename(tree) or "").lstrip("@") or None
    if published and ":" in published and _ISO_DAY.match(published):
        # a declared ISO timestamp is what htmldate would read first: no second date search
        # (the day is only a fallback for pages without one, ``enrich``)
        meta.date = published[:10]
    else:
        meta.date = find_date(tree, url=url, extensive_search=False, original_date=True,
                              max_date=None)
    return meta


#: A precision extraction at least this long (characters) is kept without a balanced run ...
PRECISION_MIN_CHARS = 1500
#: ... a shorter one is kept unless it is under this share of the balanced extraction.
PRECISION_MIN_SHARE = 0.5


@lru_cache(maxsize=64)
def prune_expression(tests: tuple[tuple[str, str], ...]) -> XPath:
    """One XPath for all the theme containers a page may hold: the elements whose ``class`` or
    ``id`` passes one of ``tests``, found from the attribute nodes (one walk per attribute:
    testing every element's attributes instead costs twice as much)."""
    walks = []
    for attribute in ("class", "id"):
        passed = " or ".join(test for name, test in tests if name == attribute)
        if passed:
            walks.append(f"//@{attribute}[{passed}]/..")
    return XPath(f"({' | '.join(walks)})[not(self::html or self::body or self::main)]")


def page_prune(html: str) -> XPath | None:
    """The pruning expression for the containers whose marker occurs in the raw page."""
    tests = tuple(test for marker, marker_tests in _PRUNE.items() if marker in html
                  for test in marker_tests)
    return prune_expression(tests) if tests else None


def _sequence_text(tree, url: str, precision: bool) -> str:
    """Trafilatura's extraction cascade on ``tree`` (consumed: it is pruned in place), as
    ``bare_extraction`` runs it but without its copy of the whole tree, which costs as much as
    a tenth of the extraction (``main_text`` copies only when a second run may need the tree
    and cannot read what the first left: ``precision_tree_reusable``).
    The precision run skips trafilatura's comparison with readability/justext (``fast``): it
    is a sixth of the extraction time and changed 1 of 1,171 evaluation pages."""
    options = Extractor(output_format="python", fast=precision, precision=precision,
                        comments=False, tables=True, url=url)
    try:
        body, text, _, _ = trafilatura_sequence(tree, options, url)
    except (TypeError, ValueError):  # what ``bare_extraction`` treats as "nothing found"
        return ""
    if len(text) < options.min_output_size:
        return ""
    return xmltotxt(body, options.formatting) or ""


#: Markers of the pages where a precision run leaves its input tree other than the balanced
#: run's own raw-tree prunes would (``precision_tree_reusable``).
_PRECISION_TREE_DIFFERS = ("DiscussionForumPosting", "infinite-scroll", "infinitescroll")


def precision_tree_reusable(html: str) -> bool:
    """Whether the tree a precision run consumed can be the balanced run's input, instead of a
    copy taken before it (a copy and its freeing cost about a twentieth of a precision run).

    A precision run changes its input only by trafilatura's raw-tree prunes (infinite-scroll
    containers, Elementor share bars, comment sections and lists), which the balanced run
    applies first to the same tree; pruning a pruned tree again finds nothing, except on a
    thread forum (schema.org ``DiscussionForumPosting``: the balanced run keeps its comment
    sections) and where an infinite-scroll container loses its only ``h1`` to the comment prune
    (it is pruned when it holds no ``h1``; trafilatura's test is case-sensitive). A page
    without these markers is neither."""
    return not any(marker in html for marker in _PRECISION_TREE_DIFFERS)


def main_text(tree, url: str, prune: XPath | None, article: bool, *,
              reusable: bool = False) -> str:
    """The page's main text: precision focus for declared articles, balanced as the fallback
    (module docstring); "" when nothing is found. ``tree`` is consumed (pruned in place);
    ``reusable``: ``precision_tree_reusable`` holds for the page."""
    if prune is not None:
        prune_unwanted_nodes(tree, [prune])
    if not article:
        return _sequence_text(tree, url, precision=False)
    text = _sequence_text(tree if reusable else copy(tree), url, precision=True)
    if len(text) >= PRECISION_MIN_CHARS:
        return text
    balanced = _sequence_text(tree, url, precision=False)
    return balanced if len(text) < PRECISION_MIN_SHARE * len(balanced) else text


#: The characters ``repair_faulty_html`` deletes (``INVALID_XML_CHARS``): the ASCII ones as
#: bytes (searched in the page's UTF-8, where such a byte is only ever that character).
_INVALID_XML = [chr(code) for code in range(0x10000) if INVALID_XML_CHARS.match(chr(code))]
_INVALID_XML_BYTES = tuple(char.encode() for char in _INVALID_XML if char.isascii())
_INVALID_XML_OTHER = tuple(char for char in _INVALID_XML if not char.isascii())


def repair_changes(html: str, data: bytes, beginning: str) -> bool:
    """Whether ``repair_faulty_html`` would change the page (``data``: it in UTF-8): a character
    XML forbids, a DOCTYPE on the first line that it rewrites (or no line break: it appends
    one), an ``<html .../>`` on the first lines. Its regular expression over the whole page
    costs 0.7 ms a page (a quarter of the parse) to find such a character on 3 pages of 1,171;
    these substring searches cost a seventh of that."""
    if any(char in data for char in _INVALID_XML_BYTES) or any(
            char in html for char in _INVALID_XML_OTHER):
        return True
    newline = html.find("\n")
    if "doctype" in beginning and (newline < 0 or DOCTYPE_TAG.match(html, 0, newline)):
        return True
    return any("<html" in line and line.endswith("/>") for line in html[:4096].splitlines()[:4])


def html_parser() -> lxml_html.HTMLParser:
    """Trafilatura's HTML parser (``trafilatura.utils.HTML_PARSER``'s options), giving each
    element the class ``lxml.html`` gives it (``FormElement`` for ``form``, ... ,
    ``HtmlElement`` else) by a lookup made in C: ``lxml.html``'s own is a Python method that
    runs each time lxml makes a Python object for an element, millions of times a run
    (3% of the extraction). Tag names from the parser are lowercase, which is all its
    lowercasing of the name added."""
    lookup = ElementNamespaceClassLookup(ElementDefaultClassLookup(
        element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction, entity=lxml_html.HtmlEntity))
    lookup.get_namespace(None).update(lxml_html.HtmlElementClassLookup._default_element_classes)
    parser = lxml_html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                                  remove_comments=True, remove_pis=True)
    parser.set_element_class_lookup(lookup)
    return parser


HTML_PARSER = html_parser()


def parse_html(html: str):
    """The page's tree, with ``trafilatura.utils.load_html``'s repairs and checks, parsed from
    UTF-8 bytes: libxml2 reads those a quarter faster than a Python string, and trafilatura's
    parser is set to UTF-8 (so a declared charset cannot mislead it: the text is decoded)."""
    beginning = html[:50].lower()
    data = html.encode("utf-8", "surrogatepass")
    if repair_changes(html, data, beginning):
        data = repair_faulty_html(html, beginning).encode("utf-8", "surrogatepass")
    try:
        tree = fromstring(data, parser=HTML_PARSER)
    except Exception:  # noqa: BLE001 - libxml2 gives up on some inputs: no page
        return None
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None  # what load_html rejects: not (well-formed) HTML
    return tree


def extract_page(html: str, url: str) -> dict[str, Any]:
    """Main text and metadata of one page; ``ExtractError`` when nothing usable is found."""
    tree = parse_html(html)
    if tree is None:
        raise ExtractError("unparseable_html", "the page is not parseable HTML")
    canonical, published = declared_url_and_time(tree)
    if not published:
        match = _JSONLD_PUBLISHED.search(html[:300_000])
        published = match.group(1) if match else None
    meta = page_metadata(tree, url, published)
    signals = page_signals(tree, html, url)
    repair_tree(tree, html, signals["declared_article"])  # after metadata: it moves elements
    text = main_text(tree, url, page_prune(html), signals["declared_article"],
                     reusable=signals["declared_article"] and precision_tree_reusable(html))
    if not text.strip():
        raise ExtractError("empty_extraction", "no main text found in the page")
    authors = [a.strip() for a in re.split(r";|\band\b", meta.author or "") if a.strip()]
    return {
        "title": meta.title,
        "text": text,
        "summary": meta.description,
        "authors": authors,
        "sitename": meta.sitename,
        "page_date": meta.date,  # day only (htmldate)
        "page_published": published,  # full timestamp when the page declares one
        "canonical_url": canonical,
        "page_signals": signals,  # paywall / collection declarations
    }


def merge_entry(article: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    """Fill gaps in page metadata from the feed entry (the page wins where it has a value)."""
    if not entry:
        return article
    for key in ("title", "summary"):
        if not article.get(key) and entry.get(key):
            article[key] = entry[key]
    if not article.get("authors") and entry.get("authors"):
        article["authors"] = list(entry["authors"])
    if not article.get("language") and entry.get("language"):
        article["language"] = entry["language"]  # a Google News sitemap names it
    if entry.get("published_at") is not None:
        article["entry_published_at"] = entry["published_at"]
    return article


class ExtractArticles(beam.DoFn):
    """Fetched pages (``body`` bytes) -> article records; failures -> ``rejects``."""

    REJECTS = REJECTS

    def __init__(self):
        self.extracted = Metrics.counter("extract", "extracted")

    def setup(self):
        self.progress = Progress("extract")

    @guarded("extract")  # a library bug on one page becomes an internal_error reject
    def process(self, page: dict) -> Iterator:
        base_url = page.get("final_url") or page["url"]
        try:
            html = decode_html(page.get("body") or b"", page.get("charset"))
            fields = extract_page(html, base_url)
        except ExtractError as exc:
            self.progress.tick(ok=False)
            yield reject(page, "extract", exc.reason, exc.detail)
            return
        self.extracted.inc()
        self.progress.tick()
        record = {k: v for k, v in page.items() if k not in ("body", "charset", "content_type")}
        record.update(fields)
        merge_entry(record, page.get("entry"))
        record.pop("entry", None)
        yield record
