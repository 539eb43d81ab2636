"""Repairs of a parsed page before trafilatura reads it, for two layouts it loses text on.

- **A story split into chunks.** Some themes cut the article body into several containers of
  the same class, one per stretch of text between ad slots (Condé Nast's ``article__body``
  chunks on wired.com). Trafilatura keeps the *first* element that its body vocabulary matches,
  so every chunk after the first was lost (recall 0.35-0.45 on such pages). The later chunks
  that are the first one's siblings, or sit in siblings of its parent that have the same tag
  and class, are moved into it; what lies between them (ad slots, rails) stays outside.
- **Linked subheadings.** The precision focus deletes headings whose text is mostly a link
  (link-density test), which drops the product or section names of listicles and gift guides
  (``<h3><a>Satechi 72W USB-C Car Charger</a></h3>`` before its paragraph). A heading directly
  followed by a paragraph of prose keeps its text: the link markup is dropped, not the words.

Both rules were found by looking at the pages of ``../shared/eval`` where newsflow lost most to
the gold text, and have no tuned numbers beyond "a paragraph of prose" (``PROSE_CHARS``).
"""

from __future__ import annotations

import re
from collections import Counter

from lxml.etree import XPath
from trafilatura.xpaths import _ARTICLE_CONTENT_CLASS_TOKENS, BODY_XPATH, _alt

#: Trafilatura's first (most specific) body expression, all its matches instead of the first
#: one: its own vocabulary of article-body names (``article__body``, ``entry-content``...).
_BODY_CANDIDATES = XPath(BODY_XPATH[0].path.strip().removesuffix("[1]").strip(),
                         namespaces={"re": "http://exslt.org/regular-expressions"})
_CLASS_ATTR = re.compile(r"""class=["']([^"'<>]{3,200})""")
#: The class names of that expression (the ``@class`` part: ids and ``itemprop`` are rare).
_BODY_CLASS = re.compile(_alt(_ARTICLE_CONTENT_CLASS_TOKENS) + "|^post$|^entry$")

#: A paragraph at least this long (characters) after a heading makes the heading a subheading.
PROSE_CHARS = 100
_HEADINGS = ("h2", "h3", "h4")


def may_be_split(html: str) -> bool:
    """Cheap test on the raw page: a body-like class occurs on two elements (the XPath with its
    regular expressions costs a millisecond per page, so it only runs on such pages)."""
    counts = Counter(_CLASS_ATTR.findall(html))
    return any(count >= 2 and _BODY_CLASS.search(value) for value, count in counts.items()
               ) or html.count('itemprop="articleBody"') >= 2


def _same(a, b) -> bool:
    return a is not None and b is not None and a.tag == b.tag and a.get("class") == b.get("class")


def join_split_body(tree) -> int:
    """Move the later chunks of a split article body into the first one (in place); returns
    how many chunks were joined."""
    found = _BODY_CANDIDATES(tree)
    if len(found) < 2:
        return 0
    first = found[0]
    parent = first.getparent()
    if parent is None:
        return 0
    chunks = [e for e in found[1:] if _same(e, first) and (
        e.getparent() is parent
        or _same(e.getparent(), parent) and e.getparent().getparent() is parent.getparent())]
    for chunk in chunks:
        if any(a is first for a in chunk.iterancestors()):
            continue  # nested inside the first: already read
        for child in list(chunk):
            first.append(child)
        chunk.getparent().remove(chunk)
    return len(chunks)


def unlink_subheadings(tree) -> int:
    """Drop the link markup (keeping the text) of headings directly followed by a paragraph of
    prose; returns how many headings changed."""
    changed = 0
    for heading in tree.iter(*_HEADINGS):
        following = heading.getnext()
        if following is None or following.tag != "p" or len(
                following.text_content().strip()) < PROSE_CHARS:
            continue
        links = list(heading.iter("a"))
        for link in links:
            link.drop_tag()
        changed += bool(links)
    return changed


def repair_tree(tree, html: str, article: bool) -> None:
    """The repairs that apply to this page (in place): chunks always, subheadings for pages
    extracted with the precision focus (declared articles)."""
    if may_be_split(html):
        join_split_body(tree)
    if article:
        unlink_subheadings(tree)
