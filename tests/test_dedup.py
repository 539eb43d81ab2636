from transforms.dedup.exact import star_edges
from transforms.dedup.groups import (
    require_corroboration,
    resolve_groups,
    split_language_conflicts,
)
from transforms.dedup.members import Edge, Member


def m(aid, published, original=True, self_canonical=True, fetched=0.0, language=None,
      existing=False, group=None):
    language = language or aid[:2]
    return Member(aid, published, fetched, original, self_canonical, existing, group, language)


def test_earliest_published_is_canonical_and_copies_point_at_it():
    a, b, c = m("a", 30.0), m("b", 10.0), m("c", 20.0)
    groups = resolve_groups(star_edges([a, b, c]))
    assert groups["b"]["is_canonical"] and groups["b"]["duplicate_of"] is None
    assert groups["a"]["duplicate_of"] == groups["c"]["duplicate_of"] == "b"
    assert {g["copy_group_id"] for g in groups.values()} == {"b"}


def test_tie_prefers_original_language_then_self_canonical_page():
    same = 5.0
    groups = resolve_groups([Edge(m("mirror", same, self_canonical=False), m("orig", same),
                                  "exact", 1.0)])
    assert groups["orig"]["is_canonical"]
    groups = resolve_groups([Edge(m("fr", same, original=False), m("en", same),
                                  "translation", 0.9)])
    assert groups["en"]["is_canonical"] and groups["fr"]["dup_kind"] == "translation"


def test_kind_and_score_follow_the_path_from_the_canonical_member():
    en, en_copy, fr = m("en", 1.0), m("en2", 2.0), m("fr", 3.0)
    groups = resolve_groups([Edge(en, en_copy, "exact", 1.0),
                             Edge(en_copy, fr, "translation", 0.8)])
    assert groups["en2"]["dup_kind"] == "exact" and groups["en2"]["dup_score"] == 1.0
    assert groups["fr"]["dup_kind"] == "translation" and groups["fr"]["dup_score"] == 0.8
    assert groups["fr"]["duplicate_of"] == "en"


def test_separate_components_stay_separate():
    groups = resolve_groups(star_edges([m("a", 1), m("b", 2)]) + star_edges([m("c", 1),
                                                                            m("d", 2)]))
    assert groups["b"]["copy_group_id"] == "a" and groups["d"]["copy_group_id"] == "c"


def test_a_second_document_in_one_language_breaks_the_weakest_translation_link():
    en, fr, de, en_other = m("en1", 1), m("fr1", 2), m("de1", 3), m("en2", 4, language="en")
    edges = [Edge(en, fr, "translation", 0.9), Edge(fr, de, "translation", 0.8),
             Edge(de, en_other, "translation", 0.45)]
    kept = split_language_conflicts(edges)
    assert [e.score for e in kept] == [0.9, 0.8]
    groups = resolve_groups(edges)
    assert "en2" not in groups and groups["de1"]["duplicate_of"] == "en1"


def test_same_language_copies_do_not_count_as_a_conflict():
    en, en_copy, fr = m("en1", 1), m("en2", 2, language="en"), m("fr1", 3)
    edges = [Edge(en, en_copy, "near", 0.8), Edge(en_copy, fr, "translation", 0.7)]
    assert len(split_language_conflicts(edges)) == 2


def test_new_copies_join_an_earlier_runs_group():
    old = m("en1", 5.0, existing=True, group="g0")
    new = m("fr1", 1.0)  # even an earlier date does not take the canonical role away
    groups = resolve_groups([Edge(old, new, "translation", 0.9)])
    assert "en1" not in groups  # rows of earlier runs are not rewritten
    assert groups["fr1"] == {"copy_group_id": "g0", "is_canonical": False,
                             "duplicate_of": "g0", "dup_kind": "translation", "dup_score": 0.9}


def test_a_weak_near_link_bridging_two_translated_stories_is_dropped():
    en1, de1, en2, de2 = m("en1", 1), m("de1", 2), m("en2", 3), m("de2", 4)
    edges = [Edge(en1, de1, "translation", 0.9), Edge(en2, de2, "translation", 0.8),
             Edge(en1, en2, "near", 0.55)]  # two chats sharing a closing template
    groups = resolve_groups(edges)
    assert groups["de1"]["copy_group_id"] == "en1" and groups["de2"]["copy_group_id"] == "en2"
    kept = split_language_conflicts(edges)
    assert [e.kind for e in kept] == ["translation", "translation"]


