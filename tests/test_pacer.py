"""The host pacer and host batches, without a runner: one request at a time per host, the delay
counted from the end of the previous request, other hosts not held up; stable batches."""

from __future__ import annotations

import threading
import time

from transforms.fetch import HostPacer, host_batches


def test_one_host_takes_turns_and_the_delay_runs_from_the_end():
    pacer = HostPacer()
    spans: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}

    def request(host: str) -> None:
        with pacer.turn(host, 0.1):
            start = time.monotonic()
            time.sleep(0.1)  # the request itself
            spans[host].append((start, time.monotonic()))

    threads = [threading.Thread(target=request, args=(h,)) for h in ("a", "a", "a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a = sorted(spans["a"])
    for (_, end), (start, _) in zip(a, a[1:], strict=False):
        assert start - end >= 0.095, "two requests to one host overlapped or came too soon"
    assert spans["b"][0][0] < a[-1][0], "another host waited for this host's turns"


def test_host_batches_are_stable_and_bounded():
    requests = [{"url": f"http://h.example/{n:03d}"} for n in range(250)][::-1]
    batches = list(host_batches(("h.example", requests), 100))
    assert [key for key, _ in batches] == [("h.example", 0), ("h.example", 1), ("h.example", 2)]
    assert [len(b) for _, b in batches] == [100, 100, 50]
    assert batches[0][1][0]["url"] == "http://h.example/000"  # sorted: a rerun cuts the same
