"""The published warehouse: one read-only DuckDB file per TLP level, swapped in atomically."""

from pathlib import Path

import dagster as dg

from extra_pipeline.defs.resources import PublishingResource
from extra_pipeline.markings import Marking
from extra_pipeline.refresh import FULL_REFRESH, REFRESH_TAG
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource, publish

PUBLISH_KEY = dg.AssetKey(["published", "warehouse"])


def build_publish_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """Publishes after every mart (and its blocking checks) has succeeded."""

    @dg.asset(
        key=PUBLISH_KEY,
        deps=upstream,
        group_name="publish",
        pool=WRITER_POOL,
        kinds={"duckdb"},
        metadata={"marking": "per file: one copy per TLP level"},
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
            copies = publish(warehouse, Path(publishing.published_dir), full=full)
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
