"""`extra`: the operator's command line.

    extra run [--offline] [--json]      the nightly job, in process, in the UI's run history
    extra query "SQL" [--level clear]   read-only SQL on a published copy
    extra status [--json]               freshness of every source and the last run
    extra drops ingest FILE... --member-state CC   ingest files now, each as its own drop
    extra drops template DATASET [--format xlsx|csv]   a blank template for authorities
    extra demo-data [--if-empty]        synthetic demonstration drops in the landing area
    extra report [--json]               the GLOCA annual report, every edition (HTML, PDF)
    extra bulletins [--month YYYY-MM]   the month's risk bulletins, every region and market
    extra bench [--rows N] [--json]     time ingest and refresh against DuckDB alone
    extra ui                            the Dagster UI with schedules and sensors

A user error is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from extra_pipeline import bench
from extra_pipeline.drops.ingest import DropError
from extra_pipeline.markings import MarkingError, parse_marking
from extra_pipeline.runner import (
    drops_status,
    ingest_drop_files,
    ingest_pending_drops,
    last_run,
    prepare_dagster_home,
    run_job,
    run_nightly,
    source_status,
)
from extra_pipeline.settings import PROJECT_ROOT, Settings, SettingsError


class UserError(Exception):
    """Something the user can fix; printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, SettingsError, MarkingError, DropError) as error:
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
        description="Ingest waiting drops, then refresh in process what changed since the last run "
        "(sources, models, checks, published copies), recording the run in DAGSTER_HOME (the same "
        "run history the UI shows). Nothing changed: no run, and it says why.",
    )
    run.add_argument(
        "--offline",
        action="store_true",
        help="use the bundled snapshots only (EXTRA_SOURCES=offline)",
    )
    run.add_argument(
        "--full",
        action="store_true",
        help="rebuild everything, even what nothing has changed since the last run",
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
        help="freshness of every source, the last nightly run, drops and alerts",
        description="Each source's mode, retrieval time, age and freshness; the last nightly "
        "run and its failed steps; drops waiting and rejected; alerts of the last day. Exits 1 "
        "when something needs attention.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=command_status)

    drops = commands.add_parser(
        "drops",
        help="member-state data drops",
        description="Member-state drops: files from national authorities (CSV, XLSX, JSON).",
    )
    drop_commands = drops.add_subparsers(dest="drops_command", required=True, metavar="ACTION")
    ingest = drop_commands.add_parser(
        "ingest",
        help="ingest files now, each as its own drop",
        description="Ingest each FILE now, with the code the landing sensor runs: archive, read, "
        "accept or quarantine every row, record, report. A sidecar <FILE>.meta.json next to "
        "a file is read too; flags win over it.",
    )
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument(
        "--member-state", required=True, help="ISO 3166 alpha-2 code of the sender, e.g. ES"
    )
    ingest.add_argument(
        "--dataset",
        help="contract name (seizures, criminal_networks); detected from headers if omitted",
    )
    ingest.add_argument("--period", help="reporting period: 2025, 2025-03, 2025-Q1 or 2025-H2")
    ingest.add_argument("--marking", help="TLP marking (default TLP:AMBER)")
    ingest.add_argument("--json", action="store_true", help="print JSON")
    ingest.set_defaults(handler=command_drops_ingest)
    template = drop_commands.add_parser(
        "template",
        help="write a blank template for a dataset (XLSX or CSV)",
        description="Write the blank template of a drop contract for reporting authorities: "
        "XLSX (a data sheet with the headers and drop-down lists, a sheet describing each "
        "column) or CSV (the headers, and a second file describing each column).",
    )
    template.add_argument("dataset", help="contract name: seizures or criminal_networks")
    template.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    template.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="folder (default: here)"
    )
    template.set_defaults(handler=command_drops_template)

    demo = commands.add_parser(
        "demo-data",
        help="write synthetic demonstration drops into the landing area",
        description="Write a realistic synthetic set of member-state drops (marked synthetic) into "
        "EXTRA_HOME/drops/incoming/, for `extra run` to ingest.",
    )
    demo.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when drops were already received or files are waiting",
    )
    demo.set_defaults(handler=command_demo_data)

    benchmark = commands.add_parser(
        "bench",
        help="time ingest and refresh on a synthetic drop, against DuckDB alone",
        description="In a temporary EXTRA_HOME on the bundled offline data: generate a synthetic "
        "seizures drop (about 1% invalid rows), ingest it with the drop job and refresh the marts, "
        "do the same data work with DuckDB alone, time a small drop on top of a history and "
        "on an empty warehouse, and a refresh with nothing new against a full one. Prints each "
        "phase's seconds, rows per second and peak memory, and the ratios against their targets. "
        "Exits 1 if the benchmark could not measure real work.",
    )
    benchmark.add_argument(
        "--rows", type=int, default=bench.DEFAULT_ROWS,
        help=f"rows of the drop (default {bench.DEFAULT_ROWS:,})",
    )  # fmt: skip
    benchmark.add_argument(
        "--history", type=int, default=bench.DEFAULT_HISTORY, metavar="M",
        help=f"rows of history under the incremental drop (default {bench.DEFAULT_HISTORY:,})",
    )  # fmt: skip
    benchmark.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    benchmark.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR (new or empty) and keep it, instead of a temporary directory",
    )
    benchmark.add_argument(
        "--json", action="store_true", help="print only the JSON result (no table)"
    )
    benchmark.set_defaults(handler=command_bench)

    report = commands.add_parser(
        "report",
        help="render the GLOCA annual report, every edition (HTML and PDF)",
        description="Render the GLOCA annual report from the published copies, one edition "
        "per marking level (assets/products.yaml), into EXTRA_HOME/outputs/report/, in "
        "process (recorded in DAGSTER_HOME). Run `extra run` first.",
    )
    report.add_argument("--json", action="store_true", help="print one JSON summary")
    report.set_defaults(handler=command_report)

    bulletins = commands.add_parser(
        "bulletins",
        help="render the risk bulletins of a month",
        description="Render one risk bulletin per region and per market for MONTH, in every "
        "edition, into EXTRA_HOME/outputs/bulletins/MONTH/, in process.",
    )
    bulletins.add_argument(
        "--month", help="YYYY-MM (default: the last complete month)", metavar="MONTH"
    )
    bulletins.add_argument("--json", action="store_true", help="print one JSON summary")
    bulletins.set_defaults(handler=command_bulletins)

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
    from extra_pipeline.definitions import build_definitions

    defs = build_definitions(settings)  # once for the drops and the nightly job
    drops = ingest_pending_drops(settings, defs)
    if drops and not args.json:
        _print_drops(drops)
    summary = run_nightly(settings, progress=not args.json, full=args.full, defs=defs)
    summary["drops"] = drops
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_run_summary(summary)
    return 0 if summary["success"] and all(d.get("status") != "error" for d in drops) else 1


