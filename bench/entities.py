"""Entity quality: span-level precision/recall/F1 per language on ``../shared/eval/ner/``.

    python bench/entities.py [--eval ../shared/eval] [--limit N] [--langs en,de] [--by-source]

Each sentence goes through ``EntityRecognizer`` (the model where one is installed for the
language, else the language-independent fallback); predicted character spans are mapped to the
gold tokens. Scored over PER/ORG/LOC:
- typed: a prediction counts when its token span and label equal a gold entity's;
- untyped: when its token span equals a gold entity's, whatever the labels (``NAME`` included).
Gold MISC entities are not scored. On a source that annotates MISC (``manifest.json``
``sources.<name>.labels``), a prediction that exactly covers a gold MISC span is neither right
nor wrong; on a source without MISC, MISC predictions are ignored (the data's README).

The rows are split in two halves by a hash of their document (``doc``, else ``id``), so that
no rule is judged only on the sentences it was written from: ``A`` is where errors were looked
at, ``B`` was held out. Both are printed, with the whole set. Also prints which recogniser ran
and sentences/s. Run by hand, not in tests.

The sentence given to the recogniser is the source's ``text`` where all its tokens are found
in it in order, with a space put back between two tokens that touch letter to letter (NewsEye's
text, rebuilt from ``NoSpaceAfter``, lost the spaces at line ends: ``suspectcomme``), else the
tokens detokenised (no space before closing punctuation), or joined without spaces in Japanese,
whose tokens are characters.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transforms.entities import EntityRecognizer  # noqa: E402

LANGS = ("en", "de", "fr", "es", "it", "pt", "ru", "zh", "ja", "ar")
SCORED = ("PER", "ORG", "LOC")
#: Scripts written without spaces between words: no space is put back between tokens.
UNSPACED = ("ja", "zh")
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%»”")
_NO_SPACE_AFTER = frozenset("([{«“¿¡")


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


def detokenise(tokens: list[str]) -> str:
    out: list[str] = []
    for i, token in enumerate(tokens):
        if i and not (token in _NO_SPACE_BEFORE or tokens[i - 1] in _NO_SPACE_AFTER):
            out.append(" ")
        out.append(token)
    return "".join(out)


def sentence_text(row: dict, lang: str) -> str:
    """The sentence given to the recogniser (module docstring)."""
    tokens = row["tokens"]
    text = row.get("text")
    if text:
        pieces, pos = [], 0
        for i, token in enumerate(tokens):
            found = text.find(token, pos)
            if found < 0:
                break
            gap = text[pos:found]
            if (i and not gap and lang not in UNSPACED and tokens[i - 1][-1:].isalnum()
                    and token[:1].isalnum()):
                gap = " "
            pieces.append(gap + token)
            pos = found + len(token)
        else:
            return "".join(pieces) + text[pos:]
    if lang == "ja":
        return "".join(tokens)
    return detokenise(tokens) if lang not in UNSPACED else "".join(tokens)


def half(row: dict) -> str:
    """``A`` or ``B``, by a hash of the row's document (all its sentences in one half)."""
    key = row.get("doc") or row["id"]
    return "AB"[zlib.crc32(f"{row['source']}|{key}".encode()) % 2]


def source_labels(eval_dir: Path) -> dict[str, set[str]]:
    manifest = json.loads((eval_dir / "ner" / "manifest.json").read_text(encoding="utf-8"))
    return {name: set(info["labels"]) for name, info in manifest["sources"].items()}


def score(lang: str, rows: list[dict], recognizer: EntityRecognizer,
          labels: dict[str, set[str]]):
    """Counts ``[tp, predicted, gold]`` per (kind, source, half); and sentences/s."""
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    texts = [sentence_text(row, lang) for row in rows]
    start = time.perf_counter()
    all_spans = recognizer.spans_many(texts, lang)
    seconds = time.perf_counter() - start
    for row, text, spans in zip(rows, texts, all_spans, strict=True):
        offsets = token_offsets(text, row["tokens"])
        gold = gold_spans(row["tags"])
        has_misc = "MISC" in labels.get(row["source"], {"MISC"})
        misc = {(s, e) for s, e, label in gold if label == "MISC"}
        gold = {g for g in gold if g[2] in SCORED}
        predicted = set()
        for s, e, label in spans:
            if label == "MISC" and not has_misc:
                continue
            tokens = to_tokens((s, e), offsets)
            if tokens and tokens not in misc:
                predicted.add((*tokens, label))
        typed_pred = {p for p in predicted if p[2] in SCORED}
        untyped_pred = {p[:2] for p in predicted}
        untyped_gold = {g[:2] for g in gold}
        for kind, pred, gold_set in (("typed", typed_pred, gold),
                                     ("untyped", untyped_pred, untyped_gold)):
            for key in ((kind, row["source"], half(row)), (kind, "*", half(row)),
                        (kind, row["source"], "*"), (kind, "*", "*")):
                c = counts[key]
                c[0] += len(pred & gold_set)
                c[1] += len(pred)
                c[2] += len(gold_set)
    return counts, len(rows) / max(seconds, 1e-9)


def f1(tp: int, npred: int, ngold: int) -> tuple[float, float, float]:
    p = tp / npred if npred else 0.0
    r = tp / ngold if ngold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", default=str(default_eval()))
    parser.add_argument("--limit", type=int, default=None, help="sentences per language")
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument("--by-source", action="store_true", help="also one line per source")
    args = parser.parse_args()
    eval_dir = Path(args.eval)
    labels = source_labels(eval_dir)
    recognizer = EntityRecognizer()
    print(f"{'lang':4s} {'source':16s} {'via':8s} {'typed P':>7s} {'R':>6s} {'F1':>6s} "
          f"{'A':>6s} {'B':>6s}   {'untyped P':>9s} {'R':>6s} {'F1':>6s} {'A':>6s} {'B':>6s} "
          f"{'sent/s':>7s}")
    for lang in args.langs.split(","):
        path = eval_dir / "ner" / f"{lang}.jsonl"
        rows = [json.loads(line) for line in path.open(encoding="utf-8")][:args.limit]
        counts, speed = score(lang, rows, recognizer, labels)
        sources = ["*"] + (sorted({row["source"] for row in rows}) if args.by_source else [])
        for source in sources:
            cells = []
            for kind in ("typed", "untyped"):
                p, r, f = f1(*counts[(kind, source, "*")])
                fa = f1(*counts[(kind, source, "A")])[2]
                fb = f1(*counts[(kind, source, "B")])[2]
                cells.append(f"{p:7.3f} {r:6.3f} {f:6.3f} {fa:6.3f} {fb:6.3f}")
            name = "all" if source == "*" else source
            print(f"{lang:4s} {name:16s} {recognizer.coverage(lang):8s} {cells[0]}   "
                  f"  {cells[1]} {speed if source == '*' else 0:7.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