def test_a_lone_borderline_translation_link_does_not_merge_two_groups():
    # two reports of one event (fr/de and ru/en), linked only through 2 of 5 sentences
    fr, de, ru, en = m("fr1", 1), m("de1", 2), m("ru1", 1), m("en1", 2)
    edges = [Edge(fr, de, "translation", 0.8), Edge(ru, en, "translation", 0.8),
             Edge(de, en, "translation", 0.4), Edge(fr, en, "translation", 0.4)]
    assert [e.score for e in require_corroboration(edges)] == [0.8, 0.8]
    groups = resolve_groups(edges)
    assert groups["de1"]["copy_group_id"] == "fr1" and groups["en1"]["copy_group_id"] == "ru1"
    # a single report quoting a pair of translations links to both at once: the borderline
    # links do not add it to the pair
    ja = m("ja1", 3)
    groups = resolve_groups([*edges[:2], Edge(en, ja, "translation", 0.4),
                             Edge(ru, ja, "translation", 0.4)])
    assert "ja1" not in groups and groups["en1"]["copy_group_id"] == "ru1"
    # a document reaching two members of a bigger group on borderline links joins it
    cs = m("cs1", 1)
    trio = [Edge(ru, en, "translation", 0.8), Edge(ru, cs, "translation", 0.8)]
    weak2 = [Edge(x, ja, "translation", 0.4) for x in (ru, en)]
    groups = resolve_groups([*trio, *weak2])
    assert len({groups[a]["copy_group_id"] for a in ("ja1", "cs1", "ru1", "en1")}) == 1
    assert "ja1" not in resolve_groups([*trio, *weak2[:1]])
    # between two single documents the borderline link is all the evidence there is: kept
    es, it = m("es1", 1), m("it1", 2)
    groups = resolve_groups([*edges[:2], Edge(es, it, "translation", 0.4)])
    assert groups["it1"]["copy_group_id"] == groups["es1"]["copy_group_id"]
    # and a strong link merges groups as before
    groups = resolve_groups([*edges[:2], Edge(de, en, "translation", 0.6)])
    assert len({g["copy_group_id"] for g in groups.values()}) == 1


def test_a_near_link_elsewhere_in_the_group_survives_a_conflict():
    en, en_mirror, de, en_other = m("en1", 1), m("en2", 2), m("de1", 3), m("en3", 4)
    edges = [Edge(en, en_mirror, "near", 0.6), Edge(en, de, "translation", 0.9),
             Edge(de, en_other, "translation", 0.45)]  # the wrong link
    kept = split_language_conflicts(edges)
    assert sorted(e.score for e in kept) == [0.6, 0.9]
    groups = resolve_groups(edges)
    assert groups["en2"]["copy_group_id"] == groups["de1"]["copy_group_id"] == "en1"
    assert "en3" not in groups


def test_parallel_near_links_between_translated_chats_all_go():
    # three support chats built from one canned answer, each translated on its own
    en = [m(f"en{i}", i) for i in range(3)]
    de = [m(f"de{i}", i + 3) for i in range(3)]
    edges = [Edge(en[0], en[1], "near", 0.6), Edge(en[0], en[2], "near", 0.7),
             Edge(en[1], en[2], "near", 0.65)]
    edges += [Edge(e, d, "translation", 0.9) for e, d in zip(en, de, strict=True)]
    assert {e.kind for e in split_language_conflicts(edges)} == {"translation"}
    groups = resolve_groups(edges)
    assert [groups[f"de{i}"]["copy_group_id"] for i in range(3)] == ["en0", "en1", "en2"]


def test_edges_are_resolved_per_connected_day_window_with_the_same_groups():
    """MarkDuplicates never gathers a run's edges in one place: each connected window of
    publication days is resolved on its own, and the result equals resolving everything."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.dedup.groups import ResolvePerDayWindow, day_windows

    day = 86_400.0
    assert day_windows([(1, 2), (2, 3), (7, 7), (9, 10)]) == {1: 1, 2: 1, 3: 1, 7: 7, 9: 9,
                                                              10: 9}
    a, b, c = m("en-a", 1 * day), m("fr-b", 2 * day), m("de-c", 3 * day)  # a chain over 3 days
    d, e = m("en-d", 40 * day), m("en-e", 40 * day + 60)  # another window, weeks later
    f, g = m("en-f", 41.5 * day), m("es-g", 42 * day)  # the next days: a window of its own
    edges = [Edge(a, b, "translation", 0.8), Edge(b, c, "translation", 0.9),
             Edge(d, e, "near", 0.9), Edge(f, g, "translation", 0.7)]
    whole = resolve_groups(edges)
    assert len({v["copy_group_id"] for v in whole.values()}) == 3
    with TestPipeline(runner="FnApiRunner") as p:
        found = (p | beam.Create(edges) | ResolvePerDayWindow(resolve_groups)
                 | beam.Map(lambda kv: (kv[0], kv[1]["copy_group_id"], kv[1]["duplicate_of"])))
        assert_that(found, equal_to([(k, v["copy_group_id"], v["duplicate_of"])
                                     for k, v in whole.items()]))


def test_a_copy_link_that_copy_groups_drop_does_not_join_stories_either():
    from transforms.dedup.groups import resolve_story_window

    a, b, c, d = m("en-a", 1.0), m("fr-b", 2.0), m("en-c", 3.0), m("de-d", 4.0)
    edges = [Edge(a, b, "translation", 0.9), Edge(b, c, "translation", 0.6),  # en twice: conflict
             Edge(c, d, "story", 0.5)]
    stories = resolve_story_window(edges)
    assert stories["en-a"] == stories["fr-b"] == "en-a"
    assert stories["en-c"] == stories["de-d"] != stories["en-a"]