def _print_drops(drops: list[dict[str, Any]]) -> None:
    for drop in drops:
        if drop.get("status") == "error":
            print(f"  drop {drop['file']}: ERROR {drop.get('error')}", file=sys.stderr)
            continue
        print(
            f"  drop {drop['drop_id']} ({drop['file']}): {drop['status']}, "
            f"{drop.get('rows_accepted', 0):,} of {drop.get('rows_received', 0):,} rows accepted"
            + (f"; {drop['reason']}" if drop.get("reason") else ""),
            file=sys.stderr,
        )


# --- drops -------------------------------------------------------------------------------


def command_drops_ingest(args: argparse.Namespace) -> int:
    from extra_pipeline.drops.ingest import DropError, normalise_member_state

    settings = Settings.from_env()
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    try:
        member_state = normalise_member_state(args.member_state)
        if args.marking:
            parse_marking(args.marking)
    except DropError as error:
        raise UserError(str(error)) from None
    prepare_dagster_home(settings)
    _quiet_dagster()
    outcomes = ingest_drop_files(
        settings, list(args.files), member_state=member_state, dataset=args.dataset,
        period=args.period, marking=args.marking,
    )  # fmt: skip
    if args.json:
        print(json.dumps(outcomes, indent=2, default=str))
    else:
        _print_drops(outcomes)
        for drop in outcomes:
            if drop.get("report"):
                print(f"    report: {drop['report']}", file=sys.stderr)
    return 1 if any(d.get("status") in ("error", "rejected") for d in outcomes) else 0


