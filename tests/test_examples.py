"""The scheduler examples run the README's command: the Airflow DAG (parsed with ``ast``;
Airflow itself is too heavy for CI), the cron file and the systemd units (checked with
``systemd-analyze verify`` when it is installed)."""

from __future__ import annotations

import ast
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "schedulers"


def _dag_constants() -> dict[str, str]:
    tree = ast.parse((EXAMPLES / "airflow_dag.py").read_text())
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)}


def _bash_operators() -> list[dict[str, ast.expr]]:
    tree = ast.parse((EXAMPLES / "airflow_dag.py").read_text())
    return [{kw.arg: kw.value for kw in node.keywords} for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator"]


def _months_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Running it for months")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


def _command_words(line: str) -> list[str]:
    """The words of a newsflow command line, the executable reduced to its name."""
    words = shlex.split(line)
    start = next(i for i, w in enumerate(words[:-1]) if Path(w).name == "newsflow"
                 and words[i + 1] in ("run", "watch", "compact"))
    end = next((i for i, w in enumerate(words) if i > start and w in (">>", ">", ";", "&&")),
               len(words))
    return ["newsflow", *words[start + 1:end]]


def test_airflow_dag_runs_the_readme_command():
    constants = _dag_constants()
    command = constants["NEWSFLOW_COMMAND"]
    assert f"\n{command}\n" in _months_section(), "README shows another command"
    run_task, compact_task = _bash_operators()
    bash = run_task["bash_command"]
    assert isinstance(bash, ast.BinOp) and bash.left.id == "NEWSFLOW_COMMAND"
    assert "[ $code -eq 3 ] && exit 0" in bash.right.value  # rejects are not a failure
    assert ast.literal_eval(run_task["skip_on_exit_code"]) == 2  # locked root: skipped
    assert compact_task["bash_command"].id == "COMPACT_COMMAND"
    assert f"\n{constants['COMPACT_COMMAND']}\n" in _months_section()


def test_cron_and_systemd_run_the_same_command():
    command = _command_words(_dag_constants()["NEWSFLOW_COMMAND"])
    cron = [line for line in (EXAMPLES / "newsflow.cron").read_text().splitlines()
            if line.startswith("*/15 ")]
    assert len(cron) == 1 and _command_words(cron[0].split(None, 5)[5]) == command
    assert cron[0] in _months_section()
    service = (EXAMPLES / "newsflow.service").read_text()
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert _command_words(exec_start.split("=", 1)[1]) == command


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_units_verify(tmp_path):
    newsflow = Path(sys.executable).with_name("newsflow")
    for name in ("newsflow.service", "newsflow.timer", "newsflow-watch.service"):
        text = (EXAMPLES / name).read_text()
        text = text.replace("/opt/newsflow/venv/bin/newsflow", str(newsflow))
        text = text.replace("User=newsflow", "User=root")  # the example's user does not exist
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             *(str(p) for p in sorted(tmp_path.iterdir()))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
