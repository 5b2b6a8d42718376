"""The analytic SQL models, each run on small hand-made input tables (tests/model_harness.py)
against outputs worked out by hand from the rules its header comment states:
sql/intermediate/{prevalence,trend,vulnerability,seizure_flows,eu_exposure,threat_scenarios}
and sql/marts/{threat_matrix,sensitivity,regional_overview,country_profile,network_priority,
methodology}.sql (marts.early_warnings has its own file, tests/test_early_warnings.py, which
builds its inputs with the builders here).

Parameters are the shipped methodology's (assets/methodology.yaml) unless a test overrides
one. Every input table is a typed SELECT made by one table builder (`dim_country(...)`,
`fct_indicator(...)`, ...) from rows made by one row builder each (`country("COL")`,
`indicator("COL", "goci.resilience", 2025, 4.0)`, ...) with keyword overrides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from model_harness import model, run_model

from extra_pipeline.methodology import bind_parameters
from extra_pipeline.warehouse import qualified, quote_ident

Row = dict[str, Any]

# -- typed input tables -------------------------------------------------------------------


def sql_literal(value: Any) -> str:
    """`value` as a DuckDB literal (lists as lists, mappings as structs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        fields = (f"{sql_literal(str(k))}: {sql_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(fields) + "}"
    raise TypeError(f"no SQL literal for {value!r}")


def table(columns: Mapping[str, str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A SELECT of `rows` with `columns` (name: DuckDB type); no rows gives an empty table."""
    rows = list(rows)
    for row in rows:
        unknown = sorted(set(row) - set(columns))
        if unknown:
            raise KeyError(f"not a column of this table: {', '.join(unknown)}")
    if not rows:
        nulls = ", ".join(f'cast(null as {t}) as "{c}"' for c, t in columns.items())
        return f"select {nulls} where false"
    return "\nunion all\n".join(
        "select "
        + ", ".join(f'cast({sql_literal(row.get(c))} as {t}) as "{c}"' for c, t in columns.items())
        for row in rows
    )


def month_start(month: str) -> str:
    """`2025-03` as the date `2025-03-01` (a full date passes unchanged)."""
    return month if len(month) == 10 else f"{month}-01"


# marts.dim_country
COUNTRY = {
    "iso3": "VARCHAR",
    "iso2": "VARCHAR",
    "iso_numeric": "VARCHAR",
    "name": "VARCHAR",
    "region": "VARCHAR",
    "subregion": "VARCHAR",
    "intermediate_region": "VARCHAR",
    "is_eu_member": "BOOLEAN",
    "is_eea_member": "BOOLEAN",
}
#: the EU members the tests use, with their ISO2 codes (reporting states are ISO2)
EU_MEMBERS = {"ESP": "ES", "NLD": "NL", "DEU": "DE", "BEL": "BE", "FRA": "FR", "ITA": "IT"}


def country(iso3: str, **overrides: Any) -> Row:
    eu = iso3 in EU_MEMBERS
    return {
        "iso3": iso3,
        "iso2": EU_MEMBERS.get(iso3, iso3[:2]),
        "iso_numeric": None,
        "name": f"Country {iso3}",
        "region": "Europe" if eu else "Americas",
        "subregion": None,
        "intermediate_region": None,
        "is_eu_member": eu,
        "is_eea_member": eu,
        **overrides,
    }


def dim_country(*countries: str | Row) -> str:
    return table(COUNTRY, [country(c) if isinstance(c, str) else c for c in countries])


# marts.dim_market
MARKET = {
    "market": "VARCHAR",
    "label": "VARCHAR",
    "goci_indicator_id": "VARCHAR",
    "category": "VARCHAR",
    "empact_priority": "VARCHAR",
    "empact_priority_label": "VARCHAR",
    "socta_threat": "VARCHAR",
    "socta_threat_label": "VARCHAR",
    "socta_key_threat": "VARCHAR",
    "mapping_basis": "VARCHAR",
    "aliases": "VARCHAR",
}


def market(name: str, **overrides: Any) -> Row:
    return {
        "market": name,
        "label": name.replace("_", " ").capitalize(),
        "goci_indicator_id": f"goci.market.{name}",
        **overrides,
    }


def dim_market(*markets: str | Row) -> str:
    return table(MARKET, [market(m) if isinstance(m, str) else m for m in markets])


# marts.fct_indicator
INDICATOR = {
    "source_id": "VARCHAR",
    "indicator_id": "VARCHAR",
    "iso3": "VARCHAR",
    "year": "INTEGER",
    "value": "DOUBLE",
    "unit": "VARCHAR",
    "scale": "VARCHAR",
    "edition": "VARCHAR",
    "direction": "VARCHAR",
    "censored": "BOOLEAN",
    "obs_status": "VARCHAR",
    "snapshot_sha256": "VARCHAR",
}
SOURCE_IDS = {"unodc": "unodc_drug_seizures"}
HIGHER_IS_BETTER = ("goci.resilience", "wgi.", "cpi.")


def direction(indicator_id: str) -> str:
    return "higher_is_better" if indicator_id.startswith(HIGHER_IS_BETTER) else "higher_is_worse"


def indicator(
    iso3: str, indicator_id: str, year: int, value: float | None, **overrides: Any
) -> Row:
    family = indicator_id.split(".")[0]
    return {
        "source_id": SOURCE_IDS.get(family, family),
        "indicator_id": indicator_id,
        "iso3": iso3,
        "year": year,
        "value": value,
        "edition": str(year),
        "direction": direction(indicator_id),
        "censored": False,
        "snapshot_sha256": f"sha-{family}",
        **overrides,
    }


def fct_indicator(*rows: Row) -> str:
    return table(INDICATOR, rows)


# marts.dim_indicator
DIM_INDICATOR = {
    "indicator_id": "VARCHAR",
    "label": "VARCHAR",
    "source_id": "VARCHAR",
    "source_title": "VARCHAR",
    "publisher": "VARCHAR",
    "unit": "VARCHAR",
    "scale": "VARCHAR",
    "direction": "VARCHAR",
    "licence": "VARCHAR",
    "countries": "BIGINT",
    "first_year": "INTEGER",
    "last_year": "INTEGER",
    "latest_edition": "VARCHAR",
}
LABELS = {
    "goci.resilience": "Resilience",
    "wgi.cc.estimate": "Control of corruption",
    "wgi.rl.estimate": "Rule of law",
    "cpi.score": "Corruption Perceptions Index score",
}
SOURCE_TITLES = {
    "goci": "Global Organized Crime Index",
    "wgi": "Worldwide Governance Indicators",
    "cpi": "Corruption Perceptions Index",
}


def indicator_meta(indicator_id: str, **overrides: Any) -> Row:
    """A dim_indicator row; the label is the id's last part (`Judicial system`) by default."""
    family = indicator_id.split(".")[0]
    default_label = indicator_id.rsplit(".", 1)[-1].replace("_", " ").capitalize()
    return {
        "indicator_id": indicator_id,
        "label": LABELS.get(indicator_id, default_label),
        "source_id": family,
        "source_title": SOURCE_TITLES.get(family, family),
        "direction": direction(indicator_id),
        **overrides,
    }


def dim_indicator(*indicators: str | Row) -> str:
    return table(
        DIM_INDICATOR, [indicator_meta(i) if isinstance(i, str) else i for i in indicators]
    )


# staging.seizures
SEIZURE = {
    "drop_id": "VARCHAR",
    "reporting_state": "VARCHAR",
    "period": "VARCHAR",
    "marking": "VARCHAR",
    "synthetic": "BOOLEAN",
    "row_number": "BIGINT",
    "seizure_ref": "VARCHAR",
    "seizure_date": "DATE",
    "market": "VARCHAR",
    "commodity": "VARCHAR",
    "quantity": "DOUBLE",
    "unit": "VARCHAR",
    "quantity_kg": "DOUBLE",
    "origin_iso3": "VARCHAR",
    "departure_iso3": "VARCHAR",
    "destination_iso3": "VARCHAR",
    "transit_iso3": "VARCHAR[]",
    "transport_mode": "VARCHAR",
    "location": "VARCHAR",
    "arrests": "INTEGER",
}


def seizure(reporting_state: str, seizure_date: str, **overrides: Any) -> Row:
    return {
        "drop_id": f"{reporting_state.lower()}-2025",
        "reporting_state": reporting_state,
        "period": "2025-Q1",
        "marking": "amber",
        "synthetic": True,
        "row_number": 1,
        "seizure_ref": f"{reporting_state}-{seizure_date}",
        "seizure_date": seizure_date,
        "market": "cocaine_trade",
        "commodity": "cocaine",
        "quantity": overrides.get("quantity_kg"),
        "unit": "kg",
        "transit_iso3": [],
        "transport_mode": "sea",
        "arrests": 0,
        **overrides,
    }


def staging_seizures(*rows: Row) -> str:
    return table(SEIZURE, rows)


# intermediate.seizure_flows
FLOW = {
    "drop_id": "VARCHAR",
    "reporting_state": "VARCHAR",
    "marking": "VARCHAR",
    "period": "VARCHAR",
    "market": "VARCHAR",
    "month": "DATE",
    "iso3": "VARCHAR",
    "seizures": "BIGINT",
    "as_origin": "BIGINT",
    "as_departure": "BIGINT",
    "both_roles": "BIGINT",
    "seizures_with_kg": "BIGINT",
    "quantity_kg": "DOUBLE",
    "first_date": "DATE",
    "last_date": "DATE",
}


def flow(reporting_state: str, month: str, iso3: str, seizures: int, **overrides: Any) -> Row:
    """`seizures` seizures from origin `iso3` reported by a state in a month (`2025-03`);
    all of them with a mass when `quantity_kg` is given (`seizures_with_kg` to say fewer)."""
    start = month_start(month)
    return {
        "drop_id": f"{reporting_state.lower()}-drop",
        "reporting_state": reporting_state,
        "marking": "amber",
        "period": "2025",
        "market": "cocaine_trade",
        "month": start,
        "iso3": iso3,
        "seizures": seizures,
        "as_origin": seizures,
        "as_departure": 0,
        "both_roles": 0,
        "seizures_with_kg": seizures if overrides.get("quantity_kg") is not None else 0,
        "quantity_kg": None,
        "first_date": start,
        "last_date": start,
        **overrides,
    }


def seizure_flows(*rows: Row) -> str:
    return table(FLOW, rows)


# marts.fct_network
NETWORK = {
    "drop_id": "VARCHAR",
    "reporting_state": "VARCHAR",
    "network_ref": "VARCHAR",
    "assessment_date": "DATE",
    "principal_markets": "VARCHAR[]",
    "base_iso3": "VARCHAR",
    "countries_active_iso3": "VARCHAR[]",
    "member_count_band": "VARCHAR",
    "nationalities_iso3": "VARCHAR[]",
    "uses_legal_business": "BOOLEAN",
    "uses_violence": "BOOLEAN",
    "uses_corruption": "BOOLEAN",
    "money_laundering_methods": "VARCHAR[]",
    "threat_level": "VARCHAR",
    "hvt": "BOOLEAN",
    "period": "VARCHAR",
    "synthetic": "BOOLEAN",
}


def network(reporting_state: str, network_ref: str, assessment_date: str, **overrides: Any) -> Row:
    return {
        "drop_id": f"{reporting_state.lower()}-networks",
        "reporting_state": reporting_state,
        "network_ref": network_ref,
        "assessment_date": assessment_date,
        "principal_markets": ["cocaine_trade"],
        "base_iso3": "COL",
        "countries_active_iso3": ["COL"],
        "member_count_band": "11-50",
        "nationalities_iso3": [],
        "uses_legal_business": False,
        "uses_violence": False,
        "uses_corruption": False,
        "money_laundering_methods": [],
        "threat_level": "medium",
        "hvt": False,
        "period": "2025",
        "synthetic": True,
        **overrides,
    }


def fct_network(*rows: Row) -> str:
    return table(NETWORK, rows)


# marts.fct_event
EVENT = {
    "event_id": "VARCHAR",
    "source_id": "VARCHAR",
    "event_type": "VARCHAR",
    "event_date": "DATE",
    "iso3": "VARCHAR",
    "label": "VARCHAR",
    "value": "DOUBLE",
    "detail": "VARCHAR",
    "snapshot_sha256": "VARCHAR",
}


def event(
    event_type: str,
    iso3: str,
    event_date: str,
    detail: Mapping[str, Any],
    value: float | None = 1.0,
    **overrides: Any,
) -> Row:
    """An event; `detail` is given as a mapping and stored as JSON text."""
    return {
        "event_id": f"{event_type}:{iso3}:{event_date}",
        "source_id": event_type.split(".")[0],
        "event_type": event_type,
        "event_date": event_date,
        "iso3": iso3,
        "label": f"{iso3}: {event_type} on {event_date}",
        "value": value,
        "detail": json.dumps(detail),
        "snapshot_sha256": "sha-event",
        **overrides,
    }


def fct_event(*rows: Row) -> str:
    return table(EVENT, rows)


# raw.methodology
METHODOLOGY = {
    "parameter": "VARCHAR",
    "section": "VARCHAR",
    "value_json": "VARCHAR",
    "about": "VARCHAR",
    "methodology_version": "VARCHAR",
    "methodology_title": "VARCHAR",
    "effective": "VARCHAR",
}


def parameter(name: str, value: Any, **overrides: Any) -> Row:
    return {
        "parameter": name,
        "section": name.split(".")[0],
        "value_json": json.dumps(value),
        "about": f"What {name} is for.",
        "methodology_version": "2026.1",
        "methodology_title": "GLOCA threat methodology",
        "effective": "2026-12-04",
        **overrides,
    }


def raw_methodology(*rows: Row) -> str:
    return table(METHODOLOGY, rows)


# intermediate.prevalence
PREVALENCE = {
    "iso3": "VARCHAR",
    "market": "VARCHAR",
    "year": "INTEGER",
    "edition": "VARCHAR",
    "score": "DOUBLE",
    "prevalence": "DOUBLE",
    "is_latest_edition": "BOOLEAN",
    "snapshot_sha256": "VARCHAR",
}


def prevalence_row(
    iso3: str, year: int, prevalence: float, market: str = "cocaine_trade", **overrides: Any
) -> Row:
    return {
        "iso3": iso3,
        "market": market,
        "year": year,
        "edition": str(year),
        "score": 1 + 9 * prevalence,
        "prevalence": prevalence,
        "is_latest_edition": True,
        "snapshot_sha256": "sha-goci",
        **overrides,
    }


def prevalence_table(*rows: Row) -> str:
    return table(PREVALENCE, rows)


# intermediate.eu_exposure (the columns the downstream models read)
EXPOSURE = {
    "iso3": "VARCHAR",
    "market": "VARCHAR",
    "year": "INTEGER",
    "seizures": "BIGINT",
    "seizure_kg": "DOUBLE",
    "eu_exposure": "DOUBLE",
    "evidence": "BIGINT",
    "coverage": "DOUBLE",
}


def exposure_row(
    iso3: str,
    year: int,
    eu_exposure: float | None = None,
    market: str = "cocaine_trade",
    **overrides: Any,
) -> Row:
    return {
        "iso3": iso3,
        "market": market,
        "year": year,
        "eu_exposure": eu_exposure,
        "evidence": 0,
        "coverage": 0.0 if eu_exposure is None else 0.5,
        **overrides,
    }


def exposure_table(*rows: Row) -> str:
    return table(EXPOSURE, rows)


# intermediate.vulnerability (the columns the downstream models read)
PILLARS = "STRUCT(indicator_id VARCHAR, pillar VARCHAR, score DOUBLE)[]"
VULNERABILITY = {
    "iso3": "VARCHAR",
    "year": "INTEGER",
    "weakest_pillars": PILLARS,
    "wgi_cc": "DOUBLE",
    "wgi_rl": "DOUBLE",
    "cpi_score": "DOUBLE",
    "fatf_list": "VARCHAR",
    "vulnerability": "DOUBLE",
    "evidence": "INTEGER",
    "coverage": "DOUBLE",
}


def vulnerability_row(
    iso3: str, year: int, vulnerability: float | None = None, **overrides: Any
) -> Row:
    return {
        "iso3": iso3,
        "year": year,
        "vulnerability": vulnerability,
        "evidence": 0 if vulnerability is None else 1,
        "coverage": 0.0 if vulnerability is None else 0.4,
        **overrides,
    }


def vulnerability_table(*rows: Row) -> str:
    return table(VULNERABILITY, rows)


# intermediate.trend
TREND = {
    "iso3": "VARCHAR",
    "indicator_id": "VARCHAR",
    "family": "VARCHAR",
    "year": "INTEGER",
    "value": "DOUBLE",
    "previous_year": "INTEGER",
    "previous_value": "DOUBLE",
    "change": "DOUBLE",
    "change_years": "INTEGER",
    "direction": "VARCHAR",
    "trend": "VARCHAR",
    "stable_band": "DOUBLE",
    "is_latest": "BOOLEAN",
    "snapshot_sha256": "VARCHAR",
}
#: the shipped trend.stable_band, to label hand-made trend rows consistently
STABLE_BANDS = {"goci": 0.5, "wgi": 0.2, "cpi": 3.0}


def trend_row(
    iso3: str, indicator_id: str, year: int, previous_value: float, value: float, **overrides: Any
) -> Row:
    """The change of `indicator_id` from `previous_value` (the edition or year before) to
    `value` in `year`, labelled by direction and band as intermediate.trend labels it."""
    family = indicator_id.split(".")[0]
    step = 2 if family == "goci" else 1
    change = value - previous_value
    worse_by = change if direction(indicator_id) == "higher_is_worse" else -change
    label = (
        "stable"
        if round(abs(change), 6) < STABLE_BANDS[family]
        else "worsening"
        if worse_by > 0
        else "improving"
    )
    return {
        "iso3": iso3,
        "indicator_id": indicator_id,
        "family": family,
        "year": year,
        "value": value,
        "previous_year": year - step,
        "previous_value": previous_value,
        "change": change,
        "change_years": step,
        "direction": direction(indicator_id),
        "trend": label,
        "stable_band": STABLE_BANDS[family],
        "is_latest": True,
        "snapshot_sha256": f"sha-{family}",
        **overrides,
    }


def trend_table(*rows: Row) -> str:
    return table(TREND, rows)


# intermediate.threat_scenarios
SCENARIO = {
    "scenario": "VARCHAR",
    "varied_component": "VARCHAR",
    "factor": "DOUBLE",
    "iso3": "VARCHAR",
    "market": "VARCHAR",
    "year": "INTEGER",
    "score": "DOUBLE",
    "coverage": "DOUBLE",
    "prevalence": "DOUBLE",
    "prevalence_score": "DOUBLE",
    "eu_exposure": "DOUBLE",
    "exposure_evidence": "BIGINT",
    "vulnerability": "DOUBLE",
    "vulnerability_evidence": "INTEGER",
    "trend": "DOUBLE",
    "trend_change": "DOUBLE",
    "trend_direction": "VARCHAR",
    "rank": "BIGINT",
    "market_rank": "BIGINT",
    "mean_rank": "DOUBLE",
}


def scenario_row(
    iso3: str,
    year: int,
    score: float | None,
    rank: int | None = None,
    *,
    scenario: str = "base",
    market: str = "cocaine_trade",
    **overrides: Any,
) -> Row:
    """A scored row of a scenario (`base`, `trend+`, `prevalence-`...), rank as mean rank."""
    varied = None if scenario == "base" else scenario[:-1]
    factor = 1.0 if varied is None else (1.2 if scenario.endswith("+") else 0.8)
    return {
        "scenario": scenario,
        "varied_component": varied,
        "factor": factor,
        "iso3": iso3,
        "market": market,
        "year": year,
        "score": score,
        "coverage": 1.0 if score is not None else 0.4,
        "rank": rank,
        "market_rank": rank,
        "mean_rank": rank,
        **overrides,
    }


def threat_scenarios(*rows: Row) -> str:
    return table(SCENARIO, rows)


# marts.threat_matrix (the columns the downstream models read)
MATRIX = {
    "iso3": "VARCHAR",
    "market": "VARCHAR",
    "year": "INTEGER",
    "score": "DOUBLE",
    "rank": "BIGINT",
    "market_rank": "BIGINT",
    "confidence": "VARCHAR",
    "coverage": "DOUBLE",
    "prevalence": "DOUBLE",
    "eu_exposure": "DOUBLE",
    "vulnerability": "DOUBLE",
    "trend_direction": "VARCHAR",
    "is_latest_year": "BOOLEAN",
}


def matrix_row(
    iso3: str,
    year: int,
    score: float | None = None,
    rank: int | None = None,
    market: str = "cocaine_trade",
    **overrides: Any,
) -> Row:
    return {
        "iso3": iso3,
        "market": market,
        "year": year,
        "score": score,
        "rank": rank,
        "market_rank": rank,
        "confidence": "A" if score is not None else "D",
        "coverage": 1.0 if score is not None else 0.4,
        "is_latest_year": True,
        **overrides,
    }


def threat_matrix(*rows: Row) -> str:
    return table(MATRIX, rows)


# -- reading results ----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A result cell as plain Python: null as None, lists as lists, dates as dates."""
    if isinstance(value, np.ndarray | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(frame: pd.DataFrame, *columns: str) -> list[Row]:
    """The rows of `frame` (only `columns`, if given) as plain Python dicts."""
    frame = frame[list(columns)] if columns else frame
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def approx(expected: Any) -> Any:
    """`expected` with every float compared approximately, however deeply nested."""
    if isinstance(expected, float):
        return pytest.approx(expected)
    if isinstance(expected, list | tuple):
        return [approx(v) for v in expected]
    if isinstance(expected, dict):
        return {k: approx(v) for k, v in expected.items()}
    return expected


def assert_rows(frame: pd.DataFrame, expected: list[Row]) -> None:
    """`frame` holds exactly the `expected` rows in order, on the columns they name."""
    columns = list(dict.fromkeys(c for row in expected for c in row)) or list(frame.columns)
    assert records(frame, *columns) == approx(expected)


# -- prevalence ---------------------------------------------------------------------------


def test_prevalence_rescales_market_scores_and_marks_the_latest_edition() -> None:
    """prevalence = (score - 1) / 9 per country, market and edition; EU members and null
    scores have no row; is_latest_edition is the country's latest edition of that market."""
    result = run_model(
        "intermediate/prevalence",
        {
            "marts.fct_indicator": fct_indicator(
                indicator("COL", "goci.market.cocaine_trade", 2023, 7.0),
                indicator("COL", "goci.market.cocaine_trade", 2025, 8.5),
                indicator("MEX", "goci.market.cocaine_trade", 2023, 4.0),
                indicator("MEX", "goci.market.cocaine_trade", 2025, None),
                indicator("ESP", "goci.market.cocaine_trade", 2025, 6.0),
                indicator("COL", "goci.resilience", 2025, 4.0),
            ),
            "marts.dim_market": dim_market("cocaine_trade", "cannabis_trade"),
            "marts.dim_country": dim_country("COL", "MEX", "ESP"),
        },
        order_by="iso3, market, year",
    )
    assert_rows(
        result,
        [
            {"iso3": "COL", "market": "cocaine_trade", "year": 2023, "edition": "2023",
             "score": 7.0, "prevalence": 6 / 9, "is_latest_edition": False},
            {"iso3": "COL", "market": "cocaine_trade", "year": 2025, "edition": "2025",
             "score": 8.5, "prevalence": 7.5 / 9, "is_latest_edition": True},
            {"iso3": "MEX", "market": "cocaine_trade", "year": 2023, "edition": "2023",
             "score": 4.0, "prevalence": 3 / 9, "is_latest_edition": True},
        ],
    )  # fmt: skip


# -- trend --------------------------------------------------------------------------------


def test_trend_reads_each_change_by_direction_against_the_family_band() -> None:
    """change = value - previous value; a change equal to the family's band (goci 0.5, wgi
    0.2, cpi 3) is not stable; worsening/improving follow the indicator's direction;
    is_latest marks the latest change of each country and indicator."""
    result = run_model(
        "intermediate/trend",
        {
            "marts.fct_indicator": fct_indicator(
                indicator("COL", "goci.market.cocaine_trade", 2021, 5.0),
                indicator("COL", "goci.market.cocaine_trade", 2023, 5.5),
                indicator("COL", "goci.market.cocaine_trade", 2025, 5.0),
                indicator("COL", "goci.resilience", 2023, 4.0),
                indicator("COL", "goci.resilience", 2025, 4.5),
                indicator("COL", "goci.criminality", 2023, 6.0),
                indicator("COL", "goci.criminality", 2025, 6.25),
                indicator("COL", "wgi.cc.estimate", 2022, -0.5),
                indicator("COL", "wgi.cc.estimate", 2023, -0.75),
                indicator("COL", "cpi.score", 2022, 40.0),
                indicator("COL", "cpi.score", 2024, 37.0),
                indicator("MEX", "cpi.score", 2023, 50.0),
                indicator("MEX", "cpi.score", 2024, 52.9),
            ),
            "marts.dim_country": dim_country("COL", "MEX"),
        },
        order_by="iso3, indicator_id, year",
    )
    columns = ("iso3", "indicator_id", "year", "previous_year", "previous_value", "change",
               "change_years", "trend", "stable_band", "is_latest")  # fmt: skip
    expected = [
        ("COL", "cpi.score", 2024, 2022, 40.0, -3.0, 2, "worsening", 3.0, True),
        ("COL", "goci.criminality", 2025, 2023, 6.0, 0.25, 2, "stable", 0.5, True),
        ("COL", "goci.market.cocaine_trade", 2023, 2021, 5.0, 0.5, 2, "worsening", 0.5, False),
        ("COL", "goci.market.cocaine_trade", 2025, 2023, 5.5, -0.5, 2, "improving", 0.5, True),
        ("COL", "goci.resilience", 2025, 2023, 4.0, 0.5, 2, "improving", 0.5, True),
        ("COL", "wgi.cc.estimate", 2023, 2022, -0.5, -0.25, 1, "worsening", 0.2, True),
        ("MEX", "cpi.score", 2024, 2023, 50.0, 2.9, 1, "stable", 3.0, True),
    ]
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])


def test_trend_compares_the_band_at_six_decimals() -> None:
    """Changes that reach the band in decimals but fall short of it in binary floating
    point (7.53 -> 8.03: 0.4999999999999991; 2.01 -> 1.51; WGI -0.5 -> -0.7:
    -0.19999999999999996) reach it: compared at six decimals; a change of 0.49 stays
    stable."""
    assert 8.03 - 7.53 < 0.5 and 2.01 - 1.51 < 0.5 and abs(-0.7 - -0.5) < 0.2
    result = run_model(
        "intermediate/trend",
        {
            "marts.fct_indicator": fct_indicator(
                indicator("COL", "goci.market.cocaine_trade", 2023, 7.53),
                indicator("COL", "goci.market.cocaine_trade", 2025, 8.03),
                indicator("COL", "goci.resilience", 2023, 2.01),
                indicator("COL", "goci.resilience", 2025, 1.51),
                indicator("COL", "goci.criminality", 2023, 6.0),
                indicator("COL", "goci.criminality", 2025, 6.49),
                indicator("COL", "wgi.cc.estimate", 2022, -0.5),
                indicator("COL", "wgi.cc.estimate", 2023, -0.7),
            ),
            "marts.dim_country": dim_country("COL"),
        },
        order_by="indicator_id",
    )
    assert records(result, "indicator_id", "trend") == [
        {"indicator_id": "goci.criminality", "trend": "stable"},
        {"indicator_id": "goci.market.cocaine_trade", "trend": "worsening"},
        {"indicator_id": "goci.resilience", "trend": "worsening"},
        {"indicator_id": "wgi.cc.estimate", "trend": "worsening"},
    ]


def test_trend_leaves_out_eu_members_and_indicators_without_a_band() -> None:
    """Only GI-TOC scores, WGI estimates and the CPI score of non-EU countries have a trend:
    an EU member, a WGI standard error and a UNODC figure have none; a first value has none."""
    result = run_model(
        "intermediate/trend",
        {
            "marts.fct_indicator": fct_indicator(
                indicator("COL", "goci.market.cocaine_trade", 2023, 5.0),
                indicator("COL", "goci.market.cocaine_trade", 2025, 6.0),
                indicator("ESP", "goci.market.cocaine_trade", 2023, 3.0),
                indicator("ESP", "goci.market.cocaine_trade", 2025, 8.0),
                indicator("COL", "wgi.cc.std_error", 2022, 0.2),
                indicator("COL", "wgi.cc.std_error", 2023, 0.5),
                indicator("COL", "unodc.seizure.cocaine_type_kg", 2022, 1.0),
                indicator("COL", "unodc.seizure.cocaine_type_kg", 2023, 100.0),
                indicator("COL", "cpi.score", 2024, 37.0),
            ),
            "marts.dim_country": dim_country("COL", "ESP"),
        },
    )
    assert_rows(
        result,
        [{"iso3": "COL", "indicator_id": "goci.market.cocaine_trade", "year": 2025,
          "change": 1.0, "trend": "worsening"}],
    )  # fmt: skip


# -- vulnerability ------------------------------------------------------------------------


def vulnerability_inputs() -> dict[str, str]:
    """COL in editions 2023 and 2025 with measures of different ages, MEX with only FATF
    data (in 2025), ESP an EU member; FATF data exists for 2025 only."""
    pillars = ("judicial_system", "law_enforcement", "prevention", "anti_money_laundering")
    return {
        "marts.fct_indicator": fct_indicator(
            indicator("COL", "goci.resilience", 2023, 5.0),
            indicator("COL", "goci.resilience", 2025, 4.0),
            indicator("COL", "goci.resilience.judicial_system", 2025, 3.0),
            indicator("COL", "goci.resilience.law_enforcement", 2025, 2.5),
            indicator("COL", "goci.resilience.prevention", 2025, 5.0),
            indicator("COL", "goci.resilience.anti_money_laundering", 2025, 3.0),
            indicator("COL", "wgi.cc.estimate", 2021, -1.0),
            indicator("COL", "wgi.cc.estimate", 2024, -0.5),
            indicator("COL", "wgi.rl.estimate", 2025, 0.0),
            indicator("COL", "cpi.score", 2021, 30.0),
            indicator("COL", "fatf.increased_monitoring", 2025, 1.0),
            indicator("COL", "fatf.call_for_action", 2025, 0.0),
            indicator("ESP", "goci.resilience", 2025, 8.0),
        ),
        "marts.dim_country": dim_country("COL", "MEX", "ESP"),
        "marts.dim_indicator": dim_indicator(*(f"goci.resilience.{p}" for p in pillars)),
    }


def test_vulnerability_is_the_weighted_mean_of_the_measures_present() -> None:
    """Weights 0.40/0.15/0.15/0.20/0.10 rescaled over the measures present (a missing one is
    left out, never zero); WGI and CPI at most 3 years old, the latest one used; FATF listed
    only in a year with FATF data (otherwise missing; a country not on a list: 0)."""
    result = run_model("intermediate/vulnerability", vulnerability_inputs(), order_by="iso3, year")
    col_2023 = (0.40 * 5 / 9 + 0.15 * 0.7 + 0.20 * 0.7) / 0.75
    col_2025 = (0.40 * 6 / 9 + 0.15 * 0.6 + 0.15 * 0.5 + 0.10 * 0.6) / 0.80
    columns = ("iso3", "year", "resilience", "wgi_cc", "wgi_cc_year", "wgi_rl", "cpi_score",
               "cpi_year", "fatf_list", "fatf_vulnerability", "vulnerability", "evidence",
               "coverage")  # fmt: skip
    expected = [
        ("COL", 2023, 5.0, -1.0, 2021, None, 30.0, 2021, None, None, col_2023, 3, 0.75),
        ("COL", 2025, 4.0, -0.5, 2024, 0.0, None, None, "increased_monitoring", 0.6,
         col_2025, 4, 0.80),
        ("MEX", 2023, None, None, None, None, None, None, None, None, None, 0, 0.0),
        # a FATF status alone is under vulnerability.min_coverage: no vulnerability
        ("MEX", 2025, None, None, None, None, None, None, "not_listed", 0.0, None, 1, 0.10),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])


def test_vulnerability_names_the_three_weakest_pillars_lowest_first() -> None:
    """weakest_pillars: the 3 lowest-scored resilience pillars, ties by pillar label."""
    result = run_model("intermediate/vulnerability", vulnerability_inputs(), order_by="iso3, year")
    pillars = {(r["iso3"], r["year"]): r["weakest_pillars"] for r in records(result)}
    assert pillars[("COL", 2025)] == [
        {"indicator_id": "goci.resilience.law_enforcement", "pillar": "Law enforcement",
         "score": 2.5},
        {"indicator_id": "goci.resilience.anti_money_laundering",
         "pillar": "Anti money laundering", "score": 3.0},
        {"indicator_id": "goci.resilience.judicial_system", "pillar": "Judicial system",
         "score": 3.0},
    ]  # fmt: skip
    assert pillars[("COL", 2023)] is None


# -- seizure flows ------------------------------------------------------------------------


def test_seizure_flows_count_seizures_entering_the_eu_once_per_country_and_role() -> None:
    """A seizure enters the EU when a member state reported it or it was bound for one; it
    counts once for its origin and once for its departure country, once when they are the
    same; EU countries get no row; seizures_with_kg counts the seizures with a mass and
    quantity_kg sums their masses, rounded to the gram; per drop and month."""
    result = run_model(
        "intermediate/seizure_flows",
        {
            "staging.seizures": staging_seizures(
                seizure("ES", "2025-03-05", origin_iso3="COL", departure_iso3="COL",
                        destination_iso3="ESP", quantity_kg=100.0004),
                seizure("ES", "2025-03-20", origin_iso3="COL", departure_iso3="ECU",
                        destination_iso3="ESP", quantity_kg=50.0002),
                seizure("ES", "2025-03-25", origin_iso3="COL", departure_iso3="COL",
                        destination_iso3="ESP", quantity_kg=None, unit="pieces"),
                seizure("ES", "2025-03-15", origin_iso3="NLD", departure_iso3="MAR",
                        destination_iso3="ESP", quantity_kg=1.0),
                seizure("ES", "2025-04-02", departure_iso3="PAN", destination_iso3="MAR",
                        quantity_kg=5.0),
                seizure("US", "2025-03-10", origin_iso3="ECU", departure_iso3="PAN",
                        destination_iso3="NLD", quantity_kg=10.0),
                seizure("US", "2025-03-11", origin_iso3="COL", departure_iso3="COL",
                        destination_iso3="USA", quantity_kg=900.0),
            ),
            "marts.dim_country": dim_country("ESP", "NLD", "COL", "ECU", "MAR", "PAN", "USA"),
        },
        order_by="drop_id, iso3, month",
    )  # fmt: skip
    columns = ("drop_id", "reporting_state", "month", "iso3", "seizures", "as_origin",
               "as_departure", "both_roles", "seizures_with_kg", "quantity_kg", "first_date",
               "last_date")  # fmt: skip
    expected = [
        ("es-2025", "ES", "2025-03-01", "COL", 3, 3, 2, 2, 2, 150.001, "2025-03-05",
         "2025-03-25"),
        ("es-2025", "ES", "2025-03-01", "ECU", 1, 0, 1, 0, 1, 50.0, "2025-03-20", "2025-03-20"),
        ("es-2025", "ES", "2025-03-01", "MAR", 1, 0, 1, 0, 1, 1.0, "2025-03-15", "2025-03-15"),
        ("es-2025", "ES", "2025-04-01", "PAN", 1, 0, 1, 0, 1, 5.0, "2025-04-02", "2025-04-02"),
        ("us-2025", "US", "2025-03-01", "ECU", 1, 1, 0, 0, 1, 10.0, "2025-03-10", "2025-03-10"),
        ("us-2025", "US", "2025-03-01", "PAN", 1, 0, 1, 0, 1, 10.0, "2025-03-10", "2025-03-10"),
    ]  # fmt: skip
    dates = {"month", "first_date", "last_date"}
    assert_rows(
        result,
        [
            {
                c: date.fromisoformat(v) if c in dates else v
                for c, v in zip(columns, row, strict=True)
            }
            for row in expected
        ],
    )
    # rounded exactly to the gram (150.0006 -> 150.001, 50.0002 -> 50.0), not approximately
    assert result["quantity_kg"].tolist()[:2] == [150.001, 50.0]
    assert set(result["marking"]) == {"amber"}
    assert set(result["period"]) == {"2025-Q1"}


# -- EU exposure --------------------------------------------------------------------------


def exposure_inputs(
    *,
    flows: Iterable[Row] = (),
    networks: Iterable[Row] = (),
    indicators: Iterable[Row] = (),
    editions: Iterable[int] = (2025,),
    markets: Iterable[str] = ("cocaine_trade",),
    countries: Iterable[str] = ("COL", "ECU", "PER", "VEN", "BRA", "ESP"),
) -> dict[str, str]:
    """eu_exposure's inputs: GI-TOC editions (one COL market score per edition year), plus
    the given seizure flows, networks and open figures."""
    goci = [indicator("COL", "goci.market.cocaine_trade", year, 7.0) for year in editions]
    return {
        "marts.fct_indicator": fct_indicator(*goci, *indicators),
        "marts.dim_country": dim_country(*countries),
        "marts.dim_market": dim_market(*markets),
        "intermediate.seizure_flows": seizure_flows(*flows),
        "marts.fct_network": fct_network(*networks),
    }


def test_eu_exposure_suppresses_small_seizure_cells_and_scales_by_the_largest_published() -> None:
    """A country's seizures are published only when they rest on >= 3 reporting states and
    >= 5 seizures of its own, with those supports (seizure_states, seizures); below that,
    and for a country with none, every seizure figure is null (zero included) and left out
    of the scale and of eu_exposure; exposure = ln(1+n) / ln(1+max published n); the mass
    with its own support (kg_states, kg_records)."""
    flows = [
        flow("ES", "2025-02", "COL", 3, quantity_kg=30.0, period="2025-Q1"),
        flow("NL", "2025-02", "COL", 3, quantity_kg=30.0, period="2025-Q2"),
        flow("DE", "2025-02", "COL", 2, quantity_kg=20.0, period="2025-Q1"),
        flow("ES", "2025-02", "PER", 2, quantity_kg=20.0),
        flow("NL", "2025-02", "PER", 2, quantity_kg=20.0),
        flow("DE", "2025-02", "PER", 1, quantity_kg=10.0),
        flow("ES", "2025-02", "ECU", 10),
        flow("NL", "2025-02", "ECU", 10),
        flow("ES", "2025-02", "VEN", 1),
        flow("NL", "2025-02", "VEN", 1),
        flow("DE", "2025-02", "VEN", 1),
        flow("ES", "2025-02", "COL", 6, market="heroin_trade"),
    ]
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(flows=flows, markets=("cocaine_trade", "heroin_trade", "cannabis_trade")),
        order_by="market, iso3",
    )
    columns = ("market", "iso3", "seizures", "seizure_states", "latest_seizure_period",
               "seizure_exposure", "seizure_kg", "kg_states", "kg_records", "eu_exposure",
               "coverage", "evidence")  # fmt: skip
    per = math.log(6) / math.log(9)
    nothing = (None, None, None, None, None, None, None, None, 0.0, 0)
    expected = [
        ("cannabis_trade", "BRA", *nothing),
        ("cannabis_trade", "COL", *nothing),
        ("cannabis_trade", "ECU", *nothing),
        ("cannabis_trade", "PER", *nothing),
        ("cannabis_trade", "VEN", *nothing),
        ("cocaine_trade", "BRA", *nothing),
        ("cocaine_trade", "COL", 8, 3, "2025-Q2", 1.0, 80.0, 3, 8, 1.0, 0.5, 8),
        ("cocaine_trade", "ECU", *nothing),
        ("cocaine_trade", "PER", 5, 3, "2025", per, 50.0, 3, 5, per, 0.5, 5),
        ("cocaine_trade", "VEN", *nothing),
        ("heroin_trade", "BRA", *nothing),
        ("heroin_trade", "COL", *nothing),
        ("heroin_trade", "ECU", *nothing),
        ("heroin_trade", "PER", *nothing),
        ("heroin_trade", "VEN", *nothing),
    ]
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    assert not {"seizures_suppressed", "seizure_support_states"} & set(result.columns)