def command_drops_template(args: argparse.Namespace) -> int:
    from extra_pipeline.drops.contracts import load_contracts
    from extra_pipeline.drops.templates import write_template

    contracts = load_contracts()
    if args.dataset not in contracts:
        raise UserError(f"no contract {args.dataset!r}: use one of {', '.join(sorted(contracts))}")
    for path in write_template(contracts[args.dataset], args.out, args.format):
        print(path)
    return 0


def command_demo_data(args: argparse.Namespace) -> int:
    from datetime import date

    from extra_pipeline.drops.demo import write_demo_drops
    from extra_pipeline.drops.ingest import DropArea

    settings = Settings.from_env()
    area = DropArea(settings.drops_dir)
    if args.if_empty and (area.archive.exists() or any(area.incoming.glob("*/*"))):
        print("extra: drops already received or waiting; no demo data written", file=sys.stderr)
        return 0
    files = write_demo_drops(area.incoming, today=date.today())
    print(f"wrote {len(files)} synthetic drops into {area.incoming}", file=sys.stderr)
    return 0


def _print_run_summary(summary: dict[str, Any]) -> None:
    if summary.get("up_to_date"):
        print(f"up to date: {summary.get('reason') or 'nothing changed since the last run'}")
        print("  (extra run --full rebuilds everything)")
        print(f"  published: {summary['published']['clear']} (and one copy per TLP level)")
        return
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


# --- products ----------------------------------------------------------------------------


def command_report(args: argparse.Namespace) -> int:
    from extra_pipeline.definitions import REPORT_JOB

    return _run_products(args, REPORT_JOB, None)


def command_bulletins(args: argparse.Namespace) -> int:
    from extra_pipeline.definitions import BULLETINS_JOB

    month = args.month or _last_complete_month()
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise UserError(f"--month {month!r} is not a month: write YYYY-MM, e.g. 2025-06")
    return _run_products(args, BULLETINS_JOB, f"{month}-01")


