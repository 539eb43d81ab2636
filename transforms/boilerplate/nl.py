"""Dutch boilerplate phrases.

No Dutch page is in ``../shared/eval``: these are the labels of the Dutch WordPress locale
(nl_NL: "Geef een reactie", "Je e-mailadres wordt niet gepubliceerd", "Vereiste velden zijn
gemarkeerd met") and the ad, newsletter and "read also" labels of Dutch news sites (nos.nl,
nu.nl, volkskrant.nl). The test uses the French WordPress sample page translated line for line
by these labels (see ``tests/fixtures/boilerplate/PROVENANCE.md``).
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="nl",
    ads=("advertentie", "reclame", "gesponsord", "gesponsorde inhoud",
         "lees verder na de advertentie"),
    share=("delen", "deel dit artikel", "deel dit", "delen via…", "printen", "afdrukken",
           "link kopiëren", "vind ik leuk", "laden", "volg ons", "volg ons op…"),
    comments=("geef een reactie", "laat een reactie achter", "reactie annuleren",
              "je e-mailadres wordt niet gepubliceerd…",
              "uw e-mailadres wordt niet gepubliceerd…",
              "vereiste velden zijn gemarkeerd met…",
              "mijn naam, e-mail en site opslaan…", "reacties", "reactie", "naam",
              "reactie plaatsen", "reageer"),
    newsletter=("schrijf je in voor onze nieuwsbrief…", "meld je aan voor de nieuwsbrief…",
                "abonneer je op onze nieuwsbrief…", "nieuwsbrief", "aanmelden"),
    related=("lees ook", "lees meer", "meer over dit onderwerp", "gerelateerde artikelen",
             "meest gelezen", "ook interessant", "bekijk ook", "tags", "onderwerpen"),
    cookies=("deze website maakt gebruik van cookies…", "wij gebruiken cookies…",
             "cookies accepteren", "cookiebeleid"),
    paywall=("dit artikel is alleen voor abonnees…", "lees verder met…",
             "al abonnee?…", "word abonnee…", "alleen voor abonnees"),
    credits=("foto:…", "bron:…", "©…", "alle rechten voorbehouden…"),
    lead_ins=("lees ook", "lees meer", "bekijk ook", "ook interessant", "kijk", "lees"),
    comment_headings=("reacties", "reactie", "geef een reactie"),
)