def test_eu_exposure_a_zero_and_a_thin_cell_are_indistinguishable() -> None:
    """No seizures at all (BRA), seizures from too few states (ECU: 20 from 2) and too few
    seizures (VEN: 3 from 3 states) publish the very same row: every drop figure null, no
    suppression flag, nothing that tells a zero from a thin cell. A cell at exactly the
    thresholds (PER: 5 seizures from 3 states) is published with its supports."""
    flows = [
        flow("ES", "2025-02", "PER", 2, quantity_kg=2.0),
        flow("NL", "2025-02", "PER", 2, quantity_kg=2.0),
        flow("DE", "2025-02", "PER", 1, quantity_kg=1.0),
        flow("ES", "2025-02", "ECU", 10),
        flow("NL", "2025-02", "ECU", 10),
        flow("ES", "2025-02", "VEN", 1),
        flow("NL", "2025-02", "VEN", 1),
        flow("DE", "2025-02", "VEN", 1),
    ]
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(flows=flows, countries=("BRA", "ECU", "PER", "VEN")),
        order_by="iso3",
    )
    rows = {row.pop("iso3"): row for row in records(result)}
    assert rows["BRA"] == rows["ECU"] == rows["VEN"]
    drop_columns = ("seizures", "seizure_states", "latest_seizure_period", "seizure_exposure",
                    "seizure_kg", "kg_states", "kg_records", "networks", "network_states",
                    "network_points", "high_threat_networks", "hvt_networks",
                    "network_exposure")  # fmt: skip
    assert {c: rows["BRA"][c] for c in drop_columns} == dict.fromkeys(drop_columns)
    assert [rows["BRA"][c] for c in ("eu_exposure", "coverage", "evidence")] == [None, 0.0, 0]
    assert {c: rows["PER"][c] for c in ("seizures", "seizure_states", "seizure_exposure",
                                        "seizure_kg", "kg_states", "kg_records",
                                        "eu_exposure", "evidence")} == approx(
        {"seizures": 5, "seizure_states": 3, "seizure_exposure": 1.0, "seizure_kg": 5.0,
         "kg_states": 3, "kg_records": 5, "eu_exposure": 1.0, "evidence": 5}
    )  # fmt: skip


