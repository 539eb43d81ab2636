"""Italian boilerplate phrases.

Seen on: the Italian pages of trafilatura's evaluation set (lastampa.it "Argomenti", "Ultima
modifica"; parcoabruzzo.it; vegolosi.it) and the ScrapingHub pages of remember8090.it, plus
common WordPress Italian locales.
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="it",
    ads=("pubblicità", "pubblicita", "annuncio", "contenuto sponsorizzato", "sponsorizzato",
         "continua a leggere dopo la pubblicità", "articolo sponsorizzato"),
    share=("condividi", "condividi su…", "condividi questo articolo", "stampa",
           "copia link", "mi piace", "caricamento", "seguici", "seguici su…"),
    comments=("lascia un commento", "lascia una risposta", "annulla risposta",
              "il tuo indirizzo email non sarà pubblicato…",
              "i campi obbligatori sono contrassegnati…",
              "salva il mio nome, email e sito web…", "commenti", "commento", "nome",
              "invia commento", "pubblica commento"),
    newsletter=("iscriviti alla newsletter…", "iscriviti alla nostra newsletter…",
                "ricevi la nostra newsletter…", "newsletter", "iscriviti"),
    related=("articoli correlati", "potrebbe interessarti anche", "ti potrebbe interessare",
             "leggi anche", "leggi di più", "continua a leggere", "i più letti", "più letti",
             "argomenti", "tag", "ultima modifica…", "altre notizie", "potrebbe interessarti"),
    cookies=("questo sito utilizza cookie…", "utilizziamo i cookie…", "accetta i cookie",
             "informativa sui cookie"),
    paywall=("contenuto riservato agli abbonati…", "per continuare a leggere…",
             "abbonati per continuare a leggere…", "sei già abbonato?…", "articolo riservato…"),
    credits=("foto:…", "fonte:…", "©…", "tutti i diritti riservati…",
             "tel.…", "riproduzione riservata…"),
    lead_ins=("leggi anche", "leggi", "guarda anche", "guarda", "vedi anche", "approfondisci",
              "potrebbe interessarti", "ti potrebbe interessare", "correlato"),
    comment_headings=("commenti", "commento", "lascia un commento"),
)
