"""Which workers and threads a run gets: every core by default for big inputs, what the user
names otherwise, and model threads that do not oversubscribe the machine."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

from pipelines.batch import make_options, run
from pipelines.options import (
    MULTI_PROCESS_MIN_BYTES,
    processes_per_machine,
    record_processes,
    use_cores,
)
from pipelines.query import connect
from transforms.embedding import load_embedder, threads_per_process
from transforms.rejects import reject
from transforms.sources import write_warc


def _direct(argv: list[str], size: int, cores: int = 2) -> tuple[int, str, int]:
    """(Beam workers, Beam running mode, record pool processes) chosen for ``argv``."""
    options = PipelineOptions(argv)
    use_cores(options, argv, size, cores)
    direct = options.view_as(DirectOptions)
    return direct.direct_num_workers, direct.direct_running_mode, record_processes(options)


def test_big_inputs_use_every_core_unless_the_user_chose():
    big = MULTI_PROCESS_MIN_BYTES
    # one in-process Beam worker, the per-record steps on a pool of one process per core
    assert _direct([], big, cores=4) == (1, "in_memory", 4)
    assert _direct([], big - 1) == (1, "in_memory", 1)  # loading every model would cost more
    assert _direct([], big, cores=1) == (1, "in_memory", 1)
    assert _direct(["--runner", "FnApiRunner"], big) == (1, "in_memory", 2)
    # the user's number of workers is the pool's, whatever the input's size
    assert _direct(["--direct_num_workers", "1"], big) == (1, "in_memory", 1)
    assert _direct(["--direct_num_workers", "3"], 10) == (1, "in_memory", 3)
    assert _direct(["--direct_num_workers=0"], 10, cores=4) == (1, "in_memory", 4)
    assert _direct(["--record_processes", "2"], 10) == (1, "in_memory", 2)
    # Beam's own worker modes and other runners as given, without a pool
    assert _direct(["--direct_running_mode", "multi_threading"], big) == (1, "multi_threading", 0)
    assert _direct(["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
                   big) == (2, "multi_processing", 0)
    assert _direct(["--runner", "DataflowRunner"], big)[2] == 0


def test_small_runs_stay_in_one_process(tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text('{"url": "https://a.example/1", "text": "Some text here."}\n')
    options, _ = make_options(["--jsonl", str(source), "--output", str(tmp_path / "out")])
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"


def test_model_threads_are_the_process_share_of_the_cores():
    local = PipelineOptions(["--runner", "FnApiRunner", "--direct_num_workers", "2",
                             "--direct_running_mode", "multi_processing"])
    assert processes_per_machine(local) == 2
    assert processes_per_machine(PipelineOptions(["--runner", "FnApiRunner"])) == 1
    assert processes_per_machine(PipelineOptions(["--runner", "DataflowRunner"])) == 0
    assert threads_per_process(2, cores=2) == 1
    assert threads_per_process(1, cores=8) == 8
    assert threads_per_process(0, cores=8) == 1  # one SDK process per core (Dataflow)
    assert threads_per_process(3, cores=2) == 1


def test_threads_setting_up_at_once_share_one_model():
    models = []

    def setup():
        models.append(load_embedder("e5", threads=1)._model)

    workers = [threading.Thread(target=setup) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len({id(m) for m in models}) == 1
    assert models[0].workers == 1


STORY = ("The city council approved the new budget on Tuesday after a long debate about "
         "schools, roads and the harbour, and the mayor said work would start in spring.")


def _rows(root: str, dataset: str) -> list[tuple]:
    con = connect(root)
    columns = [c for (c, *_) in con.execute(f"describe {dataset}").fetchall()
               if c not in ("run_id", "time") and not (c.endswith("_at") and c != "published_at")]
    return sorted(con.execute(f"select {', '.join(columns)} from {dataset}").fetchall(),
                  key=repr)


def test_the_record_pool_stores_and_rejects_what_one_process_does(tmp_path):
    """The per-record steps on two forked workers (and the headline vectors the launcher adds
    as their batches come back): the same article and reject rows as in one process (pages
    and JSONL records, good and bad ones), and the workers' counters counted."""
    pages = [(f"https://pool.example/{n}", (
        f"<html><head><title>Report {n}</title></head><body><article><h1>Report {n}</h1>"
        + "".join(f"<p>Paragraph {i} of report {n}: {STORY}</p>" for i in range(6))
        + "</article></body></html>").encode()) for n in range(12)]
    pages += [("https://pool.example/empty", b"<html><body></body></html>"),
              ("https://pool.example/menu", b"<html><body><p>Home | News</p></body></html>")]
    write_warc(str(tmp_path / "pages.warc.gz"), pages)
    lines = [{"url": f"https://jsonl.example/{n}", "text": f"Record {n}. {STORY}",
              "language": "en"} for n in range(3)] + [{"url": "https://jsonl.example/blank",
                                                        "text": "   "}]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    inputs = ["--warc", str(tmp_path / "pages.warc.gz"), "--jsonl", str(tmp_path / "docs.jsonl"),
              "--dedup-levels", "exact,translation"]  # headlines embedded as batches return
    counted = {}
    for processes in ("1", "2"):
        _, result = run([*inputs, "--output", str(tmp_path / processes),
                         "--record_processes", processes])
        counted[processes] = counts = Counter()
        for counter in result.metrics().query()["counters"]:  # summed over the steps
            if counter.key.metric.namespace in ("extract", "clean", "enrich", "dedup"):
                counts[f"{counter.key.metric.namespace}.{counter.key.metric.name}"] += (
                    counter.committed)
    one, two = str(tmp_path / "1"), str(tmp_path / "2")
    assert len(_rows(two, "articles")) == 15
    assert _rows(two, "articles") == _rows(one, "articles")
    assert len(_rows(two, "rejects")) == 3
    assert _rows(two, "rejects") == _rows(one, "rejects")
    assert counted["2"]["extract.extracted"] == 13
    assert counted["2"]["enrich.enriched"] == 15
    assert counted["2"] == counted["1"]


