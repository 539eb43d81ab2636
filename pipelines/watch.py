"""``newsflow watch --every 15m [run options]``: bounded runs, one after another, for months.

For users without a scheduler. Each run is a separate ``newsflow run`` process (its memory,
runner and lock are its own, and a crash of one run cannot take the watch down) with the same
options and a fresh ``--run_id``. One status line per run on stdout: start, outcome, articles,
rejects, duration, next run.

- Runs start on a fixed grid (start + k x every); a run longer than the interval makes the
  next one start at once (the ticks it overran are skipped, not queued).
- A failed run (exit 1: the pipeline failed) is logged with the tail of its output and retried
  with exponential backoff (``--retry-delay``, doubling, capped at the interval), instead of
  ending the watch.
- Exit 2 from a run (the output root is locked by another run, or an input list is unreadable)
  is logged and tried again at the next tick. Options are checked once at start, so a typo
  ends the watch at once instead of failing every 15 minutes.
- Ctrl-C (SIGINT) or SIGTERM: the current run **finishes, commit included**, then the watch
  exits (status 0). The run is in its own process group, so the terminal's Ctrl-C does not reach
  it. A second Ctrl-C abandons it: the run process is terminated before its commit, which leaves
  nothing visible (the commit protocol publishes a run only once it completes; the next run
  clears what the killed one left).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``1h``, ``1d`` -> seconds."""
    match = _DURATION.match(text or "")
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 15m, 1h, 1d)")
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {text!r}")
    return seconds


def _utc(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunOutcome:
    run_id: str
    code: int
    seconds: float
    articles: int | None = None
    rejects: int | None = None
    tail: list[str] = field(default_factory=list)


def _rows(root: str, run_id: str) -> tuple[int | None, int | None]:
    """Articles and rejects of a committed run, from its manifest (None when there is none)."""
    from transforms.sinks import read_manifest

    try:
        rows = read_manifest(root, run_id).get("rows", {})
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None, None
    except Exception:  # noqa: BLE001 - e.g. a Beam filesystem error for a missing object
        return None, None
    return rows.get("articles"), rows.get("rejects")


class Watch:
    """Runs ``newsflow run <run_args>`` every ``every`` seconds until stopped."""

    def __init__(self, run_args: list[str], root: str, every: float, retry_delay: float,
                 max_runs: int | None = None, out=None,
                 clock: Callable[[], float] = time.time):
        self.run_args, self.root, self.every = run_args, root, every
        self.retry_delay, self.max_runs = retry_delay, max_runs
        self.out = out or sys.stdout
        self.clock = clock
        self.stopping = False
        self.child: subprocess.Popen | None = None

    # -- signals ------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        if not self.stopping:
            self.stopping = True
            if self.child is not None and self.child.poll() is None:
                self.say("stop requested: the current run finishes (commit included), then the "
                         "watch exits; Ctrl-C again abandons the run (nothing of it visible)")
            else:
                self.say("stop requested: exiting")
        elif self.child is not None and self.child.poll() is None:
            self.say("abandoning the current run (terminated before its commit)")
            self.child.terminate()

    def say(self, message: str) -> None:
        print(f"{_utc(self.clock())} {message}", file=self.out, flush=True)

    # -- one run ------------------------------------------------------------------------------

    def run_once(self) -> RunOutcome:
        from pipelines.batch import new_run_id

        run_id = new_run_id()
        command = [sys.executable, "-m", "pipelines.cli", "run", *self.run_args,
                   "--run_id", run_id]
        started = time.monotonic()
        with tempfile.TemporaryFile() as log:
            # own session: the terminal's Ctrl-C reaches the watch only, which decides
            self.child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            while True:
                try:
                    code = self.child.wait()
                    break
                except KeyboardInterrupt:  # a handler-less SIGINT (should not happen)
                    continue
            self.child = None
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").splitlines()[-30:]
        articles, rejects = _rows(self.root, run_id) if code in (0, 3) else (None, None)
        return RunOutcome(run_id, code, time.monotonic() - started, articles, rejects, tail)

    def report(self, outcome: RunOutcome, started: float, next_at: float | None) -> None:
        later = f"; next run {_utc(next_at)}" if next_at is not None else ""
        head = f"run {outcome.run_id} (started {_utc(started)})"
        if outcome.code in (EXIT_OK, EXIT_REJECTS):
            self.say(f"{head}: ok, {outcome.articles} articles, {outcome.rejects} rejects, "
                     f"{outcome.seconds:.1f} s{later}")
        elif outcome.code == EXIT_USAGE:
            reason = next((line for line in reversed(outcome.tail) if line.strip()), "")
            self.say(f"{head}: not run (exit 2: {reason.strip()[:300]}){later}")
        else:
            self.say(f"{head}: FAILED (exit {outcome.code}) after {outcome.seconds:.1f} s"
                     f"{later}")
            for line in outcome.tail[-15:]:
                print(f"    | {line}", file=self.out)
            self.out.flush()

    # -- the loop -----------------------------------------------------------------------------

    def _sleep_until(self, when: float) -> None:
        while not self.stopping and self.clock() < when:
            time.sleep(min(0.2, max(0.0, when - self.clock())))

    def loop(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            origin = self.clock()
            tick = 0
            failures = 0
            runs = 0
            self.say(f"watching: a run every {self.every:g} s -> {self.root} (Ctrl-C stops)")
            while not self.stopping:
                started = self.clock()
                outcome = self.run_once()
                runs += 1
                last = self.max_runs is not None and runs >= self.max_runs
                if outcome.code == EXIT_FAILED or outcome.code < 0 and not self.stopping:
                    failures += 1
                    wait = min(self.every, self.retry_delay * 2 ** (failures - 1))
                    next_at = self.clock() + wait
                else:
                    failures = 0
                    now = self.clock()
                    tick = max(tick + 1, int((now - origin) // self.every) + 1)
                    next_at = origin + tick * self.every
                stop_now = self.stopping or last
                self.report(outcome, started, None if stop_now else next_at)
                if stop_now:
                    break
                self._sleep_until(next_at)
            self.say("watch stopped")
            return EXIT_OK
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _output_root(run_args: list[str]) -> str:
    from pipelines.batch import make_options

    _, opts = make_options(list(run_args))
    return opts.output


def cmd_watch(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="newsflow watch",
        usage="newsflow watch --every 15m [--retry-delay 1m] [--max-runs N] [run options]",
        description="Run `newsflow run [run options]` every interval until stopped (Ctrl-C: "
                    "the current run finishes and commits, then the watch exits; a second "
                    "Ctrl-C abandons it). One status line per run. A failed run is retried "
                    "with backoff; a locked output root is tried again at the next tick.")
    parser.add_argument("--every", type=parse_duration, required=True,
                        help="interval between run starts (30s, 15m, 1h, 1d)")
    parser.add_argument("--retry-delay", "--retry_delay", dest="retry_delay",
                        type=parse_duration, default=60.0,
                        help="first retry after a failed run (doubles; capped at --every)")
    parser.add_argument("--max-runs", "--max_runs", dest="max_runs", type=int, default=None,
                        help="stop after this many runs (default: until stopped)")
    args, run_args = parser.parse_known_args(argv)
    if "--run_id" in run_args or any(a.startswith("--run_id=") for a in run_args):
        print("newsflow watch: --run_id is chosen per run by the watch", file=sys.stderr)
        return EXIT_USAGE
    from pipelines.batch import UsageError

    try:
        root = _output_root(run_args)
    except UsageError as exc:
        print(f"newsflow watch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return Watch(run_args, root, args.every, args.retry_delay, args.max_runs).loop()
