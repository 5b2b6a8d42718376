"""Running the pipeline in process, the way the CLI (and tests) do: the nightly job, drop
ingestion, and what the run history says. Every run lands in the DAGSTER_HOME the UI reads."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from extra_pipeline.markings import Marking
from extra_pipeline.settings import PROJECT_ROOT, Settings

DAGSTER_YAML_TEMPLATE = PROJECT_ROOT / "assets" / "dagster.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' run storage, creating it with the shipped instance config."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():  # never overwrite an operator's instance configuration
        shutil.copyfile(DAGSTER_YAML_TEMPLATE, config)
    return home


@contextmanager
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """The DAGSTER_HOME instance, disposed of afterwards.

    Not entered with `with instance:`: Dagster 1.13's `__exit__` leaves the instance's
    definitions-state storage installed in a context variable, so a later definitions load
    in this process meets a disposed instance ("undefined DagsterInstance weakref").
    """
    instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()


def run_nightly(
    settings: Settings,
    *,
    progress: bool = True,
    full: bool = False,
    defs: dg.Definitions | None = None,
    products: bool = True,
) -> dict[str, Any]:
    """The nightly refresh in process against the DAGSTER_HOME instance; a summary dict.

    It plans first (`extra_pipeline.refresh.plan_refresh`): only the stale assets run (with
    their checks), and nothing at all when nothing changed; `planned` gives each planned
    asset's reason, `up_to_date` says whether the run was skipped. `full` runs every asset
    and rebuilds every model and published copy from scratch. `defs` defaults to the
    definitions the settings describe. `products=False` leaves out the products that
    follow the published copies (early-warning notes, exports): the benchmark measures the
    data, not the rendering.
    """
    from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
    from extra_pipeline.defs.progress import terminal
    from extra_pipeline.refresh import (
        FULL_REFRESH,
        OUTPUT_METADATA,
        PLANNED_REFRESH,
        REFRESH_TAG,
        plan_refresh,
    )

    defs = defs if defs is not None else build_definitions(settings)
    job = defs.resolve_job_def(NIGHTLY_JOB)
    stream = terminal()  # bind progress output to the terminal before Dagster captures it
    started = datetime.now(UTC)
    summary: dict[str, Any] = {
        "run_id": None,
        "success": True,
        "up_to_date": False,
        "sources_mode": settings.sources_mode,
        "extra_home": str(settings.extra_home),
        "dagster_home": str(settings.dagster_home),
        "started_at": started.isoformat(),
    }
    with recovered_instance(settings) as instance:
        if full:
            selection = sorted(
                (
                    k
                    for k in job.asset_layer.selected_asset_keys
                    if products
                    or OUTPUT_METADATA not in job.asset_layer.asset_graph.get(k).metadata
                ),
                key=lambda k: k.to_user_string(),
            )
            reason = "full refresh asked for: every asset runs, every table is rebuilt"
            planned = dict.fromkeys(
                (k.to_user_string() for k in selection), "full refresh asked for"
            )
        else:
            plan = plan_refresh(settings, defs, products=products)
            selection, reason, planned = plan.selection, plan.describe(), plan.reasons()
        if progress:
            shown = (
                [reason] if full or not planned else [f"{k}: {why}" for k, why in planned.items()]
            )
            print("\n".join(f"  = {line}" for line in shown), file=stream)
        summary |= {"reason": reason, "planned": planned}
        if not planned:
            return summary | {
                "up_to_date": True, "seconds": _seconds_since(started), "materialized": [],
                "failed_steps": [], "skipped_steps": [], "checks": [],
                "published": _published(settings),
            }  # fmt: skip
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=selection,
            run_config={"loggers": {"progress": {"config": {"quiet": not progress}}}},
            tags={
                CLI_PID_TAG: str(os.getpid()),
                CLI_HOST_TAG: socket.gethostname(),
                REFRESH_TAG: FULL_REFRESH if full else PLANNED_REFRESH,
            },
        )
        alert_if_failed(settings, instance, result)
    return summary | _result_summary(result, started) | {"published": _published(settings)}


def run_job(
    settings: Settings,
    job_name: str,
    *,
    partition: str | None = None,
    progress: bool = True,
    defs: dg.Definitions | None = None,
) -> dict[str, Any]:
    """Another job of the definitions (the report, the bulletins of a month) in process, in
    the DAGSTER_HOME instance; a summary dict like `run_nightly`'s."""
    from extra_pipeline.definitions import build_definitions
    from extra_pipeline.defs.progress import terminal

    defs = defs if defs is not None else build_definitions(settings)
    job = defs.resolve_job_def(job_name)
    terminal()  # bind progress output to the terminal before Dagster captures it
    started = datetime.now(UTC)
    with recovered_instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            partition_key=partition,
            run_config={"loggers": {"progress": {"config": {"quiet": not progress}}}},
            tags={CLI_PID_TAG: str(os.getpid()), CLI_HOST_TAG: socket.gethostname()},
        )
        alert_if_failed(settings, instance, result)
    return {
        "job": job_name,
        "partition": partition,
        "extra_home": str(settings.extra_home),
        "dagster_home": str(settings.dagster_home),
        "started_at": started.isoformat(),
        "outputs": str(settings.outputs_dir),
    } | _result_summary(result, started)


