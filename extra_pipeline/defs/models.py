"""The SQL models as assets: one per file in `sql/`, lineage from the SQL itself.

A model asset builds its table only when it must: its data version (its SQL's hash with the
data versions of the tables it reads, see `extra_pipeline.refresh`) is computed first, and a
table already built at that version is left alone; a model with an incremental key is kept
up to date by key; a full refresh (run tag `extra/refresh: full`) rebuilds it whole.
"""

from collections.abc import Iterable, Mapping

import dagster as dg

from extra_pipeline.markings import Marking, highest
from extra_pipeline.methodology import Methodology
from extra_pipeline.models import ModelError, SqlModel
from extra_pipeline.refresh import (
    FULL_REFRESH,
    READS_METADATA,
    REFRESH_TAG,
    DropTables,
    digest,
    input_versions,
    model_version,
)
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource


def table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


#: the highest input marking a model may publish below, with a small-cell suppression rule:
#: the member-state drops' default. Anything above it is never declassified by aggregation.
DECLASSIFIABLE = Marking.AMBER


def effective_marking(model: SqlModel, inputs: Iterable[Marking]) -> Marking:
    """A model's marking given its inputs': the highest of them; a declared marking above
    that is a floor; one below it applies only to inputs up to `DECLASSIFIABLE` (above, the
    table keeps its inputs' marking: an omission can only over-protect)."""
    from_inputs = highest(inputs)
    declared = model.declared_marking
    if declared is None or declared >= from_inputs:
        return from_inputs if declared is None else declared
    return declared if from_inputs <= DECLASSIFIABLE else from_inputs


def model_markings(models: list[SqlModel], inputs: Mapping[str, Marking]) -> dict[str, Marking]:
    """Each model's marking: the highest of the tables it reads (RED for anything unmarked),
    or what it declares (see `effective_marking`). A model declaring a marking below its
    inputs' without a `-- suppress:` rule fails loading."""
    by_table = {m.table: m for m in models}
    resolved: dict[str, Marking] = dict(inputs)

    def marking_of(table: str) -> Marking:
        if table not in resolved:
            model = by_table.get(table)
            if model is None:
                resolved[table] = Marking.RED
            else:
                from_inputs = [marking_of(dep) for dep in model.depends_on]
                declared = model.declared_marking
                if (
                    declared is not None
                    and declared < highest(from_inputs)
                    and not model.suppressions
                ):
                    raise ModelError(
                        f"{model.relative_path}: declares {declared.label} below its "
                        f"inputs' {highest(from_inputs).label} without a `-- suppress:` rule"
                    )
                resolved[table] = effective_marking(model, from_inputs)
        return resolved[table]

    return {m.table: marking_of(m.table) for m in models}


