"""Lines that are markup or data rather than prose, whatever component or plugin printed them.

Themes and plugins leak code into the content block: embeds printed as escaped markup (once or
twice: ``&amp;lt;gu-island ...&amp;gt;``), JSON props of a front-end component, shortcodes a
WordPress plugin did not render (``[caption id=...]``, ``[button link=...]...[/button]``),
placeholders (``{{ newsletter }}``, ``<!-- wp:embed -->``) and metadata dumps (a URL or a
timestamp alone on a line). A line is markup when such code covers most of it, so a sentence
that quotes a tag name ("the <b> tag", "3 < 4") stays.
"""

from __future__ import annotations

import html
import re

#: Share of a line's non-space characters that code must cover for the line to be markup.
MARKUP_SHARE = 0.5

_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s+[^<>]*?)?\s*/?>")
_OPEN_TAG_WITH_ATTRS = re.compile(r"^\s*<[A-Za-z][\w:.-]*\s+[\w:.-]+\s*=\s*[\"'{]")
_COMMENT = re.compile(r"<!--.*?(?:-->|$)|\{\{.*?\}\}|\{%.*?%\}|%%[\w-]+%%")
_SHORTCODE = re.compile(
    r"\[/[a-z][\w-]*\]"  # a closing shortcode
    r"|\[[a-z][\w-]*(?:\s+[\w-]+\s*=\s*(?:\"[^\"\]]*\"|“[^”\]]*”|”[^”\]]*”|'[^'\]]*'|[^\s\]]+))+"
    r"\s*/?\]",  # an opening one with attributes ("[Chorus]" or "[INSIGHT]" are not code)
    re.I,
)
_JSON_KEY = re.compile(r"\"[\w$@.-]{1,40}\"\s*:")
_URL_ONLY = re.compile(r"^(?:https?://|www\.)\S+$", re.I)
_TIMESTAMP_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                             r"(?:Z|[+-]\d{2}:?\d{2})?)?$")


_DATE_LABEL = re.compile(
    r"^(updated|last updated|published|first published|posted|last modified|aktualisiert|"
    r"zuletzt aktualisiert|veröffentlicht|publié|mis à jour|actualizado|publicado|"
    r"atualizado|aggiornato|pubblicato|opublikowano|zaktualizowano|обновлено|опубликовано)"
    r"\b[^!?]{0,40}\d{1,4}[^!?]{0,30}$", re.I)


def unescape(line: str, rounds: int = 3) -> str:
    """HTML entities decoded until stable (pages escape embeds once or twice)."""
    for _ in range(rounds):
        decoded = html.unescape(line)
        if decoded == line:
            break
        line = decoded
    return line


def _covered(text: str, patterns: tuple[re.Pattern, ...]) -> int:
    spans = sorted(m.span() for p in patterns for m in p.finditer(text))
    covered, end = 0, 0
    for start, stop in spans:
        start = max(start, end)
        if stop > start:
            covered += len(text[start:stop].replace(" ", ""))
            end = stop
    return covered


def is_data_line(line: str) -> bool:
    """A URL or a timestamp alone on a line, or a short "Updated 1:23 p.m." line: page
    metadata, not a sentence."""
    core = line.strip().strip("()[]<>\"'")
    if _URL_ONLY.match(core) or _TIMESTAMP_ONLY.match(core):
        return True
    return len(core.split()) <= 8 and bool(_DATE_LABEL.match(core))


def is_json_line(line: str) -> bool:
    core = line.strip()
    keys = len(_JSON_KEY.findall(core))
    if core[:1] in "{[" and core[-1:] in "}]" and keys:
        return True
    return keys >= 3 and sum(core.count(c) for c in '{}[]":,') >= 0.15 * len(core)


def is_markup_line(line: str) -> bool:
    """True when code (tags, JSON, shortcodes, placeholders) is most of the line."""
    if "<" not in line and "&" not in line and "[" not in line and "{" not in line:
        return False
    text = unescape(line)
    length = len(text.replace(" ", ""))
    if not length:
        return False
    if is_json_line(text) or _OPEN_TAG_WITH_ATTRS.match(text):
        return True
    covered = _covered(text, (_TAG, _COMMENT, _SHORTCODE))
    return covered >= MARKUP_SHARE * length


def strip_shortcodes(line: str) -> str:
    """The line without shortcode tokens (``[caption ...]A caption[/caption]`` -> the caption)."""
    return _SHORTCODE.sub("", line).strip() if "[" in line else line
