"""The nightly job end to end on the bundled offline data: real Dagster, real DuckDB files."""

import csv
import shutil
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest
from conftest import offline_settings, run_nightly, shared_file
from python_calamine import CalamineWorkbook

from extra_pipeline.definitions import build_definitions
from extra_pipeline.markings import Marking
from extra_pipeline.quality import EXPECTATIONS_DIR
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import BundledManifest, age_days, load_registry

MARTS = ("marts.dim_country", "marts.dim_market", "marts.fct_indicator")


def test_offline_run_succeeds_and_populates_every_store(offline_run):
    assert offline_run.result.success
    settings = offline_run.settings
    assert settings.warehouse_path.is_file()
    for level in Marking:
        assert settings.published_path(level.slug).is_file(), level
    records = SnapshotStore(settings.snapshots_dir).records()
    registry = load_registry()
    assert {r.source_id for r in records} == set(registry)  # every source, from its bundle
    assert all(r.mode == "bundled" and not r.stale for r in records)
    with offline_run.published("red") as con:
        tables = {
            row[0]
            for row in con.execute("select table_name from audit.published_tables").fetchall()
        }
        (snapshots,) = con.execute("select count(*) from audit.source_snapshots").fetchone()
    assert set(MARTS) <= tables
    assert snapshots == len(records)
    # a CLEAR copy lists only the payloads of sources at CLEAR
    with offline_run.published("clear") as con:
        shown = {
            r[0] for r in con.execute("select source_id from audit.source_snapshots").fetchall()
        }
    assert shown == {sid for sid, config in registry.items() if config.marking is Marking.CLEAR}
    assert "opensanctions" not in shown  # AMBER: it holds persons' data


def test_every_check_passes_and_only_bundles_past_their_update_period_warn(offline_run):
    evaluations = offline_run.result.get_asset_check_evaluations()
    failed = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed}
    # A bundled snapshot is as old as its manifest says; past the source's update period
    # its freshness check warns (the WGI bundle dates from 2024-12, GDELT's is one day old
    # at most on the day it is made...). Nothing else may fail.
    now = datetime.now(UTC)
    old = {
        (f"raw/{source_id}", "freshness")
        for source_id, config in load_registry().items()
        if age_days(BundledManifest.load(config.bundled_dir).retrieved_at, now)
        > config.max_age_days
    }
    assert ("raw/wgi", "freshness") in old
    assert failed == old
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations if not e.passed)
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    for source_id in load_registry():
        assert (f"raw/{source_id}", "countries_harmonised") in names
        assert (f"raw/{source_id}", "expectations") in names, f"{source_id} has no suite"
    for mart in ("fct_indicator", "dim_indicator", "fct_event", "fct_listing"):
        assert (f"marts/{mart}", "expectations") in names


def test_the_indicator_catalogue_describes_every_indicator_with_its_licence(offline_run):
    registry = load_registry()
    with offline_run.published() as con:
        catalogue = con.execute(
            "select indicator_id, source_id, label, unit, direction, licence from marts.dim_indicator"
        ).fetchall()
        used = {
            r[0]
            for r in con.execute("select distinct indicator_id from marts.fct_indicator").fetchall()
        }
    assert {row[0] for row in catalogue} == used
    for indicator_id, source_id, label, unit, direction, licence in catalogue:
        assert indicator_id.split(".")[0] in (source_id, source_id.split("_")[0]), indicator_id
        assert label and unit and direction in ("higher_is_worse", "higher_is_better", "neutral")
        assert licence == registry[source_id].licence
    sources = {row[1] for row in catalogue}
    # every source of country-year figures reaches the fact table
    assert sources >= {"goci", "wgi", "cpi", "eurostat", "fatf", "unodc_drug_seizures",
                       "unodc_homicide", "unodc_trafficking_persons", "unodc_firearms",
                       "unodc_economic_crime"}  # fmt: skip


def test_goci_2025_covers_the_193_un_member_states(offline_run):
    with offline_run.published() as con:
        (countries,) = con.execute(
            "select count(distinct iso3) from marts.fct_indicator where source_id = 'goci' and edition = '2025'"
        ).fetchone()
        (absent_2021,) = con.execute(
            "select count(*) from marts.fct_indicator where source_id = 'goci' and edition = '2021' "
            "and indicator_id = 'goci.market.financial_crimes' and value is null"
        ).fetchone()
    assert countries >= 190
    assert absent_2021 == 193  # not assessed in 2021: null for every country, never zero


def test_wgi_control_of_corruption_covers_200_countries_in_2023(offline_run):
    with offline_run.published() as con:
        (countries,) = con.execute(
            "select count(distinct iso3) from marts.fct_indicator "
            "where indicator_id = 'wgi.cc.estimate' and year = 2023 and value is not null"
        ).fetchone()
    assert countries >= 200


@pytest.mark.parametrize(
    ("country", "iso3", "column", "indicator_id"),
    [
        ("Angola", "AGO", "Criminality avg.", "goci.criminality"),
        ("Colombia", "COL", "Cocaine trade", "goci.market.cocaine_trade"),
        ("Mexico", "MEX", "Resilience avg.", "goci.resilience"),
        ("Albania", "ALB", "Heroin trade", "goci.market.heroin_trade"),
    ],
)
def test_goci_values_equal_the_published_file(offline_run, country, iso3, column, indicator_id):
    with shared_file("goci", "global_oc_index_2025.csv").open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Country"] == country)
    with offline_run.published() as con:
        (value,) = con.execute(
            "select value from marts.fct_indicator where source_id = 'goci' and edition = '2025' "
            "and iso3 = ? and indicator_id = ?",
            [iso3, indicator_id],
        ).fetchone()
    assert value == pytest.approx(float(row[column]))


