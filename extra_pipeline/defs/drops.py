"""Member-state drops in Dagster: one dynamic partition per drop, a sensor on the landing
area, and the job that ingests one drop (the same code `extra drops ingest` runs)."""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from extra_pipeline.defs.checks import SUITE_CHECK, check_rows
from extra_pipeline.defs.resources import DropsResource
from extra_pipeline.drops.ingest import (
    SIDECAR_SUFFIX,
    DropArea,
    DropRequest,
    file_sha256,
    ingest,
    normalise_member_state,
    remove_from_landing,
)
from extra_pipeline.quality import GreatExpectationsResource, Suite, SuiteResult, load_suites
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource

DROPS_KEY = dg.AssetKey(["raw", "drops"])
DROP_JOB = "ingest_drop"
drop_partitions = dg.DynamicPartitionsDefinition(name="drops")


class DropFileConfig(dg.Config):
    """Which file this partition ingests, and what the sender said about it."""

    path: str
    member_state: str
    dataset: str | None = None
    period: str | None = None
    marking: str | None = None
    #: landing-area files leave `incoming/` once archived; `extra drops ingest` keeps its files
    remove_after: bool = True


def drop_suites() -> dict[str, Suite]:
    """The per-contract suites (`expectations/drop_<dataset>.json`), by dataset."""
    return {
        s.table.removeprefix("raw.drop_"): s for s in load_suites() if s.meta.get("scope") == "drop"
    }


@dg.asset(
    key=DROPS_KEY,
    partitions_def=drop_partitions,
    group_name="drops",
    pool=WRITER_POOL,
    kinds={"python", "duckdb"},
    metadata={"marking": "per drop: the sidecar's, else TLP:AMBER"},
    check_specs=[
        dg.AssetCheckSpec(
            "expectations",
            asset=DROPS_KEY,
            blocking=True,
            description="The drop's accepted rows pass its contract's Great Expectations suite.",
        )
    ],
)
def drops(
    context: dg.AssetExecutionContext,
    config: DropFileConfig,
    warehouse: WarehouseResource,
    drop_area: DropsResource,
    great_expectations: GreatExpectationsResource,
) -> dg.MaterializeResult:
    """One member-state file: archived, read, every row accepted or quarantined with the rule
    it broke, recorded in `audit.drops` / `audit.quarantine`, and reported to the sender."""
    suites = drop_suites()
    gate_results = []

    def gate(dataset: str, database: Path, table: str) -> SuiteResult:
        result = great_expectations.validate_table(suites[dataset], database, table)
        gate_results.append(result)
        return result

    path = Path(config.path)
    outcome = ingest(
        DropRequest(
            path=path,
            member_state=config.member_state,
            dataset=config.dataset,
            period=config.period,
            marking=config.marking,
            drop_id=context.partition_key,
        ),
        warehouse=warehouse,
        area=drop_area.area(),
        limits=drop_area.limits(),
        gate=gate,
    )
    if gate_results:
        suite = suites[outcome.dataset]
        warehouse.append_rows(
            "audit.check_results",
            check_rows(
                SUITE_CHECK,
                suite.name,
                suite.digest,
                DROPS_KEY,
                gate_results[-1],
                context.run.run_id,
            ),
        )
    landing = drop_area.area().incoming.resolve()
    if config.remove_after and path.resolve().is_relative_to(landing):
        # only the landing area is ours to tidy: a file named from elsewhere is left alone
        remove_from_landing(path, outcome.sha256)
    context.log.info(
        f"{outcome.drop_id}: {outcome.status}, {outcome.rows_accepted:,} of {outcome.rows_received:,} rows accepted"
    )
    gate_result = gate_results[-1] if gate_results else None
    return dg.MaterializeResult(
        metadata={
            "status": outcome.status,
            "member_state": outcome.member_state,
            "dataset": outcome.dataset or "",
            "period": outcome.period or "",
            "marking": f"TLP:{outcome.marking.upper()}",
            "rows_received": outcome.rows_received,
            "rows_accepted": outcome.rows_accepted,
            "rows_quarantined": outcome.rows_quarantined,
            "reason": outcome.reason,
            "issues_by_rule": dg.MetadataValue.json(outcome.issues_by_rule),
            "sha256": outcome.sha256,
            "synthetic": outcome.synthetic,
            "report": dg.MetadataValue.path(outcome.report_html or ""),
            "phase_seconds": dg.MetadataValue.json(outcome.phase_seconds),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="expectations",
                passed=gate_result is None or gate_result.success,
                severity=dg.AssetCheckSeverity.ERROR,
                description="no accepted rows to check" if gate_result is None else None,
                metadata={
                    "failed": dg.MetadataValue.json(
                        [o.expectation for o in gate_result.failed] if gate_result else []
                    )
                },
            )
        ],
    )


