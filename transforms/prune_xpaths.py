"""Trafilatura's discard expressions, found by a cheap pre-filter and confirmed by their own
test: the same elements in the same order at a fraction of the cost.

Trafilatura prunes a page with XPath lists (``OVERALL_DISCARD_XPATH``,
``REMOVE_COMMENTS_AND_LISTS_XPATH``, ...), each ``.//*[self::div or ...][test]`` where ``test``
is a union of ``contains(@class, ...)``, ``starts-with``, ``translate`` and EXSLT ``re:test``
clauses. libxml2 walks the tree through a node set of every node and calls back into Python's
``re`` for each ``re:test`` on each element: together a quarter of the extraction time.

``fast(expression)`` reads such an expression's source text and returns a callable that walks
only the elements of the named tags (``iterdescendants``), keeps those where one of its
attribute tests could hold (one compiled regular expression per attribute, a superset of the
XPath test: ``re:test(@id|@class, p)`` tests only the first of the two attributes, the
pre-filter both), and confirms each with the expression's own predicates evaluated on that
element alone (``self::*[...]``). The result is the XPath's node list: document order, each
element once, nothing the original test rejects. An expression of any other shape (positional
predicates, unions of paths, an attribute test the pre-filter cannot bound) is left as it is,
so a trafilatura upgrade that rewrites the lists keeps working, at the old speed.
A union of such steps (``.//aside|.//div[...]|.//*[...]``, as ``BASIC_CLEAN_XPATH``, which
the baseline cleaning runs over whole pages, also calling ``re`` per element) is each step's
node list, merged in document order (``FastUnion``).

``install()`` replaces, in place, the members of the lists trafilatura passes to
``prune_unwanted_nodes`` (its modules share those list objects) and the baseline cleaning's
expression, once per process.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

from lxml.etree import Element, XPath, _Element

LOG = logging.getLogger(__name__)

REGEXP_NS = "http://exslt.org/regular-expressions"

#: The lists of ``trafilatura.xpaths`` that are only ever evaluated by ``prune_unwanted_nodes``
#: (node lists, no positions: what ``fast`` preserves).
PRUNE_LISTS = (
    "RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH", "REMOVE_COMMENTS_XPATH",
    "OVERALL_DISCARD_XPATH", "DISCARD_IMAGE_ELEMENTS", "TEASER_DISCARD_XPATH",
    "PRECISION_DISCARD_XPATH", "COMMENTS_DISCARD_XPATH", "AUTHOR_DISCARD_XPATHS",
)

#: Remembered answers per expression and attribute, cleared when this many: a page has a few
#: hundred distinct class values, a site repeats its own; kept small, the memos of a
#: long run hold a few MB (at 50,000 they held 30 MB after the 1,171 dev pages, for no speed).
MEMO_SIZE = 4096

_STR = r"""(?:'[^']*'|"[^"]*")"""
_ATTRS = r"@[\w:.-]+(?:\s*\|\s*@[\w:.-]+)*"
_SELF = re.compile(r"self::([\w-]+)")
_EXISTS = re.compile(r"@([\w:.-]+)")
_EQUALS = re.compile(rf"@([\w:.-]+)\s*=\s*({_STR})")
_CONTAINS = re.compile(rf"contains\(\s*({_ATTRS})\s*,\s*({_STR})\s*\)")
_STARTS = re.compile(rf"starts-with\(\s*({_ATTRS})\s*,\s*({_STR})\s*\)")
_TRANSLATED = re.compile(
    rf"contains\(\s*translate\(\s*@([\w:.-]+)\s*,\s*({_STR})\s*,\s*({_STR})\s*\)\s*,\s*({_STR})\s*\)")
_RETEST = re.compile(rf"re:test\(\s*({_ATTRS})\s*,\s*({_STR})\s*(?:,\s*({_STR})\s*)?\)")
_NOT = re.compile(r"not\(.*\)", re.DOTALL)
_CLAUSES = (_SELF, _EXISTS, _EQUALS, _CONTAINS, _STARTS, _TRANSLATED, _RETEST, _NOT)


def _boolean(predicate: str) -> bool:
    """Whether ``predicate`` is a test, never a position (``[1]``, ``[last()]``): a union or
    conjunction, or one clause of the kinds above, is a boolean."""
    return (len(_split(predicate, " or ")) > 1 or len(_split(predicate, " and ")) > 1
            or any(form.fullmatch(predicate) for form in _CLAUSES))


class Unsupported(ValueError):
    """The expression is not of a shape ``fast`` can reproduce: it stays an XPath."""


def _literal(token: str) -> str:
    return token[1:-1]