@pytest.mark.parametrize(
    ("wgi_code", "iso3", "indicator", "year"),
    [
        ("ROM", "ROU", "cc", 2023),
        ("ZAR", "COD", "rl", 2022),
        ("DEU", "DEU", "ge", 2010),
        ("KSV", "XKX", "cc", 2023),
    ],
)
def test_wgi_values_equal_the_official_workbook(offline_run, wgi_code, iso3, indicator, year):
    sheet = CalamineWorkbook.from_path(
        str(shared_file("wgi", "wgidataset.xlsx"))
    ).get_sheet_by_index(0)
    rows = sheet.to_python()
    header = rows[0]
    col = {name: header.index(name) for name in ("code", "year", "indicator", "estimate")}
    expected = next(
        r[col["estimate"]]
        for r in rows[1:]
        if r[col["code"]] == wgi_code
        and int(r[col["year"]]) == year
        and r[col["indicator"]] == indicator
    )
    with offline_run.published() as con:
        (value,) = con.execute(
            "select value from marts.fct_indicator where indicator_id = ? and iso3 = ? and year = ?",
            [f"wgi.{indicator}.estimate", iso3, year],
        ).fetchone()
    assert value == pytest.approx(float(expected), abs=1e-12)


def test_dim_country_and_dim_market_hold_the_public_contract(offline_run):
    with offline_run.published() as con:
        columns = {r[0] for r in con.execute("describe marts.dim_country").fetchall()}
        (eu,) = con.execute("select count(*) from marts.dim_country where is_eu_member").fetchone()
        market_columns = {r[0] for r in con.execute("describe marts.dim_market").fetchall()}
        (markets,) = con.execute("select count(*) from marts.dim_market").fetchone()
        indicator_columns = {r[0] for r in con.execute("describe marts.fct_indicator").fetchall()}
    assert {"iso3", "iso2", "name", "region", "subregion", "is_eu_member"} <= columns
    assert eu == 27
    assert {"market", "label", "empact_priority", "socta_threat"} <= market_columns
    assert markets == 15
    assert {
        "source_id",
        "indicator_id",
        "iso3",
        "year",
        "value",
        "unit",
        "edition",
        "direction",
    } <= indicator_columns


def test_every_asset_carries_its_marking(offline_run):
    graph = offline_run.defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        metadata = graph.get(key).metadata
        assert "marking" in metadata, key.to_user_string()
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        markings = dict(
            con.execute("select table_name, marking from audit.table_markings").fetchall()
        )
    assert markings["marts.fct_indicator"] == "clear"
    assert markings["raw.goci"] == "clear"


def test_materialisations_report_row_count_schema_and_provenance(offline_run):
    materialisations = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in offline_run.result.get_asset_materialization_events()
    }
    fct = materialisations["marts/fct_indicator"]
    assert fct["dagster/row_count"].value > 80_000
    assert "iso3" in {c.name for c in fct["dagster/column_schema"].schema.columns}
    goci = materialisations["raw/goci"]
    assert goci["mode"].value == "bundled"
    assert goci["unmatched_countries"].value == []
    assert goci["snapshots"].value[0]["sha256"]


def test_a_reader_keeps_its_snapshot_while_a_refresh_publishes(offline_run):
    path = offline_run.settings.published_path("clear")
    reader = duckdb.connect(str(path), read_only=True)
    try:
        (before,) = reader.execute("select max(built_at) from audit.published_tables").fetchone()
        rows_before = reader.execute("select count(*) from marts.fct_indicator").fetchone()
        assert offline_run.rerun().success
        # The old connection still reads its own, complete snapshot...
        assert reader.execute("select max(built_at) from audit.published_tables").fetchone() == (
            before,
        )
        assert reader.execute("select count(*) from marts.fct_indicator").fetchone() == rows_before
    finally:
        reader.close()
    # ...and a new connection sees the new copy.
    with duckdb.connect(str(path), read_only=True) as fresh:
        (after,) = fresh.execute("select max(built_at) from audit.published_tables").fetchone()
    assert after > before


def _mart_contents(run) -> dict[str, list[tuple]]:
    with duckdb.connect(str(run.settings.warehouse_path), read_only=True) as con:
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in MARTS}


def test_running_twice_gives_identical_marts(offline_run):
    first = _mart_contents(offline_run)
    assert offline_run.rerun().success
    assert _mart_contents(offline_run) == first


def test_a_failing_blocking_check_stops_everything_downstream(tmp_path):
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    broken = (
        (suites / "goci.json")
        .read_text()
        .replace(
            '"min_value": 193,\n        "max_value": 193',
            '"min_value": 194,\n        "max_value": 194',
        )
    )
    assert "194" in broken
    (suites / "goci.json").write_text(broken)
    settings = offline_settings(tmp_path / "home")
    defs = build_definitions(settings, expectations_dir=suites)
    result = run_nightly(defs, dg.DagsterInstance.ephemeral())

    assert not result.success
    goci_check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/goci" and e.check_name == "expectations"
    )
    assert not goci_check.passed
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw/goci" in materialised and "raw/wgi" in materialised
    for downstream in ("staging/goci", "marts/fct_indicator", "published/warehouse"):
        assert downstream not in materialised
    assert not settings.published_path("clear").exists()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        failed = con.execute(
            "select expectation from audit.check_results where asset_key = 'raw/goci' and not success"
        ).fetchall()
    assert failed == [("expect_column_unique_value_count_to_be_between",)]
