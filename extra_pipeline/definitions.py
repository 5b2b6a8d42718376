"""The Dagster definitions: every asset, check, job, schedule, sensor and resource, in one place.

`dagster dev -w workspace.yaml`, `dagster definitions validate` and `extra run` all load
`defs` from here; tests call `build_definitions()` with their own settings.

The nightly schedule plans before it asks for a run (`extra_pipeline.refresh`): it requests
only the stale assets, or skips the night, saying why, when nothing changed.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from extra_pipeline.defs.checks import build_model_checks, build_suite_check
from extra_pipeline.defs.drops import DROPS_KEY, drop_sensor, drops, ingest_drop_job
from extra_pipeline.defs.models import (
    build_model_asset,
    build_versions,
    model_markings,
    table_key,
)
from extra_pipeline.defs.operations import (
    build_product_schedules,
    network_retry_policy,
    run_failure_alert,
)
from extra_pipeline.defs.products import (
    BULLETIN_PARTITIONS,
    BULLETINS_KEY,
    REPORT_PREFIX,
    build_product_assets,
)
from extra_pipeline.defs.progress import progress_logger
from extra_pipeline.defs.publish import build_publish_asset
from extra_pipeline.defs.reference import (
    METHODOLOGY_TABLE,
    REFERENCE_ASSETS,
    REFERENCE_TABLES,
    REFERENCE_VERSIONS,
    build_methodology_asset,
    methodology_version,
)
from extra_pipeline.defs.resources import build_resources
from extra_pipeline.defs.sources import build_source_assets
from extra_pipeline.drops.contracts import load_contracts
from extra_pipeline.drops.ingest import drop_tables_ddl, raw_table
from extra_pipeline.markings import Marking
from extra_pipeline.methodology import METHODOLOGY_FILE, load_methodology
from extra_pipeline.models import SQL_DIR, discover_models
from extra_pipeline.quality import EXPECTATIONS_DIR, QualityError, load_suites
from extra_pipeline.refresh import (
    DROP_TABLES_METADATA,
    PLANNED_REFRESH,
    REFRESH_TAG,
    drop_tables_of,
    plan_refresh,
)
from extra_pipeline.settings import Settings
from extra_pipeline.sources.base import load_registry

NIGHTLY_JOB = "nightly_refresh"
NIGHTLY_SCHEDULE = "nightly_refresh_schedule"
REPORT_JOB = "gloca_report"
#: the nightly refresh takes a minute or two on the bundled data; two hours means stuck
MAX_RUNTIME_SECONDS = 7200
BULLETINS_JOB = "risk_bulletins"


def build_definitions(
    settings: Settings,
    *,
    sql_dir: Path = SQL_DIR,
    expectations_dir: Path = EXPECTATIONS_DIR,
    methodology_file: Path = METHODOLOGY_FILE,
) -> dg.Definitions:
    """Everything the pipeline is, for the deployment `settings` describes."""
    registry = load_registry(settings)
    methodology = load_methodology(methodology_file)
    source_assets = build_source_assets(registry, network_retry_policy(settings))
    contracts = load_contracts()
    # Tables written by the partitioned drops asset (one write per drop), not by their own asset.
    drop_tables = {raw_table(c.dataset): c.marking for c in contracts.values()}
    table_assets = dict.fromkeys([*drop_tables, "audit.drops", "audit.quarantine"], DROPS_KEY)
    input_markings = {
        **REFERENCE_TABLES,
        **{f"raw.{sid}": config.marking for sid, config in registry.items()},
        **drop_tables,
        "audit.drops": Marking.CLEAR,  # rows are filtered by each drop's own marking on publish
        "audit.quarantine": Marking.AMBER,  # holds rows as sent
    }
    models = discover_models(sql_dir, known_tables=input_markings, methodology=methodology)
    markings = model_markings(models, input_markings)
    known = {*input_markings, *markings}
    suites = load_suites(expectations_dir)
    for suite in suites:
        if suite.table not in known:
            raise QualityError(
                f"expectations/{suite.path.name}: guards {suite.table!r}, which no asset produces"
            )
    references = {table: version() for table, version in REFERENCE_VERSIONS.values()}
    references[METHODOLOGY_TABLE] = methodology_version(methodology)
    versions = build_versions(models, markings, {s.table: s.digest for s in suites}, references)
    bootstrap = drop_tables_ddl(contracts)
    drop_versions = drop_tables_of(contracts)
    model_assets = [
        build_model_asset(
            m, markings[m.table], build_version=versions[m.table], table_assets=table_assets,
            bootstrap=bootstrap, drop_tables=drop_versions,
            input_markings={**input_markings, **markings}, methodology=methodology,
        )
        for m in models
    ]  # fmt: skip
    publish_asset = build_publish_asset(
        [table_key(m.table) for m in models if m.layer == "marts"],
        row_marked={m.table: m.row_marking for m in models if m.row_marking},
    )

    # Drop suites gate each drop inside its own run; the others check whole tables.
    checks = [build_suite_check(s) for s in suites if s.meta.get("scope") != "drop"]
    checks += [check for m in models for check in build_model_checks(m, methodology)]

    product_assets = build_product_assets()
    reports = dg.AssetSelection.assets(
        *(a.key for a in product_assets if a.key.path[-1].startswith(REPORT_PREFIX))
    )
    bulletins = dg.AssetSelection.assets(BULLETINS_KEY)
    nightly = dg.define_asset_job(
        NIGHTLY_JOB,
        # drops arrive one partition at a time, through their own job and sensor; the report
        # and bulletins have jobs of their own
        selection=dg.AssetSelection.all()
        - dg.AssetSelection.assets(DROPS_KEY)
        - reports
        - bulletins,
        description=(
            "Sources, reference data, SQL models, checks, the published warehouse, and what "
            "follows it daily: early-warning notes and exports."
        ),
        # run monitoring (assets/dagster.yaml) fails a run still going after two hours
        tags={"dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
    )
    report_job = dg.define_asset_job(
        REPORT_JOB,
        selection=reports,
        description="The GLOCA annual report, every edition, from the published copies.",
    )
    bulletins_job = dg.define_asset_job(
        BULLETINS_JOB,
        selection=bulletins,
        partitions_def=BULLETIN_PARTITIONS,
        description="The risk bulletins of one month, every region and market, every edition.",
    )
    return dg.Definitions(
        assets=[
            *source_assets,
            *REFERENCE_ASSETS,
            build_methodology_asset(methodology),
            drops,
            *model_assets,
            publish_asset,
            *product_assets,
        ],
        asset_checks=checks,
        jobs=[nightly, ingest_drop_job, report_job, bulletins_job],
        schedules=[
            nightly_schedule(settings, nightly),
            *build_product_schedules(bulletins_job, report_job),
        ],
        sensors=[drop_sensor, run_failure_alert],
        resources=build_resources(settings),
        executor=dg.in_process_executor,
        loggers={"progress": progress_logger},
        metadata={DROP_TABLES_METADATA: dg.MetadataValue.json(dict(drop_versions.datasets))},
    )


def nightly_schedule(settings: Settings, job: Any) -> dg.ScheduleDefinition:
    """02:00 Brussels time: a run of what changed since the last refresh, or a skip that says
    nothing did."""

    @dg.schedule(
        name=NIGHTLY_SCHEDULE,
        job=job,
        cron_schedule="0 2 * * *",
        execution_timezone="Europe/Brussels",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The nightly refresh at 02:00 Brussels time, of what changed only.",
    )
    def nightly_refresh_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        try:
            repository = context.repository_def
        except dg.DagsterInvariantViolationError:  # evaluated outside a code location
            repository = None
        plan = plan_refresh(settings, repository)
        if plan.up_to_date:
            return dg.SkipReason(plan.describe())
        context.log.info(plan.describe())
        return dg.RunRequest(asset_selection=plan.selection, tags={REFRESH_TAG: PLANNED_REFRESH})

    return nightly_refresh_schedule


defs = build_definitions(Settings.from_env())
