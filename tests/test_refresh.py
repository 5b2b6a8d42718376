"""The nightly refresh does only what changed: data versions, the planner, incremental models
and published copies, on real DuckDB files and real Dagster runs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import offline_settings, send_seizures

from extra_pipeline.definitions import NIGHTLY_JOB, NIGHTLY_SCHEDULE, build_definitions
from extra_pipeline.markings import Marking
from extra_pipeline.models import SQL_DIR
from extra_pipeline.quality import EXPECTATIONS_DIR
from extra_pipeline.refresh import plan_refresh
from extra_pipeline.runner import (
    dagster_instance,
    run_nightly,
)
from extra_pipeline.settings import Settings
from extra_pipeline.warehouse import WarehouseResource, publish

ES_ROWS = [
    "ES-1,2025-03-01,cocaine,cocaine hydrochloride,120.5,kg,Colombia,sea,3",
    "ES-2,14/02/2025,Heroin trade,heroin,2500,g,AFG,road,1",
    "ES-3,01.01.2025,cannabis,resin,3,t,Maroc,sea,0",
]


def downstream(key: str, defs: dg.Definitions | None = None) -> set[str]:
    """`key` and every asset of the nightly job that reads it, directly or not (the publish
    and the products that follow it among them)."""
    defs = defs or build_definitions(Settings(extra_home=Path("unused")))
    graph = defs.resolve_asset_graph()
    nightly = defs.resolve_job_def(NIGHTLY_JOB).asset_layer.selected_asset_keys
    keys = dg.AssetSelection.assets(dg.AssetKey.from_user_string(key)).downstream().resolve(graph)
    return {k.to_user_string() for k in keys if k in nightly}


#: the products the nightly job makes from the published copies, and why they follow a publish
NIGHTLY_PRODUCTS = dict.fromkeys(
    ("outputs/early_warning_notes", "outputs/exports"),
    "reads the published copies, which change in this refresh",
)


#: what a new seizures drop refreshes: the drop models and the analytics over them
SEIZURE_ASSETS = downstream("staging/seizures")


def send(settings: Settings, name: str, rows: list[str], *, period: str = "2025-Q1") -> str:
    return send_seizures(settings, name, rows, period=period)


def rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def materialisation(key: str) -> dict[str, object]:
    """The metadata of an asset's latest materialisation in the current DAGSTER_HOME."""
    with dagster_instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    assert event is not None, key
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def nightly(settings: Settings, **options) -> dict:
    summary = run_nightly(settings, progress=False, **options)
    assert summary["success"], summary
    return summary


def tick(settings: Settings, defs: dg.Definitions | None = None):
    """One evaluation of the nightly schedule, as the daemon does it."""
    defs = defs or build_definitions(settings)
    schedule = defs.resolve_schedule_def(NIGHTLY_SCHEDULE)
    with dagster_instance() as instance:
        context = dg.build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def()
        )
        return schedule.evaluate_tick(context)


# --- the planner and run_nightly ---------------------------------------------------------


def test_a_refresh_with_nothing_changed_launches_no_run(home: Settings) -> None:
    plan = plan_refresh(home)
    assert plan.up_to_date, plan.reasons()
    assert plan.describe().startswith("nothing changed since ")

    summary = nightly(home)
    assert summary["up_to_date"] is True
    assert summary["run_id"] is None
    assert summary["materialized"] == [] and summary["planned"] == {}
    assert summary["reason"].startswith("nothing changed since ")
    with dagster_instance() as instance:
        assert instance.get_run_records() == []  # nothing launched, nothing recorded

    data = tick(home)
    assert data.run_requests == []
    assert data.skip_message.startswith("nothing changed since ")


