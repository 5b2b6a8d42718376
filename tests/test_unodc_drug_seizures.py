"""The UNODC drug seizures connector: the bundled WDR 2024 annex table checked against an
independent export, real-format workbooks served over HTTP (header offsets, reordered,
renamed and missing columns, edition drift, HTML and truncated payloads, bad cells), and
the published figures after a whole offline run.

The references are read without the connector: the derived CSV of the same sheet with the
csv module, and the shared xlsx with openpyxl. Fixture workbooks are built with openpyxl
from the real sheet's cells, so they have UNODC's layout and figures.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
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
from extra_pipeline.sources.unodc_drug_seizures import (
    COLUMNS,
    DRUG_GROUPS,
    GROUPS_BY_NAME,
    UnodcDrugSeizuresConnector,
    normalise,
)

SHA256 = "ce7b6ef80f6663b9867634f5e7eabbd4aef1be88dc03cd8a976ce920c6aa15c4"
XLSX = "7.1._Drug_seizures_2018-2022.xlsx"
HEADER = ["Region", "SubRegion", "Country", "DrugGroup", "DrugSubGroup", "DrugName",
          "Reference year", "Kilograms", "msCode"]  # fmt: skip
ROWS_PER_YEAR = {2018: 2024, 2019: 2116, 2020: 2213, 2021: 2308, 2022: 2352}
# A few countries, every year: a small real-format fixture (Kenya, Colombia, Egypt...).
FIXTURE_CODES = {"KEN", "COL", "EGY", "AND", "AUS", "AFG"}
Rows = list[list[Any]]


@pytest.fixture(scope="module")
def connector() -> UnodcDrugSeizuresConnector:
    return UnodcDrugSeizuresConnector(load_registry()["unodc_drug_seizures"])


@pytest.fixture(scope="module")
def workbook(connector: UnodcDrugSeizuresConnector) -> bytes:
    """The bundled snapshot's bytes, found through its manifest as the offline mode does."""
    (path,) = connector.bundled_manifest().files["workbook"]
    return read_bundled_file(path)


@pytest.fixture(scope="module")
def parsed(connector: UnodcDrugSeizuresConnector, workbook: bytes) -> pd.DataFrame:
    return _parse(connector, workbook)


@pytest.fixture(scope="module")
def sheet_rows(workbook: bytes) -> Rows:
    """The real `Export` sheet's cells (values), title row included."""
    book = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True, data_only=True)
    rows = [list(row) for row in book["Export"].iter_rows(values_only=True)]
    book.close()
    assert rows[0][0] == "Drug seizures, 2018-2022" and rows[1] == HEADER  # as documented
    return rows


@pytest.fixture(scope="module")
def small_rows(sheet_rows: Rows) -> Rows:
    """Title, header and the real rows of `FIXTURE_CODES` (every year)."""
    return sheet_rows[:2] + [row for row in sheet_rows[2:] if row[8] in FIXTURE_CODES]


def build_workbook(rows: Rows, sheet: str = "Export") -> bytes:
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def without_columns(rows: Rows, *headers: str) -> Rows:
    """`rows` without the columns whose header (row 2) is in `headers`; the title row stays."""
    kept = [i for i, header in enumerate(rows[1]) if header not in headers]
    return [rows[0]] + [[row[i] for i in kept] for row in rows[1:]]


def _parse(connector: UnodcDrugSeizuresConnector, payload: bytes) -> pd.DataFrame:
    (resource,) = connector.resources()
    connector.validate(resource, payload)
    return connector.parse(resource, payload)


def _fetcher(tmp_path: Path, mode: str) -> SourceFetcher:
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode=mode,  # type: ignore[arg-type]
    )


def _served(
    httpserver: Any,
    connector: UnodcDrugSeizuresConnector,
    payload: bytes,
    content_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
) -> UnodcDrugSeizuresConnector:
    """A connector pointed at `httpserver`, which answers the workbook URL with `payload`."""
    httpserver.expect_request(connector.config.options["path"]).respond_with_data(
        payload, content_type=content_type
    )
    return UnodcDrugSeizuresConnector(connector.config.with_base_url(httpserver.url_for("/")))