def build_versions(
    models: list[SqlModel],
    markings: Mapping[str, Marking],
    suite_digests: Mapping[str, str] | None = None,
    references: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each model's build version: what decides its table's contents apart from the data.

    Its SQL (with its parameters), its marking, the suite that guards it, the reference
    files it reads (`references`: table -> the version of the files it is loaded from:
    countries, markets, the methodology, shipped with the code), and the build versions of
    the models it reads: a change to any of them rebuilds the table (and what reads it)
    whole, never by key, so an upstream change cannot leave old rows in an incremental
    table, and a raised marking is applied (and published) at the next refresh.
    """
    by_table = {m.table: m for m in models}
    suite_digests = suite_digests or {}
    references = references or {}
    versions: dict[str, str] = {}

    def version_of(model: SqlModel) -> str:
        if model.table not in versions:
            upstream = [version_of(by_table[d]) for d in model.depends_on if d in by_table]
            reference = [references[d] for d in model.depends_on if d in references]
            versions[model.table] = digest(
                "build", model.code_version, markings[model.table].slug,
                suite_digests.get(model.table), upstream, reference,
            )  # fmt: skip
        return versions[model.table]

    for model in models:
        version_of(model)
    return versions


def build_model_asset(
    model: SqlModel,
    marking: Marking,
    *,
    build_version: str | None = None,
    table_assets: Mapping[str, dg.AssetKey] | None = None,
    bootstrap: Mapping[str, str] | None = None,
    drop_tables: DropTables | None = None,
    input_markings: Mapping[str, Marking] | None = None,
    methodology: Methodology | None = None,
) -> dg.AssetsDefinition:
    """The asset that brings one model's table up to date.

    `table_assets` names the asset behind an input table where it is not the table's own
    key (the drop tables are written by the partitioned `raw/drops` asset); `bootstrap`
    holds DDL for inputs that must exist even before their first write (no drop yet);
    `drop_tables` says which inputs take their data version from `audit.drops`;
    `input_markings` the marking each input has by definition (before any drop raises it);
    `methodology` the file the model's parameters come from (cited in its metadata).
    """
    input_markings = input_markings or {}
    table_assets = table_assets or {}
    drop_tables = drop_tables or DropTables({})
    code_version = build_version or model.code_version
    ensure = [ddl for table, ddl in (bootstrap or {}).items() if table in model.depends_on]
    deps = sorted({table_assets.get(dep, table_key(dep)) for dep in model.depends_on}, key=str)

    @dg.asset(
        key=table_key(model.table),
        deps=deps,
        group_name=model.layer,
        code_version=code_version,
        pool=WRITER_POOL,
        kinds={"sql", "duckdb"},
        description=model.description or None,
        metadata={
            "marking": marking.label,
            "sql_file": model.relative_path,
            "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
            READS_METADATA: dg.MetadataValue.json(list(model.depends_on)),
            "maintained": f"incrementally, by {model.incremental_key}"
            if model.incremental_key
            else "rebuilt whole when its inputs change",
            **_declarations(model, methodology),
        },
    )
    def model_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.session():
            # A drop marked above its dataset's default raises its table's recorded marking:
            # the model's marking follows what it reads now.
            recorded = warehouse.table_markings()
            current = highest(
                [
                    marking,
                    effective_marking(
                        model,
                        (recorded.get(d, input_markings.get(d, marking)) for d in model.depends_on),
                    ),
                ]
            )
            with warehouse.connect() as con:
                for ddl in ensure:
                    con.execute(ddl)
                inputs = input_versions(con, model.depends_on, drop_tables)
            version = model_version(code_version, inputs)
            build = warehouse.run_model(
                model.table,
                model.sql,
                marking=current,
                asset_key=table_key(model.table).to_user_string(),
                code_version=code_version,
                data_version=version,
                incremental_key=model.incremental_key,
                full=context.run.tags.get(REFRESH_TAG) == FULL_REFRESH,
                parameters=model.parameters,
                key_source=model.incremental_source,
            )
        context.log.info(
            f"{model.table}: {build.mode} ({build.reason}), "
            f"+{build.rows_inserted:,} -{build.rows_deleted:,} rows"
        )
        return dg.MaterializeResult(
            metadata=build.metadata(),
            data_version=dg.DataVersion(version) if version else None,
        )

    return model_asset


def _declarations(model: SqlModel, methodology: Methodology | None) -> dict[str, object]:
    """What the UI shows of a model's parameters, declared marking and suppression rules."""
    shown: dict[str, object] = {}
    if model.parameters:
        shown["parameters"] = dg.MetadataValue.json(dict(model.parameters))
        if methodology is not None:
            shown["methodology"] = methodology.citation
    if model.declared_marking is not None:
        shown["declared_marking"] = model.declared_marking.label
    if model.suppressions:
        shown["suppressed_figures"] = dg.MetadataValue.json(
            [
                {"figures": list(s.figures), "states": s.states_column, "records": s.records_column}
                for s in model.suppressions
            ]
        )
    if model.row_marking:
        shown["row_marking"] = f"each row's marking in `{model.row_marking}`: published per level"
    return shown
