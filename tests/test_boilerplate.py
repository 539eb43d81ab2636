"""Boilerplate tables: each language on a slice of a real page (tests/fixtures/boilerplate)."""

import gzip
from pathlib import Path

import pytest

from transforms.boilerplate import LANGUAGES, matcher, tables
from transforms.clean import clean_report, clean_text
from transforms.extract import decode_html, extract_page

FIXTURES = Path(__file__).parent / "fixtures" / "boilerplate"
SAMPLE = Path(__file__).resolve().parents[1] / "pipelines" / "sample" / "site"


def _slices() -> dict[str, Path]:
    return {path.name.split("-", 1)[0]: path for path in sorted(FIXTURES.glob("*.txt"))}


def _read(path: Path) -> tuple[list[str], list[str]]:
    lines = [line.rstrip("\n") for line in path.open(encoding="utf-8")
             if line.strip() and not line.startswith("#")]
    return [line[2:] for line in lines], [line[2:] for line in lines if line.startswith("+ ")]


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "nl"])
def test_each_language_on_a_real_page_slice(lang):
    path = _slices().get(lang)
    assert path is not None, f"no real page slice for {lang}"
    lines, story = _read(path)
    assert len(lines) - len(story) >= 3  # the slice has boilerplate to remove
    assert clean_text("\n".join(lines)) == "\n".join(story)


def test_every_table_is_declared_and_tested():
    assert [t.lang for t in tables()] == list(LANGUAGES)
    assert set(_slices()) | {"nl"} == set(LANGUAGES)


def test_dutch_table_without_a_real_page():
    for line in ("Geef een reactie", "Je e-mailadres wordt niet gepubliceerd. Vereiste velden "
                 "zijn gemarkeerd met *", "Lees ook: Kabinet wil minder vluchten op Schiphol",
                 "Advertentie", "Deel dit artikel", "Schrijf je in voor onze nieuwsbrief"):
        assert matcher().classify(line), line
    assert matcher().classify("Lees ook het rapport dat de commissie dinsdag publiceerde.") is None


def test_lead_in_lines_only_with_a_short_tail():
    assert matcher().classify("Read more: Looted colonial art: Germany to set up office")
    long_tail = "Read more: " + "the minister said the fine would be appealed in court " * 4
    assert matcher().classify(long_tail) is None


def test_paywall_notices_are_reported():
    text, found = clean_report("A paragraph of the story that is long enough to keep.\n"
                               "Subscribe to continue reading.\nAlready a subscriber? Log in")
    assert text == "A paragraph of the story that is long enough to keep."
    assert "paywall" in found


def test_guardian_embed_escaped_twice_inside_a_paragraph_is_removed():
    """The issue's case: the French TikTok page, but the newsletter embed left as markup
    escaped twice inside a paragraph (``&amp;lt;gu-island ...&amp;gt;``)."""
    page = (SAMPLE / "actu-tech" / "2023" / "09" / "16"
            / "tiktok-amende-345-millions-donnees-enfants")
    html = (page / "index.html").read_text(encoding="utf-8")
    embed = ('<p>&amp;lt;gu-island name=&amp;quot;EmailSignUpWrapper&amp;quot; '
             'priority=&amp;quot;feature&amp;quot; deferuntil=&amp;quot;visible&amp;quot; '
             'props=&amp;quot;{&amp;quot;index&amp;quot;:10,&amp;quot;listId&amp;quot;:4156,'
             '&amp;quot;identityName&amp;quot;:&amp;quot;techscape&amp;quot;,&amp;quot;caption'
             '&amp;quot;:&amp;quot;Alex Hern&amp;#x27;s weekly dive in to how technology is '
             'shaping our lives&amp;quot;}&amp;quot;&amp;gt;&amp;lt;/gu-island&amp;gt;</p>')
    start = html.index('<p>&lt;div class="newsletter-embed"')
    end = html.index("</p>", start) + 4
    variant = html[:start] + embed + html[end:]
    text = clean_text(extract_page(variant, "https://actu-tech.example/tiktok")["text"])
    original = clean_text(extract_page(html, "https://actu-tech.example/tiktok")["text"])
    assert "gu-island" not in text and "caption" not in text and "listId" not in text
    assert text == original  # the story whole, nothing else
    assert "ByteDance" in text and "5Rights" in text


def test_real_page_keeps_its_story_after_cleaning():
    html = decode_html(gzip.open(SAMPLE / "bbc" / "world-europe-50473792.html.gz").read())
    raw = extract_page(html, "https://www.bbc.com/news/world-europe-50473792")["text"]
    cleaned = clean_text(raw)
    assert len(cleaned.split()) >= 0.95 * len(raw.split())