def _live(httpserver: Any, tmp_path: Path, connector: Any, payload: bytes) -> pd.DataFrame:
    """`payload` fetched over HTTP in live mode and parsed."""
    served = _served(httpserver, connector, payload)
    (acquired,) = _fetcher(tmp_path, "live").acquire(served)
    assert acquired.mode == "live"
    return served.parse(acquired.resource, acquired.snapshots[0].read())


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The figures and keys, without the spreadsheet position."""
    return frame.drop(columns=["source_row"]).reset_index(drop=True)


# --- the registry and the bundled snapshot ----------------------------------------------


def test_registry_entry(connector: UnodcDrugSeizuresConnector) -> None:
    config = connector.config
    assert (config.edition, config.marking.slug, config.max_age_days) == ("WDR 2024", "clear", 400)
    (resource,) = connector.resources()
    assert resource.url == "https://www.unodc.org" + config.options["path"]
    assert resource.url.endswith("/7.1._Drug_seizures_2018-2022.xlsx")
    assert "not verified" in config.licence


def test_bundled_workbook_is_the_documented_file(workbook: bytes) -> None:
    folder = ASSETS_DIR / "snapshots" / "unodc_drug_seizures"
    assert hashlib.sha256(workbook).hexdigest() == SHA256
    assert SHA256 in "".join(re.findall(r"[0-9a-f]+", (folder / "manifest.yaml").read_text()))
    assert SHA256 in (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    assert workbook == shared_file("unodc", XLSX).read_bytes()


def test_offline_mode_serves_the_bundled_workbook(
    connector: UnodcDrugSeizuresConnector, tmp_path: Path
) -> None:
    (acquired,) = _fetcher(tmp_path, "offline").acquire(connector)
    provenance = acquired.snapshots[0].provenance
    assert (acquired.mode, provenance.synthetic, provenance.edition) == (
        "bundled",
        False,
        "WDR 2024",
    )
    assert provenance.sha256 == SHA256
    assert provenance.retrieved_at.startswith("2024-06-21")


# --- parsing the real table -------------------------------------------------------------


def test_every_sheet_row_is_kept(parsed: pd.DataFrame) -> None:
    assert tuple(parsed.columns) == COLUMNS
    assert len(parsed) == 11013 == sum(ROWS_PER_YEAR.values())
    assert parsed["year"].value_counts().sort_index().to_dict() == ROWS_PER_YEAR
    assert parsed["source_row"].tolist() == list(range(3, 11013 + 3))
    assert set(parsed["edition"]) == {"WDR 2024"}
    assert parsed["country_code"].nunique() == 156
    assert (parsed["country"] == parsed["country_code"]).all()
    assert parsed["kilograms"].dtype == "float64"
    # Blank stays null, a reported nil stays 0.
    assert (parsed["kilograms"].isna().sum(), (parsed["kilograms"] == 0).sum()) == (72, 1494)


def test_every_row_equals_the_derived_csv(parsed: pd.DataFrame) -> None:
    path = shared_file("unodc", "drug_seizures_2018_2022_wdr2024.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(parsed)
    for row, ours in zip(rows, parsed.itertuples(index=False), strict=True):
        assert (ours.country_name, ours.country_code, ours.drug_group, ours.drug_subgroup,
                ours.drug_name, ours.year, ours.region, ours.subregion) == (
            row["Country"], row["msCode"], row["DrugGroup"], row["DrugSubGroup"],
            row["DrugName"], int(row["Reference year"]), row["Region"], row["SubRegion"],
        )  # fmt: skip
        if row["Kilograms"] == "":
            assert math.isnan(ours.kilograms)
        else:
            assert ours.kilograms == float(row["Kilograms"])


def test_drug_groups_get_the_documented_ids(parsed: pd.DataFrame) -> None:
    ids = [group.id for group in DRUG_GROUPS]
    assert len(ids) == 11 == len(set(ids)) == len(GROUPS_BY_NAME)
    assert all(re.fullmatch(r"unodc\.seizure\.[a-z_]+_kg", i) for i in ids)
    assert {
        "unodc.seizure.cocaine_type_kg",
        "unodc.seizure.cannabis_type_kg",
        "unodc.seizure.opioids_kg",
        "unodc.seizure.ats_kg",
    } <= set(ids)
    pairs = parsed[["drug_group", "indicator_id"]].drop_duplicates()
    assert len(pairs) == 11 and pairs["indicator_id"].is_unique  # one group, one id
    ecstasy = pairs.loc[pairs["drug_group"].str.contains("Ecstasy"), "indicator_id"]
    assert ecstasy.tolist() == ["unodc.seizure.ecstasy_type_kg"]  # curly quotes in the file
    assert normalise("“Ecstasy”-type substances") == normalise('"Ecstasy"-type substances')


# --- real-format payloads over HTTP -------------------------------------------------------


def test_small_fixture_parses_like_the_bundled_rows(
    httpserver: Any, tmp_path: Path, connector: Any, small_rows: Rows, parsed: pd.DataFrame
) -> None:
    frame = _live(httpserver, tmp_path, connector, build_workbook(small_rows))
    expected = parsed.loc[parsed["country_code"].isin(FIXTURE_CODES)]
    pd.testing.assert_frame_equal(_comparable(frame), _comparable(expected))
    httpserver.check_assertions()


@pytest.mark.parametrize("banner", [0, 1, 4])
def test_header_row_is_found_by_content_and_columns_by_name(
    httpserver: Any, tmp_path: Path, connector: Any, small_rows: Rows, banner: int
) -> None:
    """No title row, or several, and the columns in another order: the same figures."""
    order = [8, 7, 6, 0, 2, 1, 3, 5, 4]  # msCode first, Kilograms second ...
    body = [[row[i] for i in order] for row in small_rows[1:]]
    title = [["Drug seizures, 2018-2022"], ["World Drug Report 2024"], [None], [None]][:banner]
    frame = _live(httpserver, tmp_path, connector, build_workbook(title + body))
    reference = _parse(connector, build_workbook(small_rows))
    pd.testing.assert_frame_equal(_comparable(frame), _comparable(reference))
    assert frame["source_row"].iloc[0] == banner + 2


def test_columns_missing_in_older_exports_are_not_an_error(
    httpserver: Any, tmp_path: Path, connector: Any, small_rows: Rows
) -> None:
    """No msCode, region or sub-group columns: nulls, and the country name is harmonised."""
    rows = without_columns(small_rows, "msCode", "Region", "SubRegion", "DrugSubGroup", "DrugName")
    frame = _live(httpserver, tmp_path, connector, build_workbook(rows))
    reference = _parse(connector, build_workbook(small_rows))
    assert len(frame) == len(reference)
    for column in ("country_code", "region", "subregion", "drug_subgroup", "drug_name"):
        assert frame[column].isna().all(), column
    assert (frame["country"] == frame["country_name"]).all()
    harmonised = default_harmoniser().harmonise(frame, "country")
    assert (harmonised["iso3"] == reference["country_code"]).all()
    pd.testing.assert_series_equal(frame["kilograms"], reference["kilograms"])


@pytest.mark.parametrize(
    ("header", "replacement"),
    [("Kilograms", None), ("Kilograms", "Quantity (t)"), ("DrugGroup", "Drug category"),
     ("Country", None), ("Reference year", None)],
)  # fmt: skip
def test_a_missing_or_renamed_key_column_fails_and_auto_falls_back(
    httpserver: Any,
    tmp_path: Path,
    connector: Any,
    small_rows: Rows,
    header: str,
    replacement: str | None,
) -> None:
    if replacement is None:
        rows = without_columns(small_rows, header)
    else:
        rows = [list(row) for row in small_rows]
        rows[1][HEADER.index(header)] = replacement
    served = _served(httpserver, connector, build_workbook(rows))
    with pytest.raises(SourceUnavailable, match=r"no sheet of \['Export'\] has a header row"):
        _fetcher(tmp_path, "live").acquire(served)
    assert (
        SnapshotStore(tmp_path / "snapshots").latest_fetch("unodc_drug_seizures", "workbook")
        is None
    )
    (acquired,) = _fetcher(tmp_path, "auto").acquire(served)
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "header row" in acquired.note and "bundled snapshot used" in acquired.note


def test_an_html_page_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: Any
) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>UNODC</title></head><body>Page not found</body></html>"
    served = _served(httpserver, connector, page, content_type="text/html")
    with pytest.raises(SourceUnavailable, match="got an HTML page"):
        _fetcher(tmp_path, "live").acquire(served)
    (acquired,) = _fetcher(tmp_path, "auto").acquire(served)
    assert (acquired.mode, acquired.stale) == ("bundled", True)


def test_a_truncated_download_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: Any, workbook: bytes
) -> None:
    served = _served(httpserver, connector, workbook[: len(workbook) // 2])
    with pytest.raises(SourceUnavailable, match="truncated or corrupt"):
        _fetcher(tmp_path, "live").acquire(served)
    assert (
        SnapshotStore(tmp_path / "snapshots").latest_fetch("unodc_drug_seizures", "workbook")
        is None
    )


@pytest.mark.parametrize("payload", [b"", b"\x00" * 64, b"PK\x03\x04" + b"\x00" * 64])
def test_other_non_workbooks_are_refused(connector: Any, payload: bytes) -> None:
    with pytest.raises(PayloadError):
        _parse(connector, payload)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "Kilograms",
            "n/a",
            r"column H \(Kilograms\): non-numeric quantity at row\(s\) 5, e.g. 'n/a'",
        ),
        ("Kilograms", "<1", r"column H \(Kilograms\): non-numeric quantity at row\(s\) 5"),
        ("Kilograms", -3.5, r"column H \(Kilograms\): negative quantity at row\(s\) 5"),
        ("Reference year", "2022e", r"column G \(Reference year\): not a year at row\(s\) 5"),
        ("Country", None, r"column C \(Country\): blank at row\(s\) 5"),
        ("DrugGroup", "Kratom", r"unknown drug group\(s\) \['Kratom'\].*DRUG_GROUPS"),
    ],
)
def test_bad_cells_fail_naming_row_and_column(
    connector: Any, small_rows: Rows, column: str, value: Any, message: str
) -> None:
    rows = [list(row) for row in small_rows]
    rows[4][HEADER.index(column)] = value  # spreadsheet row 5
    with pytest.raises(PayloadError, match=message):
        _parse(connector, build_workbook(rows))


def test_edition_drift_is_refused_until_the_registry_says_so(
    httpserver: Any, tmp_path: Path, connector: Any, small_rows: Rows
) -> None:
    """A WDR 2025 table (reference years to 2023) at the same address under `WDR 2024`."""
    year = HEADER.index("Reference year")
    rows = small_rows[:2] + [
        [*row[:year], row[year] + 1, *row[year + 1 :]] for row in small_rows[2:]
    ]
    payload = build_workbook(rows)
    served = _served(httpserver, connector, payload)
    with pytest.raises(SourceUnavailable, match=r"latest reference year is 2023, but WDR 2024"):
        _fetcher(tmp_path, "live").acquire(served)
    newer = UnodcDrugSeizuresConnector(dataclasses.replace(connector.config, edition="WDR 2025"))
    frame = _parse(newer, payload)
    assert set(frame["edition"]) == {"WDR 2025"} and frame["year"].max() == 2023
    with pytest.raises(PayloadError, match="reports up to 2023"):
        _parse(newer, build_workbook(small_rows))  # an older report under a newer edition


# --- the published figures --------------------------------------------------------------


@pytest.fixture(scope="module")
def independent_sums() -> dict[tuple[str, int, str], tuple[float | None, int]]:
    """(msCode, year, DrugGroup) -> (kilograms summed over its rows, None if all blank;
    number of rows), from the shared xlsx read with openpyxl."""
    book = openpyxl.load_workbook(shared_file("unodc", XLSX), read_only=True, data_only=True)
    rows = list(book["Export"].iter_rows(min_row=3, values_only=True))
    book.close()
    sums: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    for _, _, _, group, _, _, year, kilograms, code in rows:
        counts[(code, year, group)] += 1
        if kilograms is not None:
            sums[(code, year, group)].append(kilograms)
    return {key: (math.fsum(sums[key]) if sums[key] else None, n) for key, n in counts.items()}


SPOT = [
    ("COL", 2022, "Cocaine-type", "unodc.seizure.cocaine_type_kg"),
    ("KEN", 2022, "Cannabis-type drugs (excluding synthetic cannabinoids)",
     "unodc.seizure.cannabis_type_kg"),
    ("AFG", 2018, "Cannabis-type drugs (excluding synthetic cannabinoids)",
     "unodc.seizure.cannabis_type_kg"),
    ("AUS", 2020, "Amphetamine-type stimulants (excluding “ecstasy”)", "unodc.seizure.ats_kg"),
    ("IRN", 2021, "Opioids", "unodc.seizure.opioids_kg"),
    ("EGY", 2021, "Opioids", "unodc.seizure.opioids_kg"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "year", "group", "indicator_id"), SPOT)
def test_published_kilograms_equal_the_source_file(
    offline_run: Any,
    independent_sums: dict[tuple[str, int, str], tuple[float | None, int]],
    code: str,
    year: int,
    group: str,
    indicator_id: str,
) -> None:
    expected, _ = independent_sums[(code, year, group)]
    assert expected is not None and expected > 0
    with offline_run.published() as con:
        rows = con.execute(
            "select value, edition, unit, scale, direction, censored from marts.fct_indicator "
            "where source_id = 'unodc_drug_seizures' and indicator_id = ? and iso3 = ? "
            "and year = ?",
            [indicator_id, code, year],
        ).fetchall()
    assert len(rows) == 1
    value, *rest = rows[0]
    assert value == pytest.approx(expected, rel=1e-12)
    assert rest == ["WDR 2024", "kg", "absolute", "neutral", False]


def test_every_group_sum_and_null_reconciles_from_raw_to_the_mart(
    offline_run: Any,
    independent_sums: dict[tuple[str, int, str], tuple[float | None, int]],
) -> None:
    assert offline_run.result.success
    ids = {name: group.id for name, group in GROUPS_BY_NAME.items()}
    expected = {
        (code, year, ids[normalise(group)]): pair
        for (code, year, group), pair in independent_sums.items()
    }
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        raw, unmatched = con.execute(
            "select count(*), count(*) filter (where country_match <> 'country') "
            "from raw.unodc_drug_seizures"
        ).fetchone()
        staged = con.execute(
            "select iso3, year, indicator_id, value, rows_summed, rows_blank "
            "from staging.unodc_drug_seizures"
        ).fetchall()
    with offline_run.published() as con:
        published = con.execute(
            "select iso3, year, indicator_id, value from marts.fct_indicator "
            "where source_id = 'unodc_drug_seizures'"
        ).fetchall()
    assert (raw, unmatched) == (11013, 0)
    assert sum(row[4] for row in staged) == 11013 and sum(row[5] for row in staged) == 72
    assert len(staged) == len(published) == len(expected)
    for iso3, year, indicator_id, value in published:
        total, _ = expected[(iso3, year, indicator_id)]
        if total is None:
            assert value is None, (iso3, year, indicator_id)  # all blank: null, never 0
        else:
            assert value == pytest.approx(total, rel=1e-12, abs=1e-12), (iso3, year, indicator_id)
    assert any(total is None for total, _ in expected.values())
    checks = {
        e.check_name: e.passed
        for e in offline_run.result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/unodc_drug_seizures"
    }
    assert checks["countries_harmonised"] is True
