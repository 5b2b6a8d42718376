"""`extra`: the operator's command line.

    extra run [--offline] [--json]      the nightly job, in process, in the UI's run history
    extra query "SQL" [--level clear]   read-only SQL on a published copy
    extra status [--json]               freshness of every source and the last run
    extra ui                            the Dagster UI with schedules and sensors

A user error is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extra_pipeline.markings import Marking, MarkingError, parse_marking
from extra_pipeline.settings import PROJECT_ROOT, Settings, SettingsError

DAGSTER_YAML_TEMPLATE = PROJECT_ROOT / "assets" / "dagster.yaml"


class UserError(Exception):
    """Something the user can fix; printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, SettingsError, MarkingError) as error:
        print(f"extra: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("extra: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extra",
        description="EXTRA data pipeline: run the nightly refresh, query the published warehouse, check status.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the nightly job end to end, in process",
        description="Materialise every asset and check in process, recording the run in DAGSTER_HOME "
        "(the same run history the UI shows).",
    )
    run.add_argument(
        "--offline",
        action="store_true",
        help="use the bundled snapshots only (EXTRA_SOURCES=offline)",
    )
    run.add_argument(
        "--json", action="store_true", help="print one JSON summary instead of progress lines"
    )
    run.set_defaults(handler=command_run)

    query = commands.add_parser(
        "query",
        help="run read-only SQL on a published copy",
        description="Run SQL on published/<level>.duckdb, read-only. Tables: marts.*, audit.*.",
    )
    query.add_argument("sql", help='the SQL, e.g. "select * from marts.dim_country limit 5"')
    query.add_argument(
        "--level",
        default="clear",
        help="marking level of the copy to read: clear, green, amber, amber+strict, red "
        "(TLP:AMBER style accepted; default clear)",
    )
    query.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    query.add_argument(
        "--max-rows", type=int, default=100, help="rows shown in table format (default 100)"
    )
    query.set_defaults(handler=command_query)

    status = commands.add_parser(
        "status",
        help="freshness of every source and the last run",
        description="Each source's mode, retrieval time, age and freshness, and the last nightly run. "
        "Exits 1 when something needs attention.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=command_status)

    ui = commands.add_parser(
        "ui",
        help="open the Dagster UI (dagster dev)",
        description="Start `dagster dev` on this project.",
    )
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--host", default="127.0.0.1")
    ui.set_defaults(handler=command_ui)
    return parser


# --- set-up shared by the commands ------------------------------------------------------


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' run storage, creating it with the shipped instance config."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():  # never overwrite an operator's instance configuration
        shutil.copyfile(DAGSTER_YAML_TEMPLATE, config)
    return home


def _quiet_dagster() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="dagster")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=".*preview.*")


# --- run ---------------------------------------------------------------------------------


def command_run(args: argparse.Namespace) -> int:
    if args.offline:
        os.environ["EXTRA_SOURCES"] = "offline"
    settings = Settings.from_env()
    prepare_dagster_home(settings)
    _quiet_dagster()
    summary = run_nightly(settings, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_run_summary(summary)
    return 0 if summary["success"] else 1


def run_nightly(settings: Settings, *, progress: bool = True) -> dict[str, Any]:
    """Execute the nightly job in process against the DAGSTER_HOME instance; a summary dict."""
    import dagster as dg

    from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
    from extra_pipeline.defs.progress import terminal

    defs = build_definitions(settings)
    job = defs.resolve_job_def(NIGHTLY_JOB)
    terminal()  # bind progress output to the terminal before Dagster captures step output
    started = datetime.now(UTC)
    with dg.DagsterInstance.get() as instance:
        for note in recover_abandoned_runs(instance):
            print(f"extra: {note}", file=sys.stderr)
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"progress": {"config": {"quiet": not progress}}}},
            tags={CLI_PID_TAG: str(os.getpid()), CLI_HOST_TAG: socket.gethostname()},
        )
    failed_steps = sorted(
        {e.step_key for e in result.all_events if e.is_step_failure and e.step_key}
    )
    skipped = sorted({e.step_key for e in result.all_events if e.is_step_skipped and e.step_key})
    checks = [
        {
            "asset": e.asset_check_evaluation_data.asset_key.to_user_string(),
            "check": e.asset_check_evaluation_data.check_name,
            "passed": e.asset_check_evaluation_data.passed,
            "severity": e.asset_check_evaluation_data.severity.value,
        }
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    materialized = sorted(
        {
            e.asset_key.to_user_string()
            for e in result.all_events
            if e.is_step_materialization and e.asset_key
        }
    )
    return {
        "run_id": result.run_id,
        "success": result.success,
        "sources_mode": settings.sources_mode,
        "extra_home": str(settings.extra_home),
        "dagster_home": str(settings.dagster_home),
        "started_at": started.isoformat(),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 2),
        "materialized": materialized,
        "failed_steps": failed_steps,
        "skipped_steps": skipped,
        "checks": checks,
        "published": {m.slug: str(settings.published_path(m.slug)) for m in Marking},
    }


CLI_PID_TAG = "extra/cli_pid"
CLI_HOST_TAG = "extra/cli_host"