# the record pool's two stages, on toy steps: which process ran what, and that nothing is lost

LOADED = {"models": False}  # what the launcher's load() sets: only the full pool sees it set


class _Early(beam.DoFn):
    """Model-free step: notes whether this worker saw the models; rejects record 3."""

    def __init__(self, marker: str):
        self.marker = marker

    def process(self, record: dict):
        open(self.marker, "a").close()  # the launcher's load() waits for an early result
        if record["n"] == 3:
            yield reject(record, "extract", "toy", "three is rejected")
            return
        Metrics.counter("toy", "early").inc()
        yield {**record, "early_saw_models": LOADED["models"], "early_pid": os.getpid()}


class _Late(beam.DoFn):
    """The step that needs the models (a list of records, as enrichment takes them)."""

    def process(self, records: list[dict]):
        for record in records:
            Metrics.counter("toy", "late").inc()
            yield {**record, "late_saw_models": LOADED["models"], "late_pid": os.getpid()}


class _InLauncher(beam.DoFn):
    def process(self, records: list[dict]):
        for record in records:
            Metrics.counter("toy", "launched").inc()
            yield {**record, "launcher_pid": os.getpid()}


def test_the_pool_extracts_while_the_launcher_loads_the_models(tmp_path):
    """Records reach early workers before the models are loaded; the step that needs them
    runs only in workers forked after the load; the launcher step in the launcher; every
    record comes out once (or as its reject), with the workers' counters."""
    from pipelines.record_pool import RecordSteps, RunSteps, record_pool
    from transforms.rejects import REJECTS

    marker = str(tmp_path / "early-ran")

    def load() -> None:
        deadline = time.monotonic() + 120
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        LOADED["models"] = True

    chain = RecordSteps(f"toy-{os.getpid()}", [_Early(marker)], [_Late()], _InLauncher())
    records = [{"n": n, "url": f"https://toy.example/{n}"} for n in range(200)]
    try:
        with record_pool(2, [chain], load):
            with beam.Pipeline(runner="FnApiRunner", options=PipelineOptions([])) as p:
                out = (p | beam.Create(records, reshuffle=False)
                       | beam.ParDo(RunSteps(chain, task_records=4)).with_outputs(
                           REJECTS, main="records"))
                out.records | "Keep" >> beam.Map(_keep, "records")
                out.rejects | "KeepRejects" >> beam.Map(_keep, "rejects")
            result = p.result
        got = sorted(_KEPT["records"], key=lambda r: r["n"])
        assert [r["n"] for r in got] == [n for n in range(200) if n != 3]
        assert [r["url"] for r in _KEPT["rejects"]] == ["https://toy.example/3"]
        assert any(not r["early_saw_models"] for r in got)  # extracted while loading
        assert all(r["late_saw_models"] for r in got)
        assert {r["launcher_pid"] for r in got} == {os.getpid()}
        assert os.getpid() not in {r["late_pid"] for r in got} | {r["early_pid"] for r in got}
        counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
                    if c.key.metric.namespace == "toy"}
        assert counters == {"early": 199, "late": 199, "launched": 199}
    finally:
        LOADED["models"] = False
        _KEPT.clear()


_KEPT: dict[str, list[dict]] = {}  # what the test's pipeline output, in this process


def _keep(row: dict, name: str) -> None:
    _KEPT.setdefault(name, []).append(row)
