"""Rebuilds the bundled offline sample in ``pipelines/sample/`` (run by hand, from the repo root).

    python examples/make_sample.py [--eval ../shared/eval]

Real pages come from ``../shared/eval`` (trafilatura's evaluation set, Apache-2.0, and
ScrapingHub's article-extraction benchmark, MIT) and real professional translations from the
WMT21/22 test sets; the TikTok story and its translations are written for this project (see
``examples/sample_src/``) and wrapped in site templates, the French one in a WordPress theme
with the boilerplate a real republisher adds. Feeds list the pages with ``{{BASE}}`` in place of
the server address, which the demo server fills in.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "examples" / "sample_src"
OUT = ROOT / "pipelines" / "sample"

REAL_PAGES = {  # file in the eval set -> (language, path on the demo server)
    "trafilatura_eval/html/tdg.ch.chlorothalonil.html.gz": ("fr", "/tdg/berne-interdit-chlorothalonil.html"),
    "trafilatura_eval/html/eldeber.com.bo-autos.html.gz": ("es", "/eldeber/autos-robados.html"),
    "trafilatura_eval/html/cooperativa.cl-presidente.html.gz": ("es", "/cooperativa/presidente-boric.html"),
    "trafilatura_eval/html/spox.com-corona-fealle.html.gz": ("de", "/spox/olympia-corona-faelle.html"),
    "trafilatura_eval/html/der-farang.com-Grab-Bote.html.gz": ("de", "/farang/grab-bote.html"),
    "trafilatura_eval/html/lastampa.it.temperature.html.gz": ("it", "/lastampa/temperature-in-calo.html"),
    "trafilatura_eval/html/brasil247.com-militares.html.gz": ("pt", "/brasil247/militares-tse.html"),
    "scrapinghub_aeb/html/c7e39ac49fa1235f5d50f83bf2444248bd3aa4e6df044377916c812dd109ba23.html.gz": ("en", "/bbc/world-europe-50473792.html"),
    "scrapinghub_aeb/html/42aad16bde9288623543642a9ce1a396be83e2db44aa2ff8cbbfe46e14abd7cc.html.gz": ("en", "/aljazeera/nasa-commercial-moon-shot.html"),
    "scrapinghub_aeb/html/57d46c9d751e3fd3ffaf3ede7ac20cebd30eacb5ea78e1a6aa0a72059244e7ca.html.gz": ("en", "/reuters/asian-shares-soft.html"),
}

NEWS_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} | {site}</title>
<link rel="canonical" href="{{{{BASE}}}}{path}">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{date}">
<meta name="author" content="{author}"></head>
<body><header><nav><a href="/">{site}</a> <a href="/world">World</a> <a href="/tech">Tech</a></nav></header>
<main><article><h1>{title}</h1><p class="standfirst">{standfirst}</p>
<p class="byline">{author}, {date}</p>
{paragraphs}
</article></main>
<footer><p>© {site}. All rights reserved.</p><a href="/privacy">Privacy</a></footer></body></html>
"""

