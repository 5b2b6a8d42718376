"""The UNODC homicide connector (Our World in Data grapher CSV): the bundled "filtered" file
checked against an independent pandas read, both CSV shapes served over HTTP (the filtered
one with its two `time` columns and blank Code/Year, the full Entity/Code/Year/value one
with OWID aggregates), the traps (header offset, renamed, reordered and missing columns,
HTML and truncated payloads, bad cells), and the published figures after an offline run.

Fixtures are built from the real file's rows (csv module), so they have OWID's layout and
figures.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from conftest import shared_file

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    ASSETS_DIR,
    PayloadError,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.unodc_homicide import (
    COLUMNS,
    INDICATOR_ID,
    MIN_ENTITIES,
    VALUE_SHORT_NAME,
    UnodcHomicideConnector,
)

CSV_SHA256 = "9602ce7fa512720d18de35915fec5810a143240bd340133bf5bc858b44811b81"
JSON_SHA256 = "dd12ebef62789642c7a5e49d0663f94c1e8a3ca1fb0f5a9bbaf49de9509ffe74"
VALUE = "Homicide rate per 100,000 population - sex: Total - age: Total"
FOLDER = ASSETS_DIR / "snapshots" / "unodc_homicide"
# OWID aggregates of the full chart download (OWID's codes); none may come out unmatched.
AGGREGATES = [
    ("World", "OWID_WRL"), ("Africa (UN)", ""), ("Americas (UN)", ""), ("Asia (UN)", ""),
    ("Europe (UN)", ""), ("Oceania (UN)", ""), ("Latin America and the Caribbean (UN)", ""),
    ("High-income countries", ""), ("Low-income countries", ""), ("European Union (27)", ""),
]  # fmt: skip
Rows = list[list[str]]


@pytest.fixture(scope="module")
def connector() -> UnodcHomicideConnector:
    return UnodcHomicideConnector(load_registry()["unodc_homicide"])


@pytest.fixture(scope="module")
def payload(connector: UnodcHomicideConnector) -> bytes:
    (path,) = connector.bundled_manifest().files["csv"]
    return read_bundled_file(path)


@pytest.fixture(scope="module")
def parsed(connector: UnodcHomicideConnector, payload: bytes) -> pd.DataFrame:
    return _parse(connector, payload)


@pytest.fixture(scope="module")
def filtered_rows(payload: bytes) -> Rows:
    """The real filtered file as rows of strings, header first."""
    rows = list(csv.reader(io.StringIO(payload.decode("utf-8"), newline="")))
    assert rows[0] == ["Entity", "Code", "Year", VALUE, "World regions according to OWID",
                       "time", "time"]  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def full_rows(filtered_rows: Rows) -> Rows:
    """The full chart shape (Entity, Code, Year, value) from the real figures: each country's
    latest value and, made up for the series, an older year with the same rate; OWID
    aggregates too."""
    harmoniser = default_harmoniser()
    rows: Rows = [["Entity", "Code", "Year", VALUE]]
    for entity, _, _, value, _, _, year in filtered_rows[1:]:
        if value:
            code = harmoniser.match(entity).iso3 or ""
            rows += [[entity, code, str(int(year) - 1), value], [entity, code, year, value]]
    for entity, code in AGGREGATES:
        rows += [[entity, code, "2021", "5.8"], [entity, code, "2022", "5.6"]]
    return rows


def to_csv(rows: Rows, preamble: str = "", newline: str = "\n") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    return (preamble + buffer.getvalue()).encode("utf-8")


def _parse(connector: UnodcHomicideConnector, body: bytes) -> pd.DataFrame:
    (resource,) = connector.resources()
    connector.validate(resource, body)
    return connector.parse(resource, body)


def _fetcher(tmp_path: Path, mode: str) -> SourceFetcher:
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode=mode,  # type: ignore[arg-type]
    )


def _served(
    httpserver: Any, connector: UnodcHomicideConnector, body: bytes, content_type: str = "text/csv"
) -> UnodcHomicideConnector:
    """A connector pointed at `httpserver`, which answers the CSV URL with `body`."""
    httpserver.expect_request(connector.config.options["path"]).respond_with_data(
        body, content_type=content_type
    )
    return UnodcHomicideConnector(connector.config.with_base_url(httpserver.url_for("/")))


def _live(httpserver: Any, tmp_path: Path, connector: Any, body: bytes) -> pd.DataFrame:
    served = _served(httpserver, connector, body)
    (acquired,) = _fetcher(tmp_path, "live").acquire(served)
    assert acquired.mode == "live"
    return served.parse(acquired.resource, acquired.snapshots[0].read())


def _figures(frame: pd.DataFrame) -> dict[tuple[str, int], float | None]:
    return {
        (e, int(y)): (None if math.isnan(v) else v)
        for e, y, v in zip(frame["entity"], frame["year"], frame["value"], strict=True)
    }


# --- the registry and the bundled snapshot ----------------------------------------------


def test_registry_entry(connector: UnodcHomicideConnector) -> None:
    config = connector.config
    assert (config.edition, config.max_age_days, config.marking.slug) == (
        "UNODC 2025 via OWID", 400, "clear",
    )  # fmt: skip
    (resource,) = connector.resources()
    assert resource.url == "https://ourworldindata.org/grapher/homicide-rate-unodc.csv"
    assert "follow the original sources' licences" in config.licence


def test_bundled_files_are_the_documented_ones(payload: bytes) -> None:
    metadata = (FOLDER / "homicide-rate-unodc.metadata.json").read_bytes()
    assert hashlib.sha256(payload).hexdigest() == CSV_SHA256
    assert hashlib.sha256(metadata).hexdigest() == JSON_SHA256
    provenance = (FOLDER / "PROVENANCE.md").read_text(encoding="utf-8")
    assert CSV_SHA256 in provenance and JSON_SHA256 in provenance
    assert payload == shared_file("homicide_owid", "homicide-rate-unodc.csv").read_bytes()


def test_offline_mode_serves_the_bundled_csv(connector: Any, tmp_path: Path) -> None:
    (acquired,) = _fetcher(tmp_path, "offline").acquire(connector)
    provenance = acquired.snapshots[0].provenance
    assert (acquired.mode, provenance.synthetic, provenance.sha256) == (
        "bundled",
        False,
        CSV_SHA256,
    )
    assert provenance.retrieved_at.startswith("2025-11-08")


# --- parsing the real filtered file -----------------------------------------------------


def test_filtered_file_parses_to_one_row_per_country(parsed: pd.DataFrame) -> None:
    assert tuple(parsed.columns) == COLUMNS
    assert len(parsed) == 175 and parsed["entity"].is_unique
    assert parsed["value"].notna().sum() == 140  # 35 countries listed without a figure
    assert set(parsed["indicator_id"]) == {INDICATOR_ID}
    assert set(parsed["edition"]) == {"UNODC 2025 via OWID"}
    assert parsed["source_line"].tolist() == list(range(2, 177))
    assert default_harmoniser().unmatched(parsed["entity"]) == []


def test_values_and_years_equal_an_independent_read(parsed: pd.DataFrame) -> None:
    """pandas names the two `time` columns `time` and `time.1`: the year is `time.1`."""
    theirs = pd.read_csv(shared_file("homicide_owid", "homicide-rate-unodc.csv"))
    assert list(theirs.columns)[-2:] == ["time", "time.1"]
    assert ((theirs["Year"] == theirs["time.1"]) | theirs["Year"].isna()).all()
    expected = {
        (row.Entity, int(row._7)): (None if math.isnan(row._4) else row._4)
        for row in theirs.itertuples()
    }
    assert _figures(parsed) == expected
    assert parsed.loc[parsed["entity"] == "Albania", "owid_code"].tolist() == ["ALB"]
    assert parsed["owid_code"].notna().sum() == 9


# --- both shapes, over HTTP ---------------------------------------------------------------


def test_the_full_csv_shape_with_aggregates(
    httpserver: Any, tmp_path: Path, connector: Any, full_rows: Rows, parsed: pd.DataFrame
) -> None:
    frame = _live(httpserver, tmp_path, connector, to_csv(full_rows, newline="\r\n"))
    assert len(frame) == len(full_rows) - 1 == 2 * 140 + 2 * len(AGGREGATES)
    figures = _figures(frame)
    for (entity, year), value in _figures(parsed).items():
        if value is not None:
            assert figures[(entity, year)] == value and figures[(entity, year - 1)] == value
    assert frame.loc[frame["entity"] == "World", "owid_code"].tolist() == ["OWID_WRL"] * 2
    harmonised = default_harmoniser().harmonise(frame, "entity")
    by_kind = harmonised.groupby("country_match")["entity"].nunique().to_dict()
    assert by_kind == {"country": 140, "aggregate": len(AGGREGATES)}
    httpserver.check_assertions()


def test_short_column_names_and_another_column_order(
    connector: Any, full_rows: Rows, parsed: pd.DataFrame
) -> None:
    order = [3, 2, 0, 1]
    rows = [[row[i] for i in order] for row in full_rows]
    rows[0][0] = VALUE_SHORT_NAME
    frame = _parse(connector, to_csv(rows))
    assert _figures(frame) == _figures(_parse(connector, to_csv(full_rows)))


@pytest.mark.parametrize(
    "preamble", ["\ufeff", "# Homicide rate (UNODC)\n", "Our World in Data\n\n"]
)
def test_header_line_is_found_by_content(
    httpserver: Any, tmp_path: Path, connector: Any, payload: bytes, parsed: pd.DataFrame,
    preamble: str,
) -> None:  # fmt: skip
    frame = _live(httpserver, tmp_path, connector, preamble.encode("utf-8") + payload)
    assert _figures(frame) == _figures(parsed)
    shift = preamble.count("\n")
    assert frame["source_line"].tolist() == [line + shift for line in parsed["source_line"]]


def test_filtered_file_without_region_column_or_first_time(
    connector: Any, filtered_rows: Rows, parsed: pd.DataFrame
) -> None:
    """An export without the optional columns: the remaining `time` is the value's year."""
    rows = [[row[0], row[1], row[2], row[3], row[6]] for row in filtered_rows]
    frame = _parse(connector, to_csv(rows))
    assert _figures(frame) == _figures(parsed) and frame["owid_region"].isna().all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows[0].__setitem__(3, "Homicides (count)"), r"no homicide-rate column"),
        (lambda rows: rows[0].__setitem__(0, "Country"), r"no header line with 'Entity'"),
        (lambda rows: [row.__delitem__(2) for row in rows], r"no 'Year' and no 'time' column"),
        (lambda rows: [row.append(row[3]) for row in rows], r"more than one homicide-rate column"),
    ],
)
def test_renamed_or_missing_columns_fail_and_auto_falls_back(
    httpserver: Any, tmp_path: Path, connector: Any, full_rows: Rows, change: Any, message: str
) -> None:
    rows = [list(row) for row in full_rows]
    change(rows)
    served = _served(httpserver, connector, to_csv(rows))
    with pytest.raises(SourceUnavailable, match=message):
        _fetcher(tmp_path, "live").acquire(served)
    assert SnapshotStore(tmp_path / "snapshots").latest_fetch("unodc_homicide", "csv") is None
    (acquired,) = _fetcher(tmp_path, "auto").acquire(served)
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "bundled snapshot used" in acquired.note


