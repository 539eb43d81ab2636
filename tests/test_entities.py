"""Entities: the model where one is installed (en, fr), the fallback elsewhere.

Sentences are real, from ../shared/eval/ner (ids in the comments; licences in its README)."""

import pytest

from transforms.entities import EntityRecognizer, chinese_tagger, fallback_spans


@pytest.fixture(scope="module")
def recognizer():
    return EntityRecognizer()


def _pairs(entities):
    return {(e["text"], e["label"]) for e in entities}


def test_english_with_the_model(recognizer):
    # uner_en_pud:n01001-0001
    text = ("“While much of the digital transition is unprecedented in the United States, the "
            "peaceful transition of power is not,” Obama special assistant Kori Schulman wrote "
            "in a blog post Monday.")
    assert recognizer.coverage("en") == "model"
    found = _pairs(recognizer.entities(text, "en"))
    assert {("Kori Schulman", "PER"), ("United States", "LOC")} <= found


def test_english_bodies_named_by_one_noun(recognizer):
    # europarl_en:0486 and :0522: "the Commission" is the European Commission (gold ORG);
    # the model leaves it out; a common noun stays out ("the committee", "the Commissioner")
    found = _pairs(recognizer.entities("I do not wish to call the distribution of competences "
                                       "between the Commission and Parliament into question.",
                                       "en"))
    assert ("Commission", "ORG") in found
    found = _pairs(recognizer.entities("Under Article 88, the committee and the Commissioner "
                                       "are obliged to supervise state aid.", "en"))
    assert not any(text in ("committee", "Commissioner") for text, _ in found)


def test_french_with_the_model(recognizer):
    # the French TikTok page of the bundled sample (pipelines/sample/site/actu-tech)
    text = ("Helen Dixon, la commissaire, a déclaré que l'entreprise avait trois mois pour "
            "mettre son traitement en conformité avec la loi. L'enquête a critiqué une fonction "
            "de jumelage familial, a déclaré la Commission irlandaise à Dublin.")
    assert recognizer.coverage("fr") == "model"
    found = _pairs(recognizer.entities(text, "fr"))
    assert ("Helen Dixon", "PER") in found and ("Dublin", "LOC") in found


def test_german_and_spanish_with_the_fallback(recognizer):
    # germeval2014:test:0455 and europarl_es:0010
    de = ("Demnach stieg die Temperatur in Städten wie Baden-Baden oder Stuttgart auf mehr als "
          "33,5 Grad .")
    assert recognizer.coverage("de") == "fallback"
    assert {("Baden-Baden", "LOC"), ("Stuttgart", "LOC")} <= _pairs(recognizer.entities(de, "de"))
    es = ("Una de las personas que recientemente han asesinado en Sri Lanka ha sido al Sr. Kumar "
          "Ponnambalam , quien hace pocos meses visitó el Parlamento Europeo .")
    found = _pairs(recognizer.entities(es, "es"))
    assert {("Sri Lanka", "LOC"), ("Kumar Ponnambalam", "PER"),
            ("Parlamento Europeo", "ORG")} <= found


def test_fallback_names_of_unknown_type_and_scripts_without_capitals(recognizer):
    # uner_ru_pud:n01016-0002: names the fallback cannot type are NAME, not guessed
    ru = ("Некоторые аналитики полагают, что Huawei лучше всего позиционирован, чтобы извлечь "
          "выгоду из неудачи Samsung.")
    assert {("Huawei", "NAME"), ("Samsung", "NAME")} <= _pairs(recognizer.entities(ru, "ru"))
    # uner_zh_gsdsimp:batch-0011-0017 and aqmar_ar:Portugal_football_team:0063
    zh = "她亦曾在芬兰、瑞典及法国学习油画，并于1939年开始写作。"
    assert {("芬兰", "LOC"), ("瑞典", "LOC"), ("法国", "LOC")} <= _pairs(
        recognizer.entities(zh, "zh"))
    ar = "سنة 2004 ، نظمت البرتغال يورو 2004 .. لكن البداية كانت سيئة .. خسارة من اليونان 2 - 1"
    found = _pairs(recognizer.entities(ar, "ar"))
    assert {("البرتغال", "LOC"), ("اليونان", "LOC")} <= found
    assert not any(text == "سارة" for text, _ in found)  # not inside another word


