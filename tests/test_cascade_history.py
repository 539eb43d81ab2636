"""Copies found across runs, with the cascade: an article an earlier run stored with its
headline vector only (no candidate in its run) gets its other segments embedded from its stored
text when a later run's translation of it arrives, so the translation joins the earlier
article's copy group (as its copy, the earlier row not rewritten) as it would in one run."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.batch import run
from pipelines.query import connect

FIXTURES = Path(__file__).parent / "fixtures"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).open(encoding="utf-8")]


def _url(row: dict) -> str:
    return f"https://wmt.example/{row['doc_key'].split(':')[-1]}/{row['lang']}"


def _write(path: Path, rows: list[dict]) -> str:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:  # undated: both runs land on today, inside the history window
            handle.write(json.dumps({"url": _url(row), "text": row["text"],
                                     "language": row["lang"]}, ensure_ascii=False) + "\n")
    return str(path)


def test_a_translation_joins_an_original_stored_with_its_headline_only(tmp_path):
    """Run 1: two English news documents among ten other English ones, none with a close
    headline (so all stored with their headline vector only); run 2: the German and French
    versions of the first, the Croatian of the second (tests/fixtures/PROVENANCE.md). Against
    headline-only originals, 1 of the 3 joined (the other English documents' segments draw
    the margins); with the originals' segments embedded from their stored text, all do, as in
    one run."""
    rows = _rows("wmt_cross_run.jsonl")
    english = [r for r in rows if r["lang"] == "en"]
    translations = [r for r in rows if r["lang"] != "en"]
    out = str(tmp_path / "out")
    first, _ = run(["--jsonl", _write(tmp_path / "a.jsonl", english), "--output", out])
    con = connect(out)
    stored = dict(con.execute(
        "select url, octet_length(seg_vectors) // (2 * seg_dim) from articles where run_id = ?",
        [first]).fetchall())
    originals = {r["doc_key"]: _url(r) for r in english
                 if any(t["doc_key"] == r["doc_key"] for t in translations)}
    # the case under test: the originals were stored with their headline vector only
    assert [stored[u] for u in originals.values()] == [1, 1]
    second, result = run(["--jsonl", _write(tmp_path / "b.jsonl", translations),
                          "--output", out])
    con = connect(out)
    ids = dict(con.execute("select url, article_id from articles where run_id = ?",
                           [first]).fetchall())
    later = {url: rest for url, *rest in con.execute(
        "select url, copy_group_id, duplicate_of, dup_kind from articles where run_id = ?",
        [second]).fetchall()}
    assert sorted(later) == sorted(_url(r) for r in translations)
    joined = {_url(r): later[_url(r)] == [ids[originals[r["doc_key"]]]] * 2 + ["translation"]
              for r in translations}
    assert all(joined.values()), joined
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    # the originals, and the three other English articles whose headline is within the
    # cross-language gate (cosine .8) of the French or German one; not the other seven
    assert counters.get("history_reembedded") == 5
    # the earlier rows were not rewritten
    assert con.execute("select count(*) from articles where run_id = ? and duplicate_of is "
                       "not null", [first]).fetchone()[0] == 0
    assert con.execute("select count(*) from articles").fetchone()[0] == len(rows)
