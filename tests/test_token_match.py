"""The factored French token_match matches exactly the tokens spaCy's own string does."""

import random
import re
import re._constants as sre
import re._parser as sre_parse

import pytest
import srsly

from transforms import token_match
from transforms.entities import EntityRecognizer

spacy = pytest.importorskip("spacy")
FR = token_match._tokenizer_file("fr_core_news_md")
pytestmark = pytest.mark.skipif(FR is None, reason="fr_core_news_md is not installed")


def _sample(items, rng: random.Random) -> str:
    """A random string the parsed pattern ``items`` matches (letters for its classes)."""
    out = []
    for op, arg in items:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.IN:
            chars = []
            for kind, value in arg:
                if kind is sre.LITERAL:
                    chars.append(chr(value))
                elif kind is sre.RANGE:
                    low, high = value
                    chars.extend(chr(c) for c in range(low, min(high, low + 30) + 1))
            out.append(rng.choice(chars))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, sub = arg
            out.extend(_sample(sub, rng) for _ in range(rng.randint(low, min(high, low + 3))))
        elif op is sre.SUBPATTERN:
            out.append(_sample(arg[-1], rng))
        elif op is sre.BRANCH:
            out.append(_sample(rng.choice(arg[1]), rng))
    return "".join(out)


def _near_misses(word: str, rng: random.Random) -> list[str]:
    at = rng.randrange(len(word))
    return [word, word.upper(), word.title(), word[:at] + word[at + 1:], word[:at] + "-" +
            word[at:], word[:at] + rng.choice("xé'’ -2") + word[at + 1:], word + "s", word + "\n"]


@pytest.fixture(scope="module")
def patterns():
    """spaCy's string, its factored form and spaCy's string compiled as it is (``re.U``, which
    ``(?iu)`` sets anyway, keys it apart from the seeded cache entry)."""
    original = srsly.read_msgpack(FR)["token_match"]
    return original, token_match.factored(original), re.compile(original, re.U).match


def test_the_factored_form_is_a_tenth_of_the_size(patterns):
    original, merged, _ = patterns
    assert merged is not None and len(merged) < len(original) / 10


def test_the_same_strings_match(patterns):
    original, merged, slow = patterns
    rng = random.Random(7)
    words = []
    for alternative in token_match._alternatives(original):
        parsed = list(sre_parse.parse(alternative, re.I | re.U))
        for _ in range(3):
            words.extend(_near_misses(_sample(parsed, rng), rng))
    words += ["aujourd'hui", "peut-être", "saut-de-ski", "pet-en-l'air", "entr'abat", "Paris",
              "porte-parole", "c'est-à-dire", "week-end", "l'AFP", "ex-président", ""]
    fast = re.compile(merged).match
    differ = [w for w in words if bool(slow(w)) != bool(fast(w))]
    assert differ == []
    assert sum(bool(slow(w)) for w in words) > len(words) / 4  # the sample hits and misses


@pytest.mark.parametrize("pattern", [
    "^a|b$",  # a bar outside any group
    "(?iu)(?:^a$)|(?:^b$",  # unbalanced
    "(?iu)(?:^a)(?:b$)",  # two groups, not one alternative
    "(?iu)(?:a$)|(?:^b$)",  # not anchored
    "(?iu)(?:^a|b$)",  # "^a" or "b$": no common prefix to merge
])
def test_other_shapes_are_left_alone(pattern):
    assert token_match.factored(pattern) is None


def test_the_merged_tail_keeps_its_prefixes():
    tail = "[" + "a-z" * 100 + "]+"
    merged = token_match.factored(f"(?iu)(?:^ab-{tail}$)|(?:^c[dé]-{tail}$)|(?:^x$)")
    assert merged == f"(?iu)(?:^(?:ab-|c[dé]-){tail}$)|(?:^x$)"


def test_the_loaded_french_tokenizer_uses_the_factored_form(patterns):
    from spacy.tokenizer import Tokenizer

    _, merged, slow = patterns
    nlp = EntityRecognizer().model("fr")
    assert nlp.tokenizer.token_match.__self__.pattern == merged
    tokenizer = nlp.tokenizer
    as_spacy = Tokenizer(nlp.vocab, rules=tokenizer.rules, prefix_search=tokenizer.prefix_search,
                         suffix_search=tokenizer.suffix_search,
                         infix_finditer=tokenizer.infix_finditer, token_match=slow,
                         url_match=tokenizer.url_match)
    text = ("Aujourd'hui, le porte-parole de l'Élysée, arrivé en après-midi au Grand-Palais, "
            "a parlé d'un week-end d'entr'aide à Saint-Étienne-du-Rouvray et d'un vice-président "
            "franco-allemand: « C'est-à-dire qu'on l'a vu là-bas ».")
    tokens = [t.text for t in nlp.make_doc(text)]
    assert tokens == [t.text for t in as_spacy(text)]
    assert "porte-parole" in tokens and "Saint-Étienne-du-Rouvray" in tokens
