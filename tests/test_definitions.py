"""The definitions load the way `dagster dev -w workspace.yaml` loads them."""

import os
import subprocess
import sys

from extra_pipeline.settings import PROJECT_ROOT


def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "DAGSTER_"))}
    env |= {"EXTRA_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_definitions_hold_the_jobs_schedule_and_in_process_executor():
    from extra_pipeline.definitions import NIGHTLY_JOB, defs

    job = defs.resolve_job_def(NIGHTLY_JOB)
    assert job.executor_def.name == "in_process"
    schedule = defs.resolve_schedule_def("nightly_refresh_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Brussels"
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "raw/goci",
        "raw/wgi",
        "staging/goci",
        "marts/fct_indicator",
        "published/warehouse",
    } <= keys
    # every writer of the DuckDB working file is serialised through the one pool; the
    # products read published copies only, and take no slot
    for key in graph.get_all_asset_keys():
        expected = set() if key.path[0] == "outputs" else {"duckdb_writer"}
        assert graph.get(key).pools == expected, key