def test_eu_exposure_publishes_the_mass_on_its_own_support() -> None:
    """seizure_kg rests on the seizures that have a mass (kg_records, from kg_states states):
    COL's 5 seizures from 3 states are published but only 1 has a mass, so its mass is not;
    ECU's 6 from 3 states are published, 5 with a mass but from 2 states only, so its mass
    is not; PER's 5, all with a mass from 3 states, publish the mass, rounded to the gram."""
    flows = [
        flow("ES", "2025-02", "COL", 3, quantity_kg=10.0, seizures_with_kg=1),
        flow("NL", "2025-02", "COL", 1),
        flow("DE", "2025-02", "COL", 1),
        flow("ES", "2025-02", "ECU", 3, quantity_kg=30.0),
        flow("NL", "2025-02", "ECU", 2, quantity_kg=20.0),
        flow("DE", "2025-02", "ECU", 1),
        flow("ES", "2025-02", "PER", 2, quantity_kg=0.1),
        flow("NL", "2025-02", "PER", 2, quantity_kg=0.2),
        flow("DE", "2025-02", "PER", 1, quantity_kg=0.0004),
    ]
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(flows=flows, countries=("COL", "ECU", "PER")),
        order_by="iso3",
    )
    ln = math.log
    columns = ("iso3", "seizures", "seizure_states", "seizure_exposure", "seizure_kg",
               "kg_states", "kg_records")  # fmt: skip
    expected = [
        ("COL", 5, 3, ln(6) / ln(7), None, None, None),
        ("ECU", 6, 3, 1.0, None, None, None),
        ("PER", 5, 3, ln(6) / ln(7), 0.3, 3, 5),
    ]
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    assert result["seizure_kg"].tolist()[2] == 0.3  # 0.1 + 0.2 + 0.0004, to the gram


