"""The `extra` command as an operator uses it: real subprocesses, a temporary EXTRA_HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from extra_pipeline.settings import PROJECT_ROOT

EXTRA = [sys.executable, "-m", "extra_pipeline.cli"]


def extra(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "DAGSTER_"))}
    env["EXTRA_HOME"] = str(home)
    return subprocess.run(
        [*EXTRA, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`extra run --offline --json` once, in a fresh EXTRA_HOME."""
    home = tmp_path_factory.mktemp("cli_home")
    done = extra("run", "--offline", "--json", home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    return home, json.loads(done.stdout)


def test_run_records_its_run_in_the_dagster_home_the_ui_reads(cli_home):
    home, summary = cli_home
    assert summary["success"] is True
    assert summary["sources_mode"] == "offline"
    assert "marts/fct_indicator" in summary["materialized"]
    dagster_home = home / "dagster"
    assert (dagster_home / "dagster.yaml").is_file()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_run_by_id(summary["run_id"])
    assert run is not None and run.job_name == "nightly_refresh"
    assert run.status == dg.DagsterRunStatus.SUCCESS


def test_query_answers_the_acceptance_question(cli_home):
    home, _ = cli_home
    done = extra(
        "query",
        "select count(distinct iso3) as n from marts.fct_indicator where source_id = 'goci' and edition = '2025'",
        "--format",
        "json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["n"] >= 190


def test_query_formats_and_levels(cli_home):
    home, _ = cli_home
    csv_out = extra(
        "query",
        "select iso3, name from marts.dim_country where iso3 = 'DEU'",
        "--format",
        "csv",
        home=home,
    )
    assert csv_out.stdout.splitlines() == ["iso3,name", "DEU,Germany"]
    amber = extra(
        "query",
        "select level from audit.published_tables limit 1",
        "--level",
        "TLP:AMBER",
        home=home,
    )
    assert amber.returncode == 0 and "amber" in amber.stdout
    table = extra("query", "select 1 as one", home=home)
    assert "one" in table.stdout and "1 rows, TLP:CLEAR" in table.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("query", "select * from marts.nope"), "query failed on clear.duckdb"),
        (("query", "select 1", "--level", "purple"), "is not a TLP marking"),
        (("query", "create table marts.x as select 1"), "query failed"),
        (("query", "select * from read_csv('/etc/hostname')"), "query failed"),
    ],
)
def test_user_errors_are_one_clear_line_without_traceback(cli_home, args, message):
    home, _ = cli_home
    done = extra(*args, home=home)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_query_before_any_run_says_what_to_do(tmp_path):
    done = extra("query", "select 1", home=tmp_path)
    assert done.returncode == 2
    assert "run `extra run` first" in done.stderr


def test_status_reports_each_source_and_the_last_run(cli_home):
    home, summary = cli_home
    done = extra("status", "--json", home=home)
    status = json.loads(done.stdout)
    by_source = {s["source"]: s for s in status["sources"]}
    assert set(by_source) == {"goci", "wgi"}
    assert by_source["goci"]["mode"] == "bundled"
    assert status["last_run"]["run_id"] == summary["run_id"]
    assert status["last_run"]["status"] == "SUCCESS"
    # the bundled WGI data is older than its freshness window: attention, exit 1
    assert "wgi" in status["attention"]
    assert done.returncode == 1


def test_every_command_has_help(tmp_path):
    for command in ((), ("run",), ("query",), ("status",), ("ui",)):
        done = extra(*command, "--help", home=tmp_path)
        assert done.returncode == 0
        assert "usage: extra" in done.stdout
