"""The published warehouse: one read-only DuckDB file per TLP level, swapped in atomically."""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from extra_pipeline.defs.resources import PublishingResource
from extra_pipeline.markings import Marking
from extra_pipeline.refresh import FULL_REFRESH, REFRESH_TAG
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource, publish

PUBLISH_KEY = dg.AssetKey(["published", "warehouse"])


def build_publish_asset(
    upstream: list[dg.AssetKey], row_marked: Mapping[str, str] | None = None
) -> dg.AssetsDefinition:
    """Publishes after every mart (and its blocking checks) has succeeded; `row_marked` names
    the tables published row by row (table -> its row-marking column)."""
    row_marked = dict(row_marked or {})

    @dg.asset(
        key=PUBLISH_KEY,
        deps=upstream,
        group_name="publish",
        pool=WRITER_POOL,
        kinds={"duckdb"},
        metadata={
            "marking": "per file: one copy per TLP level",
            "row_marked_tables": dg.MetadataValue.json(row_marked),
        },
    )
    def published_warehouse(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        publishing: PublishingResource,
    ) -> dg.MaterializeResult:
        """`published/<level>.duckdb` for every TLP level, each holding only the marts and audit
        tables at or below its level; analysts and tools read these, never the working file.
        Each is built on the previous one (only what changed is written) unless the run is a
        full refresh."""
        full = context.run.tags.get(REFRESH_TAG) == FULL_REFRESH
        with warehouse.session():
            copies = publish(
                warehouse, Path(publishing.published_dir), full=full, row_marked=row_marked
            )
        clear = next(c for c in copies if c.level == Marking.CLEAR)
        return dg.MaterializeResult(
            metadata={
                "published_dir": publishing.published_dir,
                "copies": dg.MetadataValue.json(
                    {
                        c.level.slug: {
                            "file": c.path.name,
                            "tables": len(c.tables),
                            "withheld": list(c.withheld),
                            "built_on_previous": c.updated,
                            "changes": dict(c.changes),
                        }
                        for c in copies
                    }
                ),
                "clear_tables": dg.MetadataValue.json(list(clear.tables)),
            }
        )

    return published_warehouse