def test_a_new_drop_refreshes_only_what_reads_it_and_matches_a_full_rebuild(
    home: Settings,
) -> None:
    drop_id = send(home, "march.csv", ES_ROWS)

    plan = plan_refresh(home)
    assert set(plan.reasons()) == SEIZURE_ASSETS
    assert "drops recorded or superseded" in plan.reasons()["staging/seizures"]
    (request,) = tick(home).run_requests
    assert {k.to_user_string() for k in request.asset_selection} == SEIZURE_ASSETS

    summary = nightly(home)
    assert summary["up_to_date"] is False
    assert set(summary["materialized"]) == SEIZURE_ASSETS
    assert set(summary["planned"]) == SEIZURE_ASSETS
    fct = materialisation("marts/fct_seizure")
    assert (fct["mode"], fct["rows_inserted"], fct["rows_deleted"]) == ("incremental", 3, 0)
    assert fct["dagster/row_count"] >= 3
    copies = materialisation("published/warehouse")["copies"]
    assert copies["amber"]["built_on_previous"] is True
    assert copies["amber"]["changes"]["marts.fct_seizure"] == "+3 -0"
    assert copies["amber"]["changes"]["marts.fct_indicator"] == "kept"

    sql = "select * from marts.fct_seizure order by all"
    incremental = rows(home.warehouse_path, sql)
    assert {r[0] for r in incremental} >= {drop_id}
    assert rows(home.published_path("amber"), sql) == incremental
    assert plan_refresh(home).up_to_date

    full = nightly(home, full=True)
    assert "marts/fct_indicator" in full["materialized"]
    assert materialisation("marts/fct_seizure")["mode"] == "full"
    assert materialisation("published/warehouse")["copies"]["amber"]["built_on_previous"] is False
    assert rows(home.warehouse_path, sql) == incremental
    assert rows(home.published_path("amber"), sql) == incremental


def test_a_superseding_drop_removes_the_old_rows_incrementally(home: Settings) -> None:
    old = send(home, "march.csv", ES_ROWS)
    nightly(home)
    new = send(home, "march-corrected.csv", ["ES-1,2025-03-01,cocaine,,130,kg,Colombia,sea,3"])

    assert set(plan_refresh(home).reasons()) == SEIZURE_ASSETS
    nightly(home)
    for table in ("staging.seizures", "marts.fct_seizure"):
        key = table.replace(".", "/")
        assert materialisation(key)["rows_deleted"] == 3, table
        assert materialisation(key)["rows_inserted"] == 1, table
    sql = (
        "select drop_id, seizure_ref, quantity_kg from marts.fct_seizure where drop_id like 'es-%'"
    )
    assert rows(home.warehouse_path, sql) == [(new, "ES-1", 130.0)]
    assert rows(home.published_path("amber"), sql) == [(new, "ES-1", 130.0)]
    # the seizure flows, kept by drop with their keys read from staging, follow
    flows = materialisation("intermediate/seizure_flows")
    assert flows["mode"] == "incremental"
    assert rows(
        home.warehouse_path,
        "select drop_id, iso3, seizures, quantity_kg from intermediate.seizure_flows "
        "where drop_id like 'es-%'",
    ) == [(new, "COL", 1, 130.0)]
    # the old drop's rows stay in raw; the drop is recorded as superseded
    assert rows(
        home.warehouse_path, f"select count(*) from raw.drop_seizures where drop_id = '{old}'"
    ) == [(3,)]
    assert rows(
        home.warehouse_path, f"select superseded_by from audit.drops where drop_id = '{old}'"
    ) == [(new,)]