def test_sentence_starts_and_counts(recognizer):
    spans = fallback_spans("The minister met Angela Merkel in Berlin. Angela Merkel left.", "xx")
    texts = ["The minister met Angela Merkel in Berlin. Angela Merkel left."[s:e]
             for s, e, _ in spans]
    assert "The" not in texts and texts.count("Angela Merkel") == 2
    entities = recognizer.entities("Berlin is big. He went to Berlin and Paris.", "de")
    assert {"text": "Berlin", "label": "LOC", "count": 2} in entities


def test_japanese_with_ginza(recognizer):
    # stockmark_ja:0024:curid=3261143 (Japanese Wikipedia, CC BY-SA 3.0)
    text = ("レギュラー番組「映画MANIA」出演をきっかけに名古屋のミニシアター・"
            "シネマスコーレと関係を築き、「ダブルミンツ」での田中の演技を評価した白石晃士の監督による短編映画"
            "「恋のクレイジーロード」が2018年に制作・公開された。")
    assert recognizer.coverage("ja") == "model"
    found = _pairs(recognizer.entities(text, "ja"))
    assert {("名古屋", "LOC"), ("白石晃士", "PER")} <= found
    assert not any(label not in ("PER", "ORG", "LOC") for _, label in found)  # no ENE types


def test_chinese_with_jieba_in_both_scripts(recognizer):
    # uner_zh_pud:batch-0000-0004 (Traditional) and the same names in Simplified
    text = ("“所以我不想給你們施加哪怕一丁點的壓力，但你們肩負的是共和國的命運，”奧巴馬對在"
            "北卡羅來納大學運動場上的群眾說道。")
    assert recognizer.coverage("zh") == "tagger"
    found = _pairs(recognizer.entities(text, "zh"))
    assert ("北卡羅來納大學", "ORG") in found and any(t == "奧巴馬" for t, _ in found)
    simplified = recognizer.entities("唐纳德·特朗普访问了中国福建省南平市。", "zh")
    assert {("唐纳德·特朗普", "PER"), ("中国福建省南平市", "LOC")} <= _pairs(simplified)


def test_chinese_tagger_is_the_tokenizer_keywords_use():
    # one copy of jieba's dictionary per process: the tagger's and jieba.analyse's
    import jieba
    import jieba.analyse

    tagger, _ = chinese_tagger()
    assert tagger.tokenizer is jieba.dt is jieba.analyse.default_tfidf.tokenizer


def test_arabic_name_chains_and_organisation_heads(recognizer):
    # aqmar_ar:Islamic_History:0026 and a sentence in the style of aqmar_ar:Portugal_football_team
    text = ("و قبل موته عادت مشكلة الخلافة من جديد فما كان من أبي بكر إلا أن حلها بالوصية إلى عمر"
            " بن الخطاب الذي أصبح خليفة.")
    assert {("أبي بكر", "PER"), ("عمر بن الخطاب", "PER")} <= _pairs(
        recognizer.entities(text, "ar"))
    team = "فاز منتخب البرتغال على منتخب ألمانيا الغربية"
    assert ("منتخب البرتغال", "ORG") in _pairs(recognizer.entities(team, "ar"))


def test_titles_and_possessives_are_not_part_of_names(recognizer):
    # europarl_en:0013 and uner_en_ewt style possessive
    found = _pairs(recognizer.entities("If the House agrees, I shall do as Mr Evans has "
                                       "suggested. Ken Lay's company.", "en"))
    assert ("Evans", "PER") in found and ("Ken Lay", "PER") in found
    assert not any(t.startswith("Mr") or t.endswith("s'") for t, _ in found)


