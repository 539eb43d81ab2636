from transforms.markup import is_data_line, is_markup_line, strip_shortcodes, unescape


def test_markup_lines_of_any_component_escaped_once_or_twice():
    for line in (
        '<div class="newsletter"><iframe src="https://x.example/e"></iframe></div>',
        '&lt;iframe src="https://x.example/e" width="1"&gt;&lt;/iframe&gt;',
        "&amp;lt;my-widget data-id=&amp;quot;7&amp;quot;&amp;gt;&amp;lt;/my-widget&amp;gt;",
        '<gu-island name="NewsletterSignupCard" props="{&quot;caption&quot;:&quot;x&quot;}">',
        '{"newsletterId":"techscape","caption":"Sign up","frequency":"weekly"}',
        '[caption id="attachment_123" align="alignnone" width="300"]',
        "[/caption]",
        '[button link=”http://x.example/review/” type=”big”] Send us YOUR review[/button]',
        '<!-- wp:embed {"url":"https://x.example/v"} -->',
        "{{ newsletter_signup }}",
    ):
        assert is_markup_line(line), line


def test_prose_that_quotes_markup_stays():
    for line in ("The <b> tag is not markup here: 3 < 4 and 5 > 2.",
                 "Engineers wrap the player in a <gu-island> element so that it loads late.",
                 "[Chorus]", "China furious at Macron [INSIGHT]",
                 "He wrote {\"ok\": true} on the whiteboard, to everyone's surprise, and left."):
        assert not is_markup_line(line), line


def test_data_lines_and_helpers():
    assert is_data_line("https://www.example.com/a/b?c=d")
    assert is_data_line("2019-11-19T08:57:40+01:00")
    assert not is_data_line("Read it at https://www.example.com today")
    assert is_data_line("Updated at 1:23 p.m.") and is_data_line("Aktualisiert am 17.01.2021.")
    assert not is_data_line("Updated figures show 3 million people lost jobs in 2020 across "
                            "the country.")
    assert unescape("&amp;amp;lt;p&amp;amp;gt;") == "<p>"
    assert strip_shortcodes('[caption id="a1" width="3"]A caption[/caption]') == "A caption"