def test_changed_sql_rebuilds_that_model_and_what_reads_it_only(
    home: Settings, tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    model = sql_dir / "staging" / "goci.sql"
    model.write_text(model.read_text() + "-- reviewed\n", encoding="utf-8")
    defs = build_definitions(home, sql_dir=sql_dir)

    reasons = plan_refresh(home, defs).reasons()
    rebuilt = (
        "its SQL, marking or suite, or an upstream model's SQL, changed since it was "
        "last built: rebuilt whole"
    )
    readers = downstream("staging/goci", defs) - {"staging/goci", "published/warehouse"}
    readers -= set(NIGHTLY_PRODUCTS)
    assert {
        "intermediate/indicator_values",
        "marts/fct_indicator",
        "marts/threat_matrix",
    } <= readers
    assert "marts/fct_seizure" not in readers
    assert reasons == {
        "staging/goci": rebuilt,
        **dict.fromkeys(readers, rebuilt),
        "published/warehouse": "tables change in this refresh",
        **NIGHTLY_PRODUCTS,
    }
    summary = nightly(home, defs=defs)
    assert set(summary["materialized"]) == set(reasons)
    goci = materialisation("staging/goci")
    assert (goci["mode"], goci["mode_reason"]) == ("full", "code changed since the last build")
    # the blocking checks of the planned assets come along with them, and only those
    checked = {(c["asset"], c["check"]) for c in summary["checks"]}
    assert {("marts/fct_indicator", "expectations"), ("marts/threat_matrix", "expectations")} <= (
        checked
    )
    assert {asset for asset, _ in checked} <= readers
    assert plan_refresh(home, defs).up_to_date
    # the original SQL is a change too
    assert "staging/goci" in plan_refresh(home).reasons()


def test_a_truncated_published_copy_is_published_again(home: Settings) -> None:
    path = home.published_path("clear")
    path.write_bytes(path.read_bytes()[:4096])
    assert plan_refresh(home).reasons() == {
        "published/warehouse": "published copy unreadable: clear",
        **NIGHTLY_PRODUCTS,
    }
    nightly(home)
    assert rows(path, "select count(*) > 0 from marts.dim_country") == [(True,)]


def test_an_upstream_sql_change_rebuilds_an_incremental_table_whole(
    home: Settings, tmp_path: Path
) -> None:
    send(home, "es.csv", ES_ROWS)
    nightly(home)
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    staging = sql_dir / "staging" / "seizures.sql"
    staging.write_text(
        staging.read_text().replace("s.market,", "upper(s.market) as market,"), encoding="utf-8"
    )
    defs = build_definitions(home, sql_dir=sql_dir)
    nightly(home, defs=defs)
    # the mart reads rows the new SQL changed without any drop changing: no stale rows stay
    assert (materialisation("marts/fct_seizure")["mode"]) == "full"
    sql = "select distinct market from marts.fct_seizure order by 1"
    expected = [("CANNABIS_TRADE",), ("COCAINE_TRADE",), ("HEROIN_TRADE",)]
    assert rows(home.warehouse_path, sql) == expected
    assert rows(home.published_path("amber"), sql) == expected


def test_a_changed_suite_checks_its_table_again(home: Settings, tmp_path: Path) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    goci = suites / "goci.json"
    spec = json.loads(goci.read_text(encoding="utf-8"))
    spec["expectations"].append(
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    )
    goci.write_text(json.dumps(spec), encoding="utf-8")
    defs = build_definitions(home, expectations_dir=suites)
    reasons = plan_refresh(home, defs).reasons()
    assert reasons["raw/goci"] == "its expectations suite changed since it was last checked"
    summary = nightly(home, defs=defs)
    assert ("raw/goci", "expectations") in {(c["asset"], c["check"]) for c in summary["checks"]}
    assert plan_refresh(home, defs).up_to_date


def test_an_asset_whose_blocking_check_failed_is_planned_again(
    home: Settings, tmp_path: Path
) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    suite = json.loads((suites / "market_reference.json").read_text())
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_table_row_count_to_equal":
            expectation["kwargs"]["value"] = 16
    (suites / "market_reference.json").write_text(json.dumps(suite))
    broken = build_definitions(home, expectations_dir=suites)
    with duckdb.connect(str(home.warehouse_path)) as con:
        con.execute("drop table raw.market_reference")

    # what reads the market reference runs again, unchanged, so that the publish waits for it
    waiting = downstream("raw/market_reference", broken) - {
        "raw/market_reference",
        "published/warehouse",
        *NIGHTLY_PRODUCTS,
    }
    reasons = plan_refresh(home, broken).reasons()
    assert reasons["raw/market_reference"] == "not built yet"
    assert reasons["marts/dim_market"] == (
        "unchanged; runs so that the publish waits for raw/market_reference"
    )
    assert reasons["published/warehouse"] == "tables change in this refresh"
    assert set(reasons) == {
        "raw/market_reference",
        "published/warehouse",
        *waiting,
        *NIGHTLY_PRODUCTS,
    }
    assert all(reasons[key].startswith("unchanged; runs so that") for key in waiting)
    summary = run_nightly(home, progress=False, defs=broken)
    assert not summary["success"]
    # the failed check blocks what follows, as in a full run: the copies keep the last good data
    assert set(summary["materialized"]) == {"raw/market_reference"}
    assert plan_refresh(home, broken).reasons()["raw/market_reference"] == (
        "its expectations check failed last time"
    )
    # fixed: checked again, and then nothing is left to do
    reasons = plan_refresh(home).reasons()
    assert reasons["raw/market_reference"] == "its expectations check failed last time"
    assert set(reasons) == {
        "raw/market_reference",
        "published/warehouse",
        *waiting,
        *NIGHTLY_PRODUCTS,
    }
    nightly(home)
    assert materialisation("marts/dim_market")["mode"] == "unchanged"
    assert plan_refresh(home).up_to_date


def test_in_live_and_auto_modes_sources_and_their_readers_are_always_planned(
    home: Settings,
) -> None:
    reasons = plan_refresh(replace(home, sources_mode="auto")).reasons()
    assert reasons["raw/goci"].startswith("auto mode: fetched to find out")
    assert reasons["staging/goci"] == "reads raw.goci, refreshed first"
    assert reasons["intermediate/indicator_values"].startswith("reads staging.")
    assert "staging.goci" in reasons["intermediate/indicator_values"]
    assert reasons["marts/fct_indicator"] == "reads intermediate.indicator_values, refreshed first"
    assert "marts/dim_country" not in reasons and "staging/seizures" not in reasons


def test_a_new_home_plans_everything(tmp_path: Path) -> None:
    plan = plan_refresh(offline_settings(tmp_path / "new"))
    assert not plan.up_to_date and plan.fresh == ()
    assert plan.reasons()["marts/fct_seizure"] == "not built yet"
    assert plan.reasons()["published/warehouse"] == "tables change in this refresh"


def test_a_deleted_published_copy_is_published_again(home: Settings) -> None:
    home.published_path("green").unlink()
    assert plan_refresh(home).reasons() == {
        "published/warehouse": "published copy missing: green",
        **NIGHTLY_PRODUCTS,
    }


# --- the warehouse: models kept by key, copies built on the previous ones ---------------------

KEYED = "select k, v from raw.facts"


@pytest.fixture
def facts(warehouse: WarehouseResource) -> WarehouseResource:
    warehouse.write_frame(
        "raw.facts",
        pd.DataFrame({"k": ["a", "a", "b"], "v": [1, 2, 3]}),
        marking=Marking.AMBER,
        asset_key="raw/facts",
    )
    return warehouse


def build(warehouse: WarehouseResource, version: str, sql: str = KEYED, **options):
    options = {"code_version": "c1", "incremental_key": "k", "marking": Marking.AMBER, **options}
    return warehouse.run_model(
        "marts.facts", sql, asset_key="marts/facts", data_version=version, **options
    )


def replace_facts(warehouse: WarehouseResource, frame: pd.DataFrame) -> None:
    warehouse.write_frame("raw.facts", frame, marking=Marking.AMBER, asset_key="raw/facts")


def test_a_keyed_model_adds_new_keys_and_drops_gone_ones(facts: WarehouseResource) -> None:
    first = build(facts, "v1")
    assert (first.mode, first.rows_inserted, first.stats.row_count) == ("full", 3, 3)
    assert build(facts, "v1").mode == "unchanged"

    replace_facts(facts, pd.DataFrame({"k": ["b", "c"], "v": [3, 4]}))
    step = build(facts, "v2")
    assert (step.mode, step.rows_inserted, step.rows_deleted) == ("incremental", 1, 2)
    with facts.connect() as con:
        assert con.execute("select k, v from marts.facts order by all").fetchall() == [
            ("b", 3),
            ("c", 4),
        ]
        recorded = con.execute(
            "select code_version, data_version, incremental_key, row_count "
            "from audit.table_markings where table_name = 'marts.facts'"
        ).fetchall()
    assert recorded == [("c1", "v2", "k", 2)]

    assert build(facts, "v3", code_version="c2").mode == "full"  # new code: rebuilt whole
    assert build(facts, "v3", full=True).mode == "full"


def test_a_null_key_falls_back_to_a_full_rebuild(facts: WarehouseResource) -> None:
    build(facts, "v1")
    replace_facts(facts, pd.DataFrame({"k": ["a", None], "v": [1, 5]}))
    step = build(facts, "v2")
    assert step.mode == "full" and "null" in step.reason
    assert step.stats.row_count == 2


def test_an_incremental_model_that_fails_changes_nothing(facts: WarehouseResource) -> None:
    build(facts, "v1")
    replace_facts(facts, pd.DataFrame({"k": ["b", "c"], "v": [3, 4]}))
    # deletes the rows of key a, then fails on those of key c: all or nothing
    with pytest.raises(duckdb.Error):
        build(facts, "v2", "select k, cast('x' || v as integer) as v from raw.facts")
    with facts.connect() as con:
        assert con.execute("select count(*) from marts.facts").fetchone() == (3,)
        assert con.execute(
            "select data_version from audit.table_markings where table_name = 'marts.facts'"
        ).fetchone() == ("v1",)


def test_published_copies_built_on_the_previous_ones_equal_fresh_ones(
    facts: WarehouseResource, tmp_path: Path
) -> None:
    build(facts, "v1")
    published = tmp_path / "published"
    first = publish(facts, published, levels=[Marking.AMBER])
    assert not first[0].updated
    reader = duckdb.connect(str(published / "amber.duckdb"), read_only=True)
    try:
        replace_facts(facts, pd.DataFrame({"k": ["a", "a", "b", "c"], "v": [1, 2, 3, 4]}))
        build(facts, "v2")
        (copy,) = publish(facts, published, levels=[Marking.AMBER])
        assert copy.updated and copy.changes["marts.facts"] == "+1 -0"  # a new key, appended
        # the old reader keeps its snapshot
        assert reader.execute("select count(*) from marts.facts").fetchone() == (3,)
    finally:
        reader.close()
    fresh = publish(facts, tmp_path / "fresh", levels=[Marking.AMBER], full=True)
    sql = "select * from marts.facts order by all"
    expected = [("a", 1), ("a", 2), ("b", 3), ("c", 4)]
    assert rows(published / "amber.duckdb", sql) == rows(fresh[0].path, sql) == expected
    versions = (
        "select table_name, data_version from audit.published_tables where data_version is not null"
    )
    assert rows(published / "amber.duckdb", versions) == [("marts.facts", "v2")]


def test_rows_leaving_a_copy_rebuild_it_and_leave_no_trace_in_the_file(
    facts: WarehouseResource, tmp_path: Path
) -> None:
    secret = "withdrawn-" + "x" * 40
    replace_facts(facts, pd.DataFrame({"k": [secret, "b"], "v": [1, 2]}))
    build(facts, "v1")
    published = tmp_path / "published"
    publish(facts, published, levels=[Marking.AMBER])
    assert secret.encode() in (published / "amber.duckdb").read_bytes()
    replace_facts(facts, pd.DataFrame({"k": ["b"], "v": [2]}))  # a superseded drop, say
    build(facts, "v2")
    (copy,) = publish(facts, published, levels=[Marking.AMBER])
    assert not copy.updated  # built from scratch, not on the previous file
    assert rows(published / "amber.duckdb", "select k from marts.facts") == [("b",)]
    assert secret.encode() not in (published / "amber.duckdb").read_bytes()


def test_a_published_copy_edited_by_hand_is_not_built_on(
    facts: WarehouseResource, tmp_path: Path
) -> None:
    build(facts, "v1")
    published = tmp_path / "published"
    publish(facts, published, levels=[Marking.AMBER])
    with duckdb.connect(str(published / "amber.duckdb")) as con:
        con.execute("create table main.notes as select 'left behind' as note")
    replace_facts(facts, pd.DataFrame({"k": ["a", "a", "b", "c"], "v": [1, 2, 3, 4]}))
    build(facts, "v2")
    (copy,) = publish(facts, published, levels=[Marking.AMBER])
    assert not copy.updated
    tables = "select table_name from duckdb_tables() where table_name = 'notes'"
    assert rows(published / "amber.duckdb", tables) == []


def test_a_copy_that_would_lose_a_table_is_built_from_scratch(
    facts: WarehouseResource, tmp_path: Path
) -> None:
    build(facts, "v1")
    published = tmp_path / "published"
    publish(facts, published, levels=[Marking.AMBER])
    build(facts, "v2", marking=Marking.RED)  # a RED drop raised it above the copy's level
    (copy,) = publish(facts, published, levels=[Marking.AMBER])
    assert not copy.updated and copy.withheld == ("marts.facts",)
    assert "marts.facts" not in {
        t for (t,) in rows(copy.path, "select table_name from audit.published_tables")
    }
    with duckdb.connect(str(copy.path), read_only=True) as con:
        assert not con.execute(
            "select count(*) from duckdb_tables() where table_name = 'facts'"
        ).fetchone()[0]


def test_a_warehouse_from_before_versions_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema audit")
        con.execute(
            "create table audit.table_markings (table_name varchar primary key, marking varchar "
            "not null, asset_key varchar, row_count bigint, updated_at timestamptz not null)"
        )
        con.execute("insert into audit.table_markings values ('raw.x', 'clear', 'raw/x', 1, now())")
    warehouse = WarehouseResource(path=str(path))
    with warehouse.connect() as con:
        columns = [r[0] for r in con.execute("describe audit.table_markings").fetchall()]
        assert columns[-3:] == ["code_version", "data_version", "incremental_key"]
        assert con.execute("select data_version from audit.table_markings").fetchall() == [(None,)]
