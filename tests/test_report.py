"""``newsflow report``: rendered from real output, opened in headless Debian Chromium.

The demo dataset (one real pipeline run over the bundled sample) is rendered, loaded in
Chromium with a resolver that resolves nothing, screenshotted, and checked: every chart drew data
marks, the expected titles are on the page, the page asked for nothing but itself, and on a
phone-sized viewport nothing overflows the page. Synthetic roots (written in the real schemas)
cover the shapes the demo lacks: empty roots, windows, entities, failing feeds, hostile titles.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import matplotlib.image as mpimg
import pytest
from browser import Browser
from report_data import UTC, article, copy_of, synthetic_root, write_manifest, write_rows

from pipelines.cli import main
from pipelines.query import connect
from pipelines.report import build_report, parse_since

SECTION_TITLES = ("Articles per", "Rejects per", "Largest copy groups",
                  "Stories covered in the most languages", "Time from original to translation",
                  "Top republishing domains", "Run health")

# What the page reports about itself once loaded: chart count, charts without a drawn mark,
# the text of headings and chart titles, and the page's width against the viewport's.
INSPECT = """(() => {
  const charts = [...document.querySelectorAll('svg.chart')];
  const blank = charts.filter(svg => ![...svg.querySelectorAll('[id^="mark-"]')].some(m => {
      const box = m.getBBox(); return box.width > 0 || box.height > 0; }))
    .map(svg => svg.dataset.chart);
  return {charts: charts.map(svg => svg.dataset.chart), blank,
          headings: [...document.querySelectorAll('h1, h2')].map(h => h.textContent),
          chartText: charts.map(svg => svg.textContent).join(' '),
          summary: document.getElementById('summary').textContent,
          pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth};
})()"""


def colourful_share(png: Path) -> float:
    """Share of pixels with a clearly saturated colour (chart marks; the page itself is grey)."""
    image = mpimg.imread(png)[..., :3]
    return float(((image.max(axis=2) - image.min(axis=2)) > 0.25).mean())


@pytest.fixture(scope="module")
def demo_report(sample_run, tmp_path_factory) -> Path:
    output, _, _ = sample_run
    target = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", output, "--output", str(target)]) == 0
    return target


def test_demo_report_draws_in_chromium_without_requests(demo_report, tmp_path):
    page = demo_report.read_text()
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    with Browser() as browser:
        browser.open(demo_report.as_uri(), 1280, 900)
        laptop = browser.evaluate(INSPECT)
        shot = browser.screenshot(tmp_path / "laptop.png")
        assert browser.requests() == [demo_report.as_uri()]
        browser.open(demo_report.as_uri(), 390, 844, mobile=True)
        phone = browser.evaluate(INSPECT)
        browser.screenshot(tmp_path / "phone.png")
    # every section of the issue, each with a chart that drew data marks
    for title in SECTION_TITLES:
        assert any(h.startswith(title) for h in laptop["headings"]), (title, laptop["headings"])
    assert laptop["blank"] == [] and phone["blank"] == []
    for chart in ("articles", "rejects", "copies-1", "copies-2", "stories",
                  "translation-delay", "domains", "runs", "run-rejects"):
        assert chart in laptop["charts"]
    # chart titles and axis labels are real text in the SVG
    for text in ("Articles per month and language", "publication month", "rejects",
                 "hours after the original", "TikTok fined", "en → de", "duration (s)"):
        assert text in laptop["chartText"], text
    assert "18 articles" in laptop["summary"] and "8 input(s) rejected" in laptop["summary"]
    assert colourful_share(shot) > 0.01
    # phone: the page itself never scrolls sideways (wide charts scroll inside their box)
    assert phone["pageWidth"] <= phone["viewport"]


def test_the_request_check_sees_an_external_reference(tmp_path):
    """The check above can fail: a page pulling an image and a script is recorded doing so."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://images.example.com/a.png">'
                    '<script src="https://cdn.example.com/plot.js"></script></body></html>')
    with Browser() as browser:
        browser.open(page.as_uri())
        asked = browser.requests()
    assert "http://images.example.com/a.png" in asked
    assert "https://cdn.example.com/plot.js" in asked


