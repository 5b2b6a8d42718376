"""One raw asset per open source: acquire (live, stored or bundled), parse, harmonise
countries, write `raw.<source>` and its provenance, and report freshness.

The table's data version is the sha256s of the snapshots it was parsed from with the
identity of what parsed them (`extra_pipeline.refresh.source_version`): the same payloads
give the same version, so nothing downstream rebuilds after a 304 Not Modified.
"""

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.defs.resources import SourcesResource
from extra_pipeline.markings import Marking
from extra_pipeline.refresh import source_version
from extra_pipeline.sources import connector_classes
from extra_pipeline.sources.base import Acquired, SourceConfig, SourceConnector, age_days
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource

FRESHNESS_CHECK = "freshness"
COUNTRIES_CHECK = "countries_harmonised"


def source_key(source_id: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source_id])


def build_source_asset(
    config: SourceConfig,
    connector_class: type[SourceConnector],
    retry_policy: dg.RetryPolicy | None = None,
) -> dg.AssetsDefinition:
    """The raw asset of one registered source (retried by `retry_policy` after a failure)."""
    source_id = config.source_id
    key = source_key(source_id)

    @dg.asset(
        key=key,
        group_name="sources",
        pool=WRITER_POOL,
        kinds={"python", "duckdb"},
        retry_policy=retry_policy,
        description=f"{config.title}. {config.description}",
        metadata={
            "marking": config.marking.label,
            "publisher": config.publisher,
            "licence": config.licence,
            "homepage": dg.MetadataValue.url(config.homepage) if config.homepage else "",
        },
        check_specs=[
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key,
                description=f"Fresh data: fetched live, not older than {config.max_age_days} days (WARN).",
            ),
            dg.AssetCheckSpec(
                COUNTRIES_CHECK,
                asset=key,
                description="Every country name or code maps to ISO 3166 or a known aggregate (WARN).",
            ),
        ],
    )
    def source_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource
    ) -> dg.MaterializeResult:
        runtime_config = config.with_base_url(sources.base_urls.get(source_id))
        connector = connector_class(runtime_config)
        acquired = sources.fetcher(context.log.info).acquire(connector)
        version = source_version(connector_class, runtime_config, acquired_pages(acquired))
        frame = parse_acquired(connector, acquired)
        frame = default_harmoniser().harmonise(frame, connector.country_column)
        unmatched = sorted(
            frame.loc[frame["country_match"] == "unmatched", connector.country_column]
            .dropna()
            .astype(str)
            .unique()
        )
        with warehouse.session():
            stats = warehouse.write_frame(
                f"raw.{source_id}",
                frame,
                marking=runtime_config.marking,
                asset_key=key.to_user_string(),
                data_version=version,
            )
            warehouse.append_rows(
                "audit.source_snapshots",
                provenance_frame(acquired, runtime_config.marking),
                replace_on=("fetch_id", "page"),
            )
        fresh, freshness_meta = freshness(runtime_config, acquired)
        by_match = Counter(frame["country_match"])
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                **stats.metadata(),
                **freshness_meta,
                "rows_by_country_match": dg.MetadataValue.json(dict(sorted(by_match.items()))),
                "unmatched_countries": dg.MetadataValue.json(unmatched),
                "snapshots": dg.MetadataValue.json([snapshot_summary(item) for item in acquired]),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=FRESHNESS_CHECK,
                    passed=fresh,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata=freshness_meta,
                ),
                dg.AssetCheckResult(
                    check_name=COUNTRIES_CHECK,
                    passed=not unmatched,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "unmatched": dg.MetadataValue.json(unmatched),
                        "unmatched_rows": int(by_match.get("unmatched", 0)),
                    },
                ),
            ],
        )

    return source_asset


def parse_acquired(connector: SourceConnector, acquired: list[Acquired]) -> pd.DataFrame:
    """Every page parsed, each row tagged with the sha256 of the snapshot it came from."""
    frames = []
    for item in acquired:
        for snapshot in item.snapshots:
            page = connector.parse(item.resource, snapshot.read())
            frames.append(page.assign(snapshot_sha256=snapshot.provenance.sha256))
    return pd.concat(frames, ignore_index=True)


def acquired_pages(acquired: list[Acquired]) -> list[tuple[str, int, str]]:
    """(resource, page, sha256) of every page: what the raw table is parsed from."""
    return [
        (item.resource.name, snapshot.provenance.page, snapshot.provenance.sha256)
        for item in acquired
        for snapshot in item.snapshots
    ]


def provenance_frame(acquired: list[Acquired], marking: Marking) -> pd.DataFrame:
    """Rows for `audit.source_snapshots`, each carrying the source's marking (it decides
    which published copies show the row)."""
    records = [snapshot.provenance.to_dict() for item in acquired for snapshot in item.snapshots]
    frame = pd.DataFrame.from_records(records).assign(marking=marking.slug)
    for column in ("retrieved_at", "used_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def freshness(config: SourceConfig, acquired: list[Acquired]) -> tuple[bool, dict[str, object]]:
    """Whether the data is fresh (live, not stale, young enough) and the figures that say so."""
    now = datetime.now(UTC)
    oldest = min(item.retrieved_at for item in acquired)
    age = age_days(oldest, now)
    modes = sorted({item.mode for item in acquired})
    stale = any(item.stale for item in acquired)
    notes = sorted({item.note for item in acquired if item.note})
    fresh = not stale and age <= config.max_age_days
    return fresh, {
        "mode": ", ".join(modes),
        "stale": stale,
        "retrieved_at": oldest,
        "age_days": round(age, 1),
        "max_age_days": config.max_age_days,
        "fallback_reason": "; ".join(notes) if stale else "",
    }


def snapshot_summary(item: Acquired) -> dict[str, object]:
    first = item.snapshots[0].provenance
    return {
        "resource": item.resource.name,
        "mode": item.mode,
        "stale": item.stale,
        "pages": len(item.snapshots),
        "sha256": [s.provenance.sha256 for s in item.snapshots],
        "url": first.url,
        "retrieved_at": first.retrieved_at,
        "edition": first.edition,
    }


def build_source_assets(
    registry: dict[str, SourceConfig], retry_policy: dg.RetryPolicy | None = None
) -> list[dg.AssetsDefinition]:
    """A raw asset for every registered source."""
    return [
        build_source_asset(registry[source_id], connector, retry_policy)
        for source_id, connector in connector_classes(registry).items()
    ]
