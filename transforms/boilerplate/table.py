"""The shape of a per-language boilerplate table, and how its phrases are written.

A table is data, not code: each language module declares one ``Table`` whose phrases were seen
on real pages (the module docstring names them). Phrase syntax, matched case-insensitively on a
line trimmed of spaces and punctuation:

- ``"anzeige"``: the whole line is this phrase;
- ``"your email address will not be published…"`` (trailing ``…``): the line starts with it
  (sentences that only ever appear in forms, notices and prompts);
- ``lead_ins`` (e.g. ``"lesen sie auch"``): a line made of the lead-in, a separator and a short
  linked headline ("Lesen Sie auch: Neue Regeln für ..."), dropped only when the tail is short.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

#: What each class of phrase is; the names are reported by the cleaner (``paywall`` feeds the
#: ``is_paywalled`` flag).
CLASSES = ("ads", "share", "comments", "newsletter", "related", "cookies", "paywall", "credits")


@dataclass(frozen=True)
class Table:
    """Boilerplate phrases of one language, by class."""

    lang: str
    ads: tuple[str, ...] = ()
    share: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    newsletter: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    paywall: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()
    #: "Read more: <headline>" style lead-ins (class ``related``)
    lead_ins: tuple[str, ...] = ()
    #: a heading at or after which the rest of the text is the comment section
    comment_headings: tuple[str, ...] = ()

    def phrases(self) -> list[tuple[str, str]]:
        """(class, phrase) pairs of every class in ``CLASSES``."""
        return [(cls, phrase) for cls in CLASSES for phrase in getattr(self, cls)]


TABLE_FIELDS = tuple(f.name for f in fields(Table))
