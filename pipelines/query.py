"""DuckDB over a newsflow output root: views ``articles``, ``rejects`` (and ``clusters``)."""

from __future__ import annotations

import glob
import os

import duckdb

DATASETS = ("articles", "rejects", "clusters")


def dataset_glob(root: str, dataset: str) -> str:
    return f"{root.rstrip('/')}/{dataset}/**/*.parquet"


def connect(root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per dataset present under ``root`` (local paths)."""
    if "://" not in root and not os.path.isdir(root):
        raise FileNotFoundError(f"no newsflow output at {root!r}")
    con = duckdb.connect()
    for name in DATASETS:
        pattern = dataset_glob(root, name)
        if "://" not in root and not glob.glob(pattern, recursive=True):
            continue
        escaped = pattern.replace("'", "''")
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{escaped}', "
            "hive_partitioning = true, union_by_name = true)"
        )
    return con


def format_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    """A plain aligned text table (no dependency on a terminal library)."""
    def cell(value) -> str:
        text = "NULL" if value is None else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) for r in cells]
    return "\n".join(lines)


def run_query(root: str, sql: str) -> tuple[list[str], list[tuple]]:
    con = connect(root)
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall()
