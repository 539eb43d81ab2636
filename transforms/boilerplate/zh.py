"""Chinese boilerplate phrases (Simplified and Traditional).

Seen on: the Chinese pages of trafilatura's evaluation set (banyuetan.org "热门推荐",
"杂志图书订阅"; xinhuanet.com "纠错", "责任编辑"; baike.baidu.com "编辑";
he.xinhuanet.com "ICP证"; chineselyrics4u.com) plus common Chinese news-site labels.
"""

from transforms.boilerplate.table import Table

TABLE = Table(
    lang="zh",
    ads=("广告", "廣告", "推广", "推廣", "赞助内容", "贊助內容"),
    share=("分享", "分享到…", "分享至…", "分享到：", "打印", "列印", "复制链接", "複製連結",
           "点赞", "收藏", "扫一扫…", "掃一掃…", "【纠错】", "纠错", "字号",
           "字體", "字号：…", "微信扫一扫…"),
    comments=("发表评论", "發表評論", "评论", "評論", "网友评论", "網友評論", "我要评论",
              "登录后发表评论…"),
    newsletter=("订阅", "訂閱", "订阅我们的…", "訂閱我們的…"),
    related=("相关新闻", "相關新聞", "相关阅读", "相關閱讀", "相关文章", "相關文章",
             "热门推荐", "熱門推薦", "推荐阅读", "推薦閱讀", "延伸阅读", "延伸閱讀",
             "更多新闻", "更多", "热点新闻", "猜你喜欢", "上一篇…", "下一篇…", "编辑", "編輯",
             "返回顶部", "返回首页", ),
    cookies=("本网站使用cookie…", "本網站使用cookie…"),
    paywall=("本文为付费内容…", "订阅后阅读全文…", "付费阅读", "會員專享", "会员专享",
             "登入閱讀全文…", "付费会员…"),
    credits=("责任编辑：…", "责任编辑:…", "【责任编辑：…", "責任編輯：…", "来源：…", "來源：…",
             "来源:…", "copyright (c)…", "copyright ©…", "版权所有…", "版權所有…", "©…",
             "icp证…", "icp備…", "icp备…"),
    lead_ins=("相关新闻", "相關新聞", "相关阅读", "相關閱讀", "延伸阅读", "延伸閱讀", "推荐阅读",
              "推薦閱讀", "相关", "相關", "阅读", "閱讀"),
    comment_headings=("评论", "評論", "网友评论", "網友評論", "发表评论"),
)
