"""Which outlet a page credits for its story, normalised to a domain where the outlet is known.

Signals, strongest first: a canonical link to another domain (the page says where the original
lives); a wire dateline ("(Reuters) -", "(dpa) -", "aja/PAP"); a credit phrase naming a known
outlet ("according to Bloomberg", "selon l'AFP", "laut dpa", "según EFE", "据新华社报道"); an
embed of a known outlet's page (``theguardian.com`` in an embed the cleaner removed); a source
line ("Source: Reuters"). Phrases are only trusted with a known outlet after them ("according to
the police" credits nobody), except source lines, which name whatever they name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from courlan import extract_domain

#: Outlet names (lower case, as written in credits) -> domain. Wires first: they are credited most.
OUTLETS: dict[str, str] = {
    "reuters": "reuters.com", "thomson reuters": "reuters.com", "рейтер": "reuters.com",
    "رويترز": "reuters.com", "路透社": "reuters.com", "ap": "apnews.com",
    "associated press": "apnews.com", "the associated press": "apnews.com", "afp": "afp.com",
    "agence france-presse": "afp.com", "agence france presse": "afp.com", "l'afp": "afp.com",
    "法新社": "afp.com", "فرانس برس": "afp.com", "dpa": "dpa.com", "efe": "efe.com",
    "ansa": "ansa.it", "lusa": "lusa.pt", "agência lusa": "lusa.pt", "anp": "anp.nl",
    "pap": "pap.pl", "tass": "tass.ru", "тасс": "tass.ru", "риа новости": "ria.ru",
    "ria novosti": "ria.ru", "интерфакс": "interfax.ru", "interfax": "interfax.ru",
    "xinhua": "xinhuanet.com", "新华社": "xinhuanet.com", "新華社": "xinhuanet.com",
    "kyodo": "kyodonews.net", "共同通信": "kyodonews.net", "yonhap": "yna.co.kr",
    "anadolu": "aa.com.tr", "europa press": "europapress.es", "bloomberg": "bloomberg.com",
    "the guardian": "theguardian.com", "guardian": "theguardian.com", "bbc": "bbc.co.uk",
    "cnn": "cnn.com", "the new york times": "nytimes.com", "new york times": "nytimes.com",
    "the washington post": "washingtonpost.com", "washington post": "washingtonpost.com",
    "the wall street journal": "wsj.com", "wall street journal": "wsj.com",
    "financial times": "ft.com", "the financial times": "ft.com", "cnbc": "cnbc.com",
    "axios": "axios.com", "politico": "politico.com", "nbc news": "nbcnews.com",
    "cbs news": "cbsnews.com", "abc news": "abcnews.go.com", "sky news": "news.sky.com",
    "the times": "thetimes.co.uk", "the telegraph": "telegraph.co.uk",
    "the independent": "independent.co.uk", "le monde": "lemonde.fr", "le figaro": "lefigaro.fr",
    "libération": "liberation.fr", "les echos": "lesechos.fr", "der spiegel": "spiegel.de",
    "spiegel": "spiegel.de", "süddeutsche zeitung": "sueddeutsche.de", "faz": "faz.net",
    "die zeit": "zeit.de", "zeit online": "zeit.de", "bild": "bild.de", "el país": "elpais.com",
    "el mundo": "elmundo.es", "corriere della sera": "corriere.it",
    "la repubblica": "repubblica.it", "folha de s.paulo": "folha.uol.com.br",
    "o globo": "oglobo.globo.com", "коммерсантъ": "kommersant.ru", "kommersant": "kommersant.ru",
    "rt": "rt.com", "al jazeera": "aljazeera.com", "الجزيرة": "aljazeera.net",
    "nikkei": "nikkei.com", "日本経済新聞": "nikkei.com", "nhk": "nhk.or.jp",
    "人民日报": "people.com.cn", "techcrunch": "techcrunch.com", "the verge": "theverge.com",
}

_NAMES = "|".join(re.escape(n) for n in sorted(OUTLETS, key=len, reverse=True))
_OUTLET = rf"(?P<name>{_NAMES})"
_B = r"(?![\w])"  # the name ends at a word boundary (works for CJK and Arabic too)
#: Credit phrases, by language, each followed (or preceded) by an outlet name.
CREDIT_PATTERNS = [re.compile(p, re.I) for p in (
    rf"\baccording to (?:the )?{_OUTLET}{_B}", rf"\b{_OUTLET} (?:reported|reports|said|says)\b",
    rf"\b(?:reported|first reported|originally (?:published|appeared)) (?:by|on|in) (?:the )?"
    rf"{_OUTLET}{_B}", rf"\b(?:told|via) (?:the )?{_OUTLET}{_B}",
    rf"\b(?:selon|d['’]après|rapporte|a rapporté) (?:le |la |l['’])?{_OUTLET}{_B}",
    rf"\b(?:avec|source ?:) ?(?:l['’])?{_OUTLET}{_B}",
    rf"\b(?:laut|berichtet(?:e)?|meldet(?:e)?|wie) (?:die |der |das )?{_OUTLET}{_B}",
    rf"\b{_OUTLET} zufolge\b",
    rf"\b(?:según|informó|de acuerdo con) (?:el |la |los )?{_OUTLET}{_B}",
    rf"\b(?:secondo|riferisce|riporta) (?:il |la |l['’])?{_OUTLET}{_B}",
    rf"\b(?:segundo|de acordo com|informou) (?:o |a )?(?:agência )?{_OUTLET}{_B}",
    rf"\b(?:volgens|meldt) (?:het |de )?{_OUTLET}{_B}", rf"\b(?:według|podaje) {_OUTLET}{_B}",
    rf"(?:по данным|сообщает|сообщил[аои]?|передает|передаёт|как сообщает) {_OUTLET}{_B}",
    rf"据{_OUTLET}", rf"{_OUTLET}(?:报道|報道|によると|報じた)",
    rf"(?:وفقا ل|وفقاً ل|بحسب |حسب |نقلا عن |نقلاً عن ){_OUTLET}{_B}",
)]
#: Wire datelines: "(Reuters) -", "(dpa) -", "WASHINGTON (AP) —", "aja/PAP", "Ap/dpa".
_DATELINE = re.compile(rf"\((?P<name>{_NAMES})\)\s*[-–—:]", re.I)
_WIRE_SIGNATURE = re.compile(rf"^\s*(?:[a-z]{{2,4}}/)?(?P<name>{_NAMES})\s*$", re.I)
_SOURCE_LINE = re.compile(r"^\s*(?:source|quelle|fuente|fonte|źródło|bron|источник|来源|來源|出典"
                          r"|المصدر)\s*[:：]\s*(?P<name>[^,;|()]{2,60}?)\s*\.?\s*$", re.I)
_URL = re.compile(r"https?://([^/\s\"'<>]+)", re.I)


@lru_cache(maxsize=1)
def _outlet_automaton():
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for name in OUTLETS:
        automaton.add_word(name, len(name))
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=1)
def _same_length_fold() -> dict[int, str]:
    """Characters whose case folding is longer than one character (``ß`` -> ``ss``, ``ﬂ``,
    ``İ``), each mapped to its folding's first character, so a folded text keeps the
    positions of the original (no outlet name holds such a character)."""
    import sys

    table = {}
    for code in range(sys.maxunicode + 1):
        folded = chr(code).casefold()
        if len(folded) != 1:
            table[code] = folded[0]
    table[ord("’")] = "'"
    return table


def _fold(text: str) -> str:
    """Case-folded text with the positions of ``text`` (German texts have ``ß`` everywhere:
    searching all of them with every credit pattern cost more than the rest of enrichment)."""
    folded = text.casefold().replace("’", "'")
    if len(folded) != len(text):
        folded = text.translate(_same_length_fold()).casefold()
    return folded


def _outlet_mentions(text: str) -> list[tuple[int, int]]:
    """Where known outlet names occur (case-insensitive), in order; the credit patterns are
    tried only around them (one pass over the text instead of one per pattern)."""
    folded = _fold(text)
    mentions = []
    for end, length in _outlet_automaton().iter(folded):
        start, stop = end - length + 1, end + 1
        if folded[start].isascii() and (start > 0 and folded[start - 1].isalnum() or
                                        stop < len(folded) and folded[stop].isalnum()):
            continue  # "ap" inside "happen"
        mentions.append((start, stop))
    return mentions


def outlet_domain(name: str) -> str:
    """A credited outlet as a domain where known, else its name as written."""
    folded = name.strip().casefold().replace("’", "'")
    return OUTLETS.get(folded) or OUTLETS.get(re.sub(r"^(the|l'|le|la|el|die|der) ", "", folded)
                                              ) or name.strip()


def _domain(url: str | None) -> str | None:
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return None
    return _host_domain(host) if host else None


@lru_cache(maxsize=4096)
def _host_domain(host: str) -> str | None:
    """Registered domain of a host (courlan's lookup is the slow part: cached per host)."""
    try:
        return extract_domain("https://" + host)
    except (ValueError, TypeError):
        return None


def attributed_source(record: dict[str, Any]) -> str | None:
    """The outlet the article credits (a domain where known), or None."""
    own = record.get("source_domain")
    canonical = _domain(record.get("page_canonical_url"))
    if canonical and own and canonical != own:
        return canonical
    text = record.get("text") or ""
    head = text[:3000]
    match = _DATELINE.search(head)
    if match:
        return outlet_domain(match.group("name"))
    for start, end in _outlet_mentions(text):  # only around a known outlet's name
        window = text[max(0, start - 40):min(len(text), end + 20)]
        for pattern in CREDIT_PATTERNS:
            match = pattern.search(window)
            if match:
                return outlet_domain(match.group("name"))
    lines = [*text.splitlines()[-3:], *(record.get("credit_lines") or [])]
    for line in lines:
        match = _WIRE_SIGNATURE.match(line) or _SOURCE_LINE.match(line)
        if match:
            return outlet_domain(match.group("name"))
    for domain in record.get("embedded_domains") or []:
        if domain != own and domain in OUTLETS.values():
            return domain
    return None


def embedded_domains(lines: list[str]) -> list[str]:
    """Registered domains of the URLs in (removed) markup lines, in order of appearance."""
    seen: list[str] = []
    for line in lines:
        for host in _URL.findall(line):
            domain = _domain("https://" + host)
            if domain and domain not in seen:
                seen.append(domain)
    return seen


def matches_canonical(credited: str | None, canonical_domain: str | None) -> bool | None:
    """For a copy: does what it credits match the canonical member's domain? None if unknown."""
    if not credited or not canonical_domain:
        return None
    return credited == canonical_domain or credited.endswith("." + canonical_domain) or (
        canonical_domain.endswith("." + credited))
