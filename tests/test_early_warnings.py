"""marts.early_warnings (sql/marts/early_warnings.sql) on small hand-made inputs: each of its
four rules (seizure spikes, governance deterioration, FATF listings, news surges) fires
exactly the warnings its header promises, and nothing on noise, thin evidence, delistings
or EU countries. Shipped thresholds (assets/methodology.yaml, early_warning.*) throughout.

Seizure spikes are judged per reporting state against its own trailing covered months; a
month is covered while one of the state's drops spans it (its first seizure to its last), so
each series here comes with the rows that make its drop span the months it covers. Input
builders are those of tests/test_analytic_models.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import pandas as pd
import pytest
from model_harness import run_model
from test_analytic_models import (
    Row,
    approx,
    assert_rows,
    country,
    dim_country,
    dim_indicator,
    dim_market,
    event,
    fct_event,
    fct_indicator,
    flow,
    indicator,
    records,
    seizure,
    seizure_flows,
    staging_seizures,
    trend_row,
    trend_table,
)

COUNTRIES = ("COL", "ECU", "PER", "VEN", "MEX", "PAN", "ESP", "NLD")
MARKETS = ("cocaine_trade", "cannabis_trade", "human_trafficking")
GOVERNANCE = (
    "goci.resilience",
    "goci.resilience.judicial_system",
    "wgi.cc.estimate",
    "wgi.rl.estimate",
    "wgi.ge.estimate",
    "cpi.score",
)
#: a quiet year of seizures from one origin: median 1, MAD 0 (so the spread is mad_floor)
QUIET_YEAR = [1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1]


def as_input(data: Iterable[Row] | pd.DataFrame, builder: Callable[..., str]) -> str | pd.DataFrame:
    """A model's result frame as it is, or rows through their table builder."""
    return data if isinstance(data, pd.DataFrame) else builder(*data)


def early_warnings(
    *,
    flows: Iterable[Row] | pd.DataFrame = (),
    trends: Iterable[Row] | pd.DataFrame = (),
    events: Iterable[Row] = (),
    countries: Iterable[str | Row] = COUNTRIES,
) -> pd.DataFrame:
    """marts.early_warnings over the given seizure flows, trend rows and events (rows, or a
    model's result frame)."""
    return run_model(
        "marts/early_warnings",
        {
            "intermediate.seizure_flows": as_input(flows, seizure_flows),
            "intermediate.trend": as_input(trends, trend_table),
            "marts.fct_event": fct_event(*events),
            "marts.dim_country": dim_country(*countries),
            "marts.dim_market": dim_market(*MARKETS),
            "marts.dim_indicator": dim_indicator(*GOVERNANCE),
        },
    )


def months(start: str, count: int) -> list[str]:
    """`count` consecutive months from `start` (`2024-01`), as `YYYY-MM`."""
    year, month = map(int, start.split("-"))
    return [f"{year + (month - 1 + i) // 12}-{(month - 1 + i) % 12 + 1:02d}" for i in range(count)]


def monthly(
    state: str, iso3: str, counts: list[int], start: str = "2024-01", **overrides: Any
) -> list[Row]:
    """A state's seizures from origin `iso3`, a month each from `start` (no row for a zero)."""
    return [
        flow(state, month, iso3, count, **overrides)
        for month, count in zip(months(start, len(counts)), counts, strict=True)
        if count
    ]


def covered(state: str, first: str, last: str, **overrides: Any) -> list[Row]:
    """Rows that make the state's drop span `first` to `last` month: one seizure from PAN in
    each (too few to raise anything)."""
    return [flow(state, first, "PAN", 1, **overrides), flow(state, last, "PAN", 1, **overrides)]


def signal_ids(result: pd.DataFrame) -> list[str]:
    return result["signal_id"].tolist()


# -- seizure spikes -----------------------------------------------------------------------


