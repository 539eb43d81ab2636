"""Entity quality: span-level precision/recall/F1 per language on ``../shared/eval/ner/``.

    python bench/entities.py [--eval ../shared/eval] [--limit N] [--langs en,de]

Each sentence goes through ``EntityRecognizer`` (the model where one is installed for the
language, else the language-independent fallback); predicted character spans are mapped to the
gold tokens. Scored over PER/ORG/LOC:
- typed: a prediction counts when its token span and label equal a gold entity's;
- untyped: when its token span equals a gold entity's, whatever the labels (``NAME`` included).
Gold MISC entities are not scored, and a prediction that exactly covers a gold MISC span is
neither right nor wrong (the README of the data: not every source annotates MISC). Also prints
which recogniser ran and sentences/s. Run by hand, not in tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transforms.entities import EntityRecognizer  # noqa: E402

LANGS = ("en", "de", "fr", "es", "it", "pt", "ru", "zh", "ja", "ar")
SCORED = ("PER", "ORG", "LOC")


def default_eval() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "eval"
        if candidate.is_dir():
            return candidate
    return here.parents[2] / "shared" / "eval"


def gold_spans(tags: list[str]) -> set[tuple[int, int, str]]:
    spans, start, label = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        if tag.startswith("I-") and label == tag[2:]:
            continue
        if start is not None:
            spans.add((start, i, label))
            start, label = None, None
        if tag.startswith("B-") or tag.startswith("I-"):
            start, label = i, tag[2:]
    return spans


def token_offsets(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    offsets, pos = [], 0
    for token in tokens:
        found = text.find(token, pos)
        if found < 0:
            offsets.append((pos, pos))
            continue
        offsets.append((found, found + len(token)))
        pos = found + len(token)
    return offsets


def to_tokens(span: tuple[int, int], offsets: list[tuple[int, int]]) -> tuple[int, int] | None:
    start, end = span
    inside = [i for i, (s, e) in enumerate(offsets) if e > start and s < end and e > s]
    return (inside[0], inside[-1] + 1) if inside else None


def sentence_text(row: dict) -> str:
    """The sentence as written where the source gives it and its tokens are all in it, else
    the tokens joined (OCR sources rebuilt their text imperfectly)."""
    text = row.get("text")
    if text:
        pos = 0
        for token in row["tokens"]:
            pos = text.find(token, pos)
            if pos < 0:
                break
            pos += len(token)
        else:
            return text
    joiner = "" if row["id"].startswith("stockmark") else " "
    return joiner.join(row["tokens"])


def score(lang: str, rows: list[dict], recognizer: EntityRecognizer):
    counts = {"typed": [0, 0, 0], "untyped": [0, 0, 0]}  # tp, predicted, gold
    start = time.perf_counter()
    for row in rows:
        text = sentence_text(row)
        offsets = token_offsets(text, row["tokens"])
        gold = gold_spans(row["tags"])
        misc = {(s, e) for s, e, label in gold if label == "MISC"}
        gold = {g for g in gold if g[2] in SCORED}
        predicted = set()
        for s, e, label in recognizer.spans(text, lang):
            tokens = to_tokens((s, e), offsets)
            if tokens and tokens not in misc:
                predicted.add((*tokens, label))
        typed_pred = {p for p in predicted if p[2] in SCORED}
        untyped_pred = {p[:2] for p in predicted}
        untyped_gold = {g[:2] for g in gold}
        for name, pred, gold_set in (("typed", typed_pred, gold),
                                     ("untyped", untyped_pred, untyped_gold)):
            counts[name][0] += len(pred & gold_set)
            counts[name][1] += len(pred)
            counts[name][2] += len(gold_set)
    seconds = time.perf_counter() - start
    result = {}
    for name, (tp, npred, ngold) in counts.items():
        p = tp / npred if npred else 0.0
        r = tp / ngold if ngold else 0.0
        result[name] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
    return result, len(rows) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(default_eval()))
    parser.add_argument("--limit", type=int, default=None, help="sentences per language")
    parser.add_argument("--langs", default=",".join(LANGS))
    args = parser.parse_args()
    recognizer = EntityRecognizer()
    print(f"{'lang':4s} {'via':8s} {'typed P':>7s} {'R':>6s} {'F1':>6s}   {'untyped P':>9s} "
          f"{'R':>6s} {'F1':>6s} {'sent/s':>7s}")
    for lang in args.langs.split(","):
        path = Path(args.eval) / "ner" / f"{lang}.jsonl"
        rows = [json.loads(line) for line in path.open(encoding="utf-8")][:args.limit]
        result, speed = score(lang, rows, recognizer)
        (tp, tr, tf), (up, ur, uf) = result["typed"], result["untyped"]
        print(f"{lang:4s} {recognizer.coverage(lang):8s} {tp:7.3f} {tr:6.3f} {tf:6.3f}   "
              f"{up:9.3f} {ur:6.3f} {uf:6.3f} {speed:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
