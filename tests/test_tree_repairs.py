"""Tree repairs before extraction, on real pages of ../shared/eval (tests/fixtures/pages)."""

import gzip
from pathlib import Path

from trafilatura.utils import load_html

from transforms.extract import decode_html, extract_page, main_text
from transforms.tree_repairs import join_split_body, may_be_split, unlink_subheadings

PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"


def _page(name: str) -> str:
    return decode_html(gzip.open(PAGES / name).read())


def test_a_story_split_into_chunks_is_read_whole():
    url = "https://www.wired.com/story/instagram-business-accounts-analytics/"
    html = _page("wired-instagram-analytics.html.gz")
    first, last = ("Instagram began testing hiding public like counts",
                   "Maybe Instagram likes it that way")  # the first and the last chunk
    unrepaired = main_text(load_html(html), url, None, article=True)
    assert first in unrepaired and last not in unrepaired  # what it fixes
    assert may_be_split(html)
    tree = load_html(html)
    assert join_split_body(tree) == 1
    text = extract_page(html, url)["text"]
    assert first in text and last in text
    assert text.index(first) < text.index(last)  # in page order
    assert text.count(last) == 1


def test_a_page_in_one_block_is_left_alone():
    html = ('<html><body><div class="entry-content"><p>' + "One story paragraph. " * 20
            + '</p></div><aside><div class="entry-content"><p>A teaser.</p></div></aside>'
            '</body></html>')
    tree = load_html(html)
    assert join_split_body(tree) == 0  # the teaser is not the story's sibling chunk


def test_linked_subheadings_of_a_gift_guide_are_kept():
    url = "https://9to5mac.com/2019/11/18/techy-gift-guide/"
    html = _page("9to5mac-gift-guide.html.gz")
    heading = "Satechi 72W USB-C Power Delivery Car Charger"
    assert heading not in main_text(load_html(html), url, None, article=True)  # what it fixes
    assert unlink_subheadings(load_html(html)) >= 5
    text = extract_page(html, url)["text"]
    assert heading in text
    assert "Apple first started replacing its proprietary MagSafe" in text  # its paragraph
