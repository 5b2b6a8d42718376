"""The Great Expectations canary: real GX on tiny frames, exact outcomes.

If a GX upgrade changes what a suite reports (success flags, unexpected counts, observed
values, how an expectation that cannot run is reported, which expectation types exist),
these tests fail loudly instead of the blocking checks quietly changing meaning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from extra_pipeline.defs.reference import MARKETS_CSV
from extra_pipeline.quality import (
    EXPECTATIONS_DIR,
    ExpectationOutcome,
    GreatExpectationsResource,
    QualityError,
    Suite,
    SuiteResult,
    _gx_friendly,
    load_suites,
    validate_frame,
    validate_table,
)
from extra_pipeline.warehouse import SCHEMAS, WarehouseResource


def write_suite(
    directory: Path, name: str, expectations: list[dict[str, Any]], **extra: Any
) -> Path:
    spec: dict[str, Any] = {
        "name": name,
        "meta": {"table": "raw.canary"},
        "expectations": expectations,
    }
    spec.update(extra)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def one_suite(directory: Path) -> Suite:
    (suite,) = load_suites(directory)
    return suite


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "iso3": ["FRA", "DEU", None, "ITA"],
            "score": [1.0, 5.5, 10.0, 11.0],
            "seen_at": pd.Series(["2024-01-01", "2024-06-30", "2025-01-01", "2025-12-31"]).astype(
                "datetime64[us]"
            ),
        }
    )


CANARY = [
    # must fail: 11 is above 10 (the bounds are inclusive: 1 and 10 pass)
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "score", "min_value": 1, "max_value": 10},
    },
    # must fail: one null
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "iso3"}},
    # must pass: 3 of 4 is above `mostly`
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "iso3", "mostly": 0.7}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "score"}},
    # must pass: nulls are not counted against a set
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "iso3", "value_set": ["FRA", "DEU", "ITA"]},
    },
    {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}},
    {
        "type": "expect_column_max_to_be_between",
        "kwargs": {"column": "score", "min_value": 0, "max_value": 100},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "seen_at"}},
]


def outcome(
    result: SuiteResult, expectation: str, column: str | None, **kwargs: Any
) -> ExpectationOutcome:
    """The one outcome for `expectation` on `column` whose kwargs include `kwargs`."""
    matches = [
        o
        for o in result.outcomes
        if o.expectation == expectation
        and o.column == column
        and all(json.loads(o.kwargs).get(k) == v for k, v in kwargs.items())
        and ("mostly" in kwargs or "mostly" not in json.loads(o.kwargs))
    ]
    assert len(matches) == 1, (expectation, column, kwargs, result.outcomes)
    return matches[0]


# --- the canary, on both engines ------------------------------------------------------------

Validate = Callable[[Suite, pd.DataFrame], SuiteResult]


@pytest.fixture(params=["pandas", "duckdb"])
def validate(request: pytest.FixtureRequest, tmp_path: Path) -> Validate:
    """GX's pandas engine on the frame, or its SQL engine on the frame saved as a DuckDB
    table (how drops are gated): the canary must read the same on both."""
    if request.param == "pandas":
        return validate_frame
    databases = iter(range(1_000))

    def on_duckdb(suite: Suite, data: pd.DataFrame) -> SuiteResult:
        path = tmp_path / f"gate-{next(databases)}.duckdb"
        with duckdb.connect(str(path)) as con:
            con.register("data", data)
            con.execute("create table checked as select * from data")
        return validate_table(suite, path, "checked")

    return on_duckdb


def test_gx_canary_exact_outcomes(tmp_path: Path, validate: Validate) -> None:
    write_suite(tmp_path, "canary", CANARY)
    suite = one_suite(tmp_path)
    assert suite.table == "raw.canary"
    assert suite.expectation_count == len(CANARY)

    result = validate(suite, frame())

    assert result.suite == "canary"
    assert result.success is False
    assert len(result.outcomes) == len(CANARY)

    between = outcome(result, "expect_column_values_to_be_between", "score")
    assert between.success is False
    assert between.unexpected_count == 1
    assert between.element_count == 4
    assert json.loads(between.kwargs) == {"column": "score", "min_value": 1, "max_value": 10}

    strict = outcome(result, "expect_column_values_to_not_be_null", "iso3")
    assert strict.success is False
    assert strict.unexpected_count == 1
    assert strict.element_count == 4

    mostly = outcome(result, "expect_column_values_to_not_be_null", "iso3", mostly=0.7)
    assert mostly.success is True
    assert mostly.unexpected_count == 1

    score_not_null = outcome(result, "expect_column_values_to_not_be_null", "score")
    assert score_not_null.success is True
    assert score_not_null.unexpected_count == 0
    assert score_not_null.element_count == 4

    in_set = outcome(result, "expect_column_values_to_be_in_set", "iso3")
    assert in_set.success is True
    assert in_set.unexpected_count == 0

    row_count = outcome(result, "expect_table_row_count_to_equal", None)
    assert row_count.success is True
    assert row_count.observed_value is not None
    assert json.loads(row_count.observed_value) == 4

    column_max = outcome(result, "expect_column_max_to_be_between", "score")
    assert column_max.success is True
    assert column_max.observed_value is not None
    assert json.loads(column_max.observed_value) == 11

    dates = outcome(result, "expect_column_values_to_not_be_null", "seen_at")
    assert dates.success is True
    assert dates.unexpected_count == 0

    # exactly the two expected failures, nothing else
    assert sorted((o.expectation, o.column) for o in result.failed) == [
        ("expect_column_values_to_be_between", "score"),
        ("expect_column_values_to_not_be_null", "iso3"),
    ]
    # GX's internal batch id never leaks into the stored kwargs
    assert all("batch_id" not in json.loads(o.kwargs) for o in result.outcomes)


def test_gx_canary_all_passing_suite_passes(tmp_path: Path, validate: Validate) -> None:
    # the canary without its two failing expectations
    passing = CANARY[2:]
    write_suite(tmp_path, "passing", passing)
    result = validate(one_suite(tmp_path), frame())
    assert result.success is True
    assert result.failed == []
    assert len(result.outcomes) == len(passing) == len(CANARY) - 2


def test_validating_the_same_suite_twice_gives_the_same_result(
    tmp_path: Path, validate: Validate
) -> None:
    write_suite(tmp_path, "canary", CANARY)
    suite = one_suite(tmp_path)
    first = validate(suite, frame())
    changed = frame().assign(score=[1.0, 2.0, 3.0, 4.0])
    second = validate(suite, changed)  # a new frame, not a cached batch
    third = validate(suite, frame())
    assert outcome(second, "expect_column_values_to_be_between", "score").success is True
    assert sorted(first.outcomes, key=repr) == sorted(third.outcomes, key=repr)


def test_missing_column_never_passes(tmp_path: Path, validate: Validate) -> None:
    """The safe behaviour: an expectation on a column that is not there is not a pass.

    Today GX reports it as a failed expectation (success False, no counts); if the
    resource raises QualityError instead, that is safe too.
    """
    write_suite(
        tmp_path,
        "missing",
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}},
            {
                "type": "expect_column_max_to_be_between",
                "kwargs": {"column": "no_such_column", "max_value": 1},
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}},
        ],
    )
    try:
        result = validate(one_suite(tmp_path), frame())
    except QualityError as error:
        assert "no_such_column" in str(error)
        return
    assert result.success is False
    for expectation in ("expect_column_values_to_not_be_null", "expect_column_max_to_be_between"):
        broken = outcome(result, expectation, "no_such_column")
        assert broken.success is False
        assert broken.unexpected_count != 0  # never "0 unexpected" for a column that is not there
    assert outcome(result, "expect_table_row_count_to_equal", None).success is True


def test_expectation_that_cannot_run_is_a_quality_error(tmp_path: Path, validate: Validate) -> None:
    write_suite(
        tmp_path,
        "missing",
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}],
    )
    with pytest.raises(QualityError, match="no_such_column"):
        validate(one_suite(tmp_path), frame())


def test_unknown_expectation_type_is_a_quality_error(tmp_path: Path, validate: Validate) -> None:
    # GX logs and drops an unknown expectation type instead of raising; the resource must
    # not let a suite with a silently dropped expectation pass.
    write_suite(
        tmp_path,
        "bogus",
        [
            {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "iso3"}},
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}},
        ],
    )
    with pytest.raises(QualityError, match="bogus"):
        validate(one_suite(tmp_path), frame())


# --- suite files ---------------------------------------------------------------------------------


def test_suite_without_meta_table_is_rejected(tmp_path: Path) -> None:
    write_suite(tmp_path, "untabled", [], meta={"description": "no table"})
    with pytest.raises(QualityError, match=r"expectations/untabled\.json: meta\.table"):
        load_suites(tmp_path)


def test_suite_with_unqualified_table_is_rejected(tmp_path: Path) -> None:
    write_suite(tmp_path, "bare", [], meta={"table": "canary"})
    with pytest.raises(QualityError, match=r"expectations/bare\.json: .*schema\.table"):
        load_suites(tmp_path)


def test_suite_with_wrong_name_is_rejected(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "right", [])
    path.rename(tmp_path / "wrong.json")
    with pytest.raises(QualityError, match=r"expectations/wrong\.json: suite name must be 'wrong'"):
        load_suites(tmp_path)


def test_invalid_json_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"name": "broken", ', encoding="utf-8")
    with pytest.raises(QualityError, match=r"expectations/broken\.json: not valid JSON"):
        load_suites(tmp_path)


def test_suites_are_sorted_and_only_json_is_read(tmp_path: Path) -> None:
    write_suite(tmp_path, "b_suite", [])
    write_suite(tmp_path, "a_suite", [])
    (tmp_path / "notes.md").write_text("not a suite", encoding="utf-8")
    suites = load_suites(tmp_path)
    assert [s.name for s in suites] == ["a_suite", "b_suite"]
    resource = GreatExpectationsResource(expectations_dir=str(tmp_path))
    assert [s.name for s in resource.suites()] == ["a_suite", "b_suite"]


# --- the shipped suites ----------------------------------------------------------------------------


def test_every_shipped_suite_loads_and_gx_knows_every_expectation() -> None:
    import great_expectations as gx

    files = sorted(EXPECTATIONS_DIR.glob("*.json"))
    suites = load_suites()
    assert files, "no suites shipped"
    assert [s.path for s in suites] == files
    for suite in suites:
        schema, _, _ = suite.table.partition(".")
        assert schema in SCHEMAS, f"{suite.path.name}: {suite.table}"
        assert suite.expectation_count > 0, suite.path.name
        # GX drops (and only logs) expectations it cannot build: compare what survives
        gx_suite = gx.ExpectationSuite(**suite.spec)
        assert [e.expectation_type for e in gx_suite.expectations] == [
            e["type"] for e in suite.spec["expectations"]
        ], suite.path.name


# --- frames handed to GX -----------------------------------------------------------------------------


def test_gx_friendly_converts_naive_microsecond_datetimes() -> None:
    original = pd.DataFrame(
        {
            "naive": pd.Series(["2024-01-01", "2025-06-30"]).astype("datetime64[us]"),
            "aware": pd.Series(["2024-01-01", "2025-06-30"])
            .astype("datetime64[us]")
            .dt.tz_localize("UTC"),
            "text": ["a", "b"],
            "number": [1, 2],
        }
    )
    converted = _gx_friendly(original)
    assert converted["naive"].dtype == "datetime64[ns]"
    assert (converted["naive"] == original["naive"]).all()
    assert converted["aware"].dtype == original["aware"].dtype  # tz-aware left alone
    assert converted["text"].dtype == original["text"].dtype
    assert converted["number"].dtype == original["number"].dtype
    # the caller's frame is not modified
    assert original["naive"].dtype == "datetime64[us]"


def test_gx_friendly_leaves_a_frame_without_datetimes_as_is() -> None:
    plain = pd.DataFrame({"a": [1, 2]})
    assert _gx_friendly(plain) is plain


# --- suite parameters ($PARAMETER from meta.parameters) ----------------------------------------

PARAMETERISED = [
    {"type": "expect_table_row_count_to_equal", "kwargs": {"value": {"$PARAMETER": "rows"}}},
    {
        "type": "expect_column_distinct_values_to_contain_set",
        "kwargs": {"column": "iso3", "value_set": {"$PARAMETER": "countries"}},
    },
]
PARAMETER_QUERIES = {
    "rows": "select count(*) from raw.canary",
    "countries": "select list(iso3) from marts.dim_country",
}


def parameterised_suite(directory: Path) -> Suite:
    write_suite(
        directory,
        "parameterised",
        PARAMETERISED,
        meta={"table": "raw.canary", "parameters": PARAMETER_QUERIES},
    )
    return one_suite(directory)


def test_suite_parameters_pass_when_the_values_hold(tmp_path: Path) -> None:
    suite = parameterised_suite(tmp_path)
    assert suite.parameter_queries == PARAMETER_QUERIES

    result = validate_frame(suite, frame(), {"rows": 4, "countries": ["DEU", "FRA"]})

    assert result.success is True
    rows = outcome(result, "expect_table_row_count_to_equal", None)
    # the stored kwargs carry the value the check ran with, not the placeholder
    assert json.loads(rows.kwargs) == {"value": 4}
    assert rows.observed_value is not None
    assert json.loads(rows.observed_value) == 4
    contain = outcome(result, "expect_column_distinct_values_to_contain_set", "iso3")
    assert json.loads(contain.kwargs)["value_set"] == ["DEU", "FRA"]


def test_suite_parameters_fail_when_the_values_do_not_hold(tmp_path: Path) -> None:
    suite = parameterised_suite(tmp_path)

    result = validate_frame(suite, frame(), {"rows": 5, "countries": ["DEU", "ESP", "FRA"]})

    assert result.success is False
    assert sorted((o.expectation, o.column) for o in result.failed) == [
        ("expect_column_distinct_values_to_contain_set", "iso3"),
        ("expect_table_row_count_to_equal", None),
    ]
    assert json.loads(outcome(result, "expect_table_row_count_to_equal", None).kwargs) == {
        "value": 5
    }


def test_suite_parameter_without_a_value_is_a_quality_error(tmp_path: Path) -> None:
    suite = parameterised_suite(tmp_path)
    with pytest.raises(
        QualityError, match=r"suite parameterised: no value for parameter countries"
    ):
        validate_frame(suite, frame(), {"rows": 4})
    with pytest.raises(QualityError, match=r"no value for parameter countries, rows"):
        validate_frame(suite, frame())


def test_a_parameter_query_returning_nothing_fails_the_suite_loudly(
    tmp_path: Path, warehouse: WarehouseResource
) -> None:
    """A query with no row, a null or an empty list gives no value: the check cannot pass on
    an empty set (contain_set would hold vacuously), it raises."""
    suite = parameterised_suite(tmp_path)
    values = warehouse.query_parameters(
        {"rows": "select 4", "countries": "select list(1) from range(0) where false"}
    )
    assert values == {"rows": 4, "countries": None}
    for empty in (None, []):
        with pytest.raises(QualityError, match=r"no value for parameter countries"):
            validate_frame(suite, frame(), {"rows": 4, "countries": empty})
    assert warehouse.query_parameters({"none": "select 1 where false"}) == {"none": None}


# --- the threat matrix covers every non-EU country -------------------------------------------------


def threat_matrix_frame(countries: list[str], markets: list[str], year: int) -> pd.DataFrame:
    """A well-formed threat matrix: one scored row per country and market of one edition."""
    rows = [
        {
            "iso3": iso3,
            "market": market,
            "year": year,
            "score": 0.5,
            "rank": rank,
            "market_rank": 1 + rank % len(countries),
            "confidence": "A",
            "coverage": 1.0,
            "prevalence": 0.5,
            "prevalence_score": 5.5,
            "eu_exposure": 0.25,
            "vulnerability": 0.75,
            "trend": 0.5,
            "trend_change": 0.0,
            "trend_direction": "stable",
            "prevalence_evidence": 1,
            "exposure_evidence": 3,
            "vulnerability_evidence": 5,
            "trend_evidence": 2,
            "is_latest_year": True,
        }
        for rank, (iso3, market) in enumerate(((c, m) for c in countries for m in markets), start=1)
    ]
    return pd.DataFrame(rows)


def test_threat_matrix_suite_needs_every_non_eu_country() -> None:
    (suite,) = [s for s in load_suites() if s.name == "threat_matrix"]
    markets = sorted(pd.read_csv(MARKETS_CSV)["market"])
    assert len(markets) == 15
    countries = ["ALB", "COL"]  # the non-EU countries of this (made-up) dim_country
    parameters = {
        "non_eu_countries": countries,
        "markets": markets,
        "matrix_rows": len(countries) * len(markets) * 1,
    }
    assert set(suite.parameter_queries) == set(parameters)
    full = threat_matrix_frame(countries, markets, 2025)
    (columns,) = [
        e["kwargs"]["column_set"]
        for e in suite.spec["expectations"]
        if e["type"] == "expect_table_columns_to_match_set"
    ]
    assert set(full.columns) == set(columns)

    passed = validate_frame(suite, full, parameters)
    assert passed.success is True, passed.failed

    without_colombia = full[full["iso3"] != "COL"].reset_index(drop=True)
    failed = validate_frame(suite, without_colombia, parameters)
    assert failed.success is False
    assert sorted((o.expectation, o.column) for o in failed.failed) == [
        ("expect_column_distinct_values_to_contain_set", "iso3"),
        ("expect_table_row_count_to_equal", None),
    ]
