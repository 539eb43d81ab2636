"""Japanese boilerplate phrases.

Seen on: the Japanese pages of ``../shared/eval`` (lhpat-tm.com and note100yen.com in the
ScrapingHub set; the Japanese page of trafilatura's set) and the labels of Japanese news sites
(“関連記事”, “続きを読む”, “この記事をシェア”, “広告”). Japanese text has no spaces, so phrases
are whole lines or line prefixes exactly as written.
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="ja",
    ads=("広告", "スポンサーリンク", "pr", "[pr]", "広告の後にも続きます", "スポンサー"),
    share=("シェア", "シェアする", "この記事をシェア", "この記事をシェアする", "ツイート",
           "いいね", "ブックマーク", "印刷", "リンクをコピー", "フォローする"),
    comments=("コメント", "コメントする", "コメントを残す", "コメントを書く",
              "メールアドレスが公開されることはありません…", "必須項目には印がついています…",
              "返信をキャンセル", "コメントを投稿"),
    newsletter=("メールマガジン", "メルマガ登録", "ニュースレター", "メールマガジン登録…",
                "ニュースレターに登録…"),
    related=("関連記事", "関連ニュース", "あわせて読みたい", "合わせて読みたい", "おすすめ記事",
             "人気記事", "続きを読む", "もっと見る", "こちらもおすすめ", "タグ", "ランキング",
             "最新記事", "前の記事", "次の記事"),
    cookies=("当サイトではクッキーを使用…", "このサイトはクッキーを使用…", "cookieの使用について…"),
    paywall=("この記事は有料会員限定です…", "有料会員限定", "会員限定記事",
             "続きは有料会員…", "この記事の続きを読むには…"),
    credits=("写真：…", "写真:…", "出典：…", "出典:…", "©…", "無断転載を禁じます…",
             "copyright ©…"),
    lead_ins=("関連記事", "関連", "あわせて読みたい", "合わせて読みたい", "参考"),
    comment_headings=("コメント", "コメント一覧"),
)
