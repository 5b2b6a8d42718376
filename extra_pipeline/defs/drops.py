"""Member-state drops in Dagster: one dynamic partition per drop, a sensor on the landing
area, and the job that ingests one drop (the same code `extra drops ingest` runs)."""

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from extra_pipeline.defs.resources import DropsResource
from extra_pipeline.drops.ingest import (
    SIDECAR_SUFFIX,
    DropArea,
    DropRequest,
    ingest,
    normalise_member_state,
    remove_from_landing,
)
from extra_pipeline.quality import GreatExpectationsResource, Suite, load_suites
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

    def gate(dataset: str, frame):
        result = great_expectations.validate(suites[dataset], frame)
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
    if config.remove_after:
        remove_from_landing(path)
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def pending_files(area: DropArea, *, settle_seconds: float) -> list[tuple[str, Path]]:
    """Files waiting in `incoming/<CC>/`, oldest first: not sidecars, not hidden, settled."""
    if not area.incoming.is_dir():
        return []
    now = time.time()
    found = []
    for folder in sorted(p for p in area.incoming.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if (
                not path.is_file()
                or path.name.startswith(".")
                or path.name.endswith(SIDECAR_SUFFIX)
                or now - path.stat().st_mtime < settle_seconds
            ):
                continue
            found.append((folder.name, path))
    return sorted(found, key=lambda item: item[1].stat().st_mtime_ns)


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
    requests, new_keys, skipped = [], [], []
    for folder, path in pending_files(area, settle_seconds=drop_area.settle_seconds):
        try:
            member_state = normalise_member_state(folder)
        except ValueError as error:
            skipped.append(f"{folder}/{path.name}: {error}")
            continue
        key = landing_key(member_state, path, file_sha256(path))
        if key in known:
            continue  # already requested on an earlier tick (run key = drop id, too)
        new_keys.append(key)
        requests.append(
            dg.RunRequest(
                run_key=key,
                partition_key=key,
                run_config=dg.RunConfig(
                    ops={
                        DROPS_KEY.to_python_identifier(): DropFileConfig(
                            path=str(path), member_state=member_state
                        )
                    }
                ),
                tags={"extra/member_state": member_state, "extra/file": path.name[:200]},
            )
        )
    for message in skipped:
        context.log.warning(f"not a member-state folder, left alone: {message}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[drop_partitions.build_add_request(new_keys)]
        if new_keys
        else [],
    )
