from transforms.clean import clean_text, is_boilerplate, normalize_text


def test_boilerplate_lines_in_several_languages():
    for line in ("ADVERTISEMENT", "Publicité", "Anzeige", "Partager :", "Share this:",
                 "Facebook Twitter WhatsApp", "Click to share on Twitter (Opens in new window)",
                 "Leave a Reply", "Laisser un commentaire", "Deja una respuesta",
                 "Your email address will not be published. Required fields are marked *",
                 "Votre adresse e-mail ne sera pas publiée.", "J'aime ça :", "Like Loading...",
                 "Comment policy: be civil.", "Subscribe to our newsletter for more!",
                 '<div class="newsletter"><iframe src="https://x.example/e"></iframe></div>',
                 '&lt;iframe src="https://x.example/e" width="1"&gt;&lt;/iframe&gt;'):
        assert is_boilerplate(line), line


def test_story_sentences_are_kept():
    for line in ("Advertisement revenue fell by 4% as TikTok gained users.",
                 "He said the share price would recover.",
                 "Facebook and Twitter were both fined in 2021 for similar failures.",
                 "Leave a reply to the regulator, the minister told the company.",
                 "The <b> tag is not markup here: 3 < 4 and 5 > 2."):
        assert not is_boilerplate(line), line


def test_comment_section_is_cut_only_near_the_end():
    body = [f"Paragraph {i} of the story with enough words to count." for i in range(8)]
    text = "\n".join([*body, "Comments", "Great article!", "I disagree."])
    assert clean_text(text) == "\n".join(body)
    early = "\n".join(["Intro line here.", "Comments", *body])
    assert clean_text(early) == early  # a "Comments" line early in the text cuts nothing


def test_normalize_text():
    assert normalize_text("a\u00a0 b\u200b\n\n  c  \r\n") == "a b\nc"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC


def test_headline_repeated_as_first_line_is_dropped():
    from transforms.clean import clean_article

    record = clean_article({"url": "https://x.example/a", "title": "Is Football Violence a Crime?",
                            "text": "Is Football Violence a Crime?\nNFL assaults have led to "
                                    "lawsuits before, but never to a conviction in court."})
    assert record["text"].startswith("NFL assaults")
    kept = clean_article({"url": "https://x.example/b", "title": "Another title",
                          "text": "Is Football Violence a Crime?\nNFL assaults have led to "
                                  "lawsuits before, but never to a conviction in court."})
    assert kept["text"].startswith("Is Football")