def test_german_nouns_and_roles_are_not_names(recognizer):
    # germeval2014:test:0570 and :3083; a role noun before a name
    found = recognizer.entities("Der HSV-Vorstand gibt dem Trainer noch eine Chance, seine "
                                "Mannschaft aus der Krise zu führen.", "de")
    assert not any(e["text"] in ("Chance", "Trainer", "Mannschaft", "Krise") for e in found)
    found = _pairs(recognizer.entities("Herr Grobi war so freundlich. Die Regierung von "
                                       "Angela Merkel tagte in Stuttgart.", "de"))
    assert {("Grobi", "PER"), ("Angela Merkel", "PER"), ("Stuttgart", "LOC")} <= found
    assert not any(t in ("Regierung", "Die Regierung") for t, _ in found)


def test_one_name_one_entity_per_article(recognizer):
    # a surname alone counts for the full name; a mention no rule typed (sentence start)
    # still counts; the label most often given wins
    text = ("Bundeskanzlerin Angela Merkel besuchte Stuttgart am Montag. Merkel sagte, Stuttgart "
            "sei schön. Stuttgart feierte.")
    found = recognizer.entities(text, "de")
    assert {"text": "Angela Merkel", "label": "PER", "count": 2} in found
    assert {"text": "Stuttgart", "label": "LOC", "count": 3} in found


def test_a_batch_finds_what_each_article_alone_finds(recognizer):
    # articles of four languages in one batch: the model parses each language's heads together
    items = [
        ("Obama special assistant Kori Schulman wrote in a blog post Monday.", "en", "Transition"),
        ("Helen Dixon, la commissaire, a parlé à Dublin.", "fr", None),
        ("Die Regierung von Angela Merkel tagte in Stuttgart.", "de", None),
        ("Mr Evans met Ken Lay in Houston.", "en", None),
        ("唐纳德·特朗普访问了中国福建省南平市。", "zh", None),
        ("", None, None),
    ]
    assert recognizer.entities_many(items) == [recognizer.entities(*item) for item in items]


def test_a_failing_record_in_an_enrich_batch_is_rejected_alone():
    from transforms.enrich import EnrichArticles
    from transforms.rejects import REJECTS

    enrich = EnrichArticles("test-run")
    enrich.setup()
    good = [{"url": f"https://example.org/{i}", "title": "Angela Merkel in Berlin",
             "text": "Angela Merkel besuchte am Montag Berlin und sprach mit Olaf Scholz."}
            for i in range(2)]
    bad = {"url": "https://example.org/bad", "title": "x", "text": 12345}  # text not a string
    outputs = list(enrich.process([good[0], bad, good[1]]))
    rejects = [o.value for o in outputs if getattr(o, "tag", None) == REJECTS]
    articles = [o for o in outputs if not hasattr(o, "tag")]
    assert [r["url"] for r in rejects] == [bad["url"]]
    assert rejects[0]["stage"] == "enrich" and rejects[0]["reason"] == "internal_error"
    assert [a["url"] for a in articles] == [g["url"] for g in good]
    assert all("Angela Merkel" in {e["text"] for e in a["entities"]} for a in articles)
    assert "entities" not in good[0]  # enriched on copies: the retry starts from the input


def test_german_dates_counted_nouns_and_bodies(recognizer):
    # europarl_de:0486 style ("des Parlaments"), germeval2014 style dates and sums: a month,
    # a noun after its article ("die Lage": also a town), a unit after a number are no names
    text = ("Leider hat sich die Lage im Juni verschlechtert, sagte Angela Merkel in der "
            "Schweiz. Es kostet 3 Milliarden Euro. Im Namen des Parlaments danke ich der Union.")
    found = _pairs(recognizer.entities(text, "de"))
    assert {("Angela Merkel", "PER"), ("Schweiz", "LOC"), ("Parlaments", "ORG"),
            ("Union", "ORG")} <= found
    assert not any(t in ("Lage", "Juni", "Milliarden Euro", "Euro") for t, _ in found)
    # germeval2014:test:1394: countries as speech names them (CLDR), not only their official
    # names ("Russische Föderation")
    found = _pairs(recognizer.entities(
        "Als Zweiter würden wir auf den Dritten der anderen Gruppe treffen - und dort setzen "
        "sich aller Voraussicht Kroatien , Russland und Spanien durch .", "de"))
    assert {("Kroatien", "LOC"), ("Russland", "LOC"), ("Spanien", "LOC")} <= found


