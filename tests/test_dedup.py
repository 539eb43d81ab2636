from transforms.dedup import Edge, Member, resolve_groups, star_edges


def m(aid, published, original=True, self_canonical=True, fetched=0.0):
    return Member(aid, published, fetched, original, self_canonical)


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