@pytest.mark.parametrize(("spike", "severity"), [(5, "medium"), (12, "high")])
def test_a_planted_spike_fires_exactly_its_warning(spike: int, severity: str) -> None:
    """A month of at least min_count (5), 3x the baseline median and 4 robust SDs above it
    fires one warning for origin, market and month, high from 6x the baseline, marked as
    the drop is; the quiet months around it fire nothing."""
    series = [*QUIET_YEAR, spike, 1, 2]
    result = early_warnings(flows=monthly("ES", "COL", series, marking="amber"))
    assert_rows(
        result,
        [
            {"signal_id": "seizure_spike:COL:cocaine_trade:2025-01", "rule": "seizure_spike",
             "detected_at": date(2025, 1, 1), "iso3": "COL", "market": "cocaine_trade",
             "severity": severity, "value": float(spike), "threshold": 3.0,
             "source": "member-state drops", "marking": "amber",
             "headline": f"Cocaine trade: seizures entering the EU from Country COL surged in "
                         f"January 2025 ({spike}, up to {spike}.0x the usual month, "
                         f"1 reporting state)"},
        ],
    )  # fmt: skip
    assert json.loads(result["evidence"][0]) == approx(
        {"month": "2025-01", "seizures": spike,
         "states": [{"reporting_state": "ES", "seizures": spike, "baseline_median": 1.0,
                     "baseline_mad": 0.5, "baseline_months": 12,
                     "robust_z": (spike - 1) / (1.4826 * 0.5)}]}
    )  # fmt: skip


@pytest.mark.parametrize(
    "series",
    [
        pytest.param([3, 7] * 12, id="alternating"),
        pytest.param([10, 13, 15, 16, 15, 13, 10, 7, 5, 4, 5, 7] * 2, id="sinusoidal"),
    ],
)
def test_seasonal_noise_fires_nothing(series: list[int]) -> None:
    """Two years of a series swinging within the usual range never reach 3x its median."""
    assert early_warnings(flows=monthly("ES", "COL", series)).empty


@pytest.mark.parametrize(("outlier", "fires"), [(4, False), (5, True)])
def test_a_single_outlier_below_min_count_fires_nothing(outlier: int, fires: bool) -> None:
    """After a covered year of zeros, 4 seizures in a month raise nothing (below min_count
    5), while 5 do: from a baseline of none there is no ratio, so the value is null, the
    severity high (as large a jump as can be) and the headline says a month usually has
    none."""
    flows = [*covered("ES", "2024-01", "2025-03"), flow("ES", "2025-01", "COL", outlier)]
    result = early_warnings(flows=flows)
    expected = ["seizure_spike:COL:cocaine_trade:2025-01"] if fires else []
    assert signal_ids(result) == expected
    if fires:
        assert_rows(
            result,
            [{"severity": "high", "value": None, "threshold": 3.0,
              "headline": "Cocaine trade: seizures entering the EU from Country COL surged in "
                          "January 2025 (5, where a month usually has none, 1 reporting "
                          "state)"}],
        )  # fmt: skip
        states = json.loads(result["evidence"][0])["states"]
        assert [(s["seizures"], s["baseline_median"]) for s in states] == [(5, 0.0)]


@pytest.mark.parametrize(("first_month", "fires"), [("2025-04", False), ("2024-01", True)])
def test_a_state_that_starts_reporting_raises_nothing(first_month: str, fires: bool) -> None:
    """NL's first drop spans April-June 2025: its 20 seizures in June rest on two covered
    months (< min_baseline_months 6), however long ES has reported; had NL's drop covered
    the year before (as zeros), the same month would fire."""
    flows = [
        *monthly("ES", "COL", [*QUIET_YEAR, *QUIET_YEAR[:6]]),
        *covered("NL", first_month, "2025-06"),
        flow("NL", "2025-06", "COL", 20),
    ]
    result = early_warnings(flows=flows)
    assert signal_ids(result) == (["seizure_spike:COL:cocaine_trade:2025-06"] if fires else [])
    if fires:
        states = json.loads(result["evidence"][0])["states"]
        assert [s["reporting_state"] for s in states] == ["NL"]


def test_states_spiking_in_the_same_month_make_one_warning_marked_as_the_highest() -> None:
    """Two states' spikes from one origin in one month are one warning: seizures summed, the
    largest ratio, every state named, the highest marking of their drops."""
    flows = [
        *monthly("ES", "COL", [*QUIET_YEAR, 8], marking="amber"),
        *monthly("NL", "COL", [*QUIET_YEAR, 10], marking="red"),
    ]
    result = early_warnings(flows=flows)
    assert_rows(
        result,
        [{"signal_id": "seizure_spike:COL:cocaine_trade:2025-01", "severity": "high",
          "value": 10.0, "marking": "red"}],
    )  # fmt: skip
    evidence = json.loads(result["evidence"][0])
    assert evidence["seizures"] == 18
    assert [(s["reporting_state"], s["seizures"]) for s in evidence["states"]] == [
        ("ES", 8),
        ("NL", 10),
    ]
    assert result["headline"][0].endswith("(18, up to 10.0x the usual month, 2 reporting states)")


