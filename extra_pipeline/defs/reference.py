"""Reference data shipped under `assets/`: countries, the market taxonomy, the source registry
and the threat methodology.

Each table's data version is the content of what it is built from (`REFERENCE_VERSIONS`),
so the nightly refresh reloads it only when those files change.
"""

import dagster as dg
import pandas as pd

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.markings import Marking
from extra_pipeline.methodology import Methodology
from extra_pipeline.refresh import REFERENCE_METADATA, digest, file_digest, harmoniser_identity
from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.sources.base import REGISTRY_DIR, load_registry
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource

MARKETS_CSV = PROJECT_ROOT / "assets" / "reference" / "markets.csv"
COUNTRY_REFERENCE_KEY = dg.AssetKey(["raw", "country_reference"])
MARKET_REFERENCE_KEY = dg.AssetKey(["raw", "market_reference"])
SOURCE_REGISTRY_KEY = dg.AssetKey(["raw", "source_registry"])
METHODOLOGY_KEY = dg.AssetKey(["raw", "methodology"])
METHODOLOGY_TABLE = "raw.methodology"


def country_reference_version() -> str:
    """The country reference is the harmoniser's own table: its code and files."""
    return digest("country_reference", harmoniser_identity())


def market_reference_version() -> str:
    return digest("market_reference", file_digest(MARKETS_CSV))


def source_registry_version() -> str:
    return digest(
        "source_registry",
        [(path.name, file_digest(path)) for path in sorted(REGISTRY_DIR.glob("*.yaml"))],
    )


@dg.asset(
    key=COUNTRY_REFERENCE_KEY,
    group_name="reference",
    pool=WRITER_POOL,
    kinds={"python", "duckdb"},
    metadata={
        "marking": Marking.CLEAR.label,
        "source": "ISO 3166 / UN M49 / EU membership (assets/reference/countries)",
    },
)
def country_reference(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """ISO 3166 countries with UN M49 regions and EU/EEA membership: the harmoniser's reference table."""
    version = country_reference_version()
    frame = default_harmoniser().reference_table()
    stats = warehouse.write_frame(
        "raw.country_reference", frame, marking=Marking.CLEAR,
        asset_key="raw/country_reference", data_version=version,
    )  # fmt: skip
    return dg.MaterializeResult(metadata=stats.metadata(), data_version=dg.DataVersion(version))


@dg.asset(
    key=MARKET_REFERENCE_KEY,
    group_name="reference",
    pool=WRITER_POOL,
    kinds={"python", "duckdb"},
    metadata={"marking": Marking.CLEAR.label, "source": "assets/reference/markets.csv"},
)
def market_reference(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The 15 GI-TOC criminal markets, cross-walked to EMPACT 2026-2029 and EU-SOCTA 2025."""
    version = market_reference_version()
    frame = pd.read_csv(MARKETS_CSV, dtype=str, keep_default_na=False)
    stats = warehouse.write_frame(
        "raw.market_reference", frame, marking=Marking.CLEAR,
        asset_key="raw/market_reference", data_version=version,
    )  # fmt: skip
    return dg.MaterializeResult(metadata=stats.metadata(), data_version=dg.DataVersion(version))


@dg.asset(
    key=SOURCE_REGISTRY_KEY,
    group_name="reference",
    pool=WRITER_POOL,
    kinds={"python", "duckdb"},
    metadata={"marking": Marking.CLEAR.label, "source": "assets/sources/*.yaml"},
)
def source_registry(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Every open source as registered: title, publisher, licence, marking, edition and the
    freshness it is held to. Reports and catalogues take licences from here."""
    version = source_registry_version()
    frame = pd.DataFrame(
        [
            {
                "source_id": config.source_id,
                "title": config.title,
                "publisher": config.publisher,
                "licence": config.licence,
                "homepage": config.homepage,
                "base_url": config.base_url,
                "marking": config.marking.label,
                "edition": config.edition,
                "max_age_days": config.max_age_days,
                "description": config.description,
            }
            for config in load_registry().values()
        ]
    )
    stats = warehouse.write_frame(
        "raw.source_registry", frame, marking=Marking.CLEAR,
        asset_key="raw/source_registry", data_version=version,
    )  # fmt: skip
    return dg.MaterializeResult(metadata=stats.metadata(), data_version=dg.DataVersion(version))


def methodology_version(methodology: Methodology) -> str:
    """The methodology table is the file's content, prose included."""
    return digest("methodology", file_digest(methodology.path))


def build_methodology_asset(methodology: Methodology) -> dg.AssetsDefinition:
    """The methodology file as a table, for the method annex and analysts: its data version
    is the file's content (given to the refresh planner in the asset's metadata)."""
    version = methodology_version(methodology)

    @dg.asset(
        key=METHODOLOGY_KEY,
        group_name="reference",
        pool=WRITER_POOL,
        kinds={"python", "duckdb"},
        metadata={
            "marking": Marking.CLEAR.label,
            "source": f"assets/{methodology.path.name}",
            "methodology": methodology.citation,
            REFERENCE_METADATA: dg.MetadataValue.json(
                {"table": METHODOLOGY_TABLE, "version": version}
            ),
        },
    )
    def methodology_parameters(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Every weight and threshold of the threat methodology, with its version: what the
        analytic models read (as `getvariable()`) and the method annex prints."""
        frame = pd.DataFrame(
            [
                {
                    "parameter": p.name,
                    "section": p.section,
                    "value_json": p.value_json(),
                    "about": p.about,
                    "methodology_version": methodology.version,
                    "methodology_title": methodology.title,
                    "effective": methodology.effective,
                }
                for p in methodology.parameters.values()
            ]
        )
        stats = warehouse.write_frame(
            METHODOLOGY_TABLE, frame, marking=Marking.CLEAR,
            asset_key=METHODOLOGY_KEY.to_user_string(), data_version=version,
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata={**stats.metadata(), "methodology": methodology.citation},
            data_version=dg.DataVersion(version),
        )

    return methodology_parameters


REFERENCE_ASSETS = [country_reference, market_reference, source_registry]
REFERENCE_TABLES = {
    "raw.country_reference": Marking.CLEAR,
    "raw.market_reference": Marking.CLEAR,
    "raw.source_registry": Marking.CLEAR,
    METHODOLOGY_TABLE: Marking.CLEAR,
}
#: asset -> (its table, the data version its files give it now), for the refresh planner
REFERENCE_VERSIONS = {
    COUNTRY_REFERENCE_KEY: ("raw.country_reference", country_reference_version),
    MARKET_REFERENCE_KEY: ("raw.market_reference", market_reference_version),
    SOURCE_REGISTRY_KEY: ("raw.source_registry", source_registry_version),
}