def test_eu_exposure_counts_seizures_in_each_editions_window() -> None:
    """An edition's window runs from 1 January of the year before it to the next edition
    (the latest: open-ended), so windows of consecutive editions overlap by a year."""
    flows = [
        flow("ES", "2021-12", "COL", 1),
        flow("ES", "2022-03", "COL", 2),
        flow("ES", "2024-06", "COL", 4),
        flow("ES", "2025-05", "COL", 8),
    ]
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(flows=flows, editions=(2021, 2023, 2025), countries=("COL",)),
        parameters={"suppression.min_reporting_states": 1, "suppression.min_records": 1},
        order_by="year",
    )
    assert_rows(
        result,
        [
            {"year": 2021, "window_start": date(2020, 1, 1), "window_end": date(2023, 1, 1),
             "seizures": 3},
            {"year": 2023, "window_start": date(2022, 1, 1), "window_end": date(2025, 1, 1),
             "seizures": 6},
            {"year": 2025, "window_start": date(2024, 1, 1), "window_end": None,
             "seizures": 12},
        ],
    )  # fmt: skip


def network_and_flow_inputs() -> dict[str, str]:
    """Networks (one market, based in one country) of two states in the 2025 window and one
    before it, and UNODC cocaine figures of different ages; no seizures."""
    networks = [
        network("ES", "ES-A", "2024-05-01", base_iso3="COL", threat_level="high", hvt=True),
        network("NL", "NL-B", "2025-02-01", base_iso3="COL", threat_level="low"),
        network("NL", "NL-C", "2025-03-01", base_iso3="VEN", threat_level="high"),
        network("ES", "ES-D", "2024-07-01", base_iso3="ECU", threat_level="low"),
        network("ES", "ES-E", "2023-05-01", base_iso3="BRA", threat_level="very_high"),
    ]
    figures = [
        indicator("COL", "unodc.seizure.cocaine_type_kg", 2023, 999.0),
        indicator("COL", "unodc.seizure.cocaine_type_kg", 2019, 5.0),
        indicator("VEN", "unodc.seizure.cocaine_type_kg", 2024, 9.0),
        indicator("ECU", "unodc.seizure.cocaine_type_kg", 2020, 100.0),
        indicator("BRA", "unodc.seizure.cannabis_type_kg", 2024, 50.0),
    ]
    return exposure_inputs(
        networks=networks, indicators=figures, countries=("COL", "ECU", "VEN", "BRA")
    )


