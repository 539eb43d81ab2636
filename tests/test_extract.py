import gzip
from pathlib import Path

import pytest
from trafilatura.utils import load_html, repair_faulty_html

from transforms.extract import (
    ExtractError,
    declared_url_and_time,
    decode_html,
    extract_page,
    main_text,
    page_prune,
    parse_html,
    precision_tree_reusable,
    repair_changes,
)

SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"
PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"


def test_utf8_body_wins_over_a_wrong_latin1_header():
    html = "<html><body><p>Café à Zürich, naïve façade</p></body></html>".encode()
    assert "Café à Zürich" in decode_html(html, "iso-8859-1")


def test_declared_and_meta_charsets_are_used_when_not_utf8():
    text = "<html><head><meta charset='windows-1251'></head><body>Привет, мир</body></html>"
    assert "Привет, мир" in decode_html(text.encode("cp1251"), None)
    assert "Привет, мир" in decode_html(text.encode("cp1251"), "windows-1251")


def test_utf8_body_with_one_truncated_character_stays_utf8():
    # radiomaryja.pl (trafilatura's evaluation set): a teaser cut inside "papierosów" left one
    # invalid byte in 110 kB of UTF-8; strict decoding failed and detection read the page as
    # a Mac codec ("sprzeciwiają" -> "sprzeciwiajńÖ")
    body = ("<html><head><meta charset='UTF-8'></head><body><p>"
            + "Kolejne organizacje sprzeciwiają się skandalicznym atakom. " * 30).encode()
    body += b"papieros" + b"\xc3...</p></body></html>"
    text = decode_html(body, "utf-8")
    assert "sprzeciwiają się" in text and "papieros\ufffd" in text
    legacy = ("<p>" + "Zażółć gęślą jaźń. " * 30 + "</p>").encode("iso-8859-2")
    assert "Zażółć gęślą jaźń" in decode_html(legacy, "iso-8859-2")  # not taken for UTF-8


def test_undeclared_legacy_encoding_is_detected():
    text = ("<html><body><p>" + "Die Straße führt über die Brücke nach Köln. " * 20
            + "</p></body></html>")
    assert "Straße führt über" in decode_html(text.encode("latin-1"), None)


@pytest.mark.parametrize("body,reason", [
    (bytes(range(256)) * 8, "binary_content"),
    (b"", "empty_body"),
    (b"\x89PNG\r\n\x1a\n" + bytes(300), "binary_content"),
])
def test_binary_and_empty_bodies_are_refused(body, reason):
    with pytest.raises(ExtractError) as info:
        decode_html(body, "utf-8")
    assert info.value.reason == reason


def test_real_page_text_and_metadata():
    html = decode_html(gzip.open(SITE / "bbc" / "world-europe-50473792.html.gz").read())
    page = extract_page(html, "https://www.bbc.com/news/world-europe-50473792")
    assert page["title"].startswith("Sweden drops Assange rape investigation")
    assert "Swedish prosecutors" in page["text"] or "Sweden" in page["text"]
    assert len(page["text"].split()) > 300
    assert page["page_date"] == "2019-11-19"


def test_page_without_article_text_is_an_extraction_error():
    with pytest.raises(ExtractError) as info:
        extract_page("<html><body><script>var a = 1;</script></body></html>", "http://x/")
    assert info.value.reason in ("empty_extraction", "unparseable_html")


def _page(name: str) -> str:
    return decode_html(gzip.open(PAGES / name).read())


def test_a_declared_article_drops_the_related_headlines_balanced_extraction_keeps():
    url = ("https://www.cbssports.com/nfl/news/browns-player-on-mason-rudolphs-role-in-fight-"
           "with-myles-garrett-he-asked-for-it/")
    html = _page("cbssports-browns-rudolph.html.gz")
    related = "Gronk, Serena perform with Laker Girls"
    assert related in main_text(load_html(html), url, None, article=False)  # what it fixes
    page = extract_page(html, url)
    assert page["page_signals"]["declared_article"]
    assert related not in page["text"]
    assert "The Steelers spent Monday trying to distance themselves" in page["text"]
    assert "we get another shot to play them" in page["text"]  # the story's end is kept


def test_a_declared_article_whose_precision_text_is_empty_falls_back_to_balanced():
    url = "https://www.barrons.com/articles/home-depot-stock-earnings-report-51574168486"
    html = _page("barrons-home-depot.html.gz")
    assert main_text(load_html(html), url, None, article=True).strip()  # not ""
    page = extract_page(html, url)
    assert page["page_signals"]["declared_article"]
    assert "Home Depot" in page["text"]


def test_a_page_that_is_not_an_article_keeps_its_lists_and_tables():
    # trafilatura's evaluation page: these snippets must be in the text (evaldata.json)
    html = _page("vinosytapas-rioja.html.gz")
    page = extract_page(html, "https://www.vinosytapas.de/wein/herkunft/spanien/d_o_ca_-rioja/")
    assert not page["page_signals"]["declared_article"]
    for snippet in ("Die Bestimmungen der D.O.Ca.", "Für die Qualitätsstufen der Weine"):
        assert snippet in page["text"]  # (both lost with the precision focus)


def test_a_theme_switch_in_the_body_class_does_not_prune_the_page():
    # Squarespace writes "tweak-...-share-buttons..." into <body class>: pruning share-button
    # containers by class substring removed the whole page (an empty_extraction reject)
    html = _page("befifty-montauk.html.gz")
    assert "share-buttons" in html[:html.index("<body") + 2000]
    text = extract_page(html, "https://www.befifty.de/home/2017/7/12/unter-uns-montauk")["text"]
    for snippet in ("Im kurzen BeFifty Video", "bodenständig und stilsicher"):  # evaldata.json
        assert snippet in text
    assert "Tumblr" not in text  # one of its "without" snippets