def test_german_nouns_before_names_clubs_and_acronyms(recognizer):
    # germeval2014:test:0682, :2009, :0121 and uner_de_pud:n01029-0004: a role or common noun
    # before a name is no part of it; a club prefix makes an organisation; an acronym is an
    # organisation even where a town has its letters
    found = _pairs(recognizer.entities(
        "Als Chef-Humorist trat dabei Trainer Ralf Rangnick auf . Mit 28 zu 24 schlagen die "
        "Handballerinnen des SV Waldhof ihre Kontrahentinnen aus Lahr . Sprecher der "
        "Fraktionen von CDU/CSU , SPD und FDP wiesen die Kritik zurück . Eine "
        "Kampfsportschule in der Hauptstadt Belgrad .", "de"))
    assert {("Ralf Rangnick", "PER"), ("SV Waldhof", "ORG"), ("Lahr", "LOC"),
            ("SPD", "ORG"), ("FDP", "ORG"), ("Belgrad", "LOC")} <= found
    assert not any(t.startswith(("Trainer", "Hauptstadt")) for t, _ in found)


SAME_WITH_EVERY_STRING = {
    "en": "Mr Rapkay told the Commission in Brussels that Ken Lay's Enron Corp. had paid $3m.",
    "fr": "Helen Dixon, la commissaire, a déclaré à l'AFP que M. Macron était à Saint-Étienne.",
    "ja": "東京都の知事は月曜日に大阪で記者と会った。",
}


@pytest.mark.parametrize("lang", sorted(SAME_WITH_EVERY_STRING))
def test_models_without_their_string_table_find_the_same(recognizer, lang):
    # the vocabulary's string table is not loaded (entities.UNREAD_VOCAB): the same tokens,
    # attributes and entities as the model loaded whole
    import warnings

    import spacy

    from transforms.entities import MODELS, UNREAD_VOCAB

    lean = recognizer.model(lang)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W095\]")
        whole = spacy.load(MODELS[lang], exclude=[n for n in lean.component_names
                                                  if n not in lean.pipe_names]
                           + ["parser", "lemmatizer", "tagger", "morphologizer",
                              "attribute_ruler", "senter"])
    assert "strings" in UNREAD_VOCAB and len(lean.vocab.strings) < len(whole.vocab.strings) / 10
    text = SAME_WITH_EVERY_STRING[lang]

    def seen(doc):
        return ([(t.text, t.norm_, t.shape_, t.prefix_, t.suffix_, t.like_num) for t in doc],
                [(e.start_char, e.end_char, e.label_) for e in doc.ents])

    lean_doc, whole_doc = lean(text), whole(text)
    assert seen(lean_doc) == seen(whole_doc) and lean_doc.ents


@pytest.mark.parametrize("lang", sorted(SAME_WITH_EVERY_STRING))
def test_the_models_layers_multiply_on_numpys_blas(recognizer, lang):
    # thinc's BLIS ran these products at ~21 GFLOP/s against ~74 for numpy's OpenBLAS here
    # (entities._load_model); the entities are the same either way (the test above compares
    # with a model loaded on thinc's default ops)
    layers = [node for _, pipe in recognizer.model(lang).pipeline for node in pipe.model.walk()
              if node.name in ("maxout", "precomputable_affine")]
    assert layers and not any(node.ops.use_blis for node in layers)
