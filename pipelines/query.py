"""DuckDB over a newsflow output root: views ``articles`` (latest revision of each article),
``article_revisions`` (every revision), ``rejects`` and ``clusters``.

The views read only the files named by committed run manifests (``_runs/*.json``), so a query
never sees a run that is still committing or was killed before its commit (see
``transforms/commit.py``). A plain ``read_parquet('<root>/articles/**/*.parquet')`` can.
"""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa

from schemas import ARTICLES, CLUSTERS, REJECTS
from transforms.commit import committed_files, use_pipeline_options

#: view name -> dataset it reads
VIEWS = {"article_revisions": "articles", "rejects": "rejects", "clusters": "clusters"}

#: the latest revision of each article (older rows written before revisions count as 1)
LATEST_REVISION = """
CREATE VIEW articles AS SELECT * FROM article_revisions
QUALIFY row_number() OVER (PARTITION BY article_id
                           ORDER BY coalesce(revision, 1) DESC, fetched_at DESC, run_id DESC) = 1
"""


#: dataset -> its columns, partition columns included, for a view over no file yet
EMPTY = {"articles": (ARTICLES, [("date", pa.date32()), ("lang", pa.string())]),
         "rejects": (REJECTS, [("date", pa.date32()), ("stage", pa.string())]),
         "clusters": (CLUSTERS, [("kind", pa.string())])}


def _empty(dataset: str) -> pa.Table:
    """No committed file yet (a clean run wrote no rejects): the view exists, with no rows,
    so ``select ... from rejects`` answers nothing instead of failing on a missing table."""
    schema, partitions = EMPTY[dataset]
    for name, kind in partitions:
        if name not in schema.names:
            schema = schema.append(pa.field(name, kind))
    return schema.empty_table()


def dataset_glob(root: str, dataset: str) -> str:
    return f"{root.rstrip('/')}/{dataset}/**/*.parquet"


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


class MissingDependency(RuntimeError):
    """Reading this root needs a package that is not installed; the message names it."""


#: what to install for an object-store root: (Beam extra, newsflow extra)
_STORES = {"s3": ("apache-beam[aws]", "aws"), "gs": ("apache-beam[gcp]", "gcp")}


def _check_remote(root: str, con: duckdb.DuckDBPyConnection) -> None:
    """Fail early, naming what to install, when an ``s3://``/``gs://`` root cannot be read:
    Beam's filesystem lists the manifests, DuckDB's ``httpfs`` extension reads the Parquet."""
    from apache_beam.io.filesystems import FileSystems

    scheme = root.split("://", 1)[0].lower()
    beam_extra, extra = _STORES.get(scheme, (f"a Beam filesystem for {scheme}://", None))
    try:
        FileSystems.get_filesystem(root)
    except ValueError:
        hint = f" (pip install 'newsflow[{extra}]')" if extra else ""
        raise MissingDependency(f"reading {scheme}:// needs {beam_extra}{hint}") from None
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as exc:
        raise MissingDependency(
            f"newsflow query on {scheme}:// needs DuckDB's httpfs extension, which DuckDB "
            f"{duckdb.__version__} here cannot load ({str(exc).splitlines()[0][:200]}). With "
            "network access: python -c \"import duckdb; duckdb.sql('INSTALL httpfs')\". "
            "Offline, from PyPI, only with a DuckDB version it was built for: "
            "duckdb-ext-httpfs (DuckDB 1.2-1.4.4) or duckdb-extension-httpfs (DuckDB "
            "1.0-1.5.5), e.g. pip install 'duckdb==1.4.4' 'duckdb-ext-httpfs==1.4.4.*'. Or "
            "copy the root to a local directory and query that.") from None
    if scheme == "s3":  # credentials and endpoint from the same variables boto3 reads
        settings = {"KEY_ID": "AWS_ACCESS_KEY_ID", "SECRET": "AWS_SECRET_ACCESS_KEY",
                    "SESSION_TOKEN": "AWS_SESSION_TOKEN", "REGION": "AWS_DEFAULT_REGION",
                    "ENDPOINT": "AWS_ENDPOINT_URL"}
        found = {k: os.environ[v] for k, v in settings.items() if os.environ.get(v)}
        if "ENDPOINT" in found:
            endpoint = found["ENDPOINT"]
            found["ENDPOINT"] = endpoint.split("://", 1)[-1]
            found["URL_STYLE"] = "path"
            found["USE_SSL"] = "true" if endpoint.startswith("https") else "false"
        if found:
            pairs = ", ".join(f"{k} {v if k == 'USE_SSL' else repr(v)}" for k, v in found.items())
            con.execute(f"CREATE SECRET newsflow_s3 (TYPE s3, {pairs})")


def connect(root: str, empty_views: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per dataset that committed runs wrote under ``root``
    (``empty_views``: also a view with no rows for a dataset no run has written yet)."""
    if "://" not in root and not os.path.isdir(root):
        raise FileNotFoundError(f"no newsflow output at {root!r}")
    con = duckdb.connect()
    if "://" in root:
        use_pipeline_options()
        _check_remote(root, con)
    for view, dataset in VIEWS.items():
        files = committed_files(root, dataset)
        if files:
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet({_sql_list(files)}, "
                "hive_partitioning = true, union_by_name = true)"
            )
        elif empty_views:
            con.register(f"_empty_{view}", _empty(dataset))
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM _empty_{view}")
        else:
            continue
        if view == "article_revisions":
            columns = {r[0] for r in con.execute("DESCRIBE article_revisions").fetchall()}
            con.execute(LATEST_REVISION if "revision" in columns
                        else "CREATE VIEW articles AS SELECT * FROM article_revisions")
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
    con = connect(root, empty_views=True)
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall()
