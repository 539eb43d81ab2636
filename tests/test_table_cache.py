"""Tables kept on disk: read back when built from the same inputs, rebuilt (never fatal) when
missing, stale, corrupt or unwritable."""

import logging

import pytest

from transforms import table_cache
from transforms.table_cache import on_disk


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting():
    builds = []

    @on_disk("test-table", ("pytest",))
    def table():
        builds.append(1)
        return {"Berlin": "LOC", "names": frozenset({"Anna"})}

    return table, builds


def test_a_table_is_built_once_then_read(cache):
    table, builds = _counting()
    assert table() == table() == {"Berlin": "LOC", "names": frozenset({"Anna"})}
    assert builds == [1]
    assert len(list(cache.glob("test-table-*.pickle"))) == 1


def test_a_corrupt_or_truncated_file_is_rebuilt(cache, caplog):
    table, builds = _counting()
    table()
    (path,) = cache.glob("test-table-*.pickle")
    path.write_bytes(path.read_bytes()[:-3])
    with caplog.at_level(logging.WARNING):
        assert table()["Berlin"] == "LOC"
    assert builds == [1, 1] and "truncated or corrupt" in caplog.text
    path.write_bytes(b"garbage")
    assert table()["Berlin"] == "LOC" and builds == [1, 1, 1]
    assert table()["Berlin"] == "LOC" and builds == [1, 1, 1]  # the rebuilt file is good


def test_other_package_versions_build_their_own(cache, monkeypatch):
    table, builds = _counting()
    table()
    monkeypatch.setattr(table_cache, "_installed", lambda package: "0.0-other")
    table()
    assert builds == [1, 1]
    assert len(list(cache.glob("test-table-*.pickle"))) == 2


def test_a_file_of_another_key_is_not_used(cache):
    table, builds = _counting()
    table()
    (path,) = cache.glob("test-table-*.pickle")
    key = table_cache.table_key(table.__wrapped__, ("pytest",))
    with pytest.raises(LookupError):
        table_cache.read_table(path, {**key, "python": [2, 7]})


def test_an_unwritable_cache_still_gives_the_table(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NEWSFLOW_CACHE_DIR", str(blocker / "cache"))  # under a file
    table, builds = _counting()
    with caplog.at_level(logging.WARNING):
        assert table()["Berlin"] == "LOC"
    assert table()["Berlin"] == "LOC" and builds == [1, 1]
    assert "could not cache" in caplog.text


def test_cached_tables_equal_built_ones():
    from transforms.enrich import _built_langid_model
    from transforms.entities import first_names, place_names

    assert place_names() == place_names.__wrapped__.__wrapped__()
    assert first_names() == first_names.__wrapped__.__wrapped__()
    text = "Der Bürgermeister von Berlin traf am Montag Journalisten der dpa in München."
    cached, built = _built_langid_model(), _built_langid_model.__wrapped__()
    assert cached.classify(text) == built.classify(text)
    assert (cached.nb_ptc == built.nb_ptc).all() and cached.tk_nextmove == built.tk_nextmove