ingest_drop_job = dg.define_asset_job(
    DROP_JOB,
    selection=dg.AssetSelection.assets(DROPS_KEY),
    partitions_def=drop_partitions,
    description="Ingest one member-state drop (one partition).",
)


def landing_key(member_state: str, path: Path, sha256: str) -> str:
    """The drop id of a file in the landing area: stable across sensor ticks (so a re-tick
    launches nothing), distinct for the same bytes under another name or at another time."""
    stat = path.stat()
    when = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y%m%dT%H%M%S")
    salt = hashlib.sha256(f"{sha256}/{path.name}/{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    return f"{member_state.lower()}-{when}-{salt}"


#: names an uploader uses while a transfer is still running
PARTIAL_SUFFIXES = (".part", ".filepart", ".partial", ".tmp", ".crdownload")


@dataclass(frozen=True)
class PendingDrop:
    member_state: str
    path: Path
    key: str  # the drop id, also the partition and run key


def pending_drops(area: DropArea, *, settle_seconds: float) -> tuple[list[PendingDrop], list[str]]:
    """Files waiting in `incoming/<CC>/`, oldest first, and why any were left alone.

    A file is taken once it and its sidecar have both been still for `settle_seconds`; hidden
    files, sidecars and partial uploads are not drops; a folder that is not a country code, or
    a file that cannot be read, is reported and skipped without holding up the others.
    """
    if not area.incoming.is_dir():
        return [], []
    now = time.time()
    found: list[tuple[int, PendingDrop]] = []
    skipped: list[str] = []
    for folder in sorted(p for p in area.incoming.iterdir() if p.is_dir()):
        try:
            member_state = normalise_member_state(folder.name)
        except ValueError as error:
            skipped.append(f"{folder.name}/: {error}")
            continue
        for path in sorted(folder.iterdir()):
            name = path.name
            if (
                name.startswith(".")
                or name.endswith(SIDECAR_SUFFIX)
                or name.lower().endswith(PARTIAL_SUFFIXES)
            ):
                continue
            try:
                if not path.is_file():
                    continue
                sidecar = path.with_name(name + SIDECAR_SUFFIX)
                changed = max(
                    path.stat().st_mtime, sidecar.stat().st_mtime if sidecar.exists() else 0
                )
                if now - changed < settle_seconds:
                    continue
                key = landing_key(member_state, path, file_sha256(path))
                found.append((path.stat().st_mtime_ns, PendingDrop(member_state, path, key)))
            except OSError as error:  # unreadable, or gone since listed: the others go on
                skipped.append(f"{folder.name}/{name}: {error.strerror or error}")
    return [drop for _, drop in sorted(found, key=lambda item: item[0])], skipped


@dg.sensor(
    job=ingest_drop_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Picks up each new file in EXTRA_HOME/drops/incoming/<CC>/ once, as its own drop.",
)
def drop_sensor(context: dg.SensorEvaluationContext, drop_area: DropsResource) -> dg.SensorResult:
    """One run per new file (run key = drop id: a re-tick launches nothing)."""
    area = drop_area.area()
    known = set(context.instance.get_dynamic_partitions(drop_partitions.name))
    pending, skipped = pending_drops(area, settle_seconds=drop_area.settle_seconds)
    requests, new_keys = [], []
    for drop in pending:
        if drop.key in known:
            continue  # already requested on an earlier tick (run key = drop id, too)
        new_keys.append(drop.key)
        requests.append(
            dg.RunRequest(
                run_key=drop.key,
                partition_key=drop.key,
                run_config=dg.RunConfig(
                    ops={
                        DROPS_KEY.to_python_identifier(): DropFileConfig(
                            path=str(drop.path), member_state=drop.member_state
                        )
                    }
                ),
                tags={"extra/member_state": drop.member_state, "extra/file": drop.path.name[:200]},
            )
        )
    for message in skipped:
        context.log.warning(f"left in the landing area: {message}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[drop_partitions.build_add_request(new_keys)]
        if new_keys
        else [],
    )
