"""Models are built once per process even when threads set up at the same moment."""

import threading
import time

from transforms.e5_onnx import shared_model
from transforms.per_process import once_per_process


def test_threads_that_miss_together_build_once():
    builds = []

    @once_per_process()
    def load(name):
        builds.append(name)
        time.sleep(0.2)  # a slow model load: every thread arrives while the first one builds
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(load("m"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == ["m"]
    assert len({id(r) for r in results}) == 1


def test_only_the_latest_configurations_are_held():
    builds = []

    @once_per_process(maxsize=1)
    def load(name):
        builds.append(name)
        return name

    load("a"), load("a"), load("b"), load("a")
    assert builds == ["a", "b", "a"]


def test_the_e5_graph_is_shared_per_configuration():
    assert shared_model(threads=1) is shared_model(threads=1)


def test_the_warm_up_builds_every_table_enrichment_uses():
    # built in the launcher before the record pool forks, not once per worker (place names
    # come from the table cache now: country names must not wait for a worker's first acronym)
    from pipelines.preload import warm_up_enrichment
    from transforms import entities

    warm_up_enrichment()
    tables = (entities.place_names, entities.first_names, entities.last_names,
              entities.calendar_words, entities.country_names, entities._common_starts,
              entities._place_automaton)
    assert [t.__name__ for t in tables if not t.cache_info().currsize] == []
