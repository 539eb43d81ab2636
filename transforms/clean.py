"""Text normalisation and removal of boilerplate residue that survives extraction.

Extractors keep whatever a theme puts inside the content block: share bars ("Partager :
Facebook Twitter"), "ADVERTISEMENT" labels, comment-form lines, and newsletter embeds that a
plugin printed as escaped markup. These are removed line by line with patterns that only match
whole boilerplate lines (never a sentence of the story), and a trailing comment section is cut
at its heading. The patterns live in one registry below, in the languages newsflow sees most.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms.enrich import word_count
from transforms.rejects import REJECTS, guarded, reject

_SOCIAL = (
    r"facebook|twitter|x|whatsapp|telegram|linkedin|pinterest|reddit|email|e-mail|mail|"
    r"print|imprimer|drucken|imprimir|messenger|tumblr|pocket|flipboard|threads|bluesky|"
    r"copy link|copier le lien|link kopieren|copiar enlace|more|plus|mehr|más"
)
_SHARE = r"share|shares|partager|partagez|teilen|compartir|condividi|compartilhe|tweet|like this"

#: Whole-line boilerplate, matched case-insensitively after trimming punctuation/whitespace.
BOILERPLATE_LINES = [
    # advertising labels
    r"(advertisement|advertising|sponsored|publicité|publicite|anzeige|werbung|publicidad|"
    r"pubblicità|reclame|advertentie|реклама|scroll to continue with content|"
    r"story continues below advertisement|article continues below)",
    # share bars: "Share this:", "Partager : Facebook Twitter", "Click to share on Twitter"
    rf"({_SHARE})(\s+(this|ceci|cet article|this article|on|sur|auf|en))?(\s*:)?"
    rf"(\s+({_SOCIAL}))*",
    r"(click to share on|cliquez pour partager sur|klicken, um auf)\s+.*",
    rf"(({_SOCIAL})[\s,|/·•]*){{2,}}",
    r"(j['’]aime ceci|j['’]aime ça|j['’]aime|like this|gefällt mir|me gusta)(\s*:)?"
    r"(\s*(j['’]aime|like|chargement|loading|wird geladen|cargando)\W*)*",
    r"(like loading|j['’]aime chargement|loading|chargement|wird geladen|cargando)",
    # comment forms and policies
    r"(leave a reply|leave a comment|laisser un commentaire|laisser une réponse|"
    r"hinterlasse einen kommentar|schreibe einen kommentar|deja una respuesta|deja un comentario|"
    r"lascia un commento|post a comment|add a comment|ajouter un commentaire)"
    r"(\s+annuler la réponse|\s+cancel reply)?",
    r"(your email address will not be published|votre adresse (e-mail|de messagerie|email) ne "
    r"sera pas publiée|deine e-mail-adresse wird nicht veröffentlicht|tu dirección de correo "
    r"electrónico no será publicada|il tuo indirizzo email non sarà pubblicato).*",
    r"(required fields are marked|les champs obligatoires sont indiqués avec).*",
    r"(save my name, email, and website|enregistrer mon nom, mon e-mail et mon site|"
    r"meinen namen, meine e-mail-adresse und meine website).*",
    r"(comment policy|comments policy|politique de modération|charte de modération|"
    r"kommentarrichtlinien|our community guidelines|comments are moderated|les commentaires sont "
    r"modérés).*",
    r"(name|nom|email|e-mail|website|site web|comment|commentaire|kommentar)\s*\*?",
    r"(post comment|laisser un commentaire|publier le commentaire|kommentar abschicken)",
    r"(this site uses akismet to reduce spam|ce site utilise akismet pour réduire les "
    r"indésirables).*",
    # newsletter prompts
    r"(subscribe to (our|the) newsletter|sign up (for|to) (our|the) newsletter|"
    r"inscrivez-vous à (notre|la) newsletter|abonnez-vous à (notre|la) newsletter|"
    r"newsletter abonnieren|suscríbete a (nuestro|la) newsletter|recevez notre newsletter).*",
    # related-content labels
    r"(related|related posts|related articles|articles similaires|sur le même sujet|"
    r"à lire aussi|lire aussi|verwandte artikel|artículos relacionados|you may also like|"
    r"read more|weiterlesen|lire la suite|leer más)\s*:?",
]

#: A line at or after which everything is a comment section, when it appears in the last part.
COMMENT_SECTION = re.compile(
    r"^\s*(\d+\s+)?(comments?|responses?|replies|commentaires?|réponses?|kommentare?|"
    r"comentarios?|leave a reply|laisser un commentaire|laisser une réponse|"
    r"hinterlasse einen kommentar|deja una respuesta)\s*:?\s*$",
    re.I,
)

#: Fewer words than this in an extracted page means a menu, stub or error page, not an article.
#: (Records given as JSONL are trusted: short texts there are what the user sent.)
MIN_PAGE_WORDS = 10

_BOILERPLATE = re.compile(r"^(?:" + "|".join(BOILERPLATE_LINES) + r")$", re.I)
_TRIM = " \t\u00a0-–—:|•·*#>[](){}.!…"
_MARKUP = re.compile(r"(<|&lt;)/?\s*(div|span|iframe|script|form|input|p|a|img|button|style|"
                     r"section|label)\b[^>]*?(>|&gt;)", re.I)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def is_boilerplate(line: str) -> bool:
    """True for a line that is entirely boilerplate (label, share bar, form field, markup)."""
    core = line.strip(_TRIM)
    if not core:
        return True
    if _MARKUP.search(line) and len(_MARKUP.sub("", line).strip()) < 0.5 * len(line):
        return True  # an embed printed as (escaped) markup
    if len(core) > 200:
        return False
    return bool(_BOILERPLATE.match(core))


def normalize_text(text: str) -> str:
    """NFC, one space between words, no zero-width characters, no empty lines."""
    text = unicodedata.normalize("NFC", text or "")
    text = _ZERO_WIDTH.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def clean_text(text: str) -> str:
    """Normalised text without boilerplate lines and without a trailing comment section."""
    lines = normalize_text(text).split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if index >= max(3, len(lines) // 2) and COMMENT_SECTION.match(line):
            break
        if not is_boilerplate(line):
            kept.append(line)
    return "\n".join(kept)


def clean_article(record: dict[str, Any]) -> dict[str, Any]:
    """Clean text, title and summary of an article record in place and return it."""
    record["text"] = clean_text(record.get("text") or "")
    for key in ("title", "summary"):
        if record.get(key):
            record[key] = normalize_text(record[key]).replace("\n", " ") or None
    return record


# ---------------------------------------------------------------------------------------------
# Beam wiring


class CleanArticles(beam.DoFn):
    """Articles -> cleaned articles; pages left with too little text -> rejects."""

    REJECTS = REJECTS

    @guarded("clean")
    def process(self, record: dict) -> Iterator:
        record = clean_article(record)
        words = word_count(record["text"])
        if words and (words >= MIN_PAGE_WORDS or record.get("source_kind") == "jsonl"):
            yield record
        elif words:
            yield reject(record, "clean", "too_short",
                         f"{words} words of text: a menu or stub page, not an article "
                         f"(pages need {MIN_PAGE_WORDS})")
        else:
            yield reject(record, "clean", "empty_after_cleaning",
                         "only boilerplate was left after removing share bars, forms and labels")
