from pathlib import Path

import pytest

from transforms.feeds import FeedError, InputListError, load_feed_list, load_url_list, parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


@pytest.mark.parametrize("name,minimum", [
    ("DaringFireball.atom", 10), ("TechCrunch.xml", 10), ("aktuality.rss", 10),
    ("google_alerts_atom.xml", 5), ("kc0011.rss", 10), ("lanacion.xml", 10),
    ("macworld.rss", 10)])
def test_real_feeds_become_page_requests(name, minimum):
    requests = parse_feed((FEEDS / name).read_bytes(), f"https://feeds.example/{name}")
    assert len(requests) >= minimum
    for request in requests:
        assert request["url"].startswith("http")
        assert request["feed_url"] == f"https://feeds.example/{name}"
        assert request["source_kind"] == "feed"
    assert any(r["entry"]["published_at"] is not None for r in requests)
    assert any(r["entry"]["title"] for r in requests)


def test_gb2312_feed_is_decoded():
    requests = parse_feed((FEEDS / "kc0011.rss").read_bytes(), "http://kc0011.example/rss")
    titles = "".join(r["entry"]["title"] or "" for r in requests)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in titles)  # CJK, not mojibake


@pytest.mark.parametrize("body,reason", [
    (b"", "empty_feed"),
    (b"<html><body>not a feed</body></html>", "not_a_feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": "x"}', "malformed_feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "empty_feed"),
    (b'{"some": "json"}', "not_a_feed"),
    (b"<rss><channel><title>x</title><item><title>cut", "malformed_feed"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
     b'"&lol;&lol;&lol;&lol;&lol;">]><rss><channel><item><title>&lol2;</title>'
     b"<link>http://a.example/</link></item></channel></rss>", "unsafe_feed"),
    (b'<rss version="2.0"><channel><title>empty</title></channel></rss>', "empty_feed"),
])
def test_bad_feeds_are_refused_with_a_reason(body, reason):
    with pytest.raises(FeedError) as info:
        parse_feed(body, "http://feeds.example/bad")
    assert info.value.reason == reason


def test_feed_lists_in_three_formats(tmp_path):
    (tmp_path / "f.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="a">'
        '<outline xmlUrl="https://a.example/rss"/></outline>'
        '<outline xmlUrl="https://b.example/atom"/></body></opml>')
    (tmp_path / "f.yaml").write_text("feeds:\n  - https://a.example/rss\n  - url: https://b.example/atom\n")
    (tmp_path / "f.txt").write_text("# comment\nhttps://a.example/rss\n\nhttps://b.example/atom\n")
    expected = ["https://a.example/rss", "https://b.example/atom"]
    for name in ("f.opml", "f.yaml", "f.txt"):
        assert load_feed_list(str(tmp_path / name)) == expected


def test_list_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "urls.txt"
    bad.write_text("https://ok.example/a\nnot a url\n")
    with pytest.raises(InputListError, match=r"urls.txt: line 2: not a URL"):
        load_url_list(str(bad))
    with pytest.raises(InputListError, match="cannot read"):
        load_feed_list(str(tmp_path / "missing.opml"))
    (tmp_path / "x.yaml").write_text("feeds: [1, 2]\n")
    with pytest.raises(InputListError, match=r"x.yaml: feed #1"):
        load_feed_list(str(tmp_path / "x.yaml"))