# -- governance deterioration -------------------------------------------------------------


def test_governance_deterioration_fires_at_each_threshold_and_not_below() -> None:
    """The latest fall of overall resilience by 0.5, a pillar by 1.5, a WGI estimate by 0.25
    or the CPI by 5 fires (high from twice the threshold); smaller falls, rises, earlier
    changes and other indicators do not."""
    p = "goci.resilience.judicial_system"
    trends = [
        trend_row("COL", "goci.resilience", 2025, 5.0, 4.5),
        trend_row("ECU", "goci.resilience", 2025, 5.0, 4.75),
        trend_row("COL", p, 2025, 4.0, 2.5),
        trend_row("ECU", p, 2025, 4.0, 3.0),
        trend_row("COL", "wgi.cc.estimate", 2024, 0.0, -0.25),
        trend_row("ECU", "wgi.rl.estimate", 2024, 0.5, 0.26),
        trend_row("PER", "wgi.cc.estimate", 2024, 0.0, 1.0),
        trend_row("COL", "cpi.score", 2024, 40.0, 35.0),
        trend_row("ECU", "cpi.score", 2024, 40.0, 36.0),
        trend_row("PER", "cpi.score", 2024, 50.0, 40.0),
        trend_row("VEN", "goci.resilience", 2023, 5.0, 3.0, is_latest=False),
        trend_row("VEN", "wgi.ge.estimate", 2024, 1.0, 0.0),
    ]
    result = early_warnings(trends=trends)
    columns = ("signal_id", "detected_at", "iso3", "market", "severity", "value", "threshold",
               "marking")  # fmt: skip
    expected = [
        (f"governance_deterioration:COL:{p}:2025", date(2025, 12, 31), "COL", None,
         "medium", 1.5, 1.5, "clear"),
        ("governance_deterioration:COL:goci.resilience:2025", date(2025, 12, 31), "COL",
         None, "medium", 0.5, 0.5, "clear"),
        ("governance_deterioration:COL:cpi.score:2024", date(2024, 12, 31), "COL", None,
         "medium", 5.0, 5.0, "clear"),
        ("governance_deterioration:COL:wgi.cc.estimate:2024", date(2024, 12, 31), "COL",
         None, "medium", 0.25, 0.25, "clear"),
        ("governance_deterioration:PER:cpi.score:2024", date(2024, 12, 31), "PER", None,
         "high", 10.0, 5.0, "clear"),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    resilience = records(result[result["signal_id"].str.endswith("goci.resilience:2025")])[0]
    assert resilience["headline"] == "Country COL: Resilience fell from 5.00 (2023) to 4.50 (2025)"
    assert resilience["source"] == "Global Organized Crime Index"
    assert json.loads(resilience["evidence"]) == {
        "indicator_id": "goci.resilience", "value": 4.5, "year": 2025,
        "previous_value": 5.0, "previous_year": 2023, "fall": 0.5,
    }  # fmt: skip


def test_a_fall_of_exactly_the_threshold_in_decimals_fires() -> None:
    """2.01 -> 1.51 is a fall of 0.5 (0.4999999999999998 in binary floating point, compared
    at six decimals): the resilience threshold, so it fires, with value and evidence 0.5;
    a fall of 0.49 does not."""
    trends = [
        trend_row("COL", "goci.resilience", 2025, 2.01, 1.51),
        trend_row("ECU", "goci.resilience", 2025, 2.01, 1.52),
    ]
    assert 2.01 - 1.51 < 0.5  # the float difference itself falls short
    result = early_warnings(trends=trends)
    assert_rows(
        result,
        [{"signal_id": "governance_deterioration:COL:goci.resilience:2025",
          "severity": "medium", "value": 0.5, "threshold": 0.5,
          "headline": "Country COL: Resilience fell from 2.01 (2023) to 1.51 (2025)"}],
    )  # fmt: skip
    assert result["value"].tolist() == [0.5]
    assert json.loads(result["evidence"][0])["fall"] == 0.5


# -- FATF listings ------------------------------------------------------------------------


def fatf_event(
    event_type: str, iso3: str, plenary: str, event_date: str, listed: str | None
) -> Row:
    """A FATF list event as intermediate.fatf_events writes it (detail: plenary and list)."""
    value = {"call_for_action": 2.0, "increased_monitoring": 1.0}.get(listed or "", 0.0)
    detail = {"plenary": plenary, "list": listed, "country_name": f"Country {iso3}"}
    return event(event_type, iso3, event_date, detail, value)


def test_a_delisted_country_raises_no_listing_warning_while_a_new_listing_does() -> None:
    """PER, on the grey list at the first plenary in the data (fatf.listed_as_of) and later
    delisted, raises nothing; COL's new listing (fatf.listed) raises one medium warning."""
    events = [
        fatf_event("fatf.listed_as_of", "PER", "2024-10", "2024-10-25", "increased_monitoring"),
        fatf_event("fatf.delisted", "PER", "2025-06", "2025-06-13", None),
        fatf_event("fatf.listed", "COL", "2025-02", "2025-02-21", "increased_monitoring"),
    ]
    result = early_warnings(events=events)
    assert_rows(
        result,
        [{"signal_id": "fatf_listing:COL:2025-02", "rule": "fatf_listing",
          "detected_at": date(2025, 2, 21), "iso3": "COL", "market": None,
          "severity": "medium", "headline": events[2]["label"], "value": None,
          "threshold": None, "evidence": events[2]["detail"], "source": "FATF",
          "marking": "clear"}],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("event_type", "listed", "severity"),
    [
        ("fatf.listed", "increased_monitoring", "medium"),
        ("fatf.listed", "call_for_action", "high"),
        ("fatf.list_changed", "call_for_action", "high"),
        ("fatf.list_changed", "increased_monitoring", None),
        ("fatf.listed_as_of", "call_for_action", None),
        ("fatf.delisted", None, None),
    ],
)
def test_fatf_listing_fires_on_a_new_listing_or_a_move_to_call_for_action(
    event_type: str, listed: str | None, severity: str | None
) -> None:
    """A listing or a move to the call-for-action list fires (high for call for action); a
    move to the grey list, a standing membership or a delisting does not."""
    result = early_warnings(events=[fatf_event(event_type, "VEN", "2025-06", "2025-06-13", listed)])
    assert result["severity"].tolist() == ([severity] if severity else [])


# -- news surges --------------------------------------------------------------------------


def surge(iso3: str, theme: str, day: str, ratio: float | None) -> Row:
    """A GDELT news-surge day as intermediate.gdelt_events writes it (value: times the
    baseline share, None where that share was zero; detail: the theme)."""
    return event(
        "gdelt.news_surge", iso3, day, {"theme": theme, "articles": 30}, ratio,
        event_id=f"gdelt:{iso3}:{theme}:{day}", label=f"News surge on {theme} in {iso3}: {ratio}x",
    )  # fmt: skip


def test_news_surge_days_within_the_episode_gap_make_one_warning() -> None:
    """Surge days of a country and theme at most 3 days apart are one warning (first day in
    its id, the last as detected_at, the peak as value: high from 5x), a 4-day gap starts
    another; the market comes from the theme crosswalk (drug_trade names none)."""
    events = [
        surge("COL", "cocaine", "2025-03-01", 3.5),
        surge("COL", "cocaine", "2025-03-03", 5.2),
        surge("COL", "cocaine", "2025-03-06", 4.0),
        surge("COL", "cocaine", "2025-03-10", 3.2),
        surge("COL", "drug_trade", "2025-03-02", 3.1),
        surge("ECU", "human_trafficking", "2025-02-10", 4.0),
    ]
    result = early_warnings(events=events)
    columns = ("signal_id", "rule", "detected_at", "iso3", "market", "severity", "value",
               "threshold", "headline", "source", "marking")  # fmt: skip
    expected = [
        ("news_surge:COL:cocaine:2025-03-10", "news_surge", date(2025, 3, 10), "COL",
         "cocaine_trade", "medium", 3.2, 3.0, events[3]["label"], "GDELT", "clear"),
        ("news_surge:COL:cocaine:2025-03-01", "news_surge", date(2025, 3, 6), "COL",
         "cocaine_trade", "high", 5.2, 3.0, events[1]["label"], "GDELT", "clear"),
        ("news_surge:COL:drug_trade:2025-03-02", "news_surge", date(2025, 3, 2), "COL",
         None, "medium", 3.1, 3.0, events[4]["label"], "GDELT", "clear"),
        ("news_surge:ECU:human_trafficking:2025-02-10", "news_surge", date(2025, 2, 10),
         "ECU", "human_trafficking", "medium", 4.0, 3.0, events[5]["label"], "GDELT",
         "clear"),
    ]  # fmt: skip
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    episode = json.loads(result["evidence"][1])
    assert episode == {
        "theme": "cocaine", "first_day": "2025-03-01", "last_day": "2025-03-06",
        "surge_days": 3, "peak_ratio": 5.2,
        "events": [e["event_id"] for e in events[:3]],
    }  # fmt: skip


def test_a_news_surge_from_a_zero_baseline_is_the_largest_jump() -> None:
    """A surge day with no value (its baseline share was zero) is the largest jump of all:
    its episode is high, its label the headline; value (and peak_ratio) is the largest
    value there is, null when no day has one. Of two such days the later one's label
    heads the warning."""
    events = [
        surge("ECU", "cocaine", "2025-04-01", None),
        surge("COL", "cocaine", "2025-03-01", 3.5),
        surge("COL", "cocaine", "2025-03-02", None),
        surge("COL", "cocaine", "2025-03-03", 4.0),
        surge("PER", "cocaine", "2025-05-01", None),
        surge("PER", "cocaine", "2025-05-02", None),
        surge("PER", "cocaine", "2025-05-03", 3.1),
    ]
    # labels that tell the days apart (two of PER's days have no value)
    events = [{**e, "label": f"{e['label']} on {e['event_date']}"} for e in events]
    result = early_warnings(events=events)
    columns = ("signal_id", "severity", "value", "headline")
    expected = [
        ("news_surge:PER:cocaine:2025-05-01", "high", 3.1, events[5]["label"]),
        ("news_surge:ECU:cocaine:2025-04-01", "high", None, events[0]["label"]),
        ("news_surge:COL:cocaine:2025-03-01", "high", 4.0, events[2]["label"]),
    ]
    assert_rows(result, [dict(zip(columns, row, strict=True)) for row in expected])
    assert result["headline"].notna().all()
    peaks = [json.loads(e).get("peak_ratio") for e in result["evidence"]]
    assert peaks == [3.1, None, 4.0]


# -- EU countries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esp_in_eu", "rules"),
    [
        (True, []),
        (False, ["fatf_listing", "governance_deterioration", "news_surge", "seizure_spike"]),
    ],
)
def test_eu_countries_raise_nothing(esp_in_eu: bool, rules: list[str]) -> None:
    """An EU member (ESP) raises no warning by any rule: its FATF listing and news surge are
    ignored here, and its seizure spike and resilience fall never reach the rules
    (intermediate.seizure_flows and intermediate.trend, run here, keep non-EU countries
    only); had ESP been outside the EU, the same inputs would fire all four rules."""
    countries = [c for c in COUNTRIES if c != "ESP"] + [country("ESP", is_eu_member=esp_in_eu)]
    seizures = [
        seizure("NL", f"{month}-15", origin_iso3=origin, destination_iso3="NLD")
        for month, count in zip(months("2024-01", 13), [*QUIET_YEAR, 12], strict=True)
        for origin, times in (("ESP", count), ("COL", 1))
        for _ in range(times)
    ]
    flows = run_model(
        "intermediate/seizure_flows",
        {
            "staging.seizures": staging_seizures(*seizures),
            "marts.dim_country": dim_country(*countries),
        },
    )
    trends = run_model(
        "intermediate/trend",
        {
            "marts.fct_indicator": fct_indicator(
                indicator("ESP", "goci.resilience", 2023, 7.0),
                indicator("ESP", "goci.resilience", 2025, 5.0),
                indicator("COL", "goci.resilience", 2023, 4.0),
                indicator("COL", "goci.resilience", 2025, 4.0),
            ),
            "marts.dim_country": dim_country(*countries),
        },
    )
    events = [
        fatf_event("fatf.listed", "ESP", "2025-02", "2025-02-21", "call_for_action"),
        surge("ESP", "cocaine", "2025-03-01", 9.0),
    ]
    result = early_warnings(flows=flows, trends=trends, events=events, countries=countries)
    assert sorted(result["rule"]) == rules
    assert set(result["iso3"]) <= {"ESP"}