def _last_complete_month() -> str:
    first = datetime.now(UTC).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _run_products(args: argparse.Namespace, job: str, partition: str | None) -> int:
    settings = Settings.from_env()
    if not settings.published_path("clear").is_file():
        raise UserError("no published warehouse yet: run `extra run` first")
    prepare_dagster_home(settings)
    _quiet_dagster()
    summary = run_job(settings, job, partition=partition, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0 if summary["success"] else 1
    print(
        f"run {summary['run_id']}: {'SUCCESS' if summary['success'] else 'FAILURE'} in {summary['seconds']} s"
    )
    for step in summary["failed_steps"]:
        print(f"  step failed: {step}")
    print(f"  outputs: {summary['outputs']}")
    print(f"  run history: DAGSTER_HOME={summary['dagster_home']} (make ui to browse)")
    return 0 if summary["success"] else 1


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
            print(shown.to_string(index=False, na_rep="NULL") if not frame.empty else "(no rows)")
            if len(frame) > args.max_rows:
                print(f"... {len(frame) - args.max_rows} more rows (use --format csv for all)")
        print(f"[{len(frame)} rows, {level.label}]", file=sys.stderr)
    return 0


# --- status ------------------------------------------------------------------------------


def command_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_dagster_home(settings)
    _quiet_dagster()
    sources = source_status(settings)
    run = last_run(settings)
    drops = drops_status(settings)
    attention = [s["source"] for s in sources if not s["fresh"]]
    if run is None or run["status"] != "SUCCESS":
        attention.append("last nightly run")
    if drops["waiting_too_long"]:
        attention.append(f"{drops['waiting_too_long']} drop(s) waiting over an hour")
    if drops["rejected_last_week"]:
        attention.append(f"{len(drops['rejected_last_week'])} drop(s) rejected this week")
    if args.json:
        print(json.dumps(
            {"sources": sources, "last_run": run, "drops": drops, "attention": attention},
            indent=2,
        ))  # fmt: skip
        return 1 if attention else 0
    print(format_sources(sources))
    if run:
        print(f"last nightly run: {run['status']} {run['run_id']} started {run['started_at']}")
        for step in run["failed_steps"]:
            what = ", ".join(step["assets"]) or step["step"]
            print(f"  failed: {what}: {step['error']}")
    else:
        print("last nightly run: none recorded")
    waiting = drops["waiting"]
    print(
        f"drops waiting: {waiting}"
        + (f" (oldest {drops['oldest_waiting_hours']} h)" if waiting else "")
        + f"; rejected this week: {len(drops['rejected_last_week'])}"
        + f"; alerts in the last day: {len(drops['alerts_last_day'])}"
    )
    for rejected in drops["rejected_last_week"]:
        print(f"  rejected: {rejected['drop_id']} ({rejected['file']}): {rejected['reason']}")
    if drops["rejections_unreadable"]:
        print(f"  rejected drops not readable now: {drops['rejections_unreadable']}")
    if attention:
        print(f"needs attention: {', '.join(attention)}")
    return 1 if attention else 0


def format_sources(sources: list[dict[str, Any]]) -> str:
    """The sources as a plain-text table: state, mode, when retrieved, age against the
    update period, edition and licence (synthetic payloads say so)."""
    header = ("source", "state", "mode", "retrieved", "age (d)", "max (d)", "edition", "licence")
    rows = []
    for s in sources:
        if s["fresh"]:
            state = "fresh"
        else:
            state = "STALE" if s["stale"] else ("OLD" if s["mode"] else "MISSING")
        rows.append((
            s["source"], state + (" synthetic" if s.get("synthetic") else ""), s["mode"] or "-",
            (s["retrieved_at"] or "-")[:10],
            "-" if s["age_days"] is None else f"{s['age_days']:.1f}",
            str(s["max_age_days"]), s.get("edition") or "-", _shorten(s["licence"], 60),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {4, 5}  # numbers
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# --- bench -------------------------------------------------------------------------------


def command_bench(args: argparse.Namespace) -> int:
    from extra_pipeline.drops.model import Limits

    max_rows = Limits().max_rows
    if not bench.MIN_ROWS <= args.rows <= max_rows:
        raise UserError(
            f"--rows must be between {bench.MIN_ROWS:,} and {max_rows:,} (a drop's row limit)"
        )
    if args.history < bench.MIN_ROWS:
        raise UserError(f"--history must be at least {bench.MIN_ROWS:,}")
    if (
        args.keep is not None
        and args.keep.exists()
        and (not args.keep.is_dir() or any(args.keep.iterdir()))
    ):
        raise UserError(f"--keep {args.keep}: must be a new or empty directory")
    _quiet_dagster()

    def say(message: str) -> None:
        print(f"extra bench: {message}", file=sys.stderr, flush=True)

    try:
        result = bench.run_bench(
            rows=args.rows, history=args.history, seed=args.seed, keep=args.keep, say=say
        )
    except bench.BenchError as error:
        print(f"extra: bench failed: {error}", file=sys.stderr)
        return 1
    if not args.json:
        print(bench.format_table(result))
        print()
    print(json.dumps(result, indent=2, default=str))
    return 0


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
