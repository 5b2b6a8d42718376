"""The CPI connector: the bundled official workbook checked against an independent export,
real-format workbooks served over HTTP (banner offsets, edition drift, older exports, HTML
and truncated payloads), and the published figures after a whole offline run.

The reference is `cpi_historical_2012_2023_long.csv` in the shared data folder: a plain
CSV export of the workbook's *other* long sheet (`CPI Historical (internal)`), read with the
csv module, never through the connector. Fixture workbooks are built with openpyxl from
the real time-series sheet's cells, so they have TI's layout and figures.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
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
from extra_pipeline.sources import cpi as cpi_module
from extra_pipeline.sources.base import (
    ASSETS_DIR,
    PayloadError,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.cpi import COLUMNS, INDICATORS, CpiConnector

SHEET = "CPI Timeseries 2012 - 2023"
OTHER_SHEETS = ("CPI 2023", "CPI 2023 Changes", "CPI Historical (internal)")
YEARS = list(range(2012, 2024))
SCORED_PER_YEAR = {2012: 175, 2013: 176, 2014: 174, 2015: 168, 2016: 176} | {
    year: 180 for year in range(2017, 2024)
}
# The long CSV's columns for each indicator.
CSV_COLUMN = {
    "cpi.score": "CPI score",
    "cpi.rank": "Rank",
    "cpi.standard_error": "Standard error",
    "cpi.sources": "Number of sources",
}
Rows = list[list[Any]]


@pytest.fixture(scope="module")
def connector() -> CpiConnector:
    return CpiConnector(load_registry()["cpi"])


@pytest.fixture(scope="module")
def workbook(connector: CpiConnector) -> bytes:
    """The bundled snapshot's bytes, found through its manifest as the offline mode does."""
    (path,) = connector.bundled_manifest().files["workbook"]
    return read_bundled_file(path)


@pytest.fixture(scope="module")
def parsed(connector: CpiConnector, workbook: bytes) -> pd.DataFrame:
    (resource,) = connector.resources()
    connector.validate(resource, workbook)
    return connector.parse(resource, workbook)


@pytest.fixture(scope="module")
def long_csv() -> dict[tuple[str, int], dict[str, str]]:
    """The shared long export, keyed by (ISO3, year)."""
    path = shared_file("cpi", "cpi_historical_2012_2023_long.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        return {(row["ISO3"], int(row["Year"])): row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def sheet_rows(workbook: bytes) -> Rows:
    """The real time-series sheet's cells (values), banner rows included."""
    book = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True, data_only=True)
    rows = [list(row) for row in book[SHEET].iter_rows(values_only=True)]
    book.close()
    assert rows[3][:2] == ["Country / Territory", "ISO3"]  # header on row 4, as documented
    return rows


def build_workbook(rows: Rows, sheet: str = SHEET, others: tuple[str, ...] = OTHER_SHEETS) -> bytes:
    """A real-format workbook: `rows` as the time-series sheet among TI's other sheets."""
    book = openpyxl.Workbook()
    book.active.title = others[0]
    book.active["A1"] = "Corruption Perceptions Index: Global scores"
    target = book.create_sheet(sheet, 1)
    for row in rows:
        target.append(row)
    for name in others[1:]:
        book.create_sheet(name)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def column_of(rows: Rows, header: str) -> int:
    (position,) = [i for i, cell in enumerate(rows[3]) if cell == header]
    return position


def drop_columns(rows: Rows, keep: Callable[[Any], bool]) -> Rows:
    """`rows` without the columns whose header (row 4) fails `keep`."""
    kept = [i for i, header in enumerate(rows[3]) if header is None or keep(header)]
    return [[row[i] if i < len(row) else None for i in kept] for row in rows]