def _split(text: str, separator: str) -> list[str]:
    """``text`` cut at ``separator`` where it is outside quotes, parentheses and brackets."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    if quote or depth:
        raise Unsupported(f"unbalanced: {text!r}")
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _step(path: str) -> tuple[str | None, list[str]]:
    """The tag (None for ``*``) and the predicates of ``.//NAME[P1][P2]...``."""
    m = re.match(r"\.//(\*|[a-z][\w-]*)", path)
    if not m:
        raise Unsupported(f"not a .//NAME step: {path[:40]!r}")
    predicates, depth, quote, start = [], 0, None, None
    for i, char in enumerate(path[m.end():], start=m.end()):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                predicates.append(path[start:i].strip())
        elif depth == 0 and not char.isspace():
            raise Unsupported(f"more than one step: {path[:40]!r}")
    if depth or quote:
        raise Unsupported(f"unbalanced: {path[:40]!r}")
    return (None if m.group(1) == "*" else m.group(1)), predicates


def _translated_pattern(source: str, target: str, needle: str) -> str:
    """A regular expression for "``needle`` occurs in ``translate(value, source, target)``"."""
    if len(source) != len(target):
        raise Unsupported("translate() that deletes characters")
    mapping = dict(zip(source, target, strict=True))
    classes = []
    for char in needle:
        sources = {x for x, y in mapping.items() if y == char}
        if char not in mapping:
            sources.add(char)
        if not sources:
            return r"(?!)"  # a character translate() never yields
        classes.append("[" + "".join(re.escape(x) for x in sorted(sources)) + "]")
    return "".join(classes)


def _attribute_tests(predicate: str) -> dict[str, tuple[list[str], bool]]:
    """Per attribute, the regular expressions one of which a value must match for
    ``predicate`` (a union of clauses) to hold, and whether its presence alone may suffice.
    ``Unsupported`` when a clause cannot be bounded by the element's own attributes, or holds
    on an element without them (then every element is a candidate)."""
    tests: dict[str, tuple[list[str], bool]] = {}

    def add(attribute: str, pattern: str | None) -> None:
        patterns, present = tests.setdefault(attribute, ([], False))
        if pattern is None:
            tests[attribute] = (patterns, True)
        else:
            patterns.append(pattern)

    for clause in _split(predicate, " or "):
        if m := _EQUALS.fullmatch(clause):
            add(m.group(1), "^" + re.escape(_literal(m.group(2))) + r"\Z")
            continue
        if m := _EXISTS.fullmatch(clause):
            add(m.group(1), None)
            continue
        if m := _TRANSLATED.fullmatch(clause):
            attribute, source, target, needle = m.groups()
            if not _literal(needle):
                raise Unsupported("contains(..., '') holds everywhere")
            add(attribute, _translated_pattern(_literal(source), _literal(target),
                                               _literal(needle)))
            continue
        if m := (_CONTAINS.fullmatch(clause) or _STARTS.fullmatch(clause)):
            needle = _literal(m.group(2))
            if not needle:
                raise Unsupported("an empty needle holds everywhere")
            pattern = ("^" if clause.startswith("starts-with") else "") + re.escape(needle)
        elif m := _RETEST.fullmatch(clause):
            flags = _literal(m.group(3)) if m.group(3) else ""
            if set(flags) - {"i", "g"}:
                raise Unsupported(f"re:test flags {flags!r}")
            pattern = _literal(m.group(2))
            compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
            if compiled.groups and re.search(r"\\\d|\(\?P=|\(\?\(", pattern):
                raise Unsupported("a back reference cannot be combined")
            if compiled.search(""):
                raise Unsupported("re:test that holds on a missing attribute")
            pattern = f"(?i:{pattern})" if "i" in flags else pattern
        else:
            raise Unsupported(f"clause {clause!r}")
        for attribute in _EXISTS.findall(m.group(1)):
            add(attribute, f"(?:{pattern})")
    return tests


def _attributes_read(predicates: list[str]) -> frozenset[str] | None:
    """The attributes ``predicates`` read, when they read nothing but those and the tag (then
    their value on an element is a function of its tag and of those attributes' values in
    their order); None when they read anything else (a descendant, a child, a position)."""
    text = re.sub(_STR, " ", " ".join(predicates))
    names = frozenset(_EXISTS.findall(text))
    rest = re.sub(r"@[\w:.-]+|self::[\w-]+|\b(?:contains|starts-with|translate|re:test|not)\(|"
                  r"\bor\b|\band\b|[=,|()\s]", "", text)
    return names if not rest else None