WORDPRESS_TEMPLATE = """<!DOCTYPE html>
<html lang="fr-FR"><head><meta charset="UTF-8"><title>{title} – {site}</title>
<link rel="canonical" href="{{{{BASE}}}}{path}">
<meta property="article:published_time" content="{date}">
<meta name="author" content="{author}"></head>
<body class="post-template-default single single-post">
<div id="page" class="site"><header id="masthead" class="site-header"><p class="site-title"><a href="/">{site}</a></p>
<nav class="main-navigation"><ul><li><a href="/">Accueil</a></li><li><a href="/tech">Tech</a></li></ul></nav></header>
<div id="content" class="site-content"><main id="main" class="site-main">
<article class="post type-post status-publish format-standard hentry">
<header class="entry-header"><h1 class="entry-title">{title}</h1>
<div class="entry-meta"><span class="posted-on">Publié le <time class="entry-date published" datetime="{date}">16 septembre 2023</time></span> <span class="byline">par {author}</span></div></header>
<div class="entry-content">
<p><em>{standfirst}</em></p>
{paragraphs}
<p>Partager :</p>
<p>Facebook Twitter WhatsApp LinkedIn E-mail</p>
<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block sd-social"><h3 class="sd-title">Partager :</h3>
<ul><li><a class="share-facebook" href="#">Facebook</a></li><li><a class="share-twitter" href="#">Twitter</a></li></ul></div></div>
<p>&lt;div class="newsletter-embed"&gt;&lt;iframe src="https://newsletter.example/embed?list=actu" width="480" height="320" frameborder="0"&gt;&lt;/iframe&gt;&lt;/div&gt;</p>
<p>J'aime ça :</p><p>J'aime chargement…</p>
<h3>Laisser un commentaire</h3>
<p>Votre adresse e-mail ne sera pas publiée. Les champs obligatoires sont indiqués avec *</p>
<p>Politique de modération : les commentaires injurieux ou hors sujet seront supprimés.</p>
<h3>Leave a Reply</h3>
<p>Your email address will not be published. Required fields are marked *</p>
<p>Comment policy: be civil; comments are moderated before they appear.</p>
</div>
<div id="respond" class="comment-respond"><h3 id="reply-title" class="comment-reply-title">Laisser un commentaire</h3>
<form id="commentform" class="comment-form"><p class="comment-form-comment"><label for="comment">Commentaire</label><textarea id="comment"></textarea></p>
<p class="form-submit"><input type="submit" value="Laisser un commentaire"></p></form></div>
</article></main>
<aside id="secondary" class="widget-area"><section class="widget"><h2>Articles récents</h2><ul><li><a href="/a">Un autre article</a></li></ul></section></aside>
</div><footer class="site-footer"><p>Fièrement propulsé par WordPress</p></footer></div></body></html>
"""

AUTHORED = {  # source text -> (language, site, path, date, author, template)
    "tiktok_en.txt": ("en", "World News Daily", "/worldnews/2023/sep/15/tiktok-fined-345m-children-data.html",
                      "2023-09-15T10:05:00+01:00", "Dan Milmo", NEWS_TEMPLATE),
    "tiktok_fr.txt": ("fr", "Actu Tech France", "/actu-tech/2023/09/16/tiktok-amende-345-millions-donnees-enfants/",
                      "2023-09-16T08:30:00+02:00", "La rédaction", WORDPRESS_TEMPLATE),
    "tiktok_de.txt": ("de", "Netz Nachrichten", "/netznachrichten/tiktok-strafe-345-millionen-kinderdaten.html",
                      "2023-09-15T16:20:00+02:00", "Redaktion", NEWS_TEMPLATE),
    "tiktok_es.txt": ("es", "Noticias Digitales", "/noticiasdigitales/tiktok-multa-345-millones-datos-menores.html",
                      "2023-09-15T19:45:00+02:00", "Redacción", NEWS_TEMPLATE),
    "tiktok_independent_en.txt": ("en", "Dublin Daily", "/dublindaily/tiktok-record-penalty-teen-accounts.html",
                                  "2023-09-15T12:00:00+01:00", "Aoife Byrne", NEWS_TEMPLATE),
}
#: the English original, republished verbatim under another URL: an exact copy
MIRROR = ("tiktok_en.txt", "/wire-mirror/tiktok-fined-345m.html")

WMT_DOC = "generaltest2022:ru:kommersant.51630"  # Russian original, professional English translation
WMT_PAGES = {"ru": ("Коммерсантъ", "/kommersant/hi-tech/135-billion-apps.html", "2022-01-12T09:00:00+03:00"),
             "en": ("Tech Digest", "/techdigest/135-billion-went-into-apps.html", "2022-01-12T15:00:00+00:00")}

FAULTY = {
    "/faulty/empty.html": b"<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a></nav></body></html>",
    "/faulty/binary.html": bytes(range(256)) * 64,
}