def test_eu_exposure_weights_networks_by_threat_and_reads_flows_through_the_crosswalk() -> None:
    """Networks count by threat points (low 1, high 3), log-scaled against the market's
    largest; a country with no network in the window (BRA: its only one is older) has no
    network figure, not 0; a UNODC figure counts for the market the crosswalk names, the
    latest at most 4 years old, log-scaled against the largest reported; eu_exposure
    rescales the weights of the components present (networks 0.3, flows 0.2)."""
    result = run_model(
        "intermediate/eu_exposure",
        network_and_flow_inputs(),
        parameters={"suppression.min_reporting_states": 1, "suppression.min_records": 1},
        order_by="iso3",
    )
    ln = math.log
    ven = (0.3 * ln(4) / ln(5) + 0.2 * ln(10) / ln(1000)) / 0.5
    columns = ("iso3", "networks", "network_states", "network_points", "high_threat_networks",
               "hvt_networks", "network_exposure", "flow_figures", "flow_exposure", "seizures",
               "eu_exposure", "coverage", "evidence")  # fmt: skip
    expected = [
        ("BRA", None, None, None, None, None, None, None, None, None, None, 0.0, 0),
        ("COL", 2, 2, 4, 1, 1, 1.0, 1, 1.0, None, 1.0, 0.5, 3),
        ("ECU", 1, 1, 1, 0, 0, ln(2) / ln(5), None, None, None, ln(2) / ln(5), 0.3, 1),
        ("VEN", 1, 1, 3, 1, 0, ln(4) / ln(5), 1, ln(10) / ln(1000), None, ven, 0.5, 2),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    col = records(result[result["iso3"] == "COL"], "flow_indicators")[0]["flow_indicators"]
    assert col == [{"indicator_id": "unodc.seizure.cocaine_type_kg", "value": 999.0, "year": 2023}]


def test_eu_exposure_suppresses_network_figures_on_too_few_states() -> None:
    """With the shipped thresholds (3 states, 5 records) no country's networks (from at most
    two states) are published, so every network figure is null and eu_exposure rests on
    the flows alone."""
    result = run_model("intermediate/eu_exposure", network_and_flow_inputs(), order_by="iso3")
    assert_rows(
        result,
        [
            {"iso3": "BRA", "networks": None, "network_states": None, "network_points": None,
             "network_exposure": None, "eu_exposure": None, "coverage": 0.0, "evidence": 0},
            {"iso3": "COL", "networks": None, "network_states": None, "network_points": None,
             "network_exposure": None, "eu_exposure": 1.0, "coverage": 0.2, "evidence": 1},
            {"iso3": "ECU", "networks": None, "network_states": None, "network_points": None,
             "network_exposure": None, "eu_exposure": None, "coverage": 0.0, "evidence": 0},
            {"iso3": "VEN", "networks": None, "network_states": None, "network_points": None,
             "network_exposure": None, "eu_exposure": 1 / 3, "coverage": 0.2, "evidence": 1},
        ],
    )  # fmt: skip


def test_eu_exposure_links_every_market_of_a_network_to_its_base_and_nationals() -> None:
    """A network counts for each of its principal markets in its base country and in each
    country whose nationals it counts (every pairing, each country once); a country linked
    to none in a market has no figure there (null, not 0)."""
    networks = [
        network("NL", "NL-A", "2025-02-01", base_iso3="COL", nationalities_iso3=["VEN"]),
        network(
            "ES", "ES-B", "2025-03-01",
            principal_markets=["cocaine_trade", "cannabis_trade"],
            base_iso3="ECU", nationalities_iso3=["COL", "ECU"],
        ),
    ]  # fmt: skip
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(
            networks=networks,
            markets=("cocaine_trade", "cannabis_trade"),
            countries=("COL", "ECU", "VEN"),
        ),
        parameters={"suppression.min_reporting_states": 1, "suppression.min_records": 1},
        order_by="market, iso3",
    )
    assert records(result, "market", "iso3", "networks") == [
        {"market": "cannabis_trade", "iso3": "COL", "networks": 1},
        {"market": "cannabis_trade", "iso3": "ECU", "networks": 1},
        {"market": "cannabis_trade", "iso3": "VEN", "networks": None},
        {"market": "cocaine_trade", "iso3": "COL", "networks": 2},
        {"market": "cocaine_trade", "iso3": "ECU", "networks": 1},
        {"market": "cocaine_trade", "iso3": "VEN", "networks": 1},
    ]


def test_eu_exposure_counts_a_reassessed_network_once_as_last_assessed() -> None:
    """ES assessed CO-1 as medium in its Q1 drop and as high in its Q2 drop: it counts once,
    as high (3 points, a high-threat network); NL's own CO-1 is another state's network and
    counts too."""
    networks = [
        network("ES", "CO-1", "2025-02-01", drop_id="es-2025-q1", threat_level="medium"),
        network("ES", "CO-1", "2025-05-01", drop_id="es-2025-q2", threat_level="high"),
        network("NL", "CO-1", "2025-03-01", drop_id="nl-2025-q1", threat_level="low"),
    ]
    result = run_model(
        "intermediate/eu_exposure",
        exposure_inputs(networks=networks, countries=("COL",)),
        parameters={"suppression.min_reporting_states": 1, "suppression.min_records": 1},
    )
    assert_rows(
        result,
        [{"iso3": "COL", "networks": 2, "network_states": 2, "network_points": 4,
          "high_threat_networks": 1, "hvt_networks": 0, "network_exposure": 1.0}],
    )  # fmt: skip


# -- threat scenarios ---------------------------------------------------------------------


def scenario_inputs() -> dict[str, str]:
    """2025 components (prevalence, exposure, vulnerability, trend change) of six rows:
    COL and MEX alike (a tie), ECU without exposure, BRA at exactly min_coverage, PER
    without prevalence, VEN below min_coverage, and COL's cannabis market."""
    t = "goci.market.cocaine_trade"
    return {
        "intermediate.eu_exposure": exposure_table(
            exposure_row("COL", 2025, 0.6),
            exposure_row("MEX", 2025, 0.6),
            exposure_row("ECU", 2025, None),
            exposure_row("BRA", 2025, None),
            exposure_row("PER", 2025, 0.9),
            exposure_row("VEN", 2025, None),
            exposure_row("COL", 2025, 0.0, market="cannabis_trade"),
        ),
        "marts.dim_market": dim_market("cocaine_trade", "cannabis_trade"),
        "intermediate.prevalence": prevalence_table(
            prevalence_row("COL", 2025, 0.8),
            prevalence_row("MEX", 2025, 0.8),
            prevalence_row("ECU", 2025, 0.5),
            prevalence_row("BRA", 2025, 0.3),
            prevalence_row("VEN", 2025, 0.6),
            prevalence_row("COL", 2025, 0.1, market="cannabis_trade"),
        ),
        "intermediate.vulnerability": vulnerability_table(
            vulnerability_row("COL", 2025, 0.5),
            vulnerability_row("MEX", 2025, 0.5),
            vulnerability_row("ECU", 2025, 0.7),
            vulnerability_row("BRA", 2025, 0.6),
            vulnerability_row("PER", 2025, 0.9),
        ),
        "intermediate.trend": trend_table(
            trend_row("COL", t, 2025, 5.0, 6.0),
            trend_row("MEX", t, 2025, 5.0, 6.0),
            trend_row("ECU", t, 2025, 5.0, 2.0),
            trend_row("PER", t, 2025, 5.0, 5.0),
        ),
    }


