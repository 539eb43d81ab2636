"""Flags on real pages and records."""

import gzip
from pathlib import Path

from transforms.clean import clean_article
from transforms.extract import decode_html, extract_page
from transforms.flags import is_machine_translated, page_flags, text_quality

PAGES = Path(__file__).parent / "fixtures" / "pages"
SITE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"
TIKTOK_FR = (SITE / "actu-tech" / "2023" / "09" / "16"
             / "tiktok-amende-345-millions-donnees-enfants" / "index.html")


def _record(path: Path, url: str) -> dict:
    raw = path.read_bytes()
    html = decode_html(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    record = {"url": url, **extract_page(html, url)}
    return page_flags(clean_article(record))


def test_paywalled_page_declares_it():
    record = _record(PAGES / "barrons-home-depot.html.gz",
                     "https://www.barrons.com/articles/home-depot-stock-earnings-report-51574168486")
    assert record["is_paywalled"] and not record["is_listing"]


def test_free_page_is_not_paywalled_and_scores_high():
    record = _record(SITE / "bbc" / "world-europe-50473792.html.gz",
                     "https://www.bbc.com/news/world-europe-50473792")
    assert not record["is_paywalled"] and not record["is_listing"]
    assert record["text_quality"] >= 0.9


def test_category_page_is_a_listing():
    record = _record(PAGES / "minusl-joghurt-category.html.gz",
                     "https://www.minusl.de/produkt_kategorien/joghurt/")
    assert record["is_listing"]
    assert record["text_quality"] < 0.6


def test_listing_by_url_and_by_text_shape():
    assert page_flags({"url": "https://news.example/tag/tiktok/", "text": "x"})["is_listing"]
    story = "https://www.umweltbundesamt.de/themen/eu-taxonomie-atomkraft-erdgas-sind-nicht"
    assert not page_flags({"url": story, "text": "A sentence of the story."})["is_listing"]
    headlines = "\n".join(f"Headline number {i} about the markets" for i in range(12))
    assert page_flags({"url": "https://news.example/", "text": headlines})["is_listing"]


def test_machine_translated_copy_without_translator_credit():
    """The French TikTok page is a translation of an English story: as a translation copy that
    credits no translator it is flagged; the same text crediting a translator is not."""
    record = _record(TIKTOK_FR, "https://actu-tech.example/tiktok")
    assert not is_machine_translated(record)  # alone, nothing says it is translated
    copy = {**record, "dup_kind": "translation", "is_canonical": False}
    assert is_machine_translated(copy)
    credited = {**copy, "text": copy["text"] + "\nTraduit de l'anglais par Marie Dupont."}
    assert not is_machine_translated(credited)
    assert is_machine_translated({"text": "Cet article a fait l'objet d'une traduction "
                                          "automatique."})


def test_text_quality_rule():
    assert text_quality("") == 0.0
    menu = "\n".join(["Home", "News", "Sport", "Home", "Contact"])
    assert text_quality(menu) < 0.5
    assert text_quality(menu, listing=True) < text_quality(menu)
