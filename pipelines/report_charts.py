"""Charts of ``newsflow report``, drawn with matplotlib and returned as inline SVG markup.

SVG rather than a JavaScript plotting library: the page must open offline from a mail
attachment, where scripts are often blocked, and plotly's inlined bundle alone is ~4.8 MB per
report while an SVG chart is a few tens of kB. Text stays text (``svg.fonttype: none``) so the
page is searchable and titles can be read back from the DOM. Every data mark (bar, point, box)
carries an id starting with ``mark-`` so a test can check in a real browser that data was drawn.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: the report is rendered in batch

from matplotlib import dates as mdates  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295")
OTHER_COLOR = "#c8c8c8"
STYLE = {
    "svg.fonttype": "none",  # real <text>, not glyph paths
    "text.parse_math": False,  # "$135 bn" in a headline is not TeX
    "font.size": 10,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.axisbelow": True,
    "legend.frameon": False,
    "svg.hashsalt": "newsflow",
}


def colors_for(keys: Sequence[str]) -> dict[str, str]:
    """A stable colour per key (in the given order); ``other`` is always grey."""
    cycle = itertools.cycle(PALETTE)
    return {key: OTHER_COLOR if key == "other" else next(cycle) for key in keys}


class _Marks:
    """Hands out ``mark-<figure>-<n>`` ids for the data artists of one figure."""

    def __init__(self, name: str):
        self.name, self.count = name, 0

    def tag(self, *artists) -> None:
        for artist in artists:
            self.count += 1
            artist.set_gid(f"mark-{self.name}-{self.count}")


def _svg(fig: Figure, name: str, title: str) -> str:
    """The figure as an ``<svg>`` element that scales with its container (no fixed size)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    label = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    head += f' role="img" aria-label="{label}" class="chart" data-chart="{name}"'
    return head + text[head_end:]


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def _time_axis(ax, unit: str) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel({"day": "publication day", "week": "publication week",
                   "month": "publication month"}.get(unit, unit))


WIDTH = 6.4  # inches; at 96 px/in a chart is ~610 px wide, readable on a phone at 480 px

BUCKET_DAYS = {"day": 1, "week": 7, "month": 30}


def stacked_bars(name: str, title: str, buckets: Sequence[tuple[dt.date, str, int]],
                 unit: str, ylabel: str, xlabel: str | None = None,
                 colors: dict[str, str] | None = None) -> str:
    """Bars over time, one bar per bucket, stacked by key (``(bucket, key, count)`` rows)."""
    with matplotlib.rc_context(STYLE):
        keys = list(dict.fromkeys(k for _, k, _ in sorted(buckets, key=lambda r: -r[2])))
        keys.sort(key=lambda k: (k == "other", -sum(c for _, kk, c in buckets if kk == k)))
        colors = {**colors_for(keys), **(colors or {})}
        days = sorted({b for b, _, _ in buckets})
        bottom = dict.fromkeys(days, 0)
        fig = _figure(WIDTH, 3.6)
        ax = fig.subplots()
        marks = _Marks(name)
        width = BUCKET_DAYS.get(unit, 1) * 0.8
        for key in keys:
            values = {b: c for b, k, c in buckets if k == key}
            xs = [d for d in days if d in values]
            bars = ax.bar(xs, [values[d] for d in xs], width=width, align="edge" if unit != "day"
                          else "center", bottom=[bottom[d] for d in xs], color=colors[key],
                          label=key)
            marks.tag(*bars.patches)
            for d in xs:
                bottom[d] += values[d]
        _title(fig, title)
        ax.set_ylabel(ylabel)
        _time_axis(ax, unit)
        if xlabel:
            ax.set_xlabel(xlabel)
        if len(days) == 1:  # one bar: give it some room instead of a full-width slab
            only = mdates.date2num(days[0])
            ax.set_xlim(only - 7, only + 7)
        ax.yaxis.get_major_locator().set_params(integer=True)
        fig.legend(loc="outside lower center", ncols=min(3, len(keys)), fontsize=8)
        return _svg(fig, name, title)


def wrap(title: str, width: int) -> str:
    """Long titles (headlines) on several lines: one long line widens the whole SVG, which
    then shrinks to fit its column and every label with it."""
    return "\n".join(textwrap.wrap(title, width)) or title


