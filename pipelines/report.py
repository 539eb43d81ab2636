"""``newsflow report``: one self-contained HTML page about an output root.

Editors and researchers look at this instead of writing SQL: what came in, what was copied from
whom, in which languages a story travelled, and whether the runs are healthy. Everything is
computed with DuckDB aggregates over the views of :func:`pipelines.query.connect` (so the page
sees what ``newsflow query`` sees, committed runs only), never by loading article text; only
the few titles shown are read. Charts are inline SVG (``pipelines/report_charts.py``) and the
styles are inline, so the file opens offline and makes no request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import html
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import duckdb

from pipelines import report_charts as charts
from pipelines.query import connect

TOP_GROUPS = 6  # copy groups drawn as timelines
COPIES_PER_GROUP = 25  # copies listed per group (largest groups can hold hundreds)
TOP_STORIES = 10
TOP_DOMAINS = 12
TOP_LANGUAGES = 9  # more languages than this are summed as "other" in the stacked bars
TOP_REASONS = 9
TOP_ENTITIES = 20
FAILING_RUNS = 2  # a feed rejected in this many of the latest runs in a row is "failing"
MAX_RUNS_DRAWN = 500


class ReportError(ValueError):
    """A usage problem (unknown root, bad ``--since``), reported without a traceback."""


def parse_since(text: str | None) -> dt.timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` -> a duration; None or empty -> no window."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise ReportError(f"--since {text!r}: expected a number and a unit m/h/d/w, e.g. 7d")
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return dt.timedelta(**{unit: int(match.group(1))})


@dataclasses.dataclass
class Table:
    columns: list[str]
    rows: list[tuple]


@dataclasses.dataclass
class Section:
    """One block of the page: a heading, why it matters, charts and a table, or why empty."""

    key: str
    title: str
    intro: str
    charts: list[str] = dataclasses.field(default_factory=list)
    table: Table | None = None
    empty: str | None = None  # shown instead of charts when there is nothing to draw
    grid: bool = False  # small multiples side by side


# ---------------------------------------------------------------------------------- manifests

def read_manifests(root: str) -> tuple[list[dict], int]:
    """Run manifests ``_runs/*.json`` oldest first, and how many could not be read."""
    if "://" in root:
        from apache_beam.io.filesystems import FileSystems

        from transforms.sinks import join, matching_files

        paths = matching_files(join(root, "_runs", "*.json"))

        def read(path: str) -> bytes:
            with FileSystems.open(path) as handle:
                return handle.read()
    else:
        paths = sorted(glob.glob(os.path.join(root, "_runs", "*.json")))

        def read(path: str) -> bytes:
            with open(path, "rb") as handle:
                return handle.read()
    runs, unreadable = [], 0
    for path in paths:
        try:
            manifest = json.loads(read(path).decode("utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not an object")
        except (OSError, ValueError):
            unreadable += 1
            continue
        manifest.setdefault("run_id", os.path.basename(path)[: -len(".json")])
        manifest["_start"] = _when(manifest.get("started_at")) or _when(
            manifest.get("finished_at"))
        manifest["_end"] = _when(manifest.get("finished_at"))
        runs.append(manifest)
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    runs.sort(key=lambda m: (m["_start"] or epoch, str(m["run_id"])))
    return runs, unreadable


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ------------------------------------------------------------------------------------ queries

SITE_COLUMNS = ("source_domain", "url", "final_url")


def site_sql(alias: str = "") -> str:
    """Who published an article: its registered domain, or for a bare IP host (no registered
    domain says nothing about the publisher) the host plus the first path segment."""
    a = f"{alias}." if alias else ""
    path = (f"regexp_extract(coalesce({a}final_url, {a}url), "
            r"'^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/([^/?#]+)/', 1)")
    return (f"(case when coalesce({a}source_domain, '') = '' then 'unknown' "
            f"when regexp_matches({a}source_domain, '^[0-9.]+$|:') "
            f"then {a}source_domain || coalesce('/' || nullif({path}, ''), '') "
            f"else {a}source_domain end)")


#: columns of the ``facts`` snapshot (one row per article, no text, no title)
FACT_COLUMNS = {"article_id": "varchar", "language": "varchar", "published_at": "timestamptz",
                "fetched_at": "timestamptz", "duplicate_of": "varchar",
                "copy_group_id": "varchar", "dup_kind": "varchar", "story_id": "varchar"}
#: columns of the ``refused`` snapshot (one row per reject, no detail)
REFUSED_COLUMNS = {"time": "timestamptz", "stage": "varchar", "reason": "varchar",
                   "url": "varchar", "run_id": "varchar"}


class Dataset:
    """The views of an output root, which columns they have, and the report's time window.

    Every query over a view binds every committed file again (``union_by_name``), ~0.3 s for a
    few hundred files; so the views are read once, into two slim temp tables: ``facts`` (per
    article: ids, site, language, day, publication time, copy and story links, and whether it
    came in within the window) and ``refused`` (per reject). Text, titles and details stay in
    the files; the few shown are fetched by id.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, cutoff: dt.datetime | None):
        self.con, self.cutoff = con, cutoff
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # the command prints one line, no bars
        views = {r[0] for r in con.execute(
            "select view_name from duckdb_views() where not internal").fetchall()}
        self.columns: dict[str, set[str]] = {}
        for view in views:
            try:
                described = con.execute(f'describe "{view}"').fetchall()
            except duckdb.Error:  # a view over files that vanished: treat as absent
                continue
            self.columns[view] = {row[0] for row in described}
        # one thread for the one big scan: its peak memory was ~5x smaller (+50 MB instead of
        # +240 MB over 2,477 files, 100k articles; bench/report.py), ~30% slower
        con.execute("SET threads = 1")
        self._snapshot("articles", "facts", FACT_COLUMNS, "fetched_at", {
            "site": site_sql() if self.has("articles", *SITE_COLUMNS) else "'unknown'",
            "day": "cast(date as date)" if self.has("articles", "date")
            else "cast(published_at as date)" if self.has("articles", "published_at")
            else "null::date"})
        self._snapshot("rejects", "refused", REFUSED_COLUMNS, "time", {
            "day": "cast(time as date)" if self.has("rejects", "time") else "null::date"})
        con.execute("RESET threads")
        self._titles: dict[str, str | None] = {}
        self._prefetch_titles()

    def _snapshot(self, view: str, table: str, columns: dict[str, str], when: str,
                  derived: dict[str, str]) -> None:
        """``create temp table`` with the columns the view has (nulls for those it lacks)."""
        if view not in self.columns:
            return
        picked = [f"{name}" if name in self.columns[view] else f"null::{kind} as {name}"
                  for name, kind in columns.items()]
        picked += [f"{sql} as {name}" for name, sql in derived.items()]
        in_window = self.window(when) if when in self.columns[view] else "true"
        self.con.execute(f"create temp table {table} as select {', '.join(picked)}, "
                         f"coalesce({in_window}, false) as in_window from {view}")

    def has(self, view: str, *columns: str) -> bool:
        return view in self.columns and set(columns) <= self.columns[view]

    def window(self, column: str, alias: str = "") -> str:
        """SQL condition keeping rows inside ``--since`` (``true`` without a window)."""
        if self.cutoff is None:
            return "true"
        a = f"{alias}." if alias else ""
        return f"{a}{column} >= TIMESTAMPTZ '{self.cutoff.isoformat()}'"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def titles(self, article_ids: list[str]) -> dict[str, str | None]:
        """The titles of a few articles (read from the files, only for these ids)."""
        missing = sorted(set(article_ids) - set(self._titles))
        if missing and self.has("articles", "article_id", "title"):
            found = dict(self.rows("""select article_id, any_value(title) from articles
                                      where article_id in (select unnest(?)) group by 1""",
                                   [missing]))
            self._titles.update({i: found.get(i) for i in missing})
        return {i: self._titles.get(i) for i in article_ids}

    def _prefetch_titles(self) -> None:
        """Every query of a view binds all its files again: the titles the page shows (the
        canonical of each top copy group, the first article of each top story) in one."""
        if not self.has("articles", "article_id", "title", "story_id", "copy_group_id"):
            return
        ids = [r[0] for r in self.rows(f"""
            (select copy_group_id from facts
             where duplicate_of is not null and copy_group_id is not null and in_window
             group by 1 order by count(*) desc, count(distinct language) desc, 1
             limit {TOP_GROUPS})
            union
            (select arg_min(article_id, published_at) from facts
             where in_window and language is not null and story_id in (
                 select story_id from facts
                 where story_id is not null and language is not null and in_window
                 group by 1 having count(distinct language) > 1
                 order by count(distinct language) desc, count(*) desc, 1
                 limit {TOP_STORIES})
             group by story_id, language)""")]
        self.titles(ids)

    def language_colors(self) -> dict[str, str]:
        """One colour per language for every chart, the most frequent languages first."""
        if not hasattr(self, "_language_colors"):
            langs = [r[0] for r in self.rows(f"""
                select coalesce(language, 'und') from facts where in_window
                group by 1 order by count(*) desc, 1 limit {TOP_LANGUAGES}""")
                     ] if self.has("articles") else []
            self._language_colors = charts.colors_for(langs)
        return self._language_colors


def bucket_unit(first: dt.date | None, last: dt.date | None) -> str:
    """Day bars up to two months, then weeks up to a year, then months: bars stay visible."""
    if first is None or last is None:
        return "day"
    span = (last - first).days
    return "day" if span <= 62 else "week" if span <= 366 else "month"


def _top_or_other(rows: list[tuple], keep: int) -> list[tuple]:
    """``(bucket, key, n)`` rows with keys beyond the ``keep`` largest summed as ``other``."""
    totals: dict[str, int] = {}
    for _, key, n in rows:
        totals[key] = totals.get(key, 0) + n
    kept = set(sorted(totals, key=lambda k: (-totals[k], k))[:keep])
    merged: dict[tuple, int] = {}
    for bucket, key, n in rows:
        slot = (bucket, key if key in kept else "other")
        merged[slot] = merged.get(slot, 0) + n
    return [(b, k, n) for (b, k), n in sorted(merged.items())]


def _short(text: Any, width: int = 70) -> str:
    value = " ".join(str(text or "").split()) or "(no title)"
    return value if len(value) <= width else value[: width - 1] + "…"


def _hours(seconds: Any) -> float:
    return round(float(seconds) / 3600.0, 2) if seconds is not None else 0.0


def _fmt_hours(hours: float | None) -> str:
    if hours is None:
        return "?"
    if abs(hours) < 1:
        return f"{hours * 60:.0f} min"
    if abs(hours) < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _stamp(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------------- sections

def articles_section(data: Dataset) -> Section:
    section = Section("articles", "Articles per day and language",
                      "Every article written (copies included), by publication date and "
                      "language.")
    if not data.has("articles"):
        section.empty = "No articles yet."
        return section
    span = data.rows("select min(day), max(day) from facts where in_window")
    unit = bucket_unit(*span[0]) if span else "day"
    rows = data.rows(f"""
        select date_trunc('{unit}', day) as bucket, coalesce(language, 'und') as lang,
               count(*) as n
        from facts where in_window and day is not null group by all order by all""")
    if not rows:
        section.empty = "No articles in this window."
        return section
    section.title = f"Articles per {unit} and language"
    stacked = _top_or_other([(r[0], r[1], r[2]) for r in rows], TOP_LANGUAGES)
    section.charts.append(charts.stacked_bars(
        "articles", section.title, stacked, unit, "articles", colors=data.language_colors()))
    by_lang = data.rows("""
        select coalesce(language, 'und'), count(*), count(*) filter (where duplicate_of is null),
               min(day), max(day)
        from facts where in_window group by 1 order by 2 desc, 1""")
    section.table = Table(["language", "articles", "originals", "first day", "last day"],
                          by_lang)
    return section


def rejects_section(data: Dataset) -> Section:
    section = Section("rejects", "Rejects per day by stage and reason",
                      "Inputs that did not become articles, by the day they were refused.")
    if not data.has("rejects", "time", "stage", "reason"):
        section.empty = "No rejects: every input became an article (or nothing ran yet)."
        return section
    span = data.rows("select min(day), max(day) from refused where in_window")
    unit = bucket_unit(*span[0]) if span else "day"
    rows = data.rows(f"""
        select date_trunc('{unit}', day), stage || ' / ' || reason, count(*)
        from refused where in_window and day is not null group by all order by all""")
    if not rows:
        section.empty = "No rejects in this window."
        return section
    section.title = f"Rejects per {unit} by stage and reason"
    section.charts.append(charts.stacked_bars(
        "rejects", section.title, _top_or_other(rows, TOP_REASONS), unit, "rejects",
        xlabel=f"{unit} refused (UTC)"))
    example = "any_value(detail)" if data.has("rejects", "detail") else "''"
    section.table = Table(["stage", "reason", "rejects", "example"], [
        (s, r, n, _short(d, 90)) for s, r, n, d in data.rows(f"""
            select stage, reason, count(*), {example} from rejects
            where {data.window('time')} group by 1, 2 order by 3 desc, 1, 2 limit 30""")])
    return section


def copy_groups_section(data: Dataset) -> Section:
    section = Section("copies", "Largest copy groups",
                      "Each group is one original (the canonical article, earliest published) "
                      "and its verbatim, near and translated copies; each point is a copy at "
                      "its delay after the original was published.", grid=True)
    needed = ("article_id", "copy_group_id", "duplicate_of", "published_at", "language")
    if not data.has("articles", *needed):
        section.empty = "No copy groups yet."
        return section
    top = data.rows(f"""
        select copy_group_id, count(*) as copies, count(distinct language) as languages
        from facts where duplicate_of is not null and copy_group_id is not null and in_window
        group by 1 order by copies desc, languages desc, copy_group_id limit {TOP_GROUPS}""")
    if not top:
        section.empty = "No copies found yet: every article is its own original."
        return section
    ids = [r[0] for r in top]
    titles = data.titles([g for g in ids])
    canonical = {r[0]: (r[0], titles.get(r[0]), *r[1:]) for r in data.rows("""
        select article_id, language, site, published_at from facts
        where article_id in (select unnest(?))
        qualify row_number() over (partition by article_id order by published_at nulls last)
                = 1""", [ids])}
    copies = data.rows(f"""
        select copy_group_id, language, site, dup_kind, published_at from facts
        where copy_group_id in (select unnest(?)) and duplicate_of is not null and in_window
        qualify row_number() over (partition by copy_group_id
                                   order by published_at nulls last) <= {COPIES_PER_GROUP}
        order by copy_group_id, published_at nulls last""", [ids])
    table_rows = []
    for index, (group_id, n_copies, n_langs) in enumerate(top, start=1):
        original = canonical.get(group_id)
        start = original[4] if original else None
        points = []
        for cid, lang, site, dup_kind, published in copies:
            if cid != group_id:
                continue
            delay = ((published - start).total_seconds() / 3600.0
                     if published is not None and start is not None else None)
            points.append((f"{lang or 'und'} · {_short(site, 28)}", delay, dup_kind))
            table_rows.append((index, lang, site, dup_kind or "", _stamp(published),
                               _fmt_hours(delay)))
        head = (f"{_short(original[1], 60)} ({original[2] or 'und'}, {original[3]})"
                if original else f"group {group_id}")
        table_rows.insert(len(table_rows) - len(points), (
            index, original[2], original[3], "canonical", _stamp(start), "original")
            if original else (index, "", "(original not in this dataset)", "canonical", "", ""))
        drawn = [(label, hours, kind) for label, hours, kind in points if hours is not None]
        chart_title = (f"{index}. {head}: {n_copies} {'copy' if n_copies == 1 else 'copies'} "
                       f"in {n_langs} language{'' if n_langs == 1 else 's'}")
        if drawn:
            section.charts.append(charts.copy_timeline(f"copies-{index}", chart_title, drawn))
    section.table = Table(["group", "language", "site", "kind", "published (UTC)",
                           "delay"], table_rows)
    return section


def stories_section(data: Dataset) -> Section:
    section = Section("stories", "Stories covered in the most languages",
                      "A story groups independent articles about one event (and their "
                      "copies); each point is the first article of a language.")
    if not data.has("articles", "story_id", "language", "published_at"):
        section.empty = "No stories yet."
        return section
    top = data.rows(f"""
        with per_lang as (
            select story_id, language, min(published_at) as first_at, count(*) as n
            from facts where story_id is not null and language is not null and in_window
            group by 1, 2)
        select story_id, count(*) as languages, sum(n) as articles, min(first_at)
        from per_lang group by 1 having count(*) > 1
        order by languages desc, articles desc, story_id limit {TOP_STORIES}""")
    if not top:
        section.empty = "No story has appeared in more than one language yet."
        return section
    ids = [r[0] for r in top]
    firsts = data.rows("""
        select story_id, language, min(published_at), count(*),
               arg_min(article_id, published_at) as first_article
        from facts where story_id in (select unnest(?)) and language is not null and in_window
        group by 1, 2 order by 1, 3 nulls last""", [ids])
    titles = data.titles([r[4] for r in firsts])
    details = [(*r[:4], titles.get(r[4])) for r in firsts]
    stories, rows = [], []
    for story_id, n_langs, n_articles, first_at in top:
        langs = [d for d in details if d[0] == story_id]
        timed = [d for d in langs if d[2] is not None]
        headline = next((d[4] for d in timed if d[2] == first_at), None) or (
            langs[0][4] if langs else None)
        points = [(d[1], (d[2] - first_at).total_seconds() / 3600.0) for d in timed]
        label = f"{_short(headline, 44)} ({n_langs})"
        if points and first_at is not None:
            stories.append((label, points))
        rows.append((_short(headline, 80), n_langs, n_articles, ", ".join(
            f"{d[1]} {_stamp(d[2])}" for d in langs)))
    if stories:
        section.charts.append(charts.first_appearances(
            "stories", "Stories in the most languages, first article per language", stories,
            colors=data.language_colors()))
    section.table = Table(["story (first headline)", "languages", "articles",
                           "first appearance per language (UTC)"], rows)
    return section


def translation_delay_section(data: Dataset) -> Section:
    section = Section("translation-delay", "Time from original to translation",
                      "For every translated copy: the time between the original's publication "
                      "and the translation's, per language pair (box: quartiles, whiskers: "
                      "5th to 95th percentile, diamond: median).")
    if not data.has("articles", "article_id", "duplicate_of", "dup_kind", "published_at",
                    "language"):
        section.empty = "No translated copies yet."
        return section
    rows = data.rows(f"""
        select o.language || ' → ' || c.language as pair, count(*) as n,
               quantile_cont(d, 0.05), quantile_cont(d, 0.25), quantile_cont(d, 0.5),
               quantile_cont(d, 0.75), quantile_cont(d, 0.95)
        from (select language, duplicate_of, epoch(published_at) as t from facts
              where dup_kind = 'translation' and published_at is not null and in_window) c
        join (select article_id, any_value(language) as language,
                     min(epoch(published_at)) as t
              from facts where duplicate_of is null and published_at is not null
              group by 1) o
          on o.article_id = c.duplicate_of,
        lateral (select (c.t - o.t) / 3600.0 as d)
        group by 1 order by n desc, pair limit {TOP_DOMAINS}""")
    if not rows:
        section.empty = "No translated copies with publication times yet."
        return section
    boxes = [(pair, n, {"lo": lo, "q1": q1, "med": med, "q3": q3, "hi": hi})
             for pair, n, lo, q1, med, q3, hi in rows]
    section.charts.append(charts.delay_boxes(
        "translation-delay", "Hours from original to translation, per language pair", boxes))
    section.table = Table(["original → translation", "translations", "median delay",
                           "fastest 5%", "slowest 5%"],
                          [(p, n, _fmt_hours(med), _fmt_hours(lo), _fmt_hours(hi))
                           for p, n, lo, _, med, _, hi in rows])
    return section


def domains_section(data: Dataset) -> Section:
    section = Section("domains", "Top republishing domains",
                      "Who copies most, and from whom: each bar is a site publishing copies, "
                      "split by the site of the original.")
    if not data.has("articles", "article_id", "duplicate_of", *SITE_COLUMNS):
        section.empty = "No copies yet."
        return section
    pairs = data.rows(f"""
        with copies as (
            select site as copier, duplicate_of, language from facts
            where duplicate_of is not null and in_window),
        originals as (
            select article_id, any_value(site) as source from facts
            where duplicate_of is null group by 1),
        pairs as (
            select copier, coalesce(source, 'unknown') as source, count(*) as n,
                   count(distinct language) as languages
            from copies left join originals on article_id = duplicate_of group by 1, 2),
        ranked as (
            select copier, sum(n) over (partition by copier) as total, source, n, languages
            from pairs)
        select copier, total, source, n from ranked
        where copier in (select copier from ranked group by 1
                         order by max(total) desc, copier limit {TOP_DOMAINS})
        order by total desc, copier, n desc, source""")
    if not pairs:
        section.empty = "No copies yet: nobody republished anybody."
        return section
    top_sources = {}
    for _, _, source, n in pairs:
        top_sources[source] = top_sources.get(source, 0) + n
    keep = set(sorted(top_sources, key=lambda s: (-top_sources[s], s))[:8])
    stacked: dict[tuple[str, str], int] = {}
    for copier, _, source, n in pairs:
        key = (copier, source if source in keep else "other")
        stacked[key] = stacked.get(key, 0) + n
    section.charts.append(charts.stacked_hbars(
        "domains", "Sites publishing the most copies, by site of the original",
        [(c, s, n) for (c, s), n in stacked.items()], "copies published", "original from"))
    table: dict[str, tuple[int, list[str]]] = {}
    for copier, total, source, n in pairs:
        table.setdefault(copier, (total, []))[1].append(f"{source} ({n})")
    section.table = Table(["copying site", "copies", "copied from"],
                          [(c, t, ", ".join(s[:6])) for c, (t, s) in table.items()])
    return section


def entities_section(data: Dataset) -> Section | None:
    """Only when articles carry ``entities`` (list of {text, label, count}); else no section."""
    if not data.has("articles", "entities"):
        return None
    section = Section("entities", "Top entities",
                      "People, organisations and places named most often, by the number of "
                      "articles naming them.")
    try:
        rows = data.rows(f"""
            select e.text, coalesce(e.label, '?'), count(distinct article_id) as articles,
                   sum(coalesce(e.count, 1)) as mentions
            from (select article_id, unnest(entities) as e from articles
                  where entities is not null and {data.window('fetched_at')})
            where e.text is not null and trim(e.text) <> ''
            group by 1, 2 order by articles desc, mentions desc, 1 limit {TOP_ENTITIES}""")
    except duckdb.Error as exc:  # a column of another shape than the one documented
        section.empty = f"The entities column could not be read: {_short(exc, 160)}"
        return section
    if not rows:
        section.empty = "No entities in these articles."
        return section
    section.charts.append(charts.hbars(
        "entities", "Entities named in the most articles",
        [(f"{_short(t, 40)}", n, label) for t, label, n, _ in rows], "articles naming it"))
    section.table = Table(["entity", "label", "articles", "mentions"], rows)
    return section


def runs_section(data: Dataset, runs: list[dict], unreadable: int) -> Section:
    section = Section("runs", "Run health",
                      "Each finished run (from its manifest in _runs/): rows written, how long "
                      "it took, why inputs were rejected, and feeds failing run after run.")
    if unreadable:
        section.intro += f" {unreadable} manifest(s) could not be read and are left out."
    if data.cutoff is not None:
        runs = [r for r in runs if r["_start"] is None or r["_start"] >= data.cutoff]
    if not runs:
        section.empty = "No finished runs yet."
        return section
    drawn = [r for r in runs if r["_start"] is not None][-MAX_RUNS_DRAWN:]
    points = []
    for run in drawn:
        rows = run.get("rows") if isinstance(run.get("rows"), dict) else {}
        seconds = ((run["_end"] - run["_start"]).total_seconds()
                   if run["_end"] is not None and run["_start"] is not None else None)
        points.append((run["_start"], _int(rows.get("articles")), _int(rows.get("rejects")),
                       seconds))
    if points:
        section.charts.append(charts.run_health(
            "runs", f"Rows written and duration of the last {len(points)} run(s)", points))
    reasons: dict[str, int] = {}
    for run in runs:
        counts = run.get("counts") if isinstance(run.get("counts"), dict) else {}
        for key, value in counts.items():
            if str(key).startswith("rejected/"):
                reason = str(key)[len("rejected/"):].replace("/", " / ")
                reasons[reason] = reasons.get(reason, 0) + _int(value)
    if reasons:
        ordered = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS * 2]
        section.charts.append(charts.hbars(
            "run-rejects", f"Rejects by reason over {len(runs)} run(s)",
            [(reason, n, reason.split(" / ")[0]) for reason, n in ordered],
            "rejects (all runs in the window)"))
    failing = failing_feeds(data, [str(r["run_id"]) for r in runs])
    section.table = Table(
        ["feed failing in the latest runs", "runs in a row", "last reason", "failing since"],
        failing) if failing else None
    if not failing:
        section.intro += (f" No feed failed in the last {FAILING_RUNS} runs in a row."
                          if len(runs) >= FAILING_RUNS else "")
    return section


def failing_feeds(data: Dataset, run_ids: list[str]) -> list[tuple]:
    """Feeds rejected (stage ``feed``) in each of the latest runs, FAILING_RUNS or more."""
    if not run_ids or not data.has("rejects", "stage", "url", "run_id", "reason"):
        return []
    failed: dict[str, dict[str, str]] = {}
    for url, run_id, reason in data.rows("""
            select url, run_id, any_value(reason) from refused
            where stage = 'feed' and run_id in (select unnest(?)) group by 1, 2""", [run_ids]):
        failed.setdefault(run_id, {})[url] = reason
    streaks: dict[str, tuple[int, str, str]] = {}
    for url in {u for per_run in failed.values() for u in per_run}:
        count, since = 0, ""
        for run_id in reversed(run_ids):
            if url not in failed.get(run_id, {}):
                break
            count, since = count + 1, run_id
        if count >= FAILING_RUNS:
            streaks[url] = (count, failed[run_ids[-1]][url], since)
    return [(url, c, reason, since) for url, (c, reason, since) in
            sorted(streaks.items(), key=lambda kv: (-kv[1][0], kv[0]))]


# ------------------------------------------------------------------------------------ summary

def summary(data: Dataset, runs: list[dict]) -> list[str]:
    """A few sentences on top of the page: volume, languages, copies, rejects, last run."""
    lines = []
    if data.has("articles"):
        (total, originals, langs, sites, first, last), = data.rows("""
            select count(*), count(*) filter (where duplicate_of is null),
                   count(distinct language), count(distinct site), min(day), max(day)
            from facts where in_window""")
        if total:
            lines.append(f"{total:,} articles ({originals:,} originals, "
                         f"{total - originals:,} copies) in {langs} language(s) from "
                         f"{sites} site(s), published {first} to {last}.")
        copies = data.rows("""
            select count(distinct copy_group_id), count(*) filter (where dup_kind =
                   'translation') from facts where duplicate_of is not null and in_window""")
        if copies and copies[0][0]:
            lines.append(f"{copies[0][0]:,} original(s) were copied; {copies[0][1]:,} of the "
                         "copies are translations.")
    if data.has("rejects", "reason", "time"):
        rejects = data.rows("select count(*), mode(reason) from refused where in_window")
        if rejects and rejects[0][0]:
            lines.append(f"{rejects[0][0]:,} input(s) rejected (most often: "
                         f"{rejects[0][1]}).")
    window = [r for r in runs if data.cutoff is None or r["_start"] is None
              or r["_start"] >= data.cutoff]
    if window:
        last = window[-1]
        lines.append(f"{len(window):,} finished run(s); the last, {last['run_id']}, finished "
                     f"{_stamp(last['_end']) or 'at an unknown time'} UTC.")
    return lines


# --------------------------------------------------------------------------------------- page

SECTIONS: tuple[Callable[[Dataset], Section | None], ...] = (
    articles_section, rejects_section, copy_groups_section, stories_section,
    translation_delay_section, domains_section, entities_section)

#: The page may load nothing: no script, no font, no image from anywhere (a mail attachment).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#222;background:#f6f6f4}
header,main{max-width:1100px;margin:0 auto;padding:12px 16px}
header{padding-top:20px}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.2em;margin:0 0 4px}
.meta{color:#666;font-size:.9em;margin:0}
.summary{background:#fff;border-left:4px solid #4e79a7;padding:10px 14px;margin:12px 0}
.summary p{margin:4px 0}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:.9em;margin:8px 0}
nav a{color:#2b5d8c}
section{background:#fff;border-radius:6px;padding:14px 16px;margin:14px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.intro{color:#555;margin:0 0 8px;font-size:.92em}
.empty{color:#8a6d00;background:#fff8e1;padding:10px 12px;border-radius:4px;margin:6px 0}
.charts{display:grid;gap:12px}
.charts.grid{grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr))}
.chart-box{overflow-x:auto;-webkit-overflow-scrolling:touch}
svg.chart{display:block;width:100%;min-width:420px;max-width:900px;height:auto;margin:0 auto}
.table-box{overflow-x:auto;margin-top:10px}
table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#fafafa;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.nodata{font-size:1.1em;padding:24px 16px;text-align:center}
footer{max-width:1100px;margin:0 auto;padding:8px 16px 24px;color:#888;font-size:.8em}
@media (max-width:600px){body{font-size:14px}header,main{padding:8px 10px}
section{padding:10px}svg.chart{min-width:480px}}
"""


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for value in row:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) \
                else _stamp(value) if isinstance(value, dt.datetime) else (
                    "" if value is None else str(value))
            cells.append(f'<td class="num">{html.escape(text)}</td>' if number
                         else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-box"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _section_html(section: Section) -> str:
    parts = [f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>',
             f'<p class="intro">{html.escape(section.intro)}</p>']
    if section.empty and not section.charts:
        parts.append(f'<p class="empty">{html.escape(section.empty)}</p>')
    if section.charts:
        grid = " grid" if section.grid else ""
        parts.append(f'<div class="charts{grid}">' + "".join(
            f'<div class="chart-box">{svg}</div>' for svg in section.charts) + "</div>")
    if section.table and section.table.rows:
        parts.append(_table_html(section.table))
    parts.append("</section>")
    return "".join(parts)


def render_page(root: str, lines: list[str], sections: list[Section],
                since: str | None, now: dt.datetime) -> str:
    """The whole document: inline styles, inline SVG, no script, no external reference."""
    window = f"last {since} (since {_stamp(now - parse_since(since))} UTC)" if since \
        else "all runs"
    has_data = bool(lines)
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    summary_html = "".join(f"<p>{html.escape(line)}</p>" for line in lines) if has_data else (
        '<p class="nodata"><strong>No data yet.</strong> Nothing has been written under this '
        "root in this window. Run <code>newsflow run ... --output ROOT</code> (or "
        "<code>newsflow demo --output ROOT</code>) and render the report again.</p>")
    body = "".join(_section_html(s) for s in sections) if has_data else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>newsflow report: {html.escape(root)}</title>
<style>{CSS}</style></head>
<body><header><h1>newsflow report</h1>
<p class="meta">{html.escape(root)} · {html.escape(window)} · generated {_stamp(now)} UTC</p>
<div class="summary" id="summary">{summary_html}</div>
{f"<nav>{nav}</nav>" if has_data else ""}</header>
<main>{body}</main>
<footer>Computed with DuckDB from the output root's Parquet datasets and run manifests.
Charts: matplotlib (inline SVG). Made by <code>newsflow report</code>.</footer>
</body></html>
"""


def build_report(root: str, since: str | None = None, now: dt.datetime | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The report of ``root`` as an HTML string (raises ReportError for a bad root/window).

    ``con`` replaces the views of :func:`pipelines.query.connect` (tests pass their own)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    window = parse_since(since)
    if con is None:
        try:
            con = connect(root)
        except FileNotFoundError as exc:
            raise ReportError(str(exc)) from exc
    data = Dataset(con, now - window if window else None)
    runs, unreadable = read_manifests(root)
    sections = [s for s in (make(data) for make in SECTIONS) if s is not None]
    sections.append(runs_section(data, runs, unreadable))
    return render_page(root, summary(data, runs), sections, since, now)


def write_report(root: str, output: str, since: str | None = None) -> int:
    """Writes the page; returns its size in bytes."""
    page = build_report(root, since).encode("utf-8")
    temp = f"{output}.tmp"
    with open(temp, "wb") as handle:
        handle.write(page)
    os.replace(temp, output)
    return len(page)