def test_an_html_page_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: Any
) -> None:
    page = b"<!doctype html><html><head><title>Our World in Data</title></head><body></body></html>"
    served = _served(httpserver, connector, page, content_type="text/html")
    with pytest.raises(SourceUnavailable, match="got an HTML/XML page"):
        _fetcher(tmp_path, "live").acquire(served)


@pytest.mark.parametrize("cut", [0.5, 0.97, -1, -3])
def test_a_truncated_download_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: Any, payload: bytes, cut: float
) -> None:
    """Cut in the middle of a row (fields missing, or a year cut short), or mid-file."""
    end = int(len(payload) * cut) if cut > 0 else len(payload) + int(cut)
    served = _served(httpserver, connector, payload[:end])
    with pytest.raises(
        SourceUnavailable, match=r"fields where the header has|is not a year|only \d+ entities"
    ):
        _fetcher(tmp_path, "live").acquire(served)


def test_a_file_cut_at_a_row_boundary_is_refused_when_too_short(
    connector: Any, full_rows: Rows
) -> None:
    rows = full_rows[: 2 * (MIN_ENTITIES - 1) + 1]
    with pytest.raises(
        PayloadError, match=rf"only {MIN_ENTITIES - 1} entities with a homicide rate"
    ):
        _parse(connector, to_csv(rows))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            3,
            "n/a",
            r"line 3, column 4 \('Homicide rate per 100,000 population.*'\): 'n/a' is not a number",
        ),
        (3, "<0.5", r"line 3, column 4 .*'<0.5' is not a number"),
        (3, "-1.2", r"line 3, column 4 .*'-1.2' is not a rate"),
        (3, "inf", r"line 3, column 4 .*'inf' is not a rate"),
        (6, "", r"line 3, column 7 \('time'\): '' is not a year"),
        (6, "2023", r"line 3: 'Year' says 2024 but the last 'time' column says 2023"),
        (0, " ", r"line 3, column 'Entity': blank"),
    ],
)
def test_bad_cells_fail_naming_line_and_column(
    connector: Any, filtered_rows: Rows, column: int, value: str, message: str
) -> None:
    rows = [list(row) for row in filtered_rows]
    assert rows[2][0] == "Albania" and rows[2][2] == "2024"  # line 3
    rows[2][column] = value
    with pytest.raises(PayloadError, match=message):
        _parse(connector, to_csv(rows))


