"""Spanish boilerplate phrases.

Seen on: the Spanish pages of trafilatura's evaluation set (laprensa.com.ni, elfaro.net,
prensa.com, larepublica.pe, eltiempo.com, infobae.com, latercera.com, guatemala.com,
elnuevodia.com, esmateria.com, abc.com.py), plus common WordPress Spanish locales.
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="es",
    ads=("publicidad", "anuncio", "contenido patrocinado", "patrocinado",
         "continúa después de la publicidad", "sigue leyendo después de la publicidad"),
    share=("compartir", "comparte", "compartir en…", "comparte esta noticia", "imprimir",
           "copiar enlace", "me gusta", "cargando", "síguenos", "síguenos en…",
           "únete a nuestro canal…"),
    comments=("deja una respuesta", "deja un comentario", "dejar un comentario",
              "cancelar respuesta", "tu dirección de correo electrónico no será publicada…",
              "los campos obligatorios están marcados con…",
              "guarda mi nombre, correo electrónico y web…", "comentarios", "comentario",
              "nombre", "correo electrónico", "publicar comentario"),
    newsletter=("suscríbete a nuestro newsletter…", "suscríbete a la newsletter…",
                "suscríbete a nuestro boletín…", "recibe nuestro boletín…", "boletín",
                "suscríbete",
                ),
    related=("artículos relacionados", "noticias relacionadas", "notas relacionadas",
             "contenido relacionado", "te puede interesar", "le puede interesar",
             "también te puede interesar", "lo más leído", "más leídas", "leer más",
             "lee también", "lea también", "temas", "etiquetas",
             "más noticias", "minuto a minuto"),
    cookies=("utilizamos cookies…", "este sitio web utiliza cookies…", "aceptar cookies",
             "política de cookies"),
    paywall=("contenido exclusivo para suscriptores…", "este contenido es exclusivo…",
             "para seguir leyendo…", "suscríbete para seguir leyendo…", "¿ya eres suscriptor?…",
             "hazte suscriptor…", "contenido exclusivo"),
    credits=("foto:…", "fotos:…", "fuente:…", "©…", "todos los derechos reservados…"),
    lead_ins=("lea también", "lee también", "lea más", "lea", "leer más", "mire", "mira",
              "vea también", "ver también", "le puede interesar", "te puede interesar",
              "puedes ver", "también lee", "también puedes leer", "noticia relacionada",
              "relacionado", "te recomendamos", "además"),
    comment_headings=("comentarios", "comentario", "deja una respuesta", "deja un comentario"),
)
