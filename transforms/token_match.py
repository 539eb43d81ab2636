"""A spaCy model's tokenizer ``token_match`` regex, compiled in a form that takes a tenth of
the time and matches the same tokens.

spaCy's French ``token_match`` (``spacy/lang/fr/tokenizer_exceptions.py``, and the same string
in ``fr_core_news_md``'s ``tokenizer`` file) is one ``(?iu)(?:^A$)|(?:^B$)|...`` alternation of
266 patterns, each carrying a copy of spaCy's letter classes (thousands of characters each):
1.45 M characters, which ``re`` compiles at the import of ``spacy.lang.fr`` in 2.5 CPU s (half
of loading the model). 250 of the patterns are ``^prefix TAIL$`` with one of three tails, so
``(?:^(?:prefix1|prefix2|...)TAIL$)`` says the same in one copy of each tail: a string fully
matches one alternative of the original iff it matches the factored form (an alternation of
concatenations is the concatenation of the alternated prefixes with their common tail), and
the tokenizer only asks whether a token matches.

``seed(package)`` puts that compiled form in ``re``'s cache under the original string, so both
compiles of it (the language module's import, the tokenizer's ``from_disk``) find it there.
Where anything is not as expected (another pattern shape, another ``re``), nothing is seeded
and spaCy compiles its own string: slower, the same tokens.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections import defaultdict
from pathlib import Path

LOG = logging.getLogger(__name__)

_FLAGS = "(?iu)"
#: A tail starts at a character class at least this long (spaCy's letter classes).
_LONG_CLASS = 200
#: What a scan for nesting depth must step over: escapes and character classes (their
#: parentheses and bars are literal).
_ATOM = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]|[()|]", re.DOTALL)


def _top_level(pattern: str) -> tuple[list[int], list[int], bool]:
    """Where ``pattern``'s depth-0 bars are, where its long classes start at depth 0, and
    whether its parentheses balance."""
    bars, tails, depth = [], [], 0
    for m in _ATOM.finditer(pattern):
        token = m.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                return bars, tails, False
        elif token == "|":
            if depth == 0:
                bars.append(m.start())
        elif token[0] == "[" and depth == 0 and len(token) >= _LONG_CLASS:
            tails.append(m.start())
    return bars, tails, depth == 0


def _alternatives(pattern: str) -> list[str] | None:
    """The ``X`` of ``(?iu)(?:X1)|(?:X2)|...``, or None when ``pattern`` is not of that form."""
    if not pattern.startswith(_FLAGS):
        return None
    body = pattern[len(_FLAGS):]
    bars, _, balanced = _top_level(body)
    if not balanced:
        return None
    pieces = [body[a + 1:b] for a, b in zip([-1, *bars], [*bars, len(body)], strict=True)]
    if not all(p.startswith("(?:") and p.endswith(")") for p in pieces):
        return None
    alternatives = [p[3:-1] for p in pieces]
    if any(not _top_level(a)[2] for a in alternatives):
        return None  # "(?:a)(?:b)" is no single group
    return alternatives


def factored(pattern: str) -> str | None:
    """``pattern`` with its ``^prefix TAIL$`` alternatives of one tail merged, or None when
    it is not a ``(?iu)`` alternation of anchored alternatives (then nothing is merged)."""
    alternatives = _alternatives(pattern)
    if not alternatives:
        return None
    by_tail: dict[str, list[str]] = defaultdict(list)
    for alternative in alternatives:
        if not (alternative.startswith("^") and alternative.endswith("$")):
            return None
        inner = alternative[1:-1]
        bars, tails, balanced = _top_level(inner)
        if bars or not balanced:
            return None  # "^a|b$" is not "^(?:a|b)$"
        cut = tails[0] if tails else 0
        by_tail[inner[cut:]].append(inner[:cut])
    merged = [f"(?:^{prefixes[0]}{tail}$)" if len(prefixes) == 1 else
              f"(?:^(?:{'|'.join(prefixes)}){tail}$)" for tail, prefixes in by_tail.items()]
    return _FLAGS + "|".join(merged)


def _tokenizer_file(package: str) -> Path | None:
    """The ``tokenizer`` file of an installed spaCy model package (not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = [p for folder in spec.submodule_search_locations
             for p in Path(folder).glob("*/tokenizer") if p.is_file()]  # GiNZA's: a folder
    return found[0] if len(found) == 1 else None


def seed(package: str) -> bool:
    """Seeds ``re``'s cache with the factored form of ``package``'s ``token_match`` (before
    spaCy loads it); whether it did."""
    cache = getattr(re, "_cache", None)
    path = _tokenizer_file(package)
    if not isinstance(cache, dict) or path is None:
        return False
    import srsly

    try:
        pattern = srsly.read_msgpack(path).get("token_match")
    except (OSError, ValueError, AttributeError):
        return False  # spaCy will say what is wrong with the file
    if not isinstance(pattern, str) or len(pattern) < 100_000:
        return False  # small enough to compile as it is
    merged = factored(pattern)
    if merged is None:
        LOG.warning("%s: token_match not of the expected form, compiled as it is", package)
        return False
    cache[str, pattern, 0] = re.compile(merged)
    return True