def _title(fig: Figure, title: str, width: int = 62, size: int = 12) -> None:
    """Left-aligned over the whole figure, wrapped: the layout keeps room for it."""
    fig.suptitle(wrap(title, width), x=0.01, ha="left", fontsize=size, fontweight="bold")


def copy_timeline(name: str, title: str, copies: Sequence[tuple[str, float, str]]) -> str:
    """One group: each copy a point at its delay (hours) after the canonical, labelled."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(4.6, 1.3 + 0.3 * max(2, len(copies)))
        ax = fig.subplots()
        marks = _Marks(name)
        kinds = colors_for(["exact", "near", "translation", "other"])
        ys = list(range(len(copies), 0, -1))
        ax.axvline(0, color="#555555", linewidth=1)
        ax.annotate("canonical", (0, len(copies) + 0.6), fontsize=8, color="#555555",
                    annotation_clip=False)
        for y, (_, hours, kind) in zip(ys, copies, strict=False):
            ax.hlines(y, 0, hours, color="#bbbbbb", linewidth=1)
            point = ax.scatter([hours], [y], s=36, color=kinds.get(kind or "other", OTHER_COLOR),
                               zorder=3)
            marks.tag(point)
        ax.set_yticks(ys, [c[0] for c in copies], fontsize=8)
        ax.set_ylim(0.4, len(copies) + 1)
        ax.set_xlabel("hours after the original")
        ax.set_xlim(left=min(0, *(c[1] for c in copies)) - 0.5)
        _title(fig, title, width=50, size=10)
        ax.grid(axis="y", visible=False)
        handles = [ax.scatter([], [], s=30, color=color, label=kind)
                   for kind, color in kinds.items() if kind in {c[2] for c in copies}]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                       fontsize=8)
        return _svg(fig, name, title)


def first_appearances(name: str, title: str,
                      stories: Sequence[tuple[str, Sequence[tuple[str, float]]]],
                      colors: dict[str, str] | None = None) -> str:
    """Stories as rows; a labelled point per language at hours since the story first ran."""
    with matplotlib.rc_context(STYLE):
        langs = sorted({lang for _, points in stories for lang, _ in points})
        colors = {**colors_for(langs), **(colors or {})}
        fig = _figure(WIDTH, 0.9 + 0.5 * max(2, len(stories)))
        ax = fig.subplots()
        marks = _Marks(name)
        ys = list(range(len(stories), 0, -1))
        for y, (_, points) in zip(ys, stories, strict=False):
            hours = [h for _, h in points]
            ax.hlines(y, min(hours), max(hours), color="#cccccc", linewidth=2)
            for lang, h in points:
                point = ax.scatter([h], [y], s=60, color=colors[lang], zorder=3)
                marks.tag(point)
                ax.annotate(lang, (h, y), xytext=(0, 6), textcoords="offset points",
                            ha="center", fontsize=8)
        ax.set_yticks(ys, [label for label, _ in stories], fontsize=8)
        ax.set_ylim(0.4, len(stories) + 0.7)
        ax.set_xlabel("hours after the story's first article")
        _title(fig, title)
        ax.grid(axis="y", visible=False)
        return _svg(fig, name, title)


def delay_boxes(name: str, title: str, rows: Sequence[tuple[str, int, dict]]) -> str:
    """One horizontal box per row from precomputed quantiles (``(label, n, stats)``)."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(WIDTH, 0.9 + 0.42 * max(2, len(rows)))
        ax = fig.subplots()
        marks = _Marks(name)
        stats = [{"label": f"{label} (n={n})", "med": s["med"], "q1": s["q1"], "q3": s["q3"],
                  "whislo": s["lo"], "whishi": s["hi"], "fliers": []} for label, n, s in rows]
        drawn = ax.bxp(stats[::-1], orientation="horizontal", patch_artist=True,
                       showfliers=False, widths=0.5,
                       boxprops={"facecolor": PALETTE[0], "alpha": 0.8},
                       medianprops={"color": "black"})
        marks.tag(*drawn["boxes"])
        medians = ax.scatter([s["med"] for s in stats[::-1]], range(1, len(stats) + 1),
                             marker="D", s=28, color="black", zorder=4)
        marks.tag(medians)
        ax.set_xlim(left=min(0.0, *(s["whislo"] for s in stats)))
        ax.set_xlabel("hours from original to translation")
        _title(fig, title)
        ax.tick_params(axis="y", labelsize=8)
        return _svg(fig, name, title)


