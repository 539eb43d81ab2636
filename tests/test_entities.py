"""Entities: the model where one is installed (en, fr), the fallback elsewhere.

Sentences are real, from ../shared/eval/ner (ids in the comments; licences in its README)."""

import pytest

from transforms.entities import EntityRecognizer, fallback_spans


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