def _parse(connector: CpiConnector, payload: bytes) -> pd.DataFrame:
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
    httpserver: Any, connector: CpiConnector, payload: bytes, **kwargs: Any
) -> CpiConnector:
    """A connector pointed at `httpserver`, which answers its workbook URL with `payload`."""
    path = connector.config.options["path"]
    httpserver.expect_request(path).respond_with_data(
        payload,
        content_type=kwargs.get(
            "content_type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
    )
    return CpiConnector(connector.config.with_base_url(httpserver.url_for("/")))


# --- the registry and the bundled snapshot ----------------------------------------------


def test_registry_entry(connector: CpiConnector) -> None:
    config = connector.config
    (resource,) = connector.resources()
    assert (
        resource.url == "https://images.transparencycdn.org/images/CPI2023_GlobalResultsTrends.xlsx"
    )
    assert (config.edition, config.max_age_days) == ("2023", 400)
    assert "CC BY-ND 4.0" in config.licence and "not verified" in config.licence
    assert "do not alter" in config.licence


def test_bundled_workbook_is_the_documented_file(connector: CpiConnector, workbook: bytes) -> None:
    digest = hashlib.sha256(workbook).hexdigest()
    folder = ASSETS_DIR / "snapshots" / "cpi"
    manifest = (folder / "manifest.yaml").read_text(encoding="utf-8")
    provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    assert digest in "".join(re.findall(r"[0-9a-f]+", manifest))
    assert digest in provenance
    assert workbook == shared_file("cpi", "CPI2023_GlobalResultsTrends.xlsx").read_bytes()
    bundled = connector.bundled_manifest()
    assert (bundled.edition, bundled.synthetic) == ("2023", False)


def test_offline_mode_serves_the_bundled_workbook(connector: CpiConnector, tmp_path: Path) -> None:
    (acquired,) = _fetcher(tmp_path, "offline").acquire(connector)
    provenance = acquired.snapshots[0].provenance
    assert (acquired.mode, provenance.synthetic, provenance.edition) == ("bundled", False, "2023")
    assert "CC BY-ND 4.0" in provenance.licence
    assert len(connector.parse(acquired.resource, acquired.snapshots[0].read())) == 7647


# --- parsing the real workbook ----------------------------------------------------------


def test_long_frame_shape_and_counts(parsed: pd.DataFrame) -> None:
    assert tuple(parsed.columns) == COLUMNS
    assert parsed["value"].dtype == "float64" and parsed["value"].notna().all()
    assert set(parsed["edition"]) == {"2023"}
    assert not parsed.duplicated(["country_code", "year", "indicator_id"]).any()
    counts = parsed.groupby(["indicator_id", "year"]).size()
    for year, scored in SCORED_PER_YEAR.items():
        for indicator_id in ("cpi.score", "cpi.standard_error", "cpi.sources"):
            assert counts[(indicator_id, year)] == scored, (indicator_id, year)
        # The time series carries ranks from 2017 only: no rank rows before, not nulls.
        assert counts.get(("cpi.rank", year), 0) == (scored if year >= 2017 else 0)
    # Counts reconcile: three measures per scored country-year, plus the 2017-2023 ranks.
    assert len(parsed) == 3 * sum(SCORED_PER_YEAR.values()) + 7 * 180 == 7647
    assert set(parsed["region"]) == {"AME", "AP", "ECA", "MENA", "SSA", "WE/EU"}


def test_every_figure_equals_the_independent_long_export(
    parsed: pd.DataFrame, long_csv: dict[tuple[str, int], dict[str, str]]
) -> None:
    ours = parsed.set_index(["country_code", "year", "indicator_id"])["value"]
    scored = set(zip(parsed["country_code"], parsed["year"], strict=True))
    # The long sheet has exactly our country-years plus Puerto Rico 2012-2014 (the
    # time-series sheet leaves it out; documented in PROVENANCE.md).
    assert set(long_csv) - scored == {("PRI", 2012), ("PRI", 2013), ("PRI", 2014)}
    assert scored <= set(long_csv)
    checked = 0
    for (code, year), row in long_csv.items():
        if code == "PRI":
            continue
        for indicator_id, column in CSV_COLUMN.items():
            if indicator_id == "cpi.rank" and year < 2017:
                assert (code, year, indicator_id) not in ours.index
                continue
            assert ours[(code, year, indicator_id)] == pytest.approx(float(row[column])), (
                code, year, indicator_id,
            )  # fmt: skip
            checked += 1
    assert checked == len(parsed)


def test_kosovo_is_ksv_and_every_code_is_a_country(parsed: pd.DataFrame) -> None:
    assert "KSV" in set(parsed["country_code"])
    harmonised = default_harmoniser().harmonise(parsed, "country_code")
    assert (harmonised["country_match"] == "country").all()
    kosovo = harmonised.loc[harmonised["country_code"] == "KSV", "iso3"]
    assert set(kosovo) == {"XKX"}
    others = harmonised[harmonised["country_code"] != "KSV"]
    assert (others["iso3"] == others["country_code"]).all()


def test_indicator_catalogue_is_the_documented_one() -> None:
    catalogue = {i.id: (i.unit, i.scale, i.direction) for i in INDICATORS}
    assert catalogue == {
        "cpi.score": ("score 0-100", "index", "higher_is_better"),
        "cpi.rank": ("rank", "rank", "higher_is_worse"),
        "cpi.standard_error": ("score points", "absolute", "neutral"),
        "cpi.sources": ("sources", "absolute", "neutral"),
    }
    for indicator_id in catalogue:
        assert f"`{indicator_id}`" in (cpi_module.__doc__ or "")


# --- real-format workbooks over HTTP ----------------------------------------------------


@pytest.mark.parametrize("banner_rows", [0, 2, 4, 6])
def test_header_row_is_found_by_content(
    httpserver: Any,
    tmp_path: Path,
    connector: CpiConnector,
    sheet_rows: Rows,
    parsed: pd.DataFrame,
    banner_rows: int,
) -> None:
    banner = [["Corruption Perceptions Index 2023: Score timeseries since 2012"]] + [[None]] * (
        banner_rows - 1
    )
    rows = banner[:banner_rows] + sheet_rows[3:]
    served = _served(httpserver, connector, build_workbook(rows))
    (acquired,) = _fetcher(tmp_path, "live").acquire(served)
    assert acquired.mode == "live" and not acquired.stale
    frame = served.parse(acquired.resource, acquired.snapshots[0].read())
    pd.testing.assert_frame_equal(frame, parsed)
    assert cpi_module.read_timeseries(acquired.snapshots[0].read()).header_row == banner_rows + 1
    httpserver.check_assertions()


def test_a_2024_edition_with_renamed_sheets_and_headers(
    httpserver: Any, tmp_path: Path, connector: CpiConnector, sheet_rows: Rows
) -> None:
    """TI renames sheets and headers every year: a 2024 workbook parses without code changes."""
    rows = [list(row) for row in sheet_rows]
    rows[0][0] = "Corruption Perceptions Index 2024: Score timeseries since 2012"
    header = rows[3]
    header[0] = "Country/Territory"  # another spelling of a key header
    header[column_of(sheet_rows, "Sources 2023")] = "Number of sources 2023"
    new = ["CPI score 2024", "Rank 2024", "Sources 2024", "Standard error 2024"]
    # The 2024 columns go after Region, as TI puts the latest year first; their figures are
    # the 2023 ones shifted by one so that they are recognisable.
    source = [column_of(sheet_rows, h) for h in ("CPI score 2023", "Rank 2023")] + [
        column_of(sheet_rows, h) for h in ("Sources 2023", "Standard error 2023")
    ]
    for number, row in enumerate(rows):
        if number < 3:
            extra: list[Any] = [None] * 4
        elif number == 3:
            extra = list(new)
        else:
            extra = [row[source[0]], row[source[1]], row[source[2]], row[source[3]]]
            if extra[0] is not None:
                extra[0] = min(extra[0] + 1, 100)
        row[3:3] = extra
    served = _served(
        httpserver,
        connector,
        build_workbook(
            rows,
            sheet="CPI Timeseries 2012 - 2024",
            others=("CPI2024", "CPI2024 Changes", "Regional averages 2024"),
        ),
    )
    (acquired,) = _fetcher(tmp_path, "live").acquire(served)
    frame = served.parse(acquired.resource, acquired.snapshots[0].read())
    assert set(frame["edition"]) == {"2024"}
    assert sorted(frame["year"].unique()) == [*YEARS, 2024]
    values = frame.set_index(["country_code", "year", "indicator_id"])["value"]
    assert values[("DNK", 2024, "cpi.score")] == 91 and values[("DNK", 2023, "cpi.score")] == 90
    assert values[("SOM", 2024, "cpi.rank")] == 180
    assert values[("AFG", 2023, "cpi.sources")] == 5  # "Number of sources 2023"
    assert len(frame) == 7647 + 4 * 180


def test_columns_missing_in_older_exports_are_not_an_error(
    connector: CpiConnector, sheet_rows: Rows, parsed: pd.DataFrame
) -> None:
    """An older export without ranks and standard errors: those rows are absent, the rest equal."""
    rows = drop_columns(
        sheet_rows, lambda header: not str(header).startswith(("Rank", "Standard error"))
    )
    frame = _parse(connector, build_workbook(rows))
    assert set(frame["indicator_id"]) == {"cpi.score", "cpi.sources"}
    expected = parsed[parsed["indicator_id"].isin({"cpi.score", "cpi.sources"})]
    pd.testing.assert_frame_equal(frame, expected.reset_index(drop=True))


def test_an_unknown_header_fails_clearly_and_auto_falls_back(
    httpserver: Any, tmp_path: Path, connector: CpiConnector, sheet_rows: Rows
) -> None:
    rows = [list(row) for row in sheet_rows]
    rows[3][column_of(sheet_rows, "Standard error 2023")] = "Std. error 2023"
    served = _served(httpserver, connector, build_workbook(rows))
    with pytest.raises(
        SourceUnavailable, match=r"row 4: unknown header\(s\) \['Std. error 2023'\]"
    ):
        _fetcher(tmp_path, "live").acquire(served)
    (acquired,) = _fetcher(tmp_path, "auto").acquire(served)
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "unknown header" in acquired.note and "bundled snapshot used" in acquired.note


def test_an_html_page_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: CpiConnector
) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Transparency.org</title></head><body>Not found</body></html>"
    served = _served(httpserver, connector, page, content_type="text/html")
    with pytest.raises(SourceUnavailable, match="got an HTML page"):
        _fetcher(tmp_path, "live").acquire(served)
    # Nothing bad is stored: auto falls back to the bundle, loudly stale.
    (acquired,) = _fetcher(tmp_path, "auto").acquire(served)
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "HTML page" in acquired.note