def recover_abandoned_runs(instance: Any) -> list[str]:
    """Release what dead runs still hold, so one killed `extra run` cannot wedge the next.

    A run started by this command whose process is gone is marked failed; concurrency
    slots claimed by runs that are no longer in progress are freed (an in-process run
    that dies mid-step never releases its `duckdb_writer` slot by itself).
    """
    import dagster as dg

    notes = []
    host = socket.gethostname()
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        pid = run.tags.get(CLI_PID_TAG)
        if pid and run.tags.get(CLI_HOST_TAG) == host and not _process_alive(int(pid)):
            instance.report_run_failed(
                run, "the `extra run` process that ran it is gone (killed or crashed)"
            )
            notes.append(f"run {run.run_id} was abandoned by a dead process: marked failed")
    storage = instance.event_log_storage
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        holders = {slot.run_id for slot in info.claimed_slots} | {
            step.run_id for step in info.pending_steps
        }
        for run_id in holders:
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                notes.append(f"freed {key} slots held by finished run {run_id}")
    return notes


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _print_run_summary(summary: dict[str, Any]) -> None:
    failed_checks = [c for c in summary["checks"] if not c["passed"]]
    print()
    print(
        f"run {summary['run_id']}: {'SUCCESS' if summary['success'] else 'FAILURE'} in {summary['seconds']} s"
    )
    print(
        f"  assets materialised: {len(summary['materialized'])}; checks: {len(summary['checks'])}, "
        f"failed: {len(failed_checks)}"
    )
    for check in failed_checks:
        print(f"  check failed ({check['severity']}): {check['asset']} {check['check']}")
    for step in summary["failed_steps"]:
        print(f"  step failed: {step}")
    if summary["skipped_steps"]:
        print(f"  skipped (upstream failed or blocked): {', '.join(summary['skipped_steps'])}")
    if summary["success"]:
        print(f"  published: {summary['published']['clear']} (and one copy per TLP level)")
    print(f"  run history: DAGSTER_HOME={summary['dagster_home']} (make ui to browse)")


# --- query -------------------------------------------------------------------------------


def command_query(args: argparse.Namespace) -> int:
    import duckdb

    from extra_pipeline.warehouse import WarehouseError, open_published

    settings = Settings.from_env()
    level = parse_marking(args.level)
    try:
        con = open_published(settings.published_dir, level)
    except WarehouseError as error:
        raise UserError(str(error)) from None
    try:
        # An analyst's query reads the published copy and nothing else on this machine.
        con.execute("set enable_external_access = false")
        frame = con.execute(args.sql).df()
    except duckdb.Error as error:
        raise UserError(
            f"query failed on {level.slug}.duckdb: {str(error).splitlines()[0]}"
        ) from None
    finally:
        con.close()
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200):
            shown = frame.head(args.max_rows)
            print(shown.to_string(index=False) if not frame.empty else "(no rows)")
            if len(frame) > args.max_rows:
                print(f"... {len(frame) - args.max_rows} more rows (use --format csv for all)")
        print(f"[{len(frame)} rows, {level.label}]", file=sys.stderr)
    return 0


# --- status ------------------------------------------------------------------------------


def source_status(settings: Settings) -> list[dict[str, Any]]:
    """Each registered source's newest provenance in the snapshot store."""
    from extra_pipeline.snapshots import SnapshotStore
    from extra_pipeline.sources.base import age_days, load_registry

    store = SnapshotStore(settings.snapshots_dir)
    rows = []
    for source_id, config in load_registry(settings).items():
        records = store.records(source_id)
        if not records:
            rows.append(
                {
                    "source": source_id,
                    "mode": None,
                    "retrieved_at": None,
                    "age_days": None,
                    "stale": None,
                    "fresh": False,
                    "note": "never fetched",
                }
            )
            continue
        newest_use = max(records, key=lambda r: r.used_at)
        latest = [r for r in records if r.fetch_id == newest_use.fetch_id] or [newest_use]
        oldest = min(r.retrieved_at for r in latest)
        age = age_days(oldest)
        stale = any(r.stale for r in latest)
        rows.append({
            "source": source_id,
            "mode": newest_use.mode,
            "retrieved_at": oldest,
            "used_at": newest_use.used_at,
            "age_days": round(age, 1),
            "max_age_days": config.max_age_days,
            "stale": stale,
            "fresh": not stale and age <= config.max_age_days,
            "note": newest_use.note,
        })  # fmt: skip
    return rows


def last_run(settings: Settings) -> dict[str, Any] | None:
    import dagster as dg

    from extra_pipeline.definitions import NIGHTLY_JOB

    if not (settings.dagster_home / "dagster.yaml").exists():
        return None
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name=NIGHTLY_JOB), limit=1)
    if not records:
        return None
    record = records[0]
    return {
        "run_id": record.dagster_run.run_id,
        "status": record.dagster_run.status.value,
        "started_at": _iso(record.start_time),
        "finished_at": _iso(record.end_time),
    }


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


def command_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_dagster_home(settings)
    _quiet_dagster()
    sources = source_status(settings)
    run = last_run(settings)
    attention = [s["source"] for s in sources if not s["fresh"]]
    if run is None or run["status"] != "SUCCESS":
        attention.append("last run")
    if args.json:
        print(json.dumps({"sources": sources, "last_run": run, "attention": attention}, indent=2))
    else:
        print(f"{'source':<8} {'mode':<8} {'retrieved_at':<28} {'age (d)':>8}  state")
        for s in sources:
            state = (
                "fresh"
                if s["fresh"]
                else ("STALE" if s["stale"] else "OLD" if s["mode"] else "MISSING")
            )
            age = "" if s["age_days"] is None else f"{s['age_days']:.1f}"
            print(
                f"{s['source']:<8} {s['mode'] or '-':<8} {s['retrieved_at'] or '-':<28} {age:>8}  {state}"
            )
        if run:
            print(f"last run: {run['status']} {run['run_id']} started {run['started_at']}")
        else:
            print("last run: none recorded")
        if attention:
            print(f"needs attention: {', '.join(attention)}")
    return 1 if attention else 0


# --- ui ----------------------------------------------------------------------------------


def command_ui(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_dagster_home(settings)
    dagster = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    workspace = PROJECT_ROOT / "workspace.yaml"
    os.execv(dagster, [dagster, "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