def test_threat_scenarios_base_score_coverage_and_ranks() -> None:
    """score = weighted mean of the components present (0.40/0.25/0.20/0.15 rescaled), trend
    = 0.5 + change / 4 within 0-1 and null without a change; no score without prevalence or
    below min_coverage 0.6 (exactly 0.6 scores); rank and market_rank share ties, mean_rank
    averages them; each row carries its components for the matrix."""
    result = run_model(
        "intermediate/threat_scenarios",
        scenario_inputs(),
        order_by="scenario, market desc, iso3",
    )
    base = result[result["scenario"] == "base"]
    col = 0.40 * 0.8 + 0.25 * 0.6 + 0.20 * 0.5 + 0.15 * 0.75
    ecu = (0.40 * 0.5 + 0.20 * 0.7 + 0.15 * 0.0) / 0.75
    bra = (0.40 * 0.3 + 0.20 * 0.6) / 0.60
    cannabis = (0.40 * 0.1 + 0.25 * 0.0 + 0.20 * 0.5) / 0.85
    columns = ("market", "iso3", "score", "coverage", "rank", "market_rank", "mean_rank",
               "prevalence_score", "trend", "trend_change", "trend_direction")  # fmt: skip
    expected = [
        ("cocaine_trade", "BRA", bra, 0.60, 4, 4, 4.0, 3.7, None, None, None),
        ("cocaine_trade", "COL", col, 1.0, 1, 1, 1.5, 8.2, 0.75, 1.0, "worsening"),
        ("cocaine_trade", "ECU", ecu, 0.75, 3, 3, 3.0, 5.5, 0.0, -3.0, "improving"),
        ("cocaine_trade", "MEX", col, 1.0, 1, 1, 1.5, 8.2, 0.75, 1.0, "worsening"),
        ("cocaine_trade", "PER", None, 0.60, None, None, None, None, 0.5, 0.0, "stable"),
        ("cocaine_trade", "VEN", None, 0.40, None, None, None, 6.4, None, None, None),
        ("cannabis_trade", "COL", cannabis, 0.85, 5, 1, 5.0, 1.9, None, None, None),
    ]
    assert_rows(base, [dict(zip(columns, row, strict=True)) for row in expected])


def test_threat_scenarios_move_each_weight_up_and_down_by_the_perturbation() -> None:
    """Nine scenarios: base and each component's weight times 1.2 (`+`) and 0.8 (`-`), one
    at a time, the score rescaling the weights present; coverage stays the base's (the
    share of the methodology's weights present) in every scenario."""
    result = run_model("intermediate/threat_scenarios", scenario_inputs())
    components = ("prevalence", "eu_exposure", "vulnerability", "trend")
    assert set(result["scenario"]) == {"base"} | {c + s for c in components for s in "+-"}
    assert (result.groupby("scenario").size() == 7).all()
    picked = result[result["iso3"].isin(["COL", "ECU"]) & (result["market"] == "cocaine_trade")]
    by_scenario = {
        (r["scenario"], r["iso3"]): r for r in records(picked, "scenario", "iso3", "varied_component",
                                                      "factor", "score", "coverage")
    }  # fmt: skip
    assert by_scenario[("prevalence+", "COL")] == pytest.approx(
        {"scenario": "prevalence+", "iso3": "COL", "varied_component": "prevalence",
         "factor": 1.2, "score": (0.48 * 0.8 + 0.25 * 0.6 + 0.2 * 0.5 + 0.15 * 0.75) / 1.08,
         "coverage": 1.0}
    )  # fmt: skip
    assert by_scenario[("trend-", "COL")] == pytest.approx(
        {"scenario": "trend-", "iso3": "COL", "varied_component": "trend", "factor": 0.8,
         "score": (0.4 * 0.8 + 0.25 * 0.6 + 0.2 * 0.5 + 0.12 * 0.75) / 0.97, "coverage": 1.0}
    )  # fmt: skip
    assert by_scenario[("prevalence+", "ECU")]["coverage"] == pytest.approx(0.75)
    assert by_scenario[("prevalence+", "ECU")]["score"] == pytest.approx(
        (0.48 * 0.5 + 0.2 * 0.7) / 0.83
    )


def test_threat_scenarios_score_the_same_rows_in_every_scenario() -> None:
    """Whether a row is scored is decided on the methodology's weights: BRA (prevalence and
    vulnerability only, coverage exactly 0.6) is scored in every scenario, even where its
    moved weights would leave it below 0.6 (prevalence-: 0.52 / 0.92, vulnerability-:
    0.56 / 0.96), the moved weights changing only its weighted mean; VEN (0.4) and PER (no
    prevalence) in none. Every row carries its components in every scenario."""
    result = run_model(
        "intermediate/threat_scenarios", scenario_inputs(), order_by="scenario, market, iso3"
    )
    scored = {
        scenario: sorted(zip(rows["iso3"], rows["market"], strict=True))
        for scenario, rows in result[result["score"].notna()].groupby("scenario")
    }
    assert len(scored) == 9
    expected = [("BRA", "cocaine_trade"), ("COL", "cannabis_trade"), ("COL", "cocaine_trade"),
                ("ECU", "cocaine_trade"), ("MEX", "cocaine_trade")]  # fmt: skip
    assert all(rows == expected for rows in scored.values()), scored
    bra = result[(result["iso3"] == "BRA")].set_index("scenario")
    assert bra["coverage"].tolist() == pytest.approx([0.6] * 9)
    assert bra["rank"].notna().all()
    assert bra.loc["prevalence-", "score"] == pytest.approx((0.32 * 0.3 + 0.2 * 0.6) / 0.52)
    assert bra.loc["vulnerability-", "score"] == pytest.approx((0.4 * 0.3 + 0.16 * 0.6) / 0.56)
    assert bra.loc["eu_exposure+", "score"] == pytest.approx((0.4 * 0.3 + 0.2 * 0.6) / 0.6)
    components = ["prevalence", "prevalence_score", "eu_exposure", "vulnerability", "trend",
                  "trend_change", "trend_direction"]  # fmt: skip
    for _, rows in result.groupby("scenario"):
        assert records(rows, "iso3", "market", *components) == records(
            result[result["scenario"] == "base"], "iso3", "market", *components
        )


def run_model_with_settings(
    name: str, inputs: Mapping[str, str], settings: Iterable[str], *, order_by: str
) -> pd.DataFrame:
    """run_model (tests/model_harness.py) with DuckDB `settings` (`SET threads = 8`, ...)
    executed on its connection first: the same tables, parameters and SELECT."""
    sql_model = model(name)
    missing = sorted(set(sql_model.depends_on) - set(inputs))
    if missing:
        raise AssertionError(f"{name} reads {', '.join(missing)}: give them to the runner")
    with duckdb.connect(":memory:") as con:
        for setting in settings:
            con.execute(setting)
        for table_name, select in inputs.items():
            con.execute(f"create schema if not exists {quote_ident(table_name.split('.')[0])}")
            con.execute(f"create table {qualified(table_name)} as {select}")
        bind_parameters(con, sql_model.parameters)
        sql = sql_model.sql.strip().rstrip(";")
        return con.execute(f"select * from ({sql}) order by {order_by}").df()


TIE_MARKETS = ("cocaine_trade", "cannabis_trade", "heroin_trade", "arms_trafficking",
               "human_trafficking")  # fmt: skip


def tied_scenario_inputs(countries: int = 400) -> dict[str, str]:
    """threat_scenarios' inputs for `countries` x 5 markets in 2025, their components drawn
    from a few values that are not exact in binary (prevalence 0.1/0.3/0.7, exposure
    0.2/0.6/0.35 or none, vulnerability 0.35/0.55/0.45, trend change -0.3/0.7 or none):
    about a hundred combinations, so each score is shared by some twenty rows spread
    across the table."""
    markets = ", ".join(f"('{m}', {j})" for j, m in enumerate(TIE_MARKETS))
    cells = f"""
        select 'C' || lpad(i::varchar, 4, '0') as iso3, m.market, i, m.j
        from range({countries}) as r (i)
        cross join (values {markets}) as m (market, j)
    """
    return {
        "intermediate.eu_exposure": f"""
            select iso3, market, 2025::integer as year,
                ([0.2, 0.6, null, 0.35]::double[])[1 + (i * 7 + j * 3) % 4] as eu_exposure,
                3::bigint as evidence
            from ({cells})
        """,
        "marts.dim_market": dim_market(*TIE_MARKETS),
        "intermediate.prevalence": f"""
            select iso3, market, 2025::integer as year, p as prevalence, 1 + 9 * p as score
            from (
                select *, ([0.1, 0.3, 0.7]::double[])[1 + (i * 5 + j) % 3] as p
                from ({cells})
            )
        """,
        "intermediate.vulnerability": f"""
            select 'C' || lpad(i::varchar, 4, '0') as iso3, 2025::integer as year,
                ([0.35, 0.55, 0.45]::double[])[1 + i % 3] as vulnerability,
                2::integer as evidence
            from range({countries}) as r (i)
        """,
        "intermediate.trend": f"""
            select iso3, 'goci.market.' || market as indicator_id, 2025::integer as year,
                change,
                case when abs(change) < 0.5 then 'stable' when change > 0 then 'worsening'
                    else 'improving' end as trend
            from (
                select *, ([-0.3, 0.7, null]::double[])[1 + (i * 11 + j) % 3] as change
                from ({cells})
            )
            where change is not null
        """,
    }


def test_threat_scenarios_rank_ties_alike_in_every_run_on_many_threads() -> None:
    """Scores are list sums in a fixed order, so on 8 threads two runs give the same bits,
    and rows whose components are equal have equal scores, hence one shared rank (and
    market rank, and mean rank) however the rows were split among the threads."""
    inputs = tied_scenario_inputs()
    order = "scenario, iso3, market"
    runs = [
        run_model_with_settings(
            "intermediate/threat_scenarios", inputs, ["SET threads = 8"], order_by=order
        )
        for _ in range(2)
    ]
    assert len(runs[0]) == 9 * 400 * 5
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)

    scored = runs[0][runs[0]["score"].notna()]
    assert len(scored) > 9 * 1000  # most rows are scored: the ties are real
    components = ["prevalence", "eu_exposure", "vulnerability", "trend"]
    for scenario, rows in scored.groupby("scenario"):
        tie_groups = rows.groupby(components, dropna=False)
        assert tie_groups.size().min() > 1, scenario  # every score is a tie
        assert (tie_groups["score"].nunique() == 1).all(), scenario
        assert (tie_groups["rank"].nunique() == 1).all(), scenario
        assert (tie_groups["mean_rank"].nunique() == 1).all(), scenario
        # rank = 1 + rows scored strictly higher (ties share it, the next rank skips)
        scores = np.sort(rows["score"].to_numpy())
        higher = len(scores) - np.searchsorted(scores, rows["score"].to_numpy(), side="right")
        assert (rows["rank"].to_numpy() == 1 + higher).all(), scenario
        by_market = rows.groupby(["market", *components], dropna=False)
        assert (by_market["market_rank"].nunique() == 1).all(), scenario


