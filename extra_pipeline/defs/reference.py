"""Reference data shipped under `assets/reference/`: countries and the market taxonomy."""

import dagster as dg
import pandas as pd

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.markings import Marking
from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource

MARKETS_CSV = PROJECT_ROOT / "assets" / "reference" / "markets.csv"


@dg.asset(
    key=["raw", "country_reference"],
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
    frame = default_harmoniser().reference_table()
    stats = warehouse.write_frame(
        "raw.country_reference", frame, marking=Marking.CLEAR, asset_key="raw/country_reference"
    )
    return dg.MaterializeResult(metadata=stats.metadata())


@dg.asset(
    key=["raw", "market_reference"],
    group_name="reference",
    pool=WRITER_POOL,
    kinds={"python", "duckdb"},
    metadata={"marking": Marking.CLEAR.label, "source": "assets/reference/markets.csv"},
)
def market_reference(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The 15 GI-TOC criminal markets, cross-walked to EMPACT 2026-2029 and EU-SOCTA 2025."""
    frame = pd.read_csv(MARKETS_CSV, dtype=str, keep_default_na=False)
    stats = warehouse.write_frame(
        "raw.market_reference", frame, marking=Marking.CLEAR, asset_key="raw/market_reference"
    )
    return dg.MaterializeResult(metadata=stats.metadata())


REFERENCE_ASSETS = [country_reference, market_reference]
REFERENCE_TABLES = {"raw.country_reference": Marking.CLEAR, "raw.market_reference": Marking.CLEAR}
