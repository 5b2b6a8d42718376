"""The SQL models as assets: one per file in `sql/`, lineage from the SQL itself."""

from collections.abc import Mapping

import dagster as dg

from extra_pipeline.markings import Marking, highest
from extra_pipeline.models import SqlModel
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource


def table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def model_markings(models: list[SqlModel], inputs: Mapping[str, Marking]) -> dict[str, Marking]:
    """Each model's marking: the highest of the tables it reads (RED for anything unmarked)."""
    by_table = {m.table: m for m in models}
    resolved: dict[str, Marking] = dict(inputs)

    def marking_of(table: str) -> Marking:
        if table not in resolved:
            model = by_table.get(table)
            resolved[table] = (
                highest(marking_of(dep) for dep in model.depends_on) if model else Marking.RED
            )
        return resolved[table]

    return {m.table: marking_of(m.table) for m in models}


def build_model_asset(
    model: SqlModel,
    marking: Marking,
    *,
    table_assets: Mapping[str, dg.AssetKey] | None = None,
    bootstrap: Mapping[str, str] | None = None,
) -> dg.AssetsDefinition:
    """The asset that (re)builds one model's table.

    `table_assets` names the asset behind an input table where it is not the table's own
    key (the drop tables are written by the partitioned `raw/drops` asset); `bootstrap`
    holds DDL for inputs that must exist even before their first write (no drop yet).
    """
    table_assets = table_assets or {}
    ensure = [ddl for table, ddl in (bootstrap or {}).items() if table in model.depends_on]
    deps = sorted({table_assets.get(dep, table_key(dep)) for dep in model.depends_on}, key=str)

    @dg.asset(
        key=table_key(model.table),
        deps=deps,
        group_name=model.layer,
        code_version=model.code_version,
        pool=WRITER_POOL,
        kinds={"sql", "duckdb"},
        description=model.description or None,
        metadata={
            "marking": marking.label,
            "sql_file": model.relative_path,
            "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
        },
    )
    def model_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        # A drop marked above its dataset's default raises its table's recorded marking:
        # the model takes the highest of what it was declared with and what it reads now.
        recorded = warehouse.table_markings()
        current = highest([marking, *(recorded.get(dep, marking) for dep in model.depends_on)])
        with warehouse.connect() as con:
            for ddl in ensure:
                con.execute(ddl)
        stats = warehouse.run_model(
            model.table,
            model.sql,
            marking=current,
            asset_key=table_key(model.table).to_user_string(),
        )
        return dg.MaterializeResult(metadata=stats.metadata())

    return model_asset