def test_empty_and_missing_roots(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    target = tmp_path / "r.html"
    assert main(["report", str(empty), "--output", str(target)]) == 0
    page = target.read_text()
    assert "No data yet" in page and "<section" not in page
    assert main(["report", str(tmp_path / "nowhere"), "--output", str(target)]) == 2
    assert "no newsflow output" in capsys.readouterr().err
    assert main(["report", str(empty), "--since", "soon"]) == 2


def test_parse_since():
    assert parse_since("7d") == dt.timedelta(days=7)
    assert parse_since("12h") == dt.timedelta(hours=12)
    assert parse_since("2w") == dt.timedelta(weeks=2)
    assert parse_since(None) is None
    for bad in ("7", "d", "0d", "-1d", "7y"):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_window_keeps_only_what_came_in_recently(sample_run):
    output, _, _ = sample_run
    now = dt.datetime.now(UTC)
    recent = build_report(output, "7d", now=now)
    assert "18 articles" in recent
    later = build_report(output, "7d", now=now + dt.timedelta(days=30))
    assert "No data yet" in later


def _one_run_root(root: Path, title: str, with_entities: bool = False) -> Path:
    when = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    entities = [{"text": "Ada Lovelace", "label": "PER", "count": 3},
                {"text": "London", "label": "LOC", "count": 1}] if with_entities else None
    original = article("r1", "https://wire.example/a", "en", when, when, title, "x" * 500,
                       entities=entities)
    rows = [original,
            copy_of(original, "r1", "https://copier.example/b", "fr", 5, "translation",
                    "Traduction", entities=entities),
            copy_of(original, "r1", "https://copier.example/c", "en", 1, "exact", title,
                    entities=entities),
            # unknown language and publication time: counted, never drawn at a made-up time
            article("r1", "https://other.example/d", None, None, when, None,
                    entities=[] if with_entities else None)]
    files = write_rows(root, "articles", "r1", rows, with_entities=with_entities)
    write_manifest(root, "r1", when, 12.5, len(rows), {}, files)
    return root


def test_hostile_titles_are_text_not_markup(tmp_path):
    title = '<script>alert(1)</script> "$135 bn" & <b>bold</b> ' + "ü" * 300
    page = build_report(str(_one_run_root(tmp_path, title)))
    assert "<script>alert" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)" in page
    assert "Largest copy groups" in page and "1 finished run(s)" in page
    assert "Top entities" not in page  # no entities column: no section, no error


def test_entities_section_when_the_column_exists(tmp_path):
    page = build_report(str(_one_run_root(tmp_path, "Title", with_entities=True)))
    assert "Top entities" in page and "Ada Lovelace" in page
    assert 'data-chart="entities"' in page


def test_feeds_failing_several_runs_and_bad_manifests(tmp_path):
    start = dt.datetime(2026, 5, 1, tzinfo=UTC)
    for index, failing in enumerate((["a"], ["a", "b"], ["a", "b"], ["a"])):
        run_id = f"run{index}"
        when = start + dt.timedelta(hours=index)
        rejects = [{"url": f"https://feeds.example/{name}.xml", "stage": "feed",
                    "reason": "http_error", "detail": "HTTP 503", "run_id": run_id,
                    "time": when, "schema_version": 2} for name in failing]
        files = write_rows(tmp_path, "rejects", run_id, rejects)
        write_manifest(tmp_path, run_id, when, 3, 0, {"feed/http_error": len(failing)}, files)
    (tmp_path / "_runs" / "broken.json").write_text("{not json")
    (tmp_path / "_runs" / "list.json").write_text(json.dumps([1, 2]))
    page = build_report(str(tmp_path))
    assert "https://feeds.example/a.xml" in page  # failing in all 4 latest runs
    assert "https://feeds.example/b.xml" not in page  # recovered in the last run
    assert "2 manifest(s) could not be read" in page
    assert "4 finished run(s)" in page
    assert "No articles yet." in page


def test_report_reads_no_article_text(tmp_path):
    """Only the few titles shown are read: ``text`` raises if DuckDB ever evaluates it."""
    root = synthetic_root(tmp_path / "root", articles=600, runs=3, text_chars=300)
    con = connect(str(root))
    (sql,) = con.execute("select sql from duckdb_views() where view_name = 'articles'"
                         ).fetchone()
    con.execute(re.sub(r"(?i)^create view articles as", "create view articles_files as", sql))
    con.execute("create or replace view articles as select * replace "
                "(error('article text was read')::varchar as text) from articles_files")
    with pytest.raises(duckdb.Error, match="article text was read"):
        con.execute("select max(length(text)) from articles").fetchall()
    page = build_report(str(root), con=con)
    for chart in ("articles", "rejects", "copies-1", "stories", "translation-delay",
                  "domains", "runs"):
        assert f'data-chart="{chart}"' in page, chart


def test_revisions_count_once_and_odd_rows_do_not_break_the_page(tmp_path):
    """The latest revision of an article is the one reported (the views' rule); a copy whose
    original is not in the dataset, and articles without publication time, are tolerated."""
    when = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    first = article("r1", "https://a.example/story", "en", when, when, "First", revision=1)
    second = {**article("r2", "https://a.example/story", "de", when, when + dt.timedelta(hours=1),
                        "Zweite Fassung"), "revision": 2}
    orphan = copy_of(article("r0", "https://gone.example/x", "en", when, when, "gone"), "r2",
                     "https://b.example/copy", "fr", 3, "translation", "Copie")
    undated = article("r2", "https://c.example/undated", "es", None, when, "Sin fecha")
    files = write_rows(tmp_path, "articles", "r1", [first])
    write_manifest(tmp_path, "r1", when, 1, 1, {}, files)
    files = write_rows(tmp_path, "articles", "r2", [second, orphan, undated])
    write_manifest(tmp_path, "r2", when + dt.timedelta(hours=1), 1, 3, {}, files)
    page = build_report(str(tmp_path))
    # the story once, in its latest revision (German): 3 articles in de, fr, es
    assert "3 articles (2 originals, 1 copies) in 3 language(s)" in page
    assert "(original not in this dataset)" in page and "2 finished run(s)" in page
