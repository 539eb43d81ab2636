"""Which workers and threads a run gets: every core by default for big inputs, what the user
names otherwise, and model threads that do not oversubscribe the machine."""

from __future__ import annotations

import threading

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

from pipelines.batch import make_options
from pipelines.options import MULTI_PROCESS_MIN_BYTES, processes_per_machine, use_cores
from transforms.embedding import load_embedder, threads_per_process


def _direct(argv: list[str], size: int, cores: int = 2) -> tuple[int, str]:
    options = PipelineOptions(argv)
    use_cores(options, argv, size, cores)
    direct = options.view_as(DirectOptions)
    return direct.direct_num_workers, direct.direct_running_mode


def test_big_inputs_use_every_core_unless_the_user_chose():
    big = MULTI_PROCESS_MIN_BYTES
    assert _direct([], big, cores=4) == (4, "multi_processing")
    assert _direct([], big - 1) == (1, "in_memory")  # starting workers would cost more
    assert _direct([], big, cores=1) == (1, "in_memory")
    assert _direct(["--direct_num_workers", "1"], big) == (1, "in_memory")
    assert _direct(["--direct_running_mode", "multi_threading"], big) == (1, "multi_threading")
    assert _direct(["--runner", "FnApiRunner"], big) == (1, "in_memory")


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