def render(template: str, lang: str, site: str, path: str, date: str, author: str, lines: list[str]) -> str:
    title, standfirst, *body = lines
    paragraphs = []
    for index, para in enumerate(body):
        paragraphs.append(f"<p>{html.escape(para)}</p>")
        if template is WORDPRESS_TEMPLATE and index == 2:
            paragraphs.append("<p>ADVERTISEMENT</p>")  # an ad label between paragraphs
    return template.format(lang=lang, site=html.escape(site), path=path, date=date,
                           author=html.escape(author), title=html.escape(title),
                           standfirst=html.escape(standfirst), paragraphs="\n".join(paragraphs))


def rss(title: str, items: list[tuple[str, str, str]]) -> str:
    entries = "\n".join(
        f"<item><title>{html.escape(t)}</title><link>{{{{BASE}}}}{p}</link>"
        f"<guid>{{{{BASE}}}}{p}</guid><pubDate>{d}</pubDate></item>" if p.startswith("/") else
        f"<item><title>{html.escape(t)}</title><link>{html.escape(p)}</link><pubDate>{d}</pubDate></item>"
        for t, p, d in items)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{title}</title>'
            f"<link>{{{{BASE}}}}/</link><description>{title}</description>\n{entries}\n</channel></rss>\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    args = parser.parse_args()
    eval_dir = Path(args.eval)
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "site").mkdir(parents=True)
    (OUT / "site" / "feeds").mkdir()
    (OUT / "__init__.py").write_text('"""Bundled offline demo sample (data only)."""\n')

    def put(path: str, data: bytes) -> None:
        target = OUT / "site" / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    for source, (_, path) in REAL_PAGES.items():
        put(path + ".gz", (eval_dir / source).read_bytes())  # served gzip-encoded
    tiktok_items = []
    for source, (lang, site, path, date, author, template) in AUTHORED.items():
        lines = (SRC / source).read_text().strip().splitlines()
        put(path, render(template, lang, site, path, date, author, lines).encode("utf-8"))
        tiktok_items.append((lines[0], path, date))
    lines = (SRC / MIRROR[0]).read_text().strip().splitlines()
    lang, site, _, date, author, template = AUTHORED[MIRROR[0]]
    # a syndication partner: same text, later, and rel=canonical pointing at the original
    mirrored = render(template, lang, "Wire Mirror", AUTHORED[MIRROR[0]][2], "2023-09-15T12:40:00+01:00",
                      author, lines)
    put(MIRROR[1], mirrored.encode())
    docs = {}
    with open(eval_dir / "wmt_docs_dev.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["doc_key"] == WMT_DOC and row["lang"] in WMT_PAGES:
                docs[row["lang"]] = row["text"].splitlines()
    for lang, (site, path, date) in WMT_PAGES.items():
        text = docs[lang]
        put(path, render(NEWS_TEMPLATE, lang, site, path, date, site, [text[0], text[1], *text[2:]]).encode())
    for path, data in FAULTY.items():
        put(path, data)
    (OUT / "site" / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    put("/private/internal-memo.html", b"<html><body><p>Not for robots.</p></body></html>")

    en = [("BBC: world", REAL_PAGES["scrapinghub_aeb/html/c7e39ac49fa1235f5d50f83bf2444248bd3aa4e6df044377916c812dd109ba23.html.gz"][1], "Wed, 20 Nov 2019 10:00:00 GMT"),
          ("Al Jazeera: moon shot", "/aljazeera/nasa-commercial-moon-shot.html", "Tue, 19 Nov 2019 04:15:00 GMT"),
          ("Reuters: markets", "/reuters/asian-shares-soft.html", "Wed, 20 Nov 2019 01:00:00 GMT"),
          ("Tech Digest: apps", WMT_PAGES["en"][1], "Wed, 12 Jan 2022 15:00:00 GMT"),
          ("Wire mirror: TikTok", MIRROR[1], "Fri, 15 Sep 2023 11:00:00 GMT"),
          ("Dead link", "/faulty/missing.html", "Fri, 15 Sep 2023 11:00:00 GMT"),
          ("Binary attachment", "/faulty/binary.html", "Fri, 15 Sep 2023 11:00:00 GMT"),
          ("Cloud metadata (must never be fetched)", "http://169.254.169.254/latest/meta-data/", "Fri, 15 Sep 2023 11:00:00 GMT"),
          ("Internal memo (robots.txt forbids it)", "/private/internal-memo.html", "Fri, 15 Sep 2023 11:00:00 GMT")]
    intl = [(t, p, "Fri, 15 Sep 2023 12:00:00 GMT") for t, p, _ in tiktok_items] + [
        ("tdg.ch", "/tdg/berne-interdit-chlorothalonil.html", "Thu, 12 Dec 2019 10:00:00 GMT"),
        ("El Deber", "/eldeber/autos-robados.html", "Tue, 03 May 2022 10:00:00 GMT"),
        ("spox", "/spox/olympia-corona-faelle.html", "Fri, 04 Feb 2022 10:00:00 GMT"),
        ("La Stampa", "/lastampa/temperature-in-calo.html", "Wed, 19 Feb 2020 10:00:00 GMT"),
        ("Brasil 247", "/brasil247/militares-tse.html", "Wed, 04 May 2022 10:00:00 GMT"),
        ("Коммерсантъ", WMT_PAGES["ru"][1], "Wed, 12 Jan 2022 06:00:00 GMT"),
        ("Empty page", "/faulty/empty.html", "Fri, 15 Sep 2023 11:00:00 GMT")]
    (OUT / "site" / "feeds" / "world.xml").write_text(rss("Sample world news", en))
    (OUT / "site" / "feeds" / "international.xml").write_text(rss("Sample international news", intl))
    (OUT / "site" / "feeds" / "broken.xml").write_text("<rss><channel><title>Broken feed</title><item><title>unterminated")
    (OUT / "feeds.opml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>newsflow demo</title></head><body>\n'
        '<outline text="World" xmlUrl="{{BASE}}/feeds/world.xml"/>\n'
        '<outline text="International" xmlUrl="{{BASE}}/feeds/international.xml"/>\n'
        '<outline text="Broken" xmlUrl="{{BASE}}/feeds/broken.xml"/>\n'
        '<outline text="Gone" xmlUrl="{{BASE}}/feeds/gone.xml"/>\n</body></opml>\n')
    (OUT / "urls.txt").write_text(
        "# pages listed directly (not from a feed)\n"
        "{{BASE}}/cooperativa/presidente-boric.html\n"
        "{{BASE}}/farang/grab-bote.html\n"
        "{{BASE}}/reuters/asian-shares-soft.html\n"  # also in a feed: fetched once
        "ftp://{{HOST}}/not-http.html\n")
    (OUT / "PROVENANCE.md").write_text(
        "# Provenance of the bundled sample\n\n"
        "Built by `examples/make_sample.py` from `../shared/eval` (see its README):\n\n"
        "- `site/` pages with `.gz`: real pages from adbar/trafilatura @ e90b0ef `tests/cache` "
        "(Apache-2.0) and scrapinghub/article-extraction-benchmark @ 4a3bc97 (MIT); copyright of "
        "their publishers, for evaluation only.\n"
        "- `kommersant/`, `techdigest/`: WMT22 general test set document kommersant.51630 "
        "(Russian original and its professional English translation) in a plain site template.\n"
        "- TikTok story (`worldnews/`, `actu-tech/`, `netznachrichten/`, `noticiasdigitales/`, "
        "`wire-mirror/`) and `dublindaily/`: written for newsflow (fictional outlets), modelled "
        "on the brief's example of a French machine translation of an English story republished "
        "in a WordPress theme; text in `examples/sample_src/`.\n"
        "- `faulty/`, `private/`, `feeds/broken.xml`: made up to show reject rows.\n")
    print(f"sample written to {OUT}")


if __name__ == "__main__":
    main()
