"""The end-of-run summary's per-language table, computed from a manifest alone."""

from __future__ import annotations

from pipelines.cli import SUMMARY_DATES, SUMMARY_LANGUAGES, language_lines, partition_counts


def manifest_of(counts: dict[tuple[str, str], int]) -> dict:
    files = [{"dataset": "articles", "rows": rows,
              "relative": f"articles/date={day}/lang={lang}/part-r-{i:05d}.parquet"}
             for (lang, day), rows in counts.items() for i in range(2)]  # two files each
    files.append({"dataset": "rejects", "rows": 7,
                  "relative": "rejects/date=2024-01-01/stage=fetch/part-r-00000.parquet"})
    return {"files": files}


def test_languages_largest_first_with_their_busiest_dates_and_the_rest_summed():
    counts = {("en", f"2024-01-0{d}"): d for d in range(1, 6)}  # en: 15 rows x 2 files
    counts[("de", "2024-01-01")] = 20
    counts.update({(f"x{i:02d}", "2023-12-31"): 1 for i in range(SUMMARY_LANGUAGES)})
    manifest = manifest_of(counts)
    assert partition_counts(manifest)[("date=2024-01-05", "lang=en")] == 10
    assert partition_counts(manifest, "rejects") == {("date=2024-01-01", "stage=fetch"): 7}
    lines = language_lines(manifest)
    header, rows, last = lines[0].split(), lines[2:-1], lines[-1]
    assert header[:3] == ["lang", "articles", "dates"]
    assert rows[0].split()[:3] == ["de", "40", "1"]
    assert rows[1].split()[:3] == ["en", "30", "5"]
    dates = rows[1].split(None, 3)[3]
    assert dates.split(", ") == ["2024-01-05 (10)", "2024-01-04 (8)", "2024-01-03 (6)"]
    assert len(dates.split(", ")) == SUMMARY_DATES
    assert len(rows) == SUMMARY_LANGUAGES
    assert last == "... 2 more languages, 4 articles"  # x10, x11: 2 files of 1 row each


def test_a_run_without_articles_lists_no_language():
    assert language_lines({"files": []})[2:] == []
