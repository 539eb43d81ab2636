"""The fast forms of trafilatura's discard expressions find the XPaths' node lists."""

import gzip
from copy import deepcopy
from pathlib import Path

import pytest
from lxml.etree import XPath
from trafilatura import xpaths
from trafilatura.htmlprocessing import convert_tags, tree_cleaning
from trafilatura.settings import Extractor

from transforms.extract import parse_html
from transforms.prune_xpaths import PRUNE_LISTS, FastPrune, fast

PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"
#: The sample's WordPress page: its comment form (``id="respond"``).
WORDPRESS = (Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site" / "actu-tech"
             / "2023" / "09" / "16" / "tiktok-amende-345-millions-donnees-enfants" / "index.html")


def _originals() -> list[tuple[str, XPath]]:
    """Every expression of the prune lists, as trafilatura wrote it (``install`` may have
    replaced the list members: their ``original``)."""
    out = []
    for name in PRUNE_LISTS:
        for i, expression in enumerate(getattr(xpaths, name)):
            out.append((f"{name}[{i}]", getattr(expression, "original", expression)))
    return out


def _trees() -> list:
    """Each fixture page as parsed, and as trafilatura's cleaning and tag conversion leave it
    (where the ``list``/``item`` tests of the expressions apply)."""
    trees = []
    pages = [gzip.decompress(path.read_bytes()) for path in sorted(PAGES.glob("*.html.gz"))]
    for page in [*pages, WORDPRESS.read_bytes()]:
        tree = parse_html(page.decode("utf-8", "replace"))
        options = Extractor(url="https://example.org/")
        trees += [tree, convert_tags(tree_cleaning(deepcopy(tree), options), options)]
    return trees


TREES = _trees()


@pytest.mark.parametrize(("name", "original"), _originals(), ids=[n for n, _ in _originals()])
def test_fast_form_finds_the_xpath_node_list(name, original):
    faster = fast(original)
    if faster is original:
        assert not original.path.strip().startswith(".//*["), f"{name} is not sped up"
        return
    found_any = False
    for tree in TREES:
        expected = original(tree)
        got = faster(tree)
        assert len(got) == len(expected), name
        assert all(a is b for a, b in zip(got, expected, strict=True)), name
        found_any = found_any or bool(expected)
    assert found_any, f"no fixture page exercises {name}"


def test_every_discard_expression_of_the_usual_shape_is_sped_up():
    shapes = [fast(original) for name, original in _originals()
              if original.path.strip().startswith(".//*[")]
    assert shapes and all(isinstance(shape, FastPrune) for shape in shapes)


@pytest.mark.parametrize("path", [
    ".//*[self::div][1]",  # positional: the first matching child of each parent
    ".//*[self::div][contains(@class, '')]",  # holds on every element
    ".//*[self::div][re:test(@class, 'x*')]",  # holds on an element without a class
    ".//*[self::div][contains(., 'x')]",  # reads the text, not the attributes
    ".//p|.//*[self::div][1]",  # a union with one step of the kinds above
])
def test_other_shapes_stay_xpaths(path):
    original = XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})
    assert fast(original) is original


@pytest.mark.parametrize("path", [
    ".//div[contains(@class, 'content')]",  # a named step
    ".//*[self::div][contains(@class, 'content')]|.//p",  # a union
    ".//a|.//li[contains(@class|@id, 'menu')]|.//*[re:test(@class, 'nav|foot', 'i')]",
])
def test_named_steps_and_unions_find_the_xpath_node_list(path):
    original = XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})
    faster = fast(original)
    assert faster is not original
    found = 0
    for tree in TREES:
        expected = original(tree)
        got = faster(tree)
        assert len(got) == len(expected)
        assert all(a is b for a, b in zip(got, expected, strict=True))
        found += len(expected)
    assert found


def test_first_of_two_attributes_is_what_re_test_reads():
    # re:test(@id|@class, ...) tests the attribute written first: the pre-filter tests both,
    # the confirmation keeps XPath's answer
    original = XPath(".//*[self::div][re:test(@id|@class, '^nav')]",
                     namespaces={"re": "http://exslt.org/regular-expressions"})
    tree = parse_html('<html><body><div id="main" class="nav">a</div>'
                      '<div class="nav" id="main">b</div><div id="navbar">c</div></body></html>')
    assert [e.text for e in fast(original)(tree)] == [e.text for e in original(tree)] == ["b", "c"]


def test_baseline_cleaning_union_finds_the_xpath_node_list():
    """``BASIC_CLEAN_XPATH`` (a union of tag steps, a ``div`` step testing the first of two
    attributes and an ``re:test`` step) is sped up as a union, same nodes in document order."""
    import sys

    from trafilatura.settings import BASIC_CLEAN_XPATH

    from transforms.prune_xpaths import FastUnion

    faster = fast(BASIC_CLEAN_XPATH)
    assert isinstance(faster, FastUnion)
    assert sys.modules["trafilatura.baseline"].BASIC_CLEAN_XPATH.path == BASIC_CLEAN_XPATH.path
    kinds = set()
    for tree in TREES:
        expected = BASIC_CLEAN_XPATH(tree)
        got = faster(tree)
        assert len(got) == len(expected)
        assert all(a is b for a, b in zip(got, expected, strict=True))
        kinds.update(element.tag for element in expected)
    assert {"script", "div"} <= kinds  # the tag steps and the attribute steps both found nodes


def test_union_keeps_document_order_and_each_element_once():
    """An element two steps find comes once, where the document has it."""
    from lxml import html

    tree = html.fromstring("<html><body><div class='footer'><aside id='x'><script></script>"
                           "</aside></div><footer class='cookie-banner'><p>t</p></footer>"
                           "</body></html>")
    original = XPath(".//aside|.//footer|.//div[contains(@class|@id, 'footer')]"
                     "|.//*[re:test(@class, 'cookie[-_]?banner', 'i')]|.//script",
                     namespaces={"re": "http://exslt.org/regular-expressions"})
    faster = fast(original)
    assert faster is not original
    assert [e.tag for e in faster(tree)] == [e.tag for e in original(tree)] == [
        "div", "aside", "script", "footer"]