def test_a_repeated_entity_year_is_refused(connector: Any, full_rows: Rows) -> None:
    rows = [*full_rows, full_rows[1]]
    with pytest.raises(PayloadError, match=rf"line {len(rows)}: .* repeats line 2"):
        _parse(connector, to_csv(rows))


# --- the published figures --------------------------------------------------------------


SPOT = [("Colombia", "COL"), ("Jamaica", "JAM"), ("France", "FRA"), ("East Timor", "TLS"),
        ("Micronesia (country)", "FSM"), ("Albania", "ALB")]  # fmt: skip


@pytest.mark.parametrize(("entity", "iso3"), SPOT)
def test_published_rates_equal_the_source_file(offline_run: Any, entity: str, iso3: str) -> None:
    theirs = pd.read_csv(shared_file("homicide_owid", "homicide-rate-unodc.csv"))
    (row,) = theirs.loc[theirs["Entity"] == entity].itertuples()
    with offline_run.published() as con:
        rows = con.execute(
            "select year, value, edition, unit, scale, direction from marts.fct_indicator "
            "where source_id = 'unodc_homicide' and indicator_id = 'unodc.homicide.rate' "
            "and iso3 = ?",
            [iso3],
        ).fetchall()
    expected_value = None if math.isnan(row._4) else row._4
    assert rows == [
        (int(row._7), expected_value, "UNODC 2025 via OWID", "per 100,000 inhabitants", "rate",
         "higher_is_worse"),
    ]  # fmt: skip


def test_counts_and_nulls_reconcile_from_raw_to_the_mart(offline_run: Any) -> None:
    assert offline_run.result.success
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        raw, unmatched, staged = con.execute(
            "select count(*), count(*) filter (where country_match <> 'country'), "
            "(select count(*) from staging.unodc_homicide) from raw.unodc_homicide"
        ).fetchone()
    with offline_run.published() as con:
        published, nulls, zeros = con.execute(
            "select count(*), count(*) - count(value), count(*) filter (where value = 0) "
            "from marts.fct_indicator where source_id = 'unodc_homicide'"
        ).fetchone()
        angola = con.execute(
            "select year, value from marts.fct_indicator "
            "where source_id = 'unodc_homicide' and iso3 = 'AGO'"
        ).fetchall()
    # One published 0 (Tuvalu 2019, "0" in the file): a reported nil stays 0.
    assert (raw, unmatched, staged, published, nulls, zeros) == (175, 0, 175, 175, 35, 1)
    assert angola == [(2024, None)]  # listed by OWID without a figure: null, never 0
    checks = {
        e.check_name: e.passed
        for e in offline_run.result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/unodc_homicide"
    }
    assert checks["countries_harmonised"] is True
