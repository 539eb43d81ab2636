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
    ".//div[contains(@class, 'x')]",
    ".//*[self::div][contains(@class, 'x')]|.//p",
    ".//*[self::div][contains(., 'x')]",  # reads the text, not the attributes
])
def test_other_shapes_stay_xpaths(path):
    original = XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})
    assert fast(original) is original


def test_first_of_two_attributes_is_what_re_test_reads():
    # re:test(@id|@class, ...) tests the attribute written first: the pre-filter tests both,
    # the confirmation keeps XPath's answer
    original = XPath(".//*[self::div][re:test(@id|@class, '^nav')]",
                     namespaces={"re": "http://exslt.org/regular-expressions"})
    tree = parse_html('<html><body><div id="main" class="nav">a</div>'
                      '<div class="nav" id="main">b</div><div id="navbar">c</div></body></html>')
    assert [e.text for e in fast(original)(tree)] == [e.text for e in original(tree)] == ["b", "c"]
