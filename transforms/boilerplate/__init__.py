"""Boilerplate phrase tables, one declarative module per language, compiled into one matcher.

Cleaning runs before language identification (and pages mix languages: an English share bar on a
French page), so every table applies to every line. Phrases only ever match a *whole* line (or a
line's start, for notice sentences marked ``…``), never words inside a sentence of the story.
Share bars made of network names ("Facebook Twitter WhatsApp") are matched by one
language-independent rule, with or without a leading share label from any table.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import import_module

from transforms.boilerplate.table import CLASSES, Table

#: The languages with a table (module ``transforms.boilerplate.<lang>``).
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "pl", "ru", "ja", "zh", "ar")

#: Characters trimmed around a line before matching (bullets, separators, brackets, ellipses).
TRIM = " \t\u00a0-–—:|•·*#>»«[](){}.!…？！：。、"
#: Lines longer than this are paragraphs: only prefix phrases (notices) are tried on them.
MAX_LINE_CHARS = 400
#: Longest tail (words) of a "Read more: <headline>" line; longer is a sentence of the story.
MAX_LEAD_IN_TAIL_WORDS = 20
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

SOCIAL_NETWORKS = (
    "facebook", "twitter", "x", "whatsapp", "telegram", "linkedin", "pinterest", "reddit", "email",
    "e-mail", "mail", "print", "imprimer", "drucken", "imprimir", "stampa", "drukuj", "messenger",
    "tumblr", "pocket", "flipboard", "threads", "bluesky", "vk", "вконтакте", "ok", "weibo",
    "wechat", "微博", "微信", "qq", "line", "xing", "mastodon", "copy link", "copier le lien",
    "link kopieren", "copiar enlace", "more", "plus", "mehr", "más", "sms",
)


def tables() -> list[Table]:
    return [import_module(f"transforms.boilerplate.{lang}").TABLE for lang in LANGUAGES]


def _fold(text: str) -> str:
    return " ".join(text.casefold().replace("’", "'").replace("`", "'").split())


def exact_key(line: str) -> str:
    """A line as whole-line phrases are compared: folded, trimmed on both sides."""
    return _fold(line).strip(TRIM)


def prefix_key(line: str) -> str:
    """A line as prefix phrases are compared: folded, trimmed on the left only."""
    return _fold(line).lstrip(TRIM)


class Matcher:
    """Every table compiled once into dicts keyed by a line's first word (a line costs a few
    dict look-ups whatever the number of phrases)."""

    def __init__(self, all_tables: list[Table]):
        self.exact: dict[str, str] = {}
        self.prefixes: dict[str, dict[str, str]] = {}  # first word -> {prefix: class}
        self.lead_ins: set[str] = set()
        self.headings: set[str] = set()
        self.share_labels: set[str] = set()
        for table in all_tables:
            for cls, phrase in table.phrases():
                if phrase.endswith("…"):
                    key = prefix_key(phrase[:-1])
                    if key:
                        self.prefixes.setdefault(_first(key), {}).setdefault(key, cls)
                else:
                    key = exact_key(phrase)
                    if key:
                        self.exact.setdefault(key, cls)
                        if cls == "share" and len(key.split()) <= 4:
                            self.share_labels.add(key)
            self.lead_ins.update(exact_key(p.rstrip("…")) for p in table.lead_ins)
            self.headings.update(exact_key(p) for p in table.comment_headings)
        self.social = frozenset(SOCIAL_NETWORKS)

    def classify(self, line: str) -> str | None:
        """The boilerplate class of a whole line, or None for a line of the story."""
        if len(line) > MAX_LINE_CHARS:  # a paragraph: only a notice sentence can start it
            left = prefix_key(line[:200])
            for prefix, cls in self.prefixes.get(_first(left), {}).items():
                if left.startswith(prefix):
                    return cls
            return None
        folded = _fold(line)
        key = folded.strip(TRIM)
        if not key:
            return None
        cls = self.exact.get(key)
        if cls:
            return cls
        left = folded.lstrip(TRIM)
        for prefix, cls in self.prefixes.get(_first(left), {}).items():
            if left.startswith(prefix):
                return cls
        match = _SEPARATOR.search(key, 0, 60)
        if match and key[:match.start()].strip() in self.lead_ins and _short(key[match.end():]):
            return "related"
        if key.count(" ") < 16 and self._is_share_bar(key):
            return "share"
        return None

    def _is_share_bar(self, key: str) -> bool:
        """Network names, two or more ("Facebook Twitter WhatsApp"), or one after a share label
        ("Partager : Facebook")."""
        words = _BAR_SPLIT.split(key)
        words = [w for w in words if w]
        if not words or len(words) > 16:
            return False
        for size in (3, 2, 1):  # a leading label of up to three words
            label = " ".join(words[:size])
            if label in self.share_labels or label in ("share on", "partager sur", "teilen auf"):
                rest = words[size:]
                return bool(rest) and _all_networks(rest, self.social)
        return len(words) >= 2 and _all_networks(words, self.social)

    def is_comment_heading(self, line: str) -> bool:
        key = exact_key(line)
        return key in self.headings or key.split(" ", 1)[-1] in self.headings and key[:1].isdigit()


def _all_networks(words: list[str], social: frozenset[str]) -> bool:
    i = 0
    while i < len(words):
        if " ".join(words[i:i + 2]) in social:
            i += 2
        elif words[i] in social:
            i += 1
        else:
            return False
    return True


def _first(key: str) -> str:
    return key.split(" ", 1)[0]


_SEPARATOR = re.compile(r"\s*[:：»>|]+\s*")
_BAR_SPLIT = re.compile(r"[\s,|/·•:]+")


def _short(tail: str) -> bool:
    cjk = len(_CJK.findall(tail))
    return len(tail.split()) + cjk // 2 <= MAX_LEAD_IN_TAIL_WORDS


@lru_cache(maxsize=1)
def matcher() -> Matcher:
    """The compiled tables (built once per process)."""
    return Matcher(tables())


__all__ = ["CLASSES", "LANGUAGES", "Matcher", "Table", "matcher", "tables"]
