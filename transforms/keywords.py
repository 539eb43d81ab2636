"""Key phrases of an article in any language: a small RAKE-style scorer, stopwords from
``stopwordsiso`` (MIT; YAKE, the usual choice, is AGPL-3.0).

Chinese text goes through jieba's TF-IDF keyword extractor (``jieba.analyse``, MIT: its own
word segmentation and IDF table; Traditional text through OpenCC's character table, the
phrases given back in the text's own characters).

Elsewhere the rule, so a reader can predict the output: candidates are runs of up to three
content words between stopwords and punctuation (in Japanese and Korean text, which has no
spaces: katakana words, and runs of 2-4 ideographs between kana and punctuation, longer runs cut
in 2-3 character windows). A word
scores its frequency, a phrase the sum of its words' scores, times 1.5 when it also occurs in
the title. A phrase seen once in a text of over 150 words is dropped (chance), and so is one
contained in a better-scoring phrase.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

#: How many key phrases an article keeps.
MAX_KEYWORDS = 10
MAX_PHRASE_WORDS = 3

_TOKEN = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?", re.UNICODE)
_CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\u30a0-\u30ff\uac00-\ud7af"
_KANJI_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{2,}")
_KATAKANA_WORD = re.compile(r"[\u30a0-\u30ff]{2,}")
_IS_CJK = re.compile(rf"[{_CJK_CHAR}\u3040-\u309f]")
_SPLIT = re.compile(r"[.,;:!?()\[\]{}\"“”«»„‚‹›—–/|…。、，；：！？「」『』（）《》\n]")


_KANA = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")  # kana or hangul: not Chinese


def _chinese_keywords(text: str, limit: int) -> list[str] | None:
    """jieba's TF-IDF key words (None when jieba is not installed)."""
    from transforms.entities import chinese_tagger

    tagger = chinese_tagger()
    if tagger is None:
        return None
    import jieba.analyse

    _, converter = tagger
    simplified = converter.convert(text)
    if len(simplified) != len(text):
        simplified = text
    out: list[str] = []
    for word in jieba.analyse.extract_tags(simplified, topK=limit * 3):
        if len(word) < 2 or word.isdigit():
            continue
        at = simplified.find(word)
        original = text[at:at + len(word)] if at >= 0 else word
        if original.casefold() not in out:
            out.append(original.casefold())
        if len(out) == limit:
            break
    return out


@lru_cache(maxsize=64)
def stopwords(lang: str | None) -> frozenset[str]:
    import stopwordsiso

    langs = [lang] if lang and stopwordsiso.has_lang(lang) else []
    words = set(stopwordsiso.stopwords(["en", *langs]))  # English words run through any text
    return frozenset(w.casefold() for w in words)


def _cjk_candidates(text: str) -> list[str]:
    """Katakana words whole (loanwords and names: ヴァンパイア), ideograph runs of 2-4 whole,
    longer ideograph runs as overlapping 2-3 character windows."""
    out = [w for run in _KATAKANA_WORD.findall(text) for w in run.strip("・ー").split("・")
           if len(w) >= 2]
    for run in _KANJI_RUN.findall(text):
        if len(run) <= 4:
            out.append(run)
        else:
            out.extend(run[i:i + n] for n in (2, 3) for i in range(len(run) - n + 1))
    return out


def _word_candidates(text: str, stop: frozenset[str]) -> list[tuple[str, ...]]:
    phrases: list[tuple[str, ...]] = []
    for chunk in _SPLIT.split(text):
        run: list[str] = []
        for token in _TOKEN.findall(chunk):
            word = token.casefold()
            if word in stop or len(word) < 2:
                if run:
                    phrases.append(tuple(run))
                run = []
                continue
            run.append(word)
            if len(run) == MAX_PHRASE_WORDS:
                phrases.append(tuple(run))
                run = []
        if run:
            phrases.append(tuple(run))
    return phrases


def keywords(text: str, title: str | None = None, lang: str | None = None,
             limit: int = MAX_KEYWORDS) -> list[str]:
    """Up to ``limit`` key phrases, best first, lower-cased."""
    text = text or ""
    title_folded = (title or "").casefold()
    body = f"{title or ''}\n{text}"
    if len(_IS_CJK.findall(body[:2000])) > 0.3 * max(1, len(body[:2000].replace(" ", ""))):
        if (lang or "").startswith("zh") or not _KANA.search(body[:2000]):
            found = _chinese_keywords(body, limit)
            if found is not None:
                return found
        counts = Counter(_cjk_candidates(body))
        scored = {c: n * len(c) * (1.5 if c in title_folded else 1.0) for c, n in counts.items()
                  if n >= 2 or len(body) < 300}
    else:
        phrases = _word_candidates(body, stopwords(lang))
        freq = Counter(w for p in phrases for w in p)
        counts = Counter(phrases)
        many = sum(freq.values()) > 150
        scored = {}
        for phrase, n in counts.items():
            if many and n < 2 and not (len(phrase) > 1 and all(freq[w] >= 2 for w in phrase)):
                continue
            score = sum(freq[w] for w in phrase)
            joined = " ".join(phrase)
            scored[joined] = score * (1.5 if joined in title_folded else 1.0)
    best: list[str] = []
    for phrase in sorted(scored, key=lambda p: (-scored[p], p)):
        if any(phrase in kept for kept in best):
            continue
        best.append(phrase)
        if len(best) == limit:
            break
    return best