# -- threat matrix ------------------------------------------------------------------------


def test_threat_matrix_keeps_every_base_row_with_its_components_and_confidence() -> None:
    """Only the base scenario; every row kept, unscored ones graded D; confidence A at full
    coverage, B from 0.8, C from 0.6 (inclusive); components and their evidence as scored;
    prevalence_evidence 1 and trend_evidence 2 when present; is_latest_year marks the
    latest edition."""

    def scored(iso3: str, year: int, score: float | None, rank: int | None, coverage: float,
               prevalence: float | None, exposure: float | None, exposure_evidence: int,
               vulnerability: float | None, vulnerability_evidence: int | None,
               change: float | None, direction: str | None) -> Row:  # fmt: skip
        return scenario_row(
            iso3, year, score, rank, coverage=coverage, prevalence=prevalence,
            prevalence_score=None if prevalence is None else 1 + 9 * prevalence,
            eu_exposure=exposure, exposure_evidence=exposure_evidence,
            vulnerability=vulnerability, vulnerability_evidence=vulnerability_evidence,
            trend=None if change is None else min(1.0, max(0.0, 0.5 + change / 4)),
            trend_change=change, trend_direction=direction,
        )  # fmt: skip

    result = run_model(
        "marts/threat_matrix",
        {
            "intermediate.threat_scenarios": threat_scenarios(
                scored("COL", 2025, 0.70, 1, 1.0, 0.8, 0.6, 12, 0.5, 4, 1.0, "worsening"),
                scored("ECU", 2025, 0.45, 2, 0.85, 0.5, None, 0, 0.7, 3, -3.0, "improving"),
                scored("PER", 2025, 0.40, 3, 0.75, None, 0.9, 3, 0.9, 5, None, None),
                scored("VEN", 2025, None, None, 0.40, 0.6, None, 0, None, None, None, None),
                scored("COL", 2023, 0.60, 1, 0.60, 0.7, 0.5, 4, None, 0, 0.5, "worsening"),
                scenario_row("COL", 2025, 0.75, 1, scenario="trend+"),
            ),
        },
        order_by="year, iso3, market",
    )
    columns = ("year", "iso3", "score", "rank", "confidence", "coverage", "prevalence",
               "prevalence_score", "eu_exposure", "vulnerability", "trend", "trend_change",
               "trend_direction", "prevalence_evidence", "exposure_evidence",
               "vulnerability_evidence", "trend_evidence", "is_latest_year")  # fmt: skip
    expected = [
        (2023, "COL", 0.60, 1, "C", 0.60, 0.7, 7.3, 0.5, None, 0.625, 0.5, "worsening",
         1, 4, 0, 2, False),
        (2025, "COL", 0.70, 1, "A", 1.0, 0.8, 8.2, 0.6, 0.5, 0.75, 1.0, "worsening",
         1, 12, 4, 2, True),
        (2025, "ECU", 0.45, 2, "B", 0.85, 0.5, 5.5, None, 0.7, 0.0, -3.0, "improving",
         1, 0, 3, 2, True),
        (2025, "PER", 0.40, 3, "C", 0.75, None, None, 0.9, 0.9, None, None, None,
         0, 3, 5, 0, True),
        (2025, "VEN", None, None, "D", 0.40, 0.6, 6.4, None, None, None, None, None,
         1, 0, None, 0, True),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])


# -- sensitivity --------------------------------------------------------------------------


def test_sensitivity_compares_each_scenario_ranking_with_the_base() -> None:
    """An unchanged ranking gives spearman 1 and top_n_overlap 1; a perturbation that brings
    PER into the top 2 and pushes ECU out gives spearman 0.4 (ranks 1234 vs 2314), overlap
    0.5, entered [PER], left [ECU], max_rank_shift 1. Unscored rows are left out."""
    base = [("COL", 0.9, 1), ("ECU", 0.8, 2), ("PER", 0.7, 3), ("VEN", 0.6, 4), ("BRA", None, None)]
    same = [("COL", 0.95, 1), ("ECU", 0.85, 2), ("PER", 0.75, 3), ("VEN", 0.65, 4),
            ("BRA", None, None)]  # fmt: skip
    reordered = [("COL", 0.8, 2), ("ECU", 0.7, 3), ("PER", 0.9, 1), ("VEN", 0.6, 4),
                 ("BRA", None, None)]  # fmt: skip
    rows = [
        *(scenario_row(iso3, 2025, score, rank) for iso3, score, rank in base),
        *(scenario_row(i, 2025, s, r, scenario="trend+") for i, s, r in same),
        *(scenario_row(i, 2025, s, r, scenario="prevalence-") for i, s, r in reordered),
    ]
    result = run_model(
        "marts/sensitivity",
        {"intermediate.threat_scenarios": threat_scenarios(*rows)},
        parameters={"sensitivity.top_n": 2},
    )
    assert_rows(
        result,
        [
            {"scenario": "prevalence-", "varied_component": "prevalence", "factor": 0.8,
             "year": 2025, "base_weight": 0.40, "weight": 0.32, "scored_pairs": 4,
             "base_scored_pairs": 4, "spearman": 0.4, "top_n": 2, "top_n_overlap": 0.5,
             "entered_top_n": ["PER:cocaine_trade"], "left_top_n": ["ECU:cocaine_trade"],
             "max_rank_shift": 1},
            {"scenario": "trend+", "varied_component": "trend", "factor": 1.2, "year": 2025,
             "base_weight": 0.15, "weight": 0.18, "scored_pairs": 4,
             "base_scored_pairs": 4, "spearman": 1.0,
             "top_n": 2, "top_n_overlap": 1.0, "entered_top_n": [], "left_top_n": [],
             "max_rank_shift": 0},
        ],
    )  # fmt: skip


def test_sensitivity_of_the_scenarios_compares_the_same_rows_as_the_base() -> None:
    """On threat_scenarios' own output every scenario ranks the base's scored rows (BRA at
    coverage 0.6 included, though prevalence- and vulnerability- would leave it below
    0.6): scored_pairs = base_scored_pairs = 5 in all eight scenarios."""
    scenarios = run_model("intermediate/threat_scenarios", scenario_inputs())
    result = run_model(
        "marts/sensitivity",
        {"intermediate.threat_scenarios": scenarios},
        order_by="scenario",
    )
    assert len(result) == 8
    assert result["scored_pairs"].tolist() == [5] * 8
    assert result["base_scored_pairs"].tolist() == result["scored_pairs"].tolist()


# -- regional overview --------------------------------------------------------------------


def test_regional_overview_summarises_each_region() -> None:
    """Per region, market and year: countries and countries_scored, mean/median/max score,
    the top three (score desc, then iso3), means of the components present, worsening and
    improving counts, countries_exposed (an EU-exposure component present, a zero
    included); no seizure or network sums (a seizure or network counts for several
    countries); countries without a region are left out."""
    result = run_model(
        "marts/regional_overview",
        {
            "marts.threat_matrix": threat_matrix(
                matrix_row("COL", 2025, 0.7, 1, prevalence=0.8, eu_exposure=0.6,
                           vulnerability=0.5, trend_direction="worsening"),
                matrix_row("ECU", 2025, 0.5, 3, prevalence=0.5, vulnerability=0.7,
                           trend_direction="improving"),
                matrix_row("PER", 2025, 0.6, 2, vulnerability=0.9, trend_direction="stable"),
                matrix_row("VEN", 2025, None, prevalence=0.6, eu_exposure=0.0,
                           trend_direction="worsening"),
                matrix_row("BRA", 2025, 0.5, 3, prevalence=0.2, vulnerability=0.8),
                matrix_row("MAR", 2025, None),
                matrix_row("ATA", 2025, 0.3, 6),
            ),
            "marts.dim_country": dim_country(
                "COL", "ECU", "PER", "VEN", "BRA", country("MAR", region="Africa"),
                country("ATA", region=None),
            ),
        },
    )  # fmt: skip
    assert_rows(
        result,
        [
            {"region": "Africa", "market": "cocaine_trade", "year": 2025, "countries": 1,
             "countries_scored": 0, "mean_score": None, "median_score": None,
             "max_score": None, "top_countries": [], "mean_prevalence": None,
             "mean_eu_exposure": None, "mean_vulnerability": None, "worsening": 0,
             "improving": 0, "countries_exposed": 0},
            {"region": "Americas", "market": "cocaine_trade", "year": 2025, "countries": 5,
             "countries_scored": 4, "mean_score": 0.575, "median_score": 0.55,
             "max_score": 0.7,
             "top_countries": [{"iso3": "COL", "score": 0.7, "rank": 1},
                               {"iso3": "PER", "score": 0.6, "rank": 2},
                               {"iso3": "BRA", "score": 0.5, "rank": 3}],
             "mean_prevalence": 0.525, "mean_eu_exposure": 0.3, "mean_vulnerability": 0.725,
             "worsening": 2, "improving": 1, "countries_exposed": 2},
        ],
    )  # fmt: skip
    assert not {"seizures", "seizure_kg", "networks", "countries_suppressed"} & set(result.columns)


# -- country profile ----------------------------------------------------------------------


