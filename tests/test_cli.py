"""The `extra` command as an operator uses it: real subprocesses, a temporary EXTRA_HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.sources.base import load_registry

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
    registry = load_registry()
    assert set(by_source) == set(registry)  # every registered source, fetched or not
    for source_id, source in by_source.items():
        assert source["mode"] == "bundled", source_id  # an offline run
        assert source["licence"] == registry[source_id].licence
        assert source["retrieved_at"] and source["age_days"] >= 0 and source["edition"]
        assert isinstance(source["synthetic"], bool)
    assert by_source["goci"]["edition"] == "2025" and not by_source["goci"]["synthetic"]
    assert status["last_run"]["run_id"] == summary["run_id"]
    assert status["last_run"]["status"] == "SUCCESS"
    # the bundled WGI data is older than its freshness window: attention, exit 1
    assert "wgi" in status["attention"]
    assert done.returncode == 1
    # the same as a table an operator reads: one line per source, with its licence
    text = extra("status", home=home).stdout.splitlines()
    assert text[0].split()[:4] == ["source", "state", "mode", "retrieved"]
    goci = next(line for line in text if line.startswith("goci "))
    assert "fresh" in goci and "2025" in goci and "ocindex.net" in goci
    assert next(line for line in text if line.startswith("wgi ")).split()[1] == "OLD"


def test_every_command_has_help(tmp_path):
    for command in (
        (), ("run",), ("query",), ("status",), ("ui",), ("report",), ("bulletins",),
        ("drops", "ingest"), ("drops", "template"), ("demo-data",), ("bench",),
    ):  # fmt: skip
        done = extra(*command, "--help", home=tmp_path)
        assert done.returncode == 0
        assert "usage: extra" in done.stdout


def test_drops_ingest_runs_the_drop_job_now_and_reports(tmp_path):
    good = tmp_path / "seizures.csv"
    good.write_text(
        "seizure_ref,seizure_date,market,quantity,unit,origin_country\n"
        "PT-1,2025-01-10,cocaine,250,kg,Brazil\n"
        "PT-2,2025-01-11,cocaine,-1,kg,Brazil\n",
        encoding="utf-8",
    )
    done = extra(
        "drops",
        "ingest",
        str(good),
        "--member-state",
        "pt",
        "--period",
        "2025",
        "--json",
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    (outcome,) = json.loads(done.stdout)
    assert outcome["status"] == "partial"
    assert (outcome["rows_received"], outcome["rows_accepted"], outcome["rows_quarantined"]) == (
        2,
        1,
        1,
    )
    assert Path(outcome["report"]).is_file()
    assert good.exists()  # files named on the command line are the operator's: never removed

    unreadable = tmp_path / "scan.pdf"
    unreadable.write_bytes(b"%PDF-1.4 not a table")
    rejected = extra(
        "drops", "ingest", str(unreadable), "--member-state", "PT", home=tmp_path / "home"
    )
    assert rejected.returncode == 1
    assert "rejected" in rejected.stderr

    wrong_state = extra(
        "drops", "ingest", str(good), "--member-state", "Portugal", home=tmp_path / "home"
    )
    assert wrong_state.returncode == 2
    assert "not an ISO 3166 alpha-2" in wrong_state.stderr and "Traceback" not in wrong_state.stderr


def test_demo_data_fills_the_landing_area_once(tmp_path):
    home = tmp_path / "home"
    assert extra("demo-data", "--if-empty", home=home).returncode == 0
    files = sorted((home / "drops" / "incoming").glob("*/*"))
    data = [f for f in files if not f.name.endswith(".meta.json")]
    assert len(data) >= 10 and all(f.with_name(f.name + ".meta.json").exists() for f in data)
    again = extra("demo-data", "--if-empty", home=home)
    assert again.returncode == 0 and "no demo data written" in again.stderr
    assert sorted((home / "drops" / "incoming").glob("*/*")) == files