def _result_summary(result: Any, started: datetime) -> dict[str, Any]:
    """What a finished in-process run did: success, assets, failed and skipped steps, checks."""
    events = result.all_events
    checks = [
        {
            "asset": e.asset_check_evaluation_data.asset_key.to_user_string(),
            "check": e.asset_check_evaluation_data.check_name,
            "passed": e.asset_check_evaluation_data.passed,
            "severity": e.asset_check_evaluation_data.severity.value,
        }
        for e in events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return {
        "run_id": result.run_id,
        "success": result.success,
        "seconds": _seconds_since(started),
        "materialized": sorted(
            {
                e.asset_key.to_user_string()
                for e in events
                if e.is_step_materialization and e.asset_key
            }
        ),
        "failed_steps": sorted({e.step_key for e in events if e.is_step_failure and e.step_key}),
        "skipped_steps": sorted({e.step_key for e in events if e.is_step_skipped and e.step_key}),
        "checks": checks,
    }


def alert_if_failed(
    settings: Settings, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult
) -> Path | None:
    """The alert on a failed in-process run, as the `run_failure_alert` sensor writes for the
    daemon's runs (the sensor does not see runs without a code location); its file."""
    if result.success:
        return None
    run = instance.get_run_by_id(result.run_id)
    if run is None:
        return None
    failure = next(
        (e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE), None
    )
    return _send_alert(settings, instance, run, failure.message if failure else None)


def _send_alert(
    settings: Settings, instance: dg.DagsterInstance, run: dg.DagsterRun, error: str | None
) -> Path | None:
    """Write (and post) the alert on a failed run; a failure to alert is said on stderr and
    never stops the command's own work (the drops after it, the summary)."""
    from extra_pipeline.defs.operations import alerts_resource, failure_alert

    try:
        alerts = alerts_resource(settings)
        alert = failure_alert(instance, run, alerts.ui_url, error)
        path = alerts.send(alert)
    except Exception as problem:  # an alert must not take the run's own report down
        print(f"extra: could not write the alert on run {run.run_id}: {problem}", file=sys.stderr)
        return None
    print(f"extra: {alert['summary']}; alert written to {path}", file=sys.stderr)
    return path


def _seconds_since(started: datetime) -> float:
    return round((datetime.now(UTC) - started).total_seconds(), 2)


def _published(settings: Settings) -> dict[str, str]:
    return {m.slug: str(settings.published_path(m.slug)) for m in Marking}


CLI_PID_TAG = "extra/cli_pid"
CLI_HOST_TAG = "extra/cli_host"


@contextmanager
def recovered_instance(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The DAGSTER_HOME instance for a run the CLI starts, once what dead runs still hold is
    released (before any run of its own claims the writer slot, drop runs included). A run
    found dead gets its alert now: nobody else would write one (the daemon's sensor does not
    see the CLI's runs, and the killed process could not)."""
    with dagster_instance() as instance:
        for note in recover_abandoned_runs(instance):
            print(f"extra: {note}", file=sys.stderr)
            if note.run_marked_failed:
                run = instance.get_run_by_id(note.run_id)
                if run is not None:
                    _send_alert(settings, instance, run, note.text)
        yield instance


@dataclass(frozen=True)
class RecoveryNote:
    """What recovering from a dead run did, for the terminal."""

    run_id: str
    text: str
    run_marked_failed: bool = False

    def __str__(self) -> str:
        return self.text


def recover_abandoned_runs(instance: Any) -> list[RecoveryNote]:
    """Release what dead runs still hold, so one killed `extra run` cannot wedge the next.

    A run started by this command whose process is gone is marked failed; concurrency
    slots claimed by runs that are no longer in progress are freed (an in-process run
    that dies mid-step never releases its `duckdb_writer` slot by itself).
    """
    notes: list[RecoveryNote] = []
    host = socket.gethostname()
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        pid = run.tags.get(CLI_PID_TAG)
        if pid and run.tags.get(CLI_HOST_TAG) == host and not _process_alive(int(pid)):
            instance.report_run_failed(
                run, "the `extra run` process that ran it is gone (killed or crashed)"
            )
            notes.append(
                RecoveryNote(
                    run.run_id,
                    f"run {run.run_id} was abandoned by a dead process: marked failed",
                    run_marked_failed=True,
                )
            )
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
                notes.append(
                    RecoveryNote(run_id, f"freed {key} slots held by finished run {run_id}")
                )
    return notes


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def source_status(settings: Settings) -> list[dict[str, Any]]:
    """Each registered source as last used: how it was obtained (mode), when the data were
    retrieved from the publisher, their age against the source's update period, licence,
    edition and whether the payload is synthetic. A source of several resources is as old
    as its oldest resource."""
    from extra_pipeline.snapshots import SnapshotStore
    from extra_pipeline.sources.base import age_days, load_registry

    store = SnapshotStore(settings.snapshots_dir)
    rows = []
    for source_id, config in load_registry(settings).items():
        about = {
            "source": source_id,
            "title": config.title,
            "licence": config.licence,
            "marking": config.marking.label,
            "max_age_days": config.max_age_days,
        }
        newest: dict[str, Any] = {}  # resource -> its newest record
        for record in store.records(source_id):  # oldest first
            newest[record.resource] = record
        if not newest:
            rows.append({
                **about, "mode": None, "retrieved_at": None, "used_at": None,
                "age_days": None, "edition": None, "synthetic": None, "stale": None,
                "fresh": False, "note": "never fetched",
            })  # fmt: skip
            continue
        latest = list(newest.values())
        oldest = min(r.retrieved_at for r in latest)
        age = age_days(oldest)
        stale = any(r.stale for r in latest)
        rows.append({
            **about,
            "mode": ", ".join(sorted({r.mode for r in latest})),
            "retrieved_at": oldest,
            "used_at": max(r.used_at for r in latest),
            "age_days": round(age, 1),
            "edition": ", ".join(sorted({r.edition for r in latest if r.edition})),
            "synthetic": any(r.synthetic for r in latest),
            "stale": stale,
            "fresh": not stale and age <= config.max_age_days,
            "note": "; ".join(sorted({r.note for r in latest if r.note})),
        })  # fmt: skip
    return rows


def last_run(settings: Settings) -> dict[str, Any] | None:
    """The nightly job's latest run: status, times, and each failed step with the assets it
    computes and the error's first line."""
    from extra_pipeline.definitions import NIGHTLY_JOB
    from extra_pipeline.defs.operations import failed_steps

    if not (settings.dagster_home / "dagster.yaml").exists():
        return None
    with dagster_instance() as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name=NIGHTLY_JOB), limit=1)
        if not records:
            return None
        record = records[0]
        steps = failed_steps(instance, record.dagster_run)
    return {
        "run_id": record.dagster_run.run_id,
        "status": record.dagster_run.status.value,
        "started_at": _iso(record.start_time),
        "finished_at": _iso(record.end_time),
        "failed_steps": [
            step | {"error": (step["error"] or "").splitlines()[0] if step["error"] else None}
            for step in steps
        ],
    }


#: a file in the landing area this long is not being picked up (sensor or daemon down?)
WAITING_TOO_LONG = timedelta(hours=1)
#: rejected drops this recent need someone to contact the sender
RECENT_REJECTIONS = timedelta(days=7)


def _modified(path: Path) -> datetime | None:
    """When `path` was last written; None once it is gone (picked up meanwhile)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


def drops_status(settings: Settings) -> dict[str, Any]:
    """The landing area and the recent drops: files waiting (and for how long), drops
    rejected in the last week with their reasons, alerts written in the last day."""
    from extra_pipeline.defs.drops import pending_drops
    from extra_pipeline.drops.ingest import DropArea

    now = datetime.now(UTC)
    pending, _ = pending_drops(DropArea(settings.drops_dir), settle_seconds=0)
    ages = [now - modified for d in pending if (modified := _modified(d.path)) is not None]
    rejected: list[dict[str, Any]] = []
    unreadable = None
    if settings.warehouse_path.is_file():
        try:
            with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
                rows = con.execute(
                    "select drop_id, member_state, file_name, reason, received_at "
                    "from audit.drops where status = 'rejected' and received_at >= ? "
                    "order by received_at desc",
                    [now - RECENT_REJECTIONS],
                ).fetchall()
            rejected = [
                {"drop_id": r[0], "member_state": r[1], "file": r[2], "reason": r[3],
                 "received_at": r[4].isoformat()}
                for r in rows
            ]  # fmt: skip
        except duckdb.Error as error:  # held by a writer, or no drops table yet
            unreadable = str(error).splitlines()[0]
    alerts = sorted(settings.alerts_dir.glob("*.json")) if settings.alerts_dir.is_dir() else []
    recent_alerts = [
        p.name
        for p in alerts
        if now - datetime.fromtimestamp(p.stat().st_mtime, UTC) < timedelta(days=1)
    ]
    return {
        "waiting": len(pending),
        "waiting_too_long": sum(age > WAITING_TOO_LONG for age in ages),
        "oldest_waiting_hours": round(max(ages).total_seconds() / 3600, 1) if ages else None,
        "rejected_last_week": rejected,
        "rejections_unreadable": unreadable,
        "alerts_last_day": recent_alerts,
    }


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


# --- drops ---------------------------------------------------------------------------------


def ingest_drop_files(
    settings: Settings,
    files: list[Path],
    *,
    member_state: str,
    dataset: str | None = None,
    period: str | None = None,
    marking: str | None = None,
    remove_after: bool = False,
    defs: dg.Definitions | None = None,
) -> list[dict[str, Any]]:
    """`extra drops ingest`: each file as its own drop, through the same job the sensor launches
    (`defs`: the definitions to run it from, built from `settings` when not given)."""
    from extra_pipeline.drops.ingest import file_sha256, new_drop_id

    jobs = []
    for path in files:
        key = new_drop_id(member_state, file_sha256(path), datetime.now(UTC))
        config = {"path": str(path.resolve()), "member_state": member_state, "dataset": dataset,
                  "period": period, "marking": marking, "remove_after": remove_after}  # fmt: skip
        jobs.append((key, path, config))
    return _run_drop_jobs(settings, jobs, defs)


def ingest_pending_drops(
    settings: Settings, defs: dg.Definitions | None = None
) -> list[dict[str, Any]]:
    """Every file waiting in the landing area, as the sensor would launch them (an operator's
    `extra run` takes files at once: no settling time)."""
    from extra_pipeline.defs.drops import pending_drops
    from extra_pipeline.drops.ingest import DropArea

    pending, skipped = pending_drops(DropArea(settings.drops_dir), settle_seconds=0)
    for message in skipped:
        print(f"extra: left in the landing area: {message}", file=sys.stderr)
    jobs = [
        (d.key, d.path, {"path": str(d.path), "member_state": d.member_state, "remove_after": True})
        for d in pending
    ]
    return _run_drop_jobs(settings, jobs, defs)


def _run_drop_jobs(
    settings: Settings,
    jobs: list[tuple[str, Path, dict[str, Any]]],
    defs: dg.Definitions | None = None,
) -> list[dict[str, Any]]:
    from extra_pipeline.definitions import build_definitions
    from extra_pipeline.defs.drops import DROP_JOB, DROPS_KEY, drop_partitions

    if not jobs:
        return []
    defs = defs if defs is not None else build_definitions(settings)
    job = defs.resolve_job_def(DROP_JOB)
    outcomes = []
    with recovered_instance(settings) as instance:
        instance.add_dynamic_partitions(drop_partitions.name, [key for key, _, _ in jobs])
        for key, path, config in jobs:
            result = job.execute_in_process(
                instance=instance,
                partition_key=key,
                raise_on_error=False,
                run_config={
                    "ops": {DROPS_KEY.to_python_identifier(): {"config": config}},
                    "loggers": {"progress": {"config": {"quiet": True}}},
                },
                tags={CLI_PID_TAG: str(os.getpid()), CLI_HOST_TAG: socket.gethostname()},
            )
            alert_if_failed(settings, instance, result)
            outcomes.append(_drop_summary(key, path, result))
    return outcomes


def _drop_summary(key: str, path: Path, result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    from extra_pipeline.defs.operations import root_error

    summary: dict[str, Any] = {"drop_id": key, "file": path.name, "run_id": result.run_id}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        summary.update({name: value.value for name, value in metadata.items() if name != "report"})
        summary["report"] = str(metadata["report"].value) if "report" in metadata else None
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = root_error(failure.step_failure_data.error if failure else None)
        summary.setdefault("status", "error")
        summary["error"] = error.message.strip().splitlines()[-1] if error else "the run failed"
    return summary