class FastPrune:
    """An XPath of the form ``.//*[self::a or ...][clauses][...]`` (or ``.//a[clauses]``),
    evaluated as the module docstring says; called like the XPath (``expression(tree)``),
    same node list."""

    def __init__(self, original: XPath):
        self.original = original
        self.path = original.path
        path = " ".join(original.path.split())
        tag, predicates = _step(path)
        if not predicates:
            raise Unsupported("no predicate")
        for predicate in predicates:
            if not _boolean(predicate):
                raise Unsupported(f"maybe positional: {predicate!r}")
        tags: tuple = (tag,) if tag else ()
        names = [_SELF.fullmatch(clause) for clause in _split(predicates[0], " or ")]
        if not tag and all(names):
            tags = tuple(m.group(1) for m in names)
        filters = predicates[1:] if tags and not tag else predicates
        if not filters:
            raise Unsupported("tags only")
        tests = None
        for predicate in filters:  # the first predicate the pre-filter can bound
            try:
                tests = _attribute_tests(predicate)
                break
            except Unsupported:
                continue
        if tests is None:
            raise Unsupported(f"no predicate to pre-filter: {path[:60]!r}")
        self.tags = tags or (Element,)
        self.tests = tuple((attribute, None if present else re.compile("|".join(patterns)), {})
                           for attribute, (patterns, present) in tests.items())
        self.reads = _attributes_read(predicates)
        self.seen: dict = {}
        unquoted = re.sub(_STR, "''", path).replace("::", "__")
        prefixes = set(re.findall(r"([\w.-]+):", unquoted))
        if prefixes - {"re"}:
            raise Unsupported(f"namespace prefixes {prefixes}")
        namespaces = {"re": REGEXP_NS} if prefixes else None
        self.confirm = XPath("self::*" + "".join(f"[{p}]" for p in predicates),
                             namespaces=namespaces)

    def candidate(self, element) -> bool:
        """Whether one of the attribute tests could hold (a superset of the XPath test). The
        answer for a value is remembered: class names repeat across a page and a site, and
        a search of a long alternation costs microseconds."""
        get = element.get
        for attribute, pattern, seen in self.tests:
            value = get(attribute)
            if value is None:
                continue
            if pattern is None:
                return True
            hit = seen.get(value)
            if hit is None:
                if len(seen) >= MEMO_SIZE:
                    seen.clear()
                hit = seen[value] = pattern.search(value) is not None
            if hit:
                return True
        return False

    def confirmed(self, element) -> bool:
        """The expression's own predicates on ``element``; remembered per tag and attribute
        values (in their order) when the predicates read nothing else."""
        if self.reads is None:
            return bool(self.confirm(element))
        reads = self.reads
        key = (element.tag, tuple(item for item in element.items() if item[0] in reads))
        seen = self.seen
        hit = seen.get(key)
        if hit is None:
            if len(seen) >= MEMO_SIZE:
                seen.clear()
            hit = seen[key] = bool(self.confirm(element))
        return hit

    def __call__(self, tree, **variables) -> list:
        if variables or not isinstance(tree, _Element):
            return self.original(tree, **variables)
        confirmed, candidate = self.confirmed, self.candidate
        return [element for element in tree.iterdescendants(*self.tags)
                if candidate(element) and confirmed(element)]


class FastUnion:
    """A union of steps ``.//NAME`` and ``.//NAME[...]`` (each as ``FastPrune`` finds it, a
    bare tag by lxml's own walk): the elements any step finds, in document order, each once,
    as XPath returns a union."""

    def __init__(self, original: XPath):
        self.original = original
        self.path = original.path
        parts = _split(" ".join(original.path.split()), "|")
        if len(parts) < 2:
            raise Unsupported("not a union")
        self.tags: list[str] = []
        self.steps: list[FastPrune] = []
        for part in parts:
            tag, predicates = _step(part)
            if not predicates and tag:
                self.tags.append(tag)
            else:
                self.steps.append(FastPrune(XPath(part, namespaces=original_namespaces(part))))

    def __call__(self, tree, **variables) -> list:
        if variables or not isinstance(tree, _Element):
            return self.original(tree, **variables)
        found = set(tree.iterdescendants(*self.tags)) if self.tags else set()
        for step in self.steps:
            found.update(step(tree))
        if not found:
            return []
        # the same proxy objects come back from the walk while ``found`` holds them
        return [element for element in tree.iterdescendants(Element) if element in found]


def original_namespaces(path: str) -> dict[str, str] | None:
    """The EXSLT prefix a step of trafilatura's expressions uses, if it uses one."""
    return {"re": REGEXP_NS} if "re:" in re.sub(_STR, "''", path) else None


def fast(original: XPath) -> Callable | XPath:
    """The fast form of ``original``, or ``original`` when its shape is not supported (or it
    is no XPath: already a fast form)."""
    if not isinstance(original, XPath):
        return original
    try:
        if len(_split(" ".join(original.path.split()), "|")) > 1:
            return FastUnion(original)
        return FastPrune(original)
    except (Unsupported, re.error) as exc:
        LOG.debug("kept as XPath: %s", exc)
        return original


_installed = False


def install() -> None:
    """Put the fast forms into trafilatura's prune lists (in place), once per process."""
    global _installed
    if _installed:
        return
    from trafilatura import xpaths

    for name in PRUNE_LISTS:
        expressions = getattr(xpaths, name, None)
        if not isinstance(expressions, list):
            continue
        for i, expression in enumerate(expressions):
            if isinstance(expression, XPath):
                expressions[i] = fast(expression)
    baseline = sys.modules["trafilatura.baseline"]  # the package exports a function of that name
    baseline.BASIC_CLEAN_XPATH = fast(baseline.BASIC_CLEAN_XPATH)
    _installed = True
