"""Portuguese boilerplate phrases.

Seen on: the Portuguese pages of trafilatura's evaluation set (brasil247.com "CONTINUA DEPOIS DA
PUBLICIDADE", "Siga-nos no Telegram", "Apoie o 247"; campograndenews.com.br "Veja Também", "Nos
siga no"; correiobraziliense.com.br "Saiba Mais"; gazetadopovo.com.br; cybercook.com.br) and the
ScrapingHub pages of autoracing.com.br, jaraguadosul.com.br, plus WordPress Portuguese locales.
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="pt",
    ads=("publicidade", "anúncio", "continua depois da publicidade",
         "continua depois da publicidade continua depois da publicidade",
         "continua após a publicidade", "conteúdo patrocinado", "patrocinado",
         "publieditorial"),
    share=("compartilhe", "compartilhar", "compartilhe esta notícia", "compartilhar no…",
           "imprimir", "copiar link", "curtir", "carregando", "siga-nos no…", "nos siga no…",
 ),
    comments=("deixe um comentário", "deixe uma resposta", "cancelar resposta",
              "o seu endereço de e-mail não será publicado…",
              "seu endereço de e-mail não será publicado…",
              "campos obrigatórios são marcados com…", "comentários", "comentário", "nome",
              "publicar comentário",
              ),
    newsletter=("assine a nossa newsletter…", "assine nossa newsletter…",
                "inscreva-se na newsletter…", "receba nossa newsletter…", "newsletter",
                "fique por dentro…"),
    related=("veja também", "leia também", "leia mais", "saiba mais", "notícias relacionadas",
             "matérias relacionadas", "mais lidas", "mais popular", "relacionadas", "tags",
             "pela web", "em alta", "últimas notícias"),
    cookies=("este site utiliza cookies…", "utilizamos cookies…", "aceitar cookies",
             "política de cookies"),
    paywall=("conteúdo exclusivo para assinantes…", "exclusivo para assinantes",
             "para continuar lendo…", "assine para continuar lendo…", "já é assinante?…",
             "este conteúdo é exclusivo para assinantes…"),
    credits=("(foto:…", "foto:…", "(crédito:…", "crédito:…", "fonte:…", "©…",
             "todos os direitos reservados…"),
    lead_ins=("veja também", "leia também", "leia mais", "saiba mais", "veja", "leia",
              "relacionado", "confira"),
    comment_headings=("comentários", "comentário", "deixe um comentário"),
)