def test_canonical_url_and_published_time_are_the_first_declared_values():
    html = """<html><head>
      <meta property="og:url" content="https://x.example/og">
      <link rel="canonical" href="  ">
      <link rel="canonical" href="https://x.example/canonical">
      <meta name="pubdate" content="">
      <meta itemprop="datePublished" content="2024-05-01T10:00:00Z">
      </head><body><time itemprop="datePublished" datetime="2023-01-01T00:00:00Z">x</time>
      <link rel="canonical" href="https://x.example/in-body"></body></html>"""
    assert declared_url_and_time(parse_html(html)) == (
        "https://x.example/canonical", "2024-05-01T10:00:00Z")
    html = """<html><head><meta property="og:url" content="https://x.example/og"></head>
      <body><link rel="canonical" href="https://x.example/in-body"><p>Text</p>
      <time itemprop="datePublished" datetime=" 2023-01-01T00:00:00Z ">x</time></body></html>"""
    # a canonical link outside the head is not the page's (what the XPath //head/link read)
    assert declared_url_and_time(parse_html(html)) == (
        "https://x.example/og", "2023-01-01T00:00:00Z")


@pytest.mark.parametrize("name, url", [
    ("barrons-home-depot.html.gz",
     "https://www.barrons.com/articles/home-depot-stock-earnings-report-51574168486"),
    ("cbssports-browns-rudolph.html.gz", "https://www.cbssports.com/nfl/news/browns-player-on-"
     "mason-rudolphs-role-in-fight-with-myles-garrett-he-asked-for-it/"),
])
def test_a_balanced_fallback_on_the_precision_runs_tree_reads_what_it_reads_on_a_copy(name, url):
    html = _page(name)
    assert precision_tree_reusable(html)
    copied = main_text(load_html(html), url, None, article=True)
    assert main_text(load_html(html), url, None, article=True, reusable=True) == copied


def test_forums_and_infinite_scroll_pages_keep_the_copy():
    assert not precision_tree_reusable('<script>{"@type": "DiscussionForumPosting"}</script>')
    assert not precision_tree_reusable('<div class="infinite-scroll-wrap"><h1>A</h1></div>')
    assert precision_tree_reusable("<div class='infinite'><p>Infinite jest</p></div>")


@pytest.mark.parametrize("html", [
    "<html><body><p>A bell\x07 rings</p></body></html>",
    "<html><body><p>Not a character: \ufffe</p></body></html>",
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "http://www.w3.org/TR/xhtml1/DTD/x.dtd">'
    "\n<html><body><p>Text</p></body></html>",
    "<!doctype html><html><body><p>One line</p></body></html>",
    '<html lang="en"/>\n<body><p>Text</p></body>',
])
def test_pages_repair_faulty_html_changes_are_repaired(html):
    beginning = html[:50].lower()
    assert repair_faulty_html(html, beginning) != html
    assert repair_changes(html, html.encode("utf-8", "surrogatepass"), beginning)


def test_pages_repair_faulty_html_leaves_alone_skip_it():
    names = sorted(path.name for path in PAGES.glob("*.html.gz"))
    for html in [*map(_page, names), "<!DOCTYPE html>\n<html><body><p>Text</p></body></html>"]:
        beginning = html[:50].lower()
        if not repair_changes(html, html.encode("utf-8", "surrogatepass"), beginning):
            assert repair_faulty_html(html, beginning) == html
    assert parse_html("<html><body><p>A bell\x07 rings</p></body></html>").text_content() == (
        "A bell rings")


def test_theme_containers_are_pruned_by_class_or_id_but_never_the_page():
    html = """<html><body class="tweak-share-buttons"><main class="social-share"><article>
      <p>Story.</p><div class="a sharedaddy b">Share</div><div class="sharedaddyx">Kept</div>
      <section id="comments">Comments</section><div id="comments-x">Kept too</div>
      <form class="comment-respond">Reply</form></article></main></body></html>"""
    tree = parse_html(html)
    pruned = [(e.tag, e.get("class") or e.get("id")) for e in page_prune(html)(tree)]
    assert pruned == [("div", "a sharedaddy b"), ("section", "comments"),
                      ("form", "comment-respond")]
    assert page_prune("<html><body><p>No theme markers</p></body></html>") is None


def test_parser_makes_trafilaturas_trees_and_lxml_html_classes():
    # ``html_parser`` copies trafilatura's parser options and lxml.html's element classes
    from lxml.etree import tostring
    from lxml.html import fromstring as html_fromstring
    from trafilatura.utils import HTML_PARSER as TRAFILATURA_PARSER

    pages = [gzip.decompress(path.read_bytes()) for path in sorted(PAGES.glob("*.html.gz"))]
    pages.append(b"<html><body><form><input name='q'><select></select><textarea></textarea>"
                 b"<label>x</label></form><!-- note --><?pi x?><p>&amp; text</p></body></html>")
    for page in pages:
        ours = parse_html(page.decode("utf-8", "replace"))
        theirs = html_fromstring(page.decode("utf-8", "replace").encode(),
                                 parser=TRAFILATURA_PARSER)
        assert tostring(ours) == tostring(theirs)
        assert [type(e) for e in ours.iter()] == [type(e) for e in theirs.iter()]
    assert {type(e).__name__ for e in ours.iter()} >= {
        "FormElement", "InputElement", "SelectElement", "TextareaElement", "LabelElement"}
