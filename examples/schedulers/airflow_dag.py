"""Airflow DAG running the same `newsflow run` command as the README's cron example.

Copy to your Airflow ``dags/`` folder on a worker where newsflow is installed. One active run
at a time (``max_active_runs=1``; the root's own lock also refuses overlaps, exit status 2,
which marks the task *skipped*); exit status 3 (finished, some inputs rejected) counts as
success; 1 (the pipeline failed) fails the task and Airflow retries it.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

#: the command of the README ("Running it for months") and of newsflow.cron / newsflow.service
NEWSFLOW_COMMAND = "newsflow run --feeds /srv/newsflow/feeds.opml --output /data/news"
COMPACT_COMMAND = "newsflow compact /data/news --older-than 1d"

with DAG(
    dag_id="newsflow",
    schedule="*/15 * * * *",
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    tags=["news"],
) as dag:
    BashOperator(
        task_id="newsflow_run",
        bash_command=NEWSFLOW_COMMAND + "; code=$?; [ $code -eq 3 ] && exit 0; exit $code",
        skip_on_exit_code=2,
        cwd="/srv/newsflow",
        execution_timeout=dt.timedelta(hours=2),
    )

with DAG(
    dag_id="newsflow_compact",
    schedule="30 3 * * *",
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
) as compact_dag:
    BashOperator(task_id="newsflow_compact", bash_command=COMPACT_COMMAND, skip_on_exit_code=2,
                 cwd="/srv/newsflow")
