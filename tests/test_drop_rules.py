"""Row rules: every rule of the drop contracts, the typed output and the reconciliation
invariant (every row accepted or quarantined, never both)."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extra_pipeline.drops.contracts import Contract, parse_contract
from extra_pipeline.drops.rules import (
    ISSUE_COLUMNS,
    Validation,
    decimal_separator,
    market_index,
    output_schema,
    validate,
)

TODAY = date(2025, 6, 30)
SEIZURE = {
    "seizure_ref": "R1",
    "seizure_date": "2024-03-15",
    "market": "cocaine",
    "quantity": "12.5",
    "unit": "kg",
}
NETWORK = {"network_ref": "N1", "principal_markets": "cocaine", "base_country": "AL"}


@pytest.fixture(scope="module")
def networks(contracts: dict[str, Contract]) -> Contract:
    return contracts["criminal_networks"]


def frame(
    base: dict[str, str],
    column: str | None = None,
    values: list[str | None] | None = None,
    **fixed: object,
) -> pd.DataFrame:
    """Rows that are valid but for ``column``, which takes ``values`` (one row each);
    references are made unique unless the test sets them."""
    count = len(values) if values is not None else 1
    data: dict[str, object] = {name: [value] * count for name, value in base.items()}
    ref = next(iter(base))
    data[ref] = [f"{base[ref]}-{i}" for i in range(count)]
    data.update({name: [value] * count for name, value in fixed.items()})
    if column is not None:
        data[column] = values
    return pd.DataFrame(data, index=pd.RangeIndex(1, count + 1))


def check(contract: Contract, rows: pd.DataFrame) -> Validation:
    result = validate(contract, rows, today=TODAY)
    assert len(result.accepted) + len(result.quarantined) == len(rows)
    return result


def accepted_values(
    contract: Contract,
    column: str,
    values: list[str | None],
    *,
    base: dict[str, str] | None = None,
    out: str | None = None,
) -> list[object]:
    result = check(contract, frame(base or SEIZURE, column, values))
    assert result.issues.empty, result.issues["reason"].tolist()
    return result.accepted[out or column].tolist()


def issue(
    contract: Contract,
    column: str,
    value: str | None,
    *,
    base: dict[str, str] | None = None,
    **fixed: object,
) -> tuple[str, str]:
    """The (rule, reason) of the one issue a single bad value raises."""
    result = check(contract, frame(base or SEIZURE, column, [value], **fixed))
    assert len(result.issues) == 1, result.issues
    assert result.accepted.empty and result.quarantined.tolist() == [1]
    row = result.issues.iloc[0]
    assert row["row_number"] == 1 and row["column"] == column
    return row["rule"], row["reason"]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text",
    ["2024-03-15", "2024-03-15T00:00:00", "2024-03-15 13:45", "2024-03-15T13:45:10.5+01:00",
     "15/03/2024", "15.03.2024", "15-03-2024", "15/3/2024", " 2024-03-15 "],
)  # fmt: skip
def test_date_forms(seizures: Contract, text: str) -> None:
    [value] = accepted_values(seizures, "seizure_date", [text])
    assert value == pd.Timestamp("2024-03-15")


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2024",
        "2024-13-01",
        "03/15/2024",
        "15/03/24",
        "yesterday",
        "45366",
        "2024-03-15T25:00",
    ],
)
def test_not_a_date(seizures: Contract, text: str) -> None:
    rule, reason = issue(seizures, "seizure_date", text)
    assert rule == "date"
    assert (
        reason
        == f"seizure_date '{text}' is not a date (expected YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY or DD-MM-YYYY)"
    )


def test_date_range(seizures: Contract) -> None:
    assert issue(seizures, "seizure_date", "31/12/1999") == (
        "date_range", "seizure_date '31/12/1999' is before 2000-01-01"
    )  # fmt: skip
    assert issue(seizures, "seizure_date", "2025-07-01") == (
        "date_range", "seizure_date '2025-07-01' is in the future (today is 2025-06-30)"
    )  # fmt: skip
    assert accepted_values(seizures, "seizure_date", ["2025-06-30", "2000-01-01"]) == [
        pd.Timestamp("2025-06-30"), pd.Timestamp("2000-01-01")
    ]  # fmt: skip


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.5", 12.5), ("12,5", 12.5), ("1.234,5", 1234.5), ("1,234.5", 1234.5), ("1 234,5", 1234.5),
     ("1\u00a0234,5", 1234.5), ("1'234.5", 1234.5), ("1,234,567", 1234567.0), ("1.234.567", 1234567.0),
     ("0,125", 0.125), ("7", 7.0), ("0", 0.0), ("+3", 3.0), ("1e-05", 1e-05), ("1 234", 1234.0)],
)  # fmt: skip
def test_number_forms(seizures: Contract, text: str, value: float) -> None:
    assert accepted_values(seizures, "quantity", [text]) == [pytest.approx(value)]


def test_the_file_decides_the_decimal_separator(seizures: Contract) -> None:
    # Alone, or in a decimal-point file, "1,234" groups thousands and "1.234" is a decimal.
    assert accepted_values(seizures, "quantity", ["1,234", "1.234"]) == [1234.0, 1.234]
    assert accepted_values(seizures, "quantity", ["1,234", "0.5"]) == [1234.0, 0.5]
    # A file that writes decimal commas reads both the other way round.
    assert accepted_values(seizures, "quantity", ["1,234", "1.234", "12,5"]) == [
        1.234,
        1234.0,
        12.5,
    ]
    assert accepted_values(seizures, "quantity", ["1.234", "1.234,5"]) == [1234.0, 1234.5]


def test_a_file_with_both_separators_quarantines_the_ambiguous_values(seizures: Contract) -> None:
    result = check(seizures, frame(SEIZURE, "quantity", ["12,5", "1.5", "1,234", "7"]))
    assert result.decimal_separator == "mixed"
    assert result.accepted["quantity"].tolist() == [12.5, 1.5, 7.0]
    [row] = result.issues.itertuples()
    assert (row.row_number, row.rule) == (3, "number")
    assert "'1,234' is ambiguous" in row.reason


def test_decimal_separator_rule() -> None:
    assert decimal_separator([]) == "."
    assert decimal_separator(["plain", "either"]) == "."
    assert decimal_separator(["comma", "either"]) == ","
    assert decimal_separator(["point", "comma"]) == "mixed"


@pytest.mark.parametrize(
    "text", ["twelve", "12.5.3", "1,2,3", "12 kg", "nan", "inf", "--1", "1.2e", "0x10", "½"]
)
def test_not_a_number(seizures: Contract, text: str) -> None:
    rule, reason = issue(seizures, "quantity", text)
    assert rule == "number" and reason.startswith(f"quantity '{text}' is not a number")


def test_negative_quantity_breaks_the_minimum(seizures: Contract) -> None:
    assert issue(seizures, "quantity", "-1,5") == (
        "minimum",
        "quantity '-1,5' is below the minimum 0",
    )


def test_arrests_are_whole_and_not_negative(seizures: Contract) -> None:
    assert accepted_values(seizures, "arrests", ["0", "3", None, "12"]) == [0, 3, pd.NA, 12]
    assert issue(seizures, "arrests", "2.5") == ("integer", "arrests '2.5' is not a whole number")
    assert issue(seizures, "arrests", "-1") == ("minimum", "arrests '-1' is below the minimum 0")
    assert issue(seizures, "arrests", "two")[0] == "number"


# --------------------------------------------------------------------------- vocabularies


@pytest.mark.parametrize(
    ("text", "value"),
    [("sea", "sea"), ("mer", "sea"), ("See", "sea"), ("mar", "sea"), ("Marittimo", "sea"), ("zee", "sea"),
     ("morze", "sea"), ("AÉRIEN", "air"), ("Luftverkehr", "air"), ("camión", "road"), ("Straße", "road"),
     ("train", "rail"), ("Eisenbahn", "rail"), ("colis", "postal"), ("Post", "postal"), ("autre", "other")],
)  # fmt: skip
def test_transport_mode_translations(seizures: Contract, text: str, value: str) -> None:
    assert accepted_values(seizures, "transport_mode", [text]) == [value]


@pytest.mark.parametrize(
    ("text", "value"),
    [("élevé", "high"), ("hoch", "high"), ("alto", "high"), ("HIGH", "high"), ("very_high", "very_high"),
     ("Very high", "very_high"), ("très élevé", "very_high"), ("sehr hoch", "very_high"), ("faible", "low"),
     ("niedrig", "low"), ("moyen", "medium"), ("średni", "medium")],
)  # fmt: skip
def test_threat_level_translations(networks: Contract, text: str, value: str) -> None:
    assert accepted_values(networks, "threat_level", [text], base=NETWORK) == [value]


def test_units_and_bands(seizures: Contract, networks: Contract) -> None:
    assert accepted_values(seizures, "unit", ["KG", "Gramm", "tonnes", "litres", "ml", "Stück", "comprimés", "Dosen"]) == [
        "kg", "g", "t", "l", "ml", "units", "tablets", "doses"
    ]  # fmt: skip
    assert accepted_values(networks, "member_count_band", ["1-10", "1–10", "11 - 50", ">500", "plus de 500"], base=NETWORK) == [
        "1-10", "1-10", "11-50", ">500", ">500"
    ]  # fmt: skip
    assert issue(networks, "member_count_band", "110", base=NETWORK)[0] == "enum"


def test_enum_reason(seizures: Contract) -> None:
    assert issue(seizures, "unit", "pounds") == (
        "enum", "unit 'pounds' is not one of kg, g, t, l, ml, units, tablets, doses (or their translations)"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("texts", "value"),
    [(["yes", "Y", "true", "1", "oui", "vrai", "ja", "J", "sí", "si", "sì", "sim", "tak", "TRUE"], True),
     (["no", "N", "false", "0", "non", "faux", "nein", "falsch", "não", "nao", "nie", "nee", "FALSE"], False)],
)  # fmt: skip
def test_booleans_in_every_language(networks: Contract, texts: list[str], value: bool) -> None:
    for column in ("uses_legal_business", "uses_violence", "uses_corruption", "hvt"):
        assert accepted_values(networks, column, texts, base=NETWORK) == [value] * len(texts)


def test_not_a_boolean(networks: Contract) -> None:
    rule, reason = issue(networks, "hvt", "maybe", base=NETWORK)
    assert rule == "boolean" and reason.startswith("hvt 'maybe' is not yes or no")


# --------------------------------------------------------------------------- markets


@pytest.mark.parametrize(
    ("text", "code"),
    [("cocaine_trade", "cocaine_trade"), ("Cocaine trade", "cocaine_trade"), ("COCAINE", "cocaine_trade"),
     ("cocaïne", "cocaine_trade"), ("heroin", "heroin_trade"), ("Cannabis", "cannabis_trade"),
     ("synthetic drugs", "synthetic_drug_trade"), ("firearms", "arms_trafficking"),
     ("migrant smuggling", "human_smuggling"), ("THB", "human_trafficking"), ("cyber-attacks", "cyber_dependent_crimes"),
     ("sexual exploitation", "human_trafficking"), ("Trade in counterfeit goods", "counterfeit_goods")],
)  # fmt: skip
def test_market_code_label_or_alias(seizures: Contract, text: str, code: str) -> None:
    assert accepted_values(seizures, "market", [text]) == [code]


@pytest.mark.parametrize(
    "text", ["child sexual exploitation", "cocaine and heroin", "money laundering", "drugs"]
)
def test_market_aliases_match_whole_values_only(seizures: Contract, text: str) -> None:
    rule, reason = issue(seizures, "market", text)
    assert rule == "market" and reason.startswith(f"market '{text}' is not a GI-TOC market")


def test_market_index_covers_the_15_markets() -> None:
    assert len(set(market_index().values())) == 15


def test_market_lists(networks: Contract) -> None:
    assert accepted_values(networks, "principal_markets", ["cocaine; cannabis", "THB|firearms", "heroin;heroin_trade;"], base=NETWORK) == [
        ["cocaine_trade", "cannabis_trade"], ["human_trafficking", "arms_trafficking"], ["heroin_trade"]
    ]  # fmt: skip
    rule, reason = issue(networks, "principal_markets", "cocaine; bananas", base=NETWORK)
    assert rule == "market" and "'bananas'" in reason
    rule, reason = issue(networks, "principal_markets", " ; | ", base=NETWORK)
    assert rule == "list" and "at least one" in reason
    assert issue(networks, "principal_markets", None, base=NETWORK)[0] == "required"


# --------------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    "text",
    [
        "CO",
        "COL",
        "170",
        "col",
        "Colombia",
        "Colombie",
        "Kolumbien",
        "Colômbia",
        "Kolumbia",
        "Colombië",
        " colombia ",
    ],
)
def test_country_codes_and_names(seizures: Contract, text: str) -> None:
    result = check(seizures, frame(SEIZURE, "origin_country", [text]))
    assert result.issues.empty
    assert result.accepted["origin_country_iso3"].tolist() == ["COL"]
    assert result.accepted["origin_country"].tolist() == [text.strip()]  # kept as sent


@pytest.mark.parametrize(
    ("text", "why"),
    [("Europe", "aggregate"), ("EU", "aggregate"), ("Netherlands Antilles", "historic"),
     ("Atlantis", "not a recognised country (unknown)")],
)  # fmt: skip
def test_not_a_country(seizures: Contract, text: str, why: str) -> None:
    rule, reason = issue(seizures, "destination_country", text)
    assert rule == "country"
    assert reason.startswith(f"destination_country '{text}' ") and why in reason


def test_country_lists(seizures: Contract) -> None:
    result = check(
        seizures, frame(SEIZURE, "transit_countries", ["PA; ES", "Espagne|Portugal", "MA;;", None])
    )
    assert result.issues.empty
    assert result.accepted["transit_countries"].tolist() == [
        ["PA", "ES"],
        ["Espagne", "Portugal"],
        ["MA"],
        None,
    ]
    assert result.accepted["transit_countries_iso3"].tolist() == [
        ["PAN", "ESP"],
        ["ESP", "PRT"],
        ["MAR"],
        None,
    ]
    rule, reason = issue(seizures, "transit_countries", "ES; Balkans; XX")
    assert rule == "country" and "'Balkans'" in reason


# --------------------------------------------------------------------------- rows


def test_duplicates_after_the_first_are_quarantined(seizures: Contract) -> None:
    rows = frame(SEIZURE, "seizure_ref", ["A", "B", "A", " A ", "C", "B"])
    result = check(seizures, rows)
    assert result.accepted.index.tolist() == [1, 2, 5]
    assert result.quarantined.tolist() == [3, 4, 6]
    assert set(result.issues["rule"]) == {"unique"}
    assert result.issues["reason"].tolist() == [
        "seizure_ref 'A' repeats row 1 (must be unique within the file)",
        "seizure_ref 'A' repeats row 1 (must be unique within the file)",
        "seizure_ref 'B' repeats row 2 (must be unique within the file)",
    ]


def test_required_values(seizures: Contract) -> None:
    for value in (None, "", "   ", np.nan):
        assert issue(seizures, "market", value) == ("required", "market is required but empty")
    # An optional column the file lacks, or leaves empty, is simply null.
    rows = frame(SEIZURE, "location", [None, ""])
    result = check(seizures, rows.drop(columns=["location"]))
    assert result.issues.empty and result.accepted["location"].isna().all()
    assert check(seizures, rows).accepted["location"].isna().all()


def test_a_missing_required_column_quarantines_every_row(seizures: Contract) -> None:
    result = check(seizures, frame(SEIZURE, "market", ["x", "y"]).drop(columns=["unit"]))
    assert result.accepted.empty
    assert (result.issues.query("column == 'unit'")["rule"] == "required").sum() == 2


def test_max_length(seizures: Contract) -> None:
    assert accepted_values(seizures, "seizure_ref", ["R" * 64]) == ["R" * 64]
    rule, reason = issue(seizures, "seizure_ref", "R" * 65)
    assert rule == "max_length" and reason.endswith("is 65 characters long (at most 64)")
    assert "…" in reason  # long values are shortened in the reason


def test_replacement_characters_never_reach_accepted_rows(seizures: Contract) -> None:
    rule, reason = issue(seizures, "commodity", "coca\ufffdne")
    assert rule == "encoding" and "UTF-8" in reason


def test_markup_formulas_and_sql_are_kept_as_data(seizures: Contract) -> None:
    texts = [
        "<script>alert(1)</script>",
        '=HYPERLINK("http://x","y")',
        "'; DROP TABLE raw.drop_seizures; --",
    ]
    assert accepted_values(seizures, "commodity", texts) == texts


def test_every_issue_of_a_row_is_reported_and_the_row_quarantined_once(seizures: Contract) -> None:
    rows = frame(SEIZURE, "quantity", ["-1"], unit="bags", market="foo")
    result = check(seizures, rows)
    assert result.quarantined.tolist() == [1]
    assert result.issues[["column", "rule"]].values.tolist() == [
        ["market", "market"], ["quantity", "minimum"], ["unit", "enum"]
    ]  # fmt: skip


def test_quantity_kg(seizures: Contract) -> None:
    units = ["kg", "g", "t", "l", "ml", "units", "tablets", "doses"]
    result = check(seizures, frame(SEIZURE, "unit", units, quantity="2,5"))
    kg = result.accepted["quantity_kg"].tolist()
    assert kg[:3] == [2.5, 0.0025, 2500.0]
    assert all(np.isnan(v) for v in kg[3:])


def test_row_numbers_are_kept(seizures: Contract) -> None:
    rows = frame(SEIZURE, "quantity", ["1", "x", "3"])
    rows.index = pd.Index([7, 9, 12])
    result = check(seizures, rows)
    assert result.accepted.index.tolist() == [7, 12] and result.accepted.index.name == "row_number"
    assert result.quarantined.tolist() == [9] and result.issues["row_number"].tolist() == [9]
    assert [i.row_number for i in result.row_issues()] == [9]


def test_unknown_columns_are_a_programming_error(seizures: Contract) -> None:
    with pytest.raises(ValueError, match="distinct seizures columns"):
        validate(seizures, frame(SEIZURE, "notes", ["x"]), today=TODAY)


# --------------------------------------------------------------------------- output


def _full_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seizure_ref": ["A", "B"], "seizure_date": ["2024-03-15", "01.02.2023"], "market": ["cocaine", "THB"],
            "commodity": ["cocaine HCl", None], "quantity": ["12,5", "3"], "unit": ["kg", "units"],
            "origin_country": ["CO", None], "departure_country": ["Équateur", "NG"],
            "destination_country": ["Pays-Bas", "Italien"], "transit_countries": ["PA; ES", None],
            "transport_mode": ["mer", "Luft"], "location": ["NLRTM", "Malpensa"], "arrests": ["2", None],
        },
        index=pd.RangeIndex(1, 3),
    )  # fmt: skip


def test_accepted_frame_is_typed_and_matches_output_schema(seizures: Contract) -> None:
    result = check(seizures, _full_rows())
    assert result.issues.empty
    accepted = result.accepted
    schema = output_schema(seizures)
    assert [name for name, _ in schema] == list(accepted.columns)
    dtypes = accepted.dtypes.astype(str).to_dict()
    assert dtypes["seizure_date"].startswith("datetime64")
    assert (dtypes["quantity"], dtypes["arrests"], dtypes["quantity_kg"]) == (
        "float64",
        "Int64",
        "float64",
    )
    assert accepted["transit_countries_iso3"].tolist() == [["PAN", "ESP"], None]
    # The lead creates raw tables from output_schema: the frame must insert as it is.
    con = duckdb.connect()
    columns = ", ".join(f'"{name}" {type_}' for name, type_ in schema)
    con.execute(f"create table t (row_number bigint, {columns})")
    con.register("accepted", accepted.reset_index())
    con.execute("insert into t select * from accepted")
    row = con.execute(
        "select seizure_date, quantity_kg, transit_countries_iso3, arrests, departure_country_iso3 from t order by row_number"
    ).fetchall()
    assert row == [
        (date(2024, 3, 15), 12.5, ["PAN", "ESP"], 2, "ECU"),
        (date(2023, 2, 1), None, None, None, "NGA"),
    ]


def test_network_output(networks: Contract) -> None:
    rows = frame(
        NETWORK,
        "countries_active",
        ["AL; IT | NL"],
        nationalities="Albanie;ITA",
        uses_violence="oui",
        money_laundering_methods="cash couriers; real estate",
    )
    result = check(networks, rows)
    assert result.issues.empty
    row = result.accepted.iloc[0]
    assert row["countries_active_iso3"] == ["ALB", "ITA", "NLD"]
    assert row["nationalities_iso3"] == ["ALB", "ITA"]
    assert row["money_laundering_methods"] == ["cash couriers", "real estate"]
    assert row["uses_violence"] is np.True_ or row["uses_violence"] is True
    assert pd.isna(row["hvt"])
    assert [name for name, _ in output_schema(networks)] == list(result.accepted.columns)
    assert result.accepted["principal_markets"].tolist() == [["cocaine_trade"]]


def test_empty_drop(seizures: Contract) -> None:
    result = check(seizures, frame(SEIZURE, "quantity", []))
    assert result.accepted.empty and result.issues.empty and result.quarantined.empty
    assert list(result.issues.columns) == ISSUE_COLUMNS
    assert [name for name, _ in output_schema(seizures)] == list(result.accepted.columns)


# --------------------------------------------------------------------------- the invariant

_CELLS = {
    "seizure_ref": ["R1", "R2", "R1", " R1", "x" * 70],
    "seizure_date": [
        "2024-03-15",
        "15/03/2024",
        "31/02/2024",
        "1999-01-01",
        "2031-01-01",
        "15.03.2024T",
    ],
    "market": ["cocaine", "THB", "Cocaine trade", "drugs"],
    "quantity": ["12,5", "1.234", "1,234", "-3", "12.5", "1 234,5", "abc"],
    "unit": ["kg", "g", "Stück", "bags"],
    "origin_country": ["CO", "Europe", "Kolumbien", "Atlantis"],
    "transit_countries": ["PA; ES", "ES|Balkans", ";"],
    "transport_mode": ["mer", "See", "bike"],
    "arrests": ["0", "2", "2.5", "-1"],
    "commodity": ["coca\ufffdne", "resin", "<b>x</b>"],
}


def _cell(column: str) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(_CELLS[column]), st.text(max_size=12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    size=st.integers(min_value=0, max_value=25),
    start=st.integers(min_value=1, max_value=1000),
)
def test_every_row_is_accepted_or_quarantined(
    seizures: Contract, data: st.DataObject, size: int, start: int
) -> None:
    rows = pd.DataFrame(
        {
            column: data.draw(st.lists(_cell(column), min_size=size, max_size=size))
            for column in _CELLS
        },
        index=pd.RangeIndex(start, start + size),
    )
    result = validate(seizures, rows, today=TODAY)
    accepted, quarantined = set(result.accepted.index), set(result.quarantined)
    assert accepted | quarantined == set(rows.index)
    assert not accepted & quarantined
    assert set(result.issues["row_number"]) == quarantined
    assert list(result.issues.columns) == ISSUE_COLUMNS
    assert result.issues["reason"].str.len().min() > 0 if len(result.issues) else True
    for column in ("seizure_ref", "commodity"):
        assert not result.accepted[column].str.contains("\ufffd", regex=False).any()
    assert result.accepted["quantity"].dropna().ge(0).all()
    assert not result.accepted["seizure_ref"].duplicated().any()


def test_bounds_from_a_custom_contract() -> None:
    contract = parse_contract(
        {
            "dataset": "readings",
            "version": 1,
            "marking": "green",
            "columns": [
                {"name": "ref", "type": "text", "required": True},
                {"name": "score", "type": "decimal", "minimum": 1, "maximum": 10},
                {
                    "name": "seen",
                    "type": "date",
                    "minimum": date(2020, 1, 1),
                    "maximum": date(2020, 12, 31),
                },
            ],
        }
    )
    rows = pd.DataFrame(
        {
            "ref": ["a", "b", "c"],
            "score": ["10", "10,5", "0.5"],
            "seen": ["2020-12-31", "2021-01-01", None],
        },
        index=pd.RangeIndex(1, 4),
    )
    result = check(contract, rows)
    assert result.accepted.index.tolist() == [1]
    assert result.issues["reason"].tolist() == [
        "score '10,5' is above the maximum 10",
        "seen '2021-01-01' is after 2020-12-31",
        "score '0.5' is below the minimum 1",
    ]
