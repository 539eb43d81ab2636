"""Polish boilerplate phrases.

Seen on: the Polish pages of trafilatura's evaluation set (dorzeczy.pl "Czytaj też:",
energetyka24.com "Zobacz także", "Reklama"; forsal.pl "Ten tekst przeczytasz w mniej niż minutę";
klubjagiellonski.pl cookies; spidersweb.pl "Udostępnij"; sportowefakty.wp.pl "Zobacz również";
wiadomosci.dziennik.pl, gazeta.pl "REKLAMA"; polityka.pl; portalspozywczy.pl; rp.pl; wpolityce.pl).
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="pl",
    ads=("reklama", "artykuł sponsorowany", "materiał sponsorowany", "materiał partnera",
         "treść sponsorowana"),
    share=("udostępnij", "udostępnij na…", "drukuj", "kopiuj link", "lubię to", "ładowanie",
           "obserwuj nas", "obserwuj nas na…", "otwórz galerię…"),
    comments=("dodaj komentarz", "zostaw komentarz", "anuluj pisanie odpowiedzi",
              "twój adres e-mail nie zostanie opublikowany…",
              "wymagane pola są oznaczone…", "komentarze", "komentarz", "nick", "twój email",
              ),
    newsletter=("zapisz się do newslettera…", "zapisz się na newsletter…", "newsletter",
                ),
    related=("czytaj też", "czytaj także", "czytaj więcej", "zobacz także", "zobacz również",
             "zobacz też", "polecamy", "polecane", "najnowsze", "najczęściej czytane",
             "inne artykuły autora", "więcej informacji", "tagi", "polecane przepisy",
             "dowiedz się więcej", "ten tekst przeczytasz w mniej niż minutę",
             "ten tekst przeczytasz w…"),
    cookies=("korzystamy z cookies…", "używamy informacji zapisanych…",
             "ta strona korzysta z plików cookie…", "polityka prywatności",
             "akceptuję"),
    paywall=("ten artykuł jest dostępny tylko dla subskrybentów…",
             "treść dostępna tylko dla prenumeratorów…", "wykup subskrypcję…",
             "masz już subskrypcję?…", ),
    credits=("źródło:…", "fot.…", "foto:…", "©…", "materiał chroniony prawem autorskim…",
             "licencja na publikację…", "publikacja:…"),
    lead_ins=("czytaj też", "czytaj także", "czytaj więcej", "zobacz także", "zobacz też",
              "zobacz również", "zobacz wideo", "dowiedz się więcej", "polecamy", "zobacz"),
    comment_headings=("komentarze", "komentarz", "dodaj komentarz"),
)