def test_country_profile_of_the_latest_year() -> None:
    """As of the latest year: top three markets (score desc, then market), max score, best
    rank, markets scored; GI-TOC headline scores and actors (highest first, then label) with
    their changes; vulnerability measures; published seizures and their mass summed over
    markets (a null adds nothing; the mass rounded to the gram), no network sum; markets
    exposed, the most exposed one, worsening and improving."""
    pillars = [{"indicator_id": "goci.resilience.law_enforcement", "pillar": "Law enforcement",
                "score": 2.5}]  # fmt: skip
    actors = ("criminal_networks", "foreign_actors", "mafia_style_groups")
    headline = ("criminality", "criminal_markets", "criminal_actors", "resilience")
    result = run_model(
        "marts/country_profile",
        {
            "marts.threat_matrix": threat_matrix(
                matrix_row("COL", 2025, 0.70, 1, "cocaine_trade", eu_exposure=0.6,
                           trend_direction="worsening"),
                matrix_row("COL", 2025, 0.40, 5, "cannabis_trade", confidence="B",
                           eu_exposure=0.8, trend_direction="improving"),
                matrix_row("COL", 2025, 0.55, 3, "heroin_trade", confidence="C",
                           eu_exposure=0.0, trend_direction="worsening"),
                matrix_row("COL", 2025, None, None, "arms_trafficking"),
                matrix_row("COL", 2025, 0.40, 5, "synthetic_drug_trade", confidence="B",
                           trend_direction="stable"),
                matrix_row("COL", 2023, 0.90, 1, "cocaine_trade", eu_exposure=0.9),
                matrix_row("ECU", 2025, None, None, "cocaine_trade"),
            ),
            "marts.dim_market": dim_market("cocaine_trade", "cannabis_trade", "heroin_trade",
                                           "arms_trafficking", "synthetic_drug_trade"),
            "intermediate.eu_exposure": exposure_table(
                exposure_row("COL", 2025, 0.6, seizures=8, seizure_kg=80.1234),
                exposure_row("COL", 2025, 0.8, "cannabis_trade"),
                exposure_row("COL", 2025, 0.0, "heroin_trade", seizures=5, seizure_kg=0.2),
                exposure_row("COL", 2023, 0.9, seizures=100, seizure_kg=1000.0),
                exposure_row("ECU", 2025),
            ),
            "marts.fct_indicator": fct_indicator(
                indicator("COL", "goci.criminality", 2025, 6.5),
                indicator("COL", "goci.criminal_markets", 2025, 7.0),
                indicator("COL", "goci.criminal_actors", 2025, 6.0),
                indicator("COL", "goci.resilience", 2025, 4.0),
                indicator("COL", "goci.actor.criminal_networks", 2025, 8.0),
                indicator("COL", "goci.actor.foreign_actors", 2025, 5.0),
                indicator("COL", "goci.actor.mafia_style_groups", 2025, 8.0),
                indicator("COL", "goci.criminality", 2023, 6.0),
            ),
            "marts.dim_indicator": dim_indicator(
                *(f"goci.{h}" for h in headline), *(f"goci.actor.{a}" for a in actors)
            ),
            "intermediate.trend": trend_table(
                trend_row("COL", "goci.criminality", 2025, 6.0, 6.5),
                trend_row("COL", "goci.resilience", 2025, 4.5, 4.0),
                trend_row("COL", "goci.criminality", 2023, 5.0, 6.0, is_latest=False),
            ),
            "intermediate.vulnerability": vulnerability_table(
                vulnerability_row("COL", 2025, 0.61, weakest_pillars=pillars, wgi_cc=-0.5,
                                  wgi_rl=0.0, cpi_score=35.0, fatf_list="increased_monitoring"),
                vulnerability_row("COL", 2023, 0.7),
            ),
            "marts.dim_country": dim_country(
                country("COL", name="Colombia", subregion="South America"), "ECU"
            ),
        },
    )  # fmt: skip
    assert_rows(
        result,
        [
            {"iso3": "COL", "name": "Colombia", "region": "Americas",
             "subregion": "South America", "year": 2025,
             "top_markets": [
                 {"market": "cocaine_trade", "label": "Cocaine trade", "score": 0.70,
                  "rank": 1, "confidence": "A"},
                 {"market": "heroin_trade", "label": "Heroin trade", "score": 0.55,
                  "rank": 3, "confidence": "C"},
                 {"market": "cannabis_trade", "label": "Cannabis trade", "score": 0.40,
                  "rank": 5, "confidence": "B"},
             ],
             "max_score": 0.70, "best_rank": 1, "markets_scored": 4, "criminality": 6.5,
             "criminality_change": 0.5, "criminal_markets_score": 7.0,
             "criminal_actors_score": 6.0,
             "actors": [{"actor": "Criminal networks", "score": 8.0},
                        {"actor": "Mafia style groups", "score": 8.0},
                        {"actor": "Foreign actors", "score": 5.0}],
             "resilience": 4.0, "resilience_change": -0.5, "weakest_pillars": pillars,
             "wgi_cc": -0.5, "wgi_rl": 0.0, "cpi_score": 35.0,
             "fatf_list": "increased_monitoring", "vulnerability": 0.61, "seizures": 13,
             "seizure_kg": 80.323, "markets_exposed": 3,
             "top_exposure_market": "cannabis_trade", "markets_worsening": 2,
             "markets_improving": 1},
            {"iso3": "ECU", "name": "Country ECU", "region": "Americas", "subregion": None,
             "year": 2025, "top_markets": [], "max_score": None, "best_rank": None,
             "markets_scored": 0, "criminality": None, "criminality_change": None,
             "criminal_markets_score": None, "criminal_actors_score": None, "actors": [],
             "resilience": None, "resilience_change": None, "weakest_pillars": None,
             "wgi_cc": None, "wgi_rl": None, "cpi_score": None, "fatf_list": None,
             "vulnerability": None, "seizures": None, "seizure_kg": None,
             "markets_exposed": 0, "top_exposure_market": None, "markets_worsening": 0,
             "markets_improving": 0},
        ],
    )  # fmt: skip
    assert result["seizure_kg"].tolist()[0] == 80.323  # 80.1234 + 0.2, to the gram exactly
    assert "networks" not in result.columns


# -- network priority ---------------------------------------------------------------------


def test_network_priority_scores_factors_with_rescaled_weights_tiers_and_ranks() -> None:
    """Factors: size by band, reach up to 8 countries, markets up to 3, the three uses as
    reported, laundering methods up to 3, threat level; a factor not reported (unknown band,
    no threat level, corruption null, a null list) is left out and the other weights
    rescaled, an empty list counts 0; tiers priority >= 0.7, elevated >= 0.5; equal scores
    share a rank."""
    ten = ["COL", "ECU", "PER", "VEN", "BRA", "MEX", "PAN", "ESP", "NLD", "BEL"]
    mid = dict(member_count_band="11-50", countries_active_iso3=ten[:4], uses_violence=True,
               uses_corruption=None, threat_level="medium")  # fmt: skip
    result = run_model(
        "marts/network_priority",
        {
            "marts.fct_network": fct_network(
                network("NL", "NL-2", "2025-01-10", **mid),
                network("ES", "ES-1", "2025-02-01", member_count_band=">500",
                        countries_active_iso3=ten,
                        principal_markets=["cocaine_trade", "cannabis_trade", "heroin_trade"],
                        uses_legal_business=True, uses_violence=True, uses_corruption=True,
                        money_laundering_methods=["real estate", "hawala", "crypto"],
                        threat_level="very_high", hvt=True),
                network("NL", "NL-4", "2025-01-12", **mid),
                network("DE", "DE-3", "2025-03-01", member_count_band="unknown",
                        countries_active_iso3=ten[:6],
                        principal_markets=["cocaine_trade", "heroin_trade"],
                        uses_legal_business=True, uses_corruption=True,
                        money_laundering_methods=["real estate", "hawala"], threat_level=None),
                network("BE", "BE-5", "2025-03-02", member_count_band="1-10",
                        countries_active_iso3=None, principal_markets=None,
                        money_laundering_methods=None, threat_level="low"),
            )
        },
    )  # fmt: skip
    mid_score = (0.15 * 0.3 + 0.15 * 0.5 + 0.10 / 3 + 0.15 * 1.0 + 0.15 * 0.5) / 0.90
    de_score = (0.15 * 0.75 + 0.10 * 2 / 3 + 0.10 + 0.10 + 0.10 * 2 / 3) / 0.70
    be_score = (0.15 * 0.1 + 0.15 * 0.25) / 0.65
    columns = ("reporting_state", "network_ref", "size_factor", "reach_factor",
               "markets_factor", "legal_business_factor", "violence_factor",
               "corruption_factor", "money_laundering_factor", "threat_level_factor",
               "factors", "priority_score", "priority_rank", "tier", "hvt")  # fmt: skip
    expected = [
        ("ES", "ES-1", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 8, 1.0, 1, "priority", True),
        ("DE", "DE-3", None, 0.75, 2 / 3, 1.0, 0.0, 1.0, 2 / 3, None, 6, de_score, 2,
         "elevated", False),
        ("NL", "NL-2", 0.3, 0.5, 1 / 3, 0.0, 1.0, None, 0.0, 0.5, 7, mid_score, 3,
         "monitored", False),
        ("NL", "NL-4", 0.3, 0.5, 1 / 3, 0.0, 1.0, None, 0.0, 0.5, 7, mid_score, 3,
         "monitored", False),
        ("BE", "BE-5", 0.1, None, None, 0.0, 0.0, 0.0, None, 0.25, 5, be_score, 5,
         "monitored", False),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])


def test_network_priority_ranks_a_reassessed_network_once_as_last_assessed() -> None:
    """ES assessed CO-1 as medium in its Q1 drop and as high in its Q2 drop: one row, the Q2
    assessment's; NL-7, assessed the same day in two drops, keeps the later drop's (by
    drop_id). Factors otherwise the defaults: size 0.3, reach 1/8, markets 1/3, none of the
    uses, no laundering method."""
    result = run_model(
        "marts/network_priority",
        {
            "marts.fct_network": fct_network(
                network("ES", "CO-1", "2025-02-01", drop_id="es-2025-q1", period="2025-Q1",
                        threat_level="medium"),
                network("ES", "CO-1", "2025-05-01", drop_id="es-2025-q2", period="2025-Q2",
                        threat_level="high"),
                network("NL", "NL-7", "2025-03-01", drop_id="nl-2025-a", threat_level="low"),
                network("NL", "NL-7", "2025-03-01", drop_id="nl-2025-b",
                        threat_level="very_high"),
            )
        },
    )  # fmt: skip
    common = 0.15 * 0.3 + 0.15 / 8 + 0.10 / 3
    assert_rows(
        result,
        [
            {"drop_id": "nl-2025-b", "reporting_state": "NL", "network_ref": "NL-7",
             "assessment_date": date(2025, 3, 1), "threat_level": "very_high",
             "threat_level_factor": 1.0, "priority_score": common + 0.15, "priority_rank": 1,
             "period": "2025"},
            {"drop_id": "es-2025-q2", "reporting_state": "ES", "network_ref": "CO-1",
             "assessment_date": date(2025, 5, 1), "threat_level": "high",
             "threat_level_factor": 0.75, "priority_score": common + 0.15 * 0.75,
             "priority_rank": 2, "period": "2025-Q2"},
        ],
    )  # fmt: skip


# -- methodology --------------------------------------------------------------------------


def test_methodology_passes_every_parameter_through_ordered_by_name() -> None:
    """One row per parameter, every column as raw.methodology holds it, ordered by name."""
    rows = [
        parameter("trend.stable_band", [{"family": "goci", "points": 0.5}]),
        parameter("exposure.window_years", 2),
        parameter("threat_score.weights.prevalence", 0.4),
    ]
    result = run_model("marts/methodology", {"raw.methodology": raw_methodology(*rows)})
    assert records(result) == sorted(rows, key=lambda row: row["parameter"])