def test_a_truncated_download_served_with_200_is_refused(
    httpserver: Any, tmp_path: Path, connector: CpiConnector, workbook: bytes
) -> None:
    served = _served(httpserver, connector, workbook[: len(workbook) // 2])
    with pytest.raises(SourceUnavailable, match="truncated or corrupt"):
        _fetcher(tmp_path, "live").acquire(served)
    assert SnapshotStore(tmp_path / "snapshots").latest_fetch("cpi", "workbook") is None


@pytest.mark.parametrize("payload", [b"", b"\x00" * 64, b"PK\x03\x04" + b"\x00" * 64])
def test_other_non_workbooks_are_refused(connector: CpiConnector, payload: bytes) -> None:
    with pytest.raises(PayloadError):
        _parse(connector, payload)


def _cell(rows: Rows, code: str, header: str) -> tuple[int, int]:
    (row,) = [i for i, r in enumerate(rows) if len(r) > 1 and r[1] == code]
    return row, column_of(rows, header)


@pytest.mark.parametrize(
    ("code", "header", "value", "message"),
    [
        (
            "DNK",
            "CPI score 2023",
            "n/a",
            r"column D \(CPI score\): non-numeric value\(s\) at row\(s\) {row}, e.g. 'n/a'",
        ),
        ("DNK", "CPI score 2023", 190, r"column D \(CPI score\): value\(s\) outside 0\.\.100"),
        ("SOM", "Rank 2021", 0, r"\(CPI rank\): value\(s\) outside 1\.\.any"),
        ("SOM", "CPI score 2021", None, r"row {row}: a cpi.rank figure for 2021 but no CPI score"),
        (
            "SOM",
            "ISO3",
            None,
            r"figures without a valid ISO3 code \(e.g. a blank code for 'Somalia'\)",
        ),
        ("SOM", "ISO3", "DNK", r"country listed twice: \['DNK'\]"),
    ],
)
def test_bad_cells_fail_naming_where(
    connector: CpiConnector, sheet_rows: Rows, code: str, header: str, value: Any, message: str
) -> None:
    rows = [list(row) for row in sheet_rows]
    row, column = _cell(rows, code, header)
    rows[row][column] = value
    with pytest.raises(PayloadError, match=message.format(row=row + 1)):
        _parse(connector, build_workbook(rows))


@pytest.mark.parametrize(
    ("sheet", "others", "message"),
    [
        ("CPI 2023 scores", OTHER_SHEETS, r"expected one CPI time-series sheet .* found none"),
        (SHEET, ("CPI 2023", "CPI Timeseries 2012 - 2022"), r"found \['CPI Timeseries"),
        ("CPI Timeseries 2012 - 2024", OTHER_SHEETS, r"named for 2024 but its latest .* 2023"),
    ],
)
def test_the_time_series_sheet_must_be_unambiguous(
    connector: CpiConnector, sheet_rows: Rows, sheet: str, others: tuple[str, ...], message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        _parse(connector, build_workbook(sheet_rows, sheet=sheet, others=others))


def test_no_header_row_or_a_missing_key_or_score_column_fails(
    connector: CpiConnector, sheet_rows: Rows
) -> None:
    rows = [list(row) for row in sheet_rows]
    rows[3][1] = "Code"
    with pytest.raises(PayloadError, match=r"no header row .* first 25 rows"):
        _parse(connector, build_workbook(rows))
    rows = drop_columns(sheet_rows, lambda header: header != "Region")
    with pytest.raises(PayloadError, match=r"missing column\(s\) \['Region'\]"):
        _parse(connector, build_workbook(rows))
    rows = drop_columns(sheet_rows, lambda header: header != "CPI score 2019")
    with pytest.raises(PayloadError, match=r"figures for \[2019\] but no 'CPI score <year>'"):
        _parse(connector, build_workbook(rows))


# --- after a whole offline run ----------------------------------------------------------

SPOT = [("DNK", "DNK"), ("SOM", "SOM"), ("KSV", "XKX"), ("NZL", "NZL"), ("VEN", "VEN")]


@pytest.mark.parametrize("year", [2023, 2012])
@pytest.mark.parametrize(("code", "iso3"), SPOT)
def test_published_scores_equal_the_source_file(
    offline_run: Any,
    long_csv: dict[tuple[str, int], dict[str, str]],
    code: str,
    iso3: str,
    year: int,
) -> None:
    expected = float(long_csv[(code, year)]["CPI score"])
    with offline_run.published() as con:
        rows = con.execute(
            "select value, edition, unit, direction from marts.fct_indicator "
            "where source_id = 'cpi' and indicator_id = 'cpi.score' and iso3 = ? and year = ?",
            [iso3, year],
        ).fetchall()
    assert rows == [(expected, "2023", "score 0-100", "higher_is_better")]


def test_published_2023_scores_equal_the_xlsx_scores_sheet(offline_run: Any) -> None:
    """All 180 scores of 2023 against the workbook's `CPI 2023` sheet, read with openpyxl."""
    path = shared_file("cpi", "CPI2023_GlobalResultsTrends.xlsx")
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = list(book["CPI 2023"].iter_rows(min_row=5, values_only=True))
    book.close()
    expected = {row[1]: float(row[3]) for row in rows if row[1]}
    expected["XKX"] = expected.pop("KSV")
    with offline_run.published() as con:
        published = dict(
            con.execute(
                "select iso3, value from marts.fct_indicator where source_id = 'cpi' "
                "and indicator_id = 'cpi.score' and year = 2023"
            ).fetchall()
        )
    assert len(expected) == 180
    assert published == expected


def test_counts_reconcile_from_raw_to_the_mart(offline_run: Any) -> None:
    assert offline_run.result.success
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        raw, unmatched, staged = con.execute(
            "select count(*), count(*) filter (where country_match <> 'country'), "
            "(select count(*) from staging.cpi) from raw.cpi"
        ).fetchone()
        published = con.execute(
            "select count(*) from marts.fct_indicator where source_id = 'cpi'"
        ).fetchone()[0]
    assert (raw, unmatched, staged, published) == (7647, 0, 7647, 7647)
    evaluations = offline_run.result.get_asset_check_evaluations()
    checks = {
        e.check_name: e.passed for e in evaluations if e.asset_key.to_user_string() == "raw/cpi"
    }
    # No unmatched country; the bundle (January 2024) is older than 400 days: freshness WARNs.
    assert checks["countries_harmonised"] is True
    assert checks["freshness"] is False