def stacked_hbars(name: str, title: str, rows: Sequence[tuple[str, str, int]],
                  xlabel: str, legend_title: str) -> str:
    """Horizontal bars (one per first key, in the given order) stacked by the second key."""
    with matplotlib.rc_context(STYLE):
        labels = list(dict.fromkeys(r[0] for r in rows))
        keys = list(dict.fromkeys(r[1] for r in sorted(rows, key=lambda r: -r[2])))
        keys.sort(key=lambda k: k == "other")
        colors = colors_for(keys)
        fig = _figure(WIDTH, 1.0 + 0.36 * max(2, len(labels)))
        ax = fig.subplots()
        marks = _Marks(name)
        ys = {label: i for i, label in enumerate(reversed(labels))}
        left = dict.fromkeys(labels, 0)
        for key in keys:
            part = [(label, n) for label, k, n in rows if k == key]
            bars = ax.barh([ys[label] for label, _ in part], [n for _, n in part],
                           left=[left[label] for label, _ in part], color=colors[key],
                           label=key, height=0.7)
            marks.tag(*bars.patches)
            for label, n in part:
                left[label] += n
        ax.set_yticks(list(ys.values()), list(ys.keys()), fontsize=8)
        ax.set_xlabel(xlabel)
        _title(fig, title)
        ax.grid(axis="y", visible=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(keys) > 1 or keys and keys[0] != labels[0]:
            fig.legend(title=legend_title, loc="outside lower center",
                       ncols=min(3, len(keys)), fontsize=8, title_fontsize=8)
        return _svg(fig, name, title)


def run_health(name: str, title: str,
               runs: Sequence[tuple[dt.datetime, int, int, float | None]]) -> str:
    """Articles and rejects per run, and run duration, over time (``(start, a, r, secs)``)."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(WIDTH, 4.6)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        marks = _Marks(name)
        when = [r[0] for r in runs]
        for ax, values, label, color in ((top, [r[1] for r in runs], "articles", PALETTE[0]),
                                         (top, [r[2] for r in runs], "rejects", PALETTE[2])):
            (line,) = ax.plot(when, values, marker="o", markersize=5, color=color, label=label,
                              linewidth=1.5)
            marks.tag(line)
        top.set_ylabel("rows written")
        _title(fig, title)
        top.legend(loc="best", fontsize=8)
        top.yaxis.get_major_locator().set_params(integer=True)
        timed = [(r[0], r[3]) for r in runs if r[3] is not None]
        if timed:
            (line,) = bottom.plot([t for t, _ in timed], [s for _, s in timed], marker="o",
                                  markersize=5, color=PALETTE[4], linewidth=1.5)
            marks.tag(line)
        bottom.set_ylabel("duration (s)")
        bottom.set_ylim(bottom=0)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        bottom.set_xlabel("run start (UTC)")
        if len(runs) == 1:
            only = mdates.date2num(when[0])
            bottom.set_xlim(only - 0.5, only + 0.5)
        return _svg(fig, name, title)


def hbars(name: str, title: str, rows: Sequence[tuple[str, int, str]], xlabel: str) -> str:
    """Horizontal bars, one per row ``(label, value, colour key)``, largest first."""
    with matplotlib.rc_context(STYLE):
        keys = list(dict.fromkeys(r[2] for r in rows))
        colors = colors_for(keys)
        fig = _figure(WIDTH, 1.0 + 0.3 * max(2, len(rows)))
        ax = fig.subplots()
        marks = _Marks(name)
        ys = list(range(len(rows), 0, -1))
        bars = ax.barh(ys, [r[1] for r in rows], color=[colors[r[2]] for r in rows],
                       height=0.7)
        marks.tag(*bars.patches)
        ax.set_yticks(ys, [r[0] for r in rows], fontsize=8)
        ax.set_xlabel(xlabel)
        _title(fig, title)
        ax.grid(axis="y", visible=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(keys) > 1:
            handles = [Patch(color=colors[k], label=k) for k in keys]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(keys)),
                       fontsize=8)
        return _svg(fig, name, title)
