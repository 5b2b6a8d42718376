"""The threat analytics in real Dagster runs: built, checked and published by marking; small
cells suppressed and the suppression enforced by a blocking check; AMBER signals kept out of
the lower copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from conftest import send_seizures

from extra_pipeline.definitions import build_definitions
from extra_pipeline.models import SQL_DIR
from extra_pipeline.refresh import plan_refresh
from extra_pipeline.runner import run_nightly
from extra_pipeline.settings import Settings

ANALYTIC_MARTS = {
    "marts.threat_matrix", "marts.regional_overview", "marts.country_profile",
    "marts.sensitivity", "marts.methodology", "marts.early_warnings",
}  # fmt: skip


def published(home: Settings, level: str, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.published_path(level)), read_only=True) as con:
        return con.execute(sql).fetchall()


def tables(home_or_run: Settings, level: str) -> set[str]:
    return {
        name
        for (name,) in published(
            home_or_run,
            level,
            "select table_schema || '.' || table_name from information_schema.tables",
        )
    }


def test_the_analytics_are_built_checked_and_published_by_marking(offline_run) -> None:
    settings = offline_run.settings
    assert offline_run.result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed
        for c in offline_run.result.get_asset_check_evaluations()
    }
    assert checks[("intermediate/eu_exposure", "small_cell_suppression")]
    assert checks[("marts/early_warnings", "row_markings")]
    for table in ANALYTIC_MARTS | {"marts.network_priority"}:
        assert checks[(table.replace(".", "/"), "expectations")], table

    assert tables(settings, "clear") >= ANALYTIC_MARTS
    assert "marts.network_priority" not in tables(settings, "clear") | tables(settings, "green")
    assert "marts.network_priority" in tables(settings, "amber")
    # every non-EU country, for each of the 15 markets, in every edition year
    (countries, markets, cells) = published(
        settings, "clear",
        "select count(distinct iso3), count(distinct market), count(*) from marts.threat_matrix",
    )[0]  # fmt: skip
    (non_eu,) = published(
        settings, "clear", "select count(*) from marts.dim_country where not is_eu_member"
    )[0]
    assert (countries, markets) == (non_eu, 15)
    assert cells == non_eu * 15 * 3


def monthly_cocaine_from_colombia(spike: int) -> list[str]:
    """One seizure a month through 2024 (777.77 kg each, a value to look for), then `spike`
    in January 2025 (a spike is judged on a full year of the state's months)."""
    rows = [f"ES-{m},2024-{m:02d}-10,cocaine,,777.77,kg,Colombia,sea,1" for m in range(1, 13)]
    rows += [
        f"ES-S-{n},2025-01-{n + 1:02d},cocaine,,777.77,kg,Colombia,sea,1" for n in range(spike)
    ]
    return rows


def test_an_amber_spike_is_warned_at_amber_and_its_figures_never_reach_clear(
    home: Settings,
) -> None:
    """A planted spike in one state's AMBER drop: the warning is in the AMBER copy only; the
    seizures rest on one state, so the public exposure figures are suppressed, and the
    drop's values appear in no CLEAR table."""
    send_seizures(home, "es-2024.csv", monthly_cocaine_from_colombia(spike=12), period="2024")
    summary = run_nightly(home, progress=False)
    assert summary["success"], summary

    signal = "seizure_spike:COL:cocaine_trade:2025-01"
    sql = (
        "select signal_id, marking, severity from marts.early_warnings where rule = 'seizure_spike'"
    )
    assert published(home, "amber", sql) == [(signal, "amber", "high")]
    assert published(home, "clear", sql) == []
    assert published(home, "clear", "select distinct marking from marts.early_warnings") == [
        ("clear",)
    ]
    # one reporting state: COL's cocaine figures are suppressed in every CLEAR table
    assert published(
        home, "clear", "select seizures, seizure_kg from marts.country_profile where iso3 = 'COL'"
    ) == [(None, None)]
    for table in tables(home, "clear"):
        columns = published(
            home, "clear",
            f"select column_name from information_schema.columns where table_schema || '.' || "
            f"table_name = '{table}' and data_type in ('DOUBLE', 'DECIMAL(18,3)', 'FLOAT')",
        )  # fmt: skip
        for (column,) in columns:
            hits = published(
                home,
                "clear",
                # 777.77 kg or any sum of such seizures
                f'select count(*) from {table} where round("{column}" / 777.77) >= 1 and '
                f'abs("{column}" / 777.77 - round("{column}" / 777.77)) < 1e-9',
            )
            assert hits == [(0,)], (table, column)


def test_a_model_that_stops_suppressing_is_stopped_by_its_check(
    home: Settings, tmp_path: Path
) -> None:
    """eu_exposure edited to publish every seizure count: its blocking small-cell check fails,
    nothing downstream is built and the published copies keep the last good data."""
    send_seizures(home, "es-2024.csv", monthly_cocaine_from_colombia(spike=2), period="2024")
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    model = sql_dir / "intermediate" / "eu_exposure.sql"
    text = model.read_text(encoding="utf-8")
    leaky = text.replace(
        "case when s.publishable then s.seizures end as seizures",
        "s.seizures as seizures",
    ).replace(
        "case when s.publishable then s.states end as seizure_states",
        "s.states as seizure_states",
    )
    assert leaky != text
    model.write_text(leaky, encoding="utf-8")
    before = published(home, "clear", "select * from marts.threat_matrix order by all")

    defs = build_definitions(home, sql_dir=sql_dir)
    summary = run_nightly(home, progress=False, defs=defs)
    assert not summary["success"]
    failed = {(c["asset"], c["check"]) for c in summary["checks"] if not c["passed"]}
    assert ("intermediate/eu_exposure", "small_cell_suppression") in failed
    assert "marts/threat_matrix" not in summary["materialized"]
    assert "published/warehouse" not in summary["materialized"]
    assert published(home, "clear", "select * from marts.threat_matrix order by all") == before
    # the failure is recorded, and the next refresh tries again
    assert (
        "small_cell_suppression" in plan_refresh(home, defs).reasons()["intermediate/eu_exposure"]
    )
