"""CPU seconds of ``extract_page`` with and without newsflow's speed-ups of trafilatura, and
whether they change any output.

    python bench/extraction_speedups.py [--eval ../shared/eval] [--limit N]

On the 1,171 dev pages (both extraction sets of ``../shared/eval``), every page is extracted
under each setting, the settings in rotating order page by page, so that a busy machine slows
them alike; prints each setting's CPU seconds, its ratio to trafilatura's own (the baseline of
the same run), and the number of pages whose ``extract_page`` output differs from the
baseline's (must be 0):
- ``trafilatura``: its discard XPaths (``trafilatura.xpaths``) and its HTML parser;
- ``prunes``: the discard lists as ``transforms.prune_xpaths`` installs them;
- ``prunes+parser``: plus ``transforms.extract.html_parser`` (what newsflow runs).
Run by hand, not in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trafilatura import xpaths  # noqa: E402
from trafilatura.utils import HTML_PARSER as TRAFILATURA_PARSER  # noqa: E402

from bench.entities import default_eval  # noqa: E402
from bench.pipeline import eval_pages  # noqa: E402
from transforms import extract  # noqa: E402  (installs the fast discard lists)
from transforms.prune_xpaths import PRUNE_LISTS  # noqa: E402


def settings() -> dict[str, tuple[dict[str, list], object]]:
    """Per setting: the members of each discard list, and the parser ``parse_html`` uses."""
    fast = {name: list(getattr(xpaths, name)) for name in PRUNE_LISTS}
    original = {name: [getattr(x, "original", x) for x in members]
                for name, members in fast.items()}
    return {"trafilatura": (original, TRAFILATURA_PARSER),
            "prunes": (fast, TRAFILATURA_PARSER),
            "prunes+parser": (fast, extract.HTML_PARSER)}


def use(lists: dict[str, list], parser) -> None:
    for name, members in lists.items():
        getattr(xpaths, name)[:] = members
    extract.HTML_PARSER = parser


def output(html: str, url: str):
    try:
        return extract.extract_page(html, url)
    except extract.ExtractError as exc:
        return exc.reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=default_eval())
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    pages = []
    for url, body in eval_pages(args.eval)[:args.limit or None]:
        try:
            pages.append((url, extract.decode_html(body)))
        except extract.ExtractError:
            continue
    chosen = settings()
    names = list(chosen)
    cpu = dict.fromkeys(names, 0.0)
    differ = dict.fromkeys(names, 0)
    for i, (url, html) in enumerate(pages):
        results = {}
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            use(*chosen[name])
            start = time.process_time()
            results[name] = output(html, url)
            cpu[name] += time.process_time() - start
        for name in names:
            differ[name] += results[name] != results["trafilatura"]
    use(*chosen["prunes+parser"])
    print(f"{len(pages)} pages, load average {os.getloadavg()[0]:.2f}")
    print(f"  {'setting':15s} {'CPU s':>7s} {'ratio':>6s} {'pages differing':>16s}")
    for name in names:
        print(f"  {name:15s} {cpu[name]:7.2f} {cpu[name] / cpu['trafilatura']:6.3f} "
              f"{differ[name]:16d}")


if __name__ == "__main__":
    main()
