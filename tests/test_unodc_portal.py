"""The UNODC data portal connectors (GLOTIP, IAFQ, CTS): bundled exports against the shared
files read independently, every reading trap on real-format workbooks, fetches over a real
local HTTP server, and the published figures against the files' own.

The references are read without the connector: pandas' calamine engine with the header on
row 3 for GLOTIP and CTS, and the csv module on the derived IAFQ CSV (the IAFQ xlsx itself
is unreadable by openpyxl: that is one of the traps).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pandas as pd
import pytest
from conftest import shared_file
from pytest_httpserver import HTTPServer
from werkzeug import Response

from extra_pipeline import sources
from extra_pipeline.countries import default_harmoniser
from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore, sha256_bytes
from extra_pipeline.sources import unodc_portal
from extra_pipeline.sources.base import (
    PayloadError,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.unodc_portal import (
    COLUMNS,
    ECONOMIC_CRIME_INDICATORS,
    FIREARMS_INDICATORS,
    TIP_INDICATORS,
    UnodcEconomicCrimeConnector,
    UnodcFirearmsConnector,
    UnodcPortalConnector,
    UnodcTraffickingPersonsConnector,
)

TIP, FIREARMS, CTS = "unodc_trafficking_persons", "unodc_firearms", "unodc_economic_crime"
FILES = {
    TIP: "data_glotip.xlsx",
    FIREARMS: "data_iafq_firearms_trafficking.xlsx",
    CTS: "data_cts_corruption_and_economic_crime.xlsx",
}
CLASSES: dict[str, type[UnodcPortalConnector]] = {
    TIP: UnodcTraffickingPersonsConnector,
    FIREARMS: UnodcFirearmsConnector,
    CTS: UnodcEconomicCrimeConnector,
}
# rows, export date, edition (PROVENANCE.md of the shared folder)
EXPECTED = {
    TIP: (46_556, "2023-05-30", "2023"),
    FIREARMS: (15_468, "2024-08-26", "2024"),
    CTS: (22_754, "2024-05-16", "2024"),
}
HEADER = [
    "Iso3_code", "Country", "Region", "Subregion", "Indicator", "Dimension", "Category",
    "Sex", "Age", "Year", "Unit of measurement", "txtVALUE", "Source",
]  # fmt: skip
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>UNODC Data Portal</title></head><body>Error</body></html>"
)


# -- helpers and fixtures ----------------------------------------------------------------


def _connector(source_id: str, base_url: str | None = None) -> UnodcPortalConnector:
    return CLASSES[source_id](load_registry()[source_id].with_base_url(base_url))


def _bundled(source_id: str) -> bytes:
    (path,) = _connector(source_id).bundled_manifest().files["export"]
    return read_bundled_file(path)


def _parse(source_id: str, payload: bytes) -> pd.DataFrame:
    connector = _connector(source_id)
    (resource,) = connector.resources()
    connector.validate(resource, payload)
    return connector.parse(resource, payload)


@pytest.fixture(scope="module")
def parsed() -> dict[str, pd.DataFrame]:
    return {source_id: _parse(source_id, _bundled(source_id)) for source_id in CLASSES}


def _reference(source_id: str) -> pd.DataFrame:
    """The shared file's rows as text, read without the connector."""
    if source_id == FIREARMS:
        path = shared_file("unodc", "data_iafq_firearms_trafficking.csv")
        with path.open(encoding="utf-8", newline="") as handle:
            return pd.DataFrame(list(csv.DictReader(handle)), dtype=object)
    path = shared_file("unodc", FILES[source_id])
    frame = pd.read_excel(path, engine="calamine", header=2, dtype=str, keep_default_na=False)
    return frame.rename(columns={"txtVALUE": "VALUE"})


@pytest.fixture(scope="module")
def glotip_rows() -> list[list[Any]]:
    """A real slice of GLOTIP in the export's column order: censored, thousands-separated
    and plain values, catalogued totals for several countries, finer breakdowns."""
    frame = _reference(TIP).rename(columns={"VALUE": "txtVALUE"})
    picks = pd.concat(
        [
            frame[frame["Iso3_code"].isin(["ALB", "NGA", "PHL"]) & (frame["Dimension"] == "Total")],
            frame[frame["txtVALUE"].str.contains(",")].head(3),
            frame[frame["Dimension"] == "by citizenship"].head(5),
        ]
    )
    return [[_cell(value) for value in row] for row in picks[HEADER].itertuples(index=False)]


def _cell(value: str) -> Any:
    """Year as a number (as the portal writes it), everything else as published text."""
    return int(value) if value.isdigit() and len(value) == 4 else value


def _workbook(
    rows: list[list[Any]],
    *,
    header: list[str] = HEADER,
    header_row: int = 3,
    export_date: str | None = "30/05/2023",
) -> bytes:
    """A portal export in the real layout: banner rows, then the header on `header_row`."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "data_glotip_1"
    banner = [["UNODC", "unodc_ddds@un.org"], [export_date or ""]]
    for number in range(1, header_row):
        sheet.append(banner[number - 1] if number <= len(banner) and export_date else [])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _without(rows: list[list[Any]], *dropped: str) -> tuple[list[str], list[list[Any]]]:
    keep = [i for i, name in enumerate(HEADER) if name not in dropped]
    return [HEADER[i] for i in keep], [[row[i] for i in keep] for row in rows]


def _fetcher(store: SnapshotStore, mode: str) -> SourceFetcher:
    client = HttpClient(retry=RetryPolicy(max_attempts=2, backoff_base=0.01), read_timeout=10.0)
    return SourceFetcher(store=store, client=client, mode=mode)  # type: ignore[arg-type]


# -- registry and bundled snapshots --------------------------------------------------------


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_registry_names_the_shared_module(source_id: str) -> None:
    config = load_registry()[source_id]
    assert config.connector == "unodc_portal"
    assert sources.connector_class(config) is CLASSES[source_id]
    assert config.max_age_days == 400
    assert config.base_url == "https://dataunodc.un.org"
    (resource,) = _connector(source_id).resources()
    assert resource.name == "export"
    assert resource.url == config.base_url + config.options["path"]
    assert resource.url.endswith("/" + FILES[source_id])


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_bundled_export_is_the_documented_real_file(source_id: str) -> None:
    payload = _bundled(source_id)
    digest = hashlib.sha256(payload).hexdigest()
    folder = _connector(source_id).config.bundled_dir
    manifest = (folder / "manifest.yaml").read_text(encoding="utf-8")
    assert digest in "".join(re.findall(r"[0-9a-f]+", manifest))
    assert digest in (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    sums = shared_file("unodc", "SHA256SUMS").read_text(encoding="utf-8")
    assert f"{digest}  {FILES[source_id]}" in sums
    bundle = _connector(source_id).bundled_manifest()
    assert bundle.synthetic is False
    assert (bundle.edition, bundle.retrieved_at[:10]) == EXPECTED[source_id][2:0:-1]


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_offline_fetch_serves_the_bundle(source_id: str, tmp_path: Path) -> None:
    fetcher = SourceFetcher(store=SnapshotStore(tmp_path), client=HttpClient(), mode="offline")
    (acquired,) = fetcher.acquire(_connector(source_id))
    provenance = acquired.snapshots[0].provenance
    assert (acquired.mode, provenance.synthetic) == ("bundled", False)
    assert provenance.edition == EXPECTED[source_id][2]
    assert provenance.sha256 == sha256_bytes(_bundled(source_id))


# -- parsing the bundled exports -----------------------------------------------------------


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_every_row_is_kept_and_every_value_matches_the_file(
    parsed: dict[str, pd.DataFrame], source_id: str
) -> None:
    frame, reference = parsed[source_id], _reference(source_id)
    rows, export_date, edition = EXPECTED[source_id]
    assert len(frame) == len(reference) == rows
    assert tuple(frame.columns) == COLUMNS
    assert set(frame["edition"]) == {edition} and set(frame["export_date"]) == {export_date}
    assert frame["sheet_row"].tolist() == list(range(4, 4 + rows))
    # Row by row, against the reference's own text.
    assert frame["indicator"].tolist() == reference["Indicator"].tolist()
    assert frame["year"].tolist() == reference["Year"].astype(int).tolist()
    text = reference["VALUE"].str.replace(",", "", regex=False)
    censored = text.str.startswith("<")
    expected = pd.to_numeric(text.str.lstrip("<"))
    assert frame["value"].tolist() == pytest.approx(expected.tolist())
    assert frame["censored"].tolist() == censored.tolist()
    assert frame["value"].notna().all()


def test_censored_glotip_values_are_bounds_not_zero(parsed: dict[str, pd.DataFrame]) -> None:
    frame = parsed[TIP]
    bounds = frame[frame["value_text"] == "<5"]
    assert len(bounds) == 23_076 == int(frame["censored"].sum())
    assert (bounds["value"] == 5).all() and (bounds["obs_status"] == "<5").all()
    assert frame.loc[~frame["censored"], "obs_status"].isna().all()
    separated = frame[frame["value_text"] == "1,282"]
    assert len(separated) == 3 and (separated["value"] == 1282).all()
    assert not separated["censored"].any()


def test_indicator_catalogues_are_stable_documented_and_distinct() -> None:
    doc = unodc_portal.__doc__ or ""
    for catalogue, family in (
        (TIP_INDICATORS, "unodc.tip."),
        (FIREARMS_INDICATORS, "unodc.firearms."),
        (ECONOMIC_CRIME_INDICATORS, "unodc.economic_crime."),
    ):
        ids = [indicator.id for indicator in catalogue]
        assert len(ids) == len(set(ids))
        assert len({indicator.key for indicator in catalogue}) == len(catalogue)
        for indicator in catalogue:
            assert re.fullmatch(r"unodc(\.[a-z][a-z0-9_]*)+", indicator.id)
            assert indicator.id.startswith(family)
            assert indicator.direction in {"neutral", "higher_is_worse"}
            rate = indicator.id.endswith("_rate")
            assert (indicator.scale, indicator.unit == "per 100,000 population") == (
                ("rate", True) if rate else ("absolute", False)
            )
            code = indicator.id.removeprefix(family).removesuffix("_rate").removesuffix("_offences")
            assert code in doc, indicator.id
    assert {"unodc.tip.detected_victims", "unodc.tip.persons_convicted"} <= {
        i.id for i in TIP_INDICATORS
    }
    assert {
        "unodc.economic_crime.money_laundering_offences",
        "unodc.economic_crime.migrant_smuggling_offences",
        "unodc.economic_crime.money_laundering_offences_rate",
    } <= {i.id for i in ECONOMIC_CRIME_INDICATORS}
    assert "unodc.firearms.arms_seized" in {i.id for i in FIREARMS_INDICATORS}


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_catalogued_rows_are_unique_per_indicator_area_and_year(
    parsed: dict[str, pd.DataFrame], source_id: str
) -> None:
    catalogued = parsed[source_id].dropna(subset=["indicator_id"])
    assert not catalogued.duplicated(["indicator_id", "area", "year"]).any()
    ids = {i.id for i in CLASSES[source_id].catalogue}
    assert set(catalogued["indicator_id"]) == ids  # every catalogued id is in the export


def test_duplicated_breakdowns_are_kept_in_raw_without_an_id(
    parsed: dict[str, pd.DataFrame],
) -> None:
    """GLOTIP repeats 'Other forms of exploitation' and some Female/Male totals: all kept,
    none catalogued (two figures under one label cannot become one id)."""
    frame = parsed[TIP]
    other = frame[frame["category"] == "Other forms of exploitation"]
    reference = _reference(TIP)
    assert len(other) == (reference["Category"] == "Other forms of exploitation").sum() > 3000
    assert other["indicator_id"].isna().all()
    bolivia = frame[
        (frame["area"] == "BOL") & (frame["indicator"] == "Detected trafficking victims")
        & (frame["dimension"] == "Total") & (frame["sex"] == "Female")
        & (frame["age"] == "Total") & (frame["year"] == 2017)
    ]  # fmt: skip
    assert sorted(bolivia["value"]) == [43, 62] and bolivia["indicator_id"].isna().all()


def test_subnational_and_regional_areas_are_recognised_never_countries(
    parsed: dict[str, pd.DataFrame],
) -> None:
    harmoniser = default_harmoniser()
    for source_id, frame in parsed.items():
        matched = harmoniser.harmonise(frame, "area")
        assert not (matched["country_match"] == "unmatched").any(), source_id
    cts = parsed[CTS]
    units = {"GBR_E_W", "GBR_S", "GBR_NI", "IRQ_C"}
    assert units <= set(cts["area"]) and not {"GBR", "IRQ"} & set(cts["area"])
    tip = parsed[TIP]
    assert {"Sark", "Aruba/Curacao", "CAR", "SAM"} <= set(tip["area"])
    assert tip.loc[tip["area"] == "Sark", "iso3_code"].isna().all()
    # parts of a country: recognised, never their country
    for value in [*units, "Sark"]:
        match = harmoniser.match(value)
        assert (match.kind, match.iso3) == ("subnational", None), value
    for value in ["Aruba/Curacao", "CAR", "CAS", "EEU", "MCA", "MCN", "SAF"]:
        match = harmoniser.match(value)
        assert (match.kind, match.iso3) == ("aggregate", None), value
    assert harmoniser.match("CAF").iso3 == "CAF"  # the Central African Republic is CAF


# -- reading traps on real-format workbooks ------------------------------------------------


@pytest.mark.parametrize("header_row", [1, 3, 4])
def test_the_header_is_found_wherever_it_sits(glotip_rows: list, header_row: int) -> None:
    frame = _parse(TIP, _workbook(glotip_rows, header_row=header_row))
    assert len(frame) == len(glotip_rows)
    assert frame["sheet_row"].iloc[0] == header_row + 1
    # A header on row 1 leaves no room for the date banner: the registry's edition is used.
    expected = ("2023-05-30", "2023") if header_row > 2 else (None, "2023")
    assert (frame["export_date"].iloc[0], frame["edition"].iloc[0]) == expected
    albania = frame[
        (frame["indicator_id"] == "unodc.tip.detected_victims") & (frame["area"] == "ALB")
    ]
    assert len(albania) > 0
    separated = sum("," in str(row[11]) for row in glotip_rows)
    assert frame["value_text"].str.contains(",").sum() == separated >= 3


def test_a_header_below_the_scanned_rows_is_refused(glotip_rows: list) -> None:
    payload = _workbook(glotip_rows, header_row=unodc_portal.HEADER_SCAN_ROWS + 1)
    with pytest.raises(PayloadError, match="no UNODC portal header"):
        _parse(TIP, payload)


def test_the_edition_follows_the_export_date(glotip_rows: list) -> None:
    frame = _parse(TIP, _workbook(glotip_rows, export_date="02/01/2025"))
    assert set(frame["edition"]) == {"2025"} and set(frame["export_date"]) == {"2025-01-02"}


def test_columns_missing_in_an_older_export(glotip_rows: list) -> None:
    header, rows = _without(glotip_rows, "Source", "Region", "Subregion")
    frame = _parse(TIP, _workbook(rows, header=header))
    assert frame[["source", "region", "subregion"]].isna().all().all()
    assert frame["indicator_id"].notna().any()
    # Without Sex and Age the rows are totals; the Albanian totals are then repeated per
    # sex and age, which cannot be one figure: refused, naming the indicator.
    header, rows = _without(glotip_rows, "Sex", "Age")
    with pytest.raises(PayloadError, match=r"more than one figure.*unodc\.tip\.\w+ (ALB|NGA|PHL)"):
        _parse(TIP, _workbook(rows, header=header))
    totals = [row for row in glotip_rows if row[7] == "Total" and row[8] == "Total"]
    header, rows = _without(totals, "Sex", "Age")
    frame = _parse(TIP, _workbook(rows, header=header))
    assert frame[["sex", "age"]].isna().all().all()
    full = _parse(TIP, _workbook(totals))
    assert frame["indicator_id"].tolist() == full["indicator_id"].tolist()
    assert frame["indicator_id"].notna().sum() > 0
    header, rows = _without(glotip_rows, "Year")
    with pytest.raises(PayloadError, match=r"missing column\(s\) \['Year'\]"):
        _parse(TIP, _workbook(rows, header=header))


def test_text_values_markers_and_unknown_text(glotip_rows: list) -> None:
    rows = [list(row) for row in glotip_rows[:4]]
    rows[0][11], rows[1][11], rows[2][11] = "..", "", "12"
    frame = _parse(TIP, _workbook(rows))
    assert frame["value"].iloc[0] != frame["value"].iloc[0]  # NaN, never 0
    assert frame["obs_status"].iloc[0] == ".." and not frame["censored"].iloc[0]
    assert pd.isna(frame["value"].iloc[1]) and pd.isna(frame["obs_status"].iloc[1])
    assert frame["value"].iloc[2] == 12
    rows[3][11] = "about 40"
    with pytest.raises(PayloadError, match=r"row\(s\) 7, e\.g\. 'about 40'"):
        _parse(TIP, _workbook(rows))
    rows[3][11], rows[3][9] = "40", "20x1"
    with pytest.raises(PayloadError, match=r"'Year': not a year at row\(s\) 7"):
        _parse(TIP, _workbook(rows))


def _break_drawing(payload: bytes) -> bytes:
    """The workbook with the IAFQ defect: its sheet points at a drawing that is not there."""
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns='
        '"http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing" '
        'Target="../drawings/drawing1.xml"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", b'<drawing r:id="rId1"/></worksheet>')
                if b"xmlns:r=" not in data:
                    data = data.replace(
                        b"<worksheet ",
                        b'<worksheet xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ',
                        1,
                    )
            target.writestr(item, data)
        target.writestr("xl/worksheets/_rels/sheet1.xml.rels", rels)
    return out.getvalue()


def test_a_broken_drawing_relationship_is_read_anyway(glotip_rows: list) -> None:
    payload = _break_drawing(_workbook(glotip_rows))
    with pytest.raises(Exception):  # noqa: B017 - openpyxl's error type varies by version
        openpyxl.load_workbook(io.BytesIO(payload))
    frame = _parse(TIP, payload)
    assert len(frame) == len(glotip_rows)


def test_the_real_iafq_export_is_broken_for_openpyxl_but_read(
    parsed: dict[str, pd.DataFrame],
) -> None:
    with zipfile.ZipFile(io.BytesIO(_bundled(FIREARMS))) as archive:
        names = set(archive.namelist())
        rels = archive.read("xl/worksheets/_rels/sheet1.xml.rels")
    assert b"../drawings/drawing1.xml" in rels and "xl/drawings/drawing1.xml" not in names
    with pytest.raises(Exception):  # noqa: B017
        openpyxl.load_workbook(io.BytesIO(_bundled(FIREARMS)))
    assert len(parsed[FIREARMS]) == EXPECTED[FIREARMS][0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (HTML, "HTML page"),
        (b"", "empty payload"),
        (b"Iso3_code,Country\nALB,Albania\n", "not a zip"),
    ],
)
def test_non_workbooks_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        _parse(TIP, payload)


def test_a_truncated_download_is_refused() -> None:
    payload = _bundled(CTS)
    with pytest.raises(PayloadError, match="truncated or corrupt"):
        _parse(CTS, payload[: len(payload) // 2])


def test_another_dataset_at_the_address_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"none of the 15,468 rows.*not the GLOTIP"):
        _parse(TIP, _bundled(FIREARMS))


# -- over HTTP -----------------------------------------------------------------------------


def test_fetch_over_http_then_an_html_page_and_a_truncated_file(
    httpserver: HTTPServer, tmp_path: Path, glotip_rows: list
) -> None:
    connector = _connector(TIP, httpserver.url_for("").rstrip("/"))
    path = connector.config.options["path"]
    payload = _break_drawing(_workbook(glotip_rows, export_date="15/03/2025"))
    state = {"body": payload}
    httpserver.expect_request(path).respond_with_handler(
        lambda _request: Response(state["body"], status=200)
    )
    store = SnapshotStore(tmp_path / "snapshots")

    (live,) = _fetcher(store, "live").acquire(connector)
    provenance = live.snapshots[0].provenance
    assert (live.mode, live.stale) == ("live", False)
    assert provenance.url == connector.resources()[0].url
    assert provenance.sha256 == sha256_bytes(payload)
    frame = connector.parse(live.resource, live.snapshots[0].read())
    assert set(frame["edition"]) == {"2025"} and len(frame) == len(glotip_rows)

    for bad, message in ((HTML, "HTML page"), (payload[:700], "truncated or corrupt")):
        state["body"] = bad
        with pytest.raises(SourceUnavailable, match=message):
            _fetcher(store, "live").acquire(connector)
        assert not store.has_blob(sha256_bytes(bad))
        (fallback,) = _fetcher(store, "auto").acquire(connector)
        assert (fallback.mode, fallback.stale) == ("stored", True)
        assert fallback.snapshots[0].provenance.sha256 == provenance.sha256
        assert message in fallback.note


def test_html_with_nothing_stored_falls_back_to_the_bundle(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    connector = _connector(FIREARMS, httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(connector.config.options["path"]).respond_with_data(
        HTML, content_type="text/html"
    )
    (acquired,) = _fetcher(SnapshotStore(tmp_path), "auto").acquire(connector)
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "HTML page" in acquired.note
    assert acquired.snapshots[0].provenance.sha256 == sha256_bytes(_bundled(FIREARMS))


# -- the published figures against the files' own -----------------------------------------

# (source, indicator_id, iso3, year, Indicator, Dimension, Category, Sex, Age, Unit)
SPOT = [
    (TIP, "unodc.tip.detected_victims", "ALB", 2019, "Detected trafficking victims", "Total", "Total", "Total", "Total", "Counts"),
    (TIP, "unodc.tip.detected_victims", "NGA", 2019, "Detected trafficking victims", "Total", "Total", "Total", "Total", "Counts"),
    (TIP, "unodc.tip.persons_convicted", "PHL", 2019, "Persons convicted", "Total", "Total", "Total", "Total", "Counts"),
    (TIP, "unodc.tip.detected_victims_sexual_exploitation", "ROU", 2018, "Detected trafficking victims", "by form of exploitation", "Sexual exploitation", "Total", "Total", "Counts"),
    (FIREARMS, "unodc.firearms.arms_seized", "ALB", 2022, "Arms seized", "Total", "Total", "na", "na", "Counts"),
    (FIREARMS, "unodc.firearms.arms_seized", "MEX", 2020, "Arms seized", "Total", "Total", "na", "na", "Counts"),
    (FIREARMS, "unodc.firearms.ammunition_seized", "COL", 2020, "Ammunition seized", "Total", "Total", "na", "na", "Counts"),
    (CTS, "unodc.economic_crime.money_laundering_offences", "DEU", 2020, "Offences", "by type of offence", "Money laundering", "Total", "Total", "Counts"),
    (CTS, "unodc.economic_crime.migrant_smuggling_offences", "ITA", 2019, "Offences", "by type of offence", "Smuggling of migrants", "Total", "Total", "Counts"),
    (CTS, "unodc.economic_crime.corruption_offences_rate", "AUT", 2013, "Offences", "by type of offence", "Corruption", "Total", "Total", "Rate per 100,000 population"),
    (CTS, "unodc.economic_crime.burglary_offences", "BRA", 2010, "Offences", "by type of offence", "Burglary", "Total", "Total", "Counts"),
]  # fmt: skip


@pytest.fixture(scope="module")
def references() -> dict[str, pd.DataFrame]:
    return {source_id: _reference(source_id) for source_id in CLASSES}


@pytest.mark.parametrize("spot", SPOT, ids=lambda s: f"{s[1]}-{s[2]}-{s[3]}")
def test_published_values_equal_the_files(
    offline_run: Any, references: dict[str, pd.DataFrame], spot: tuple
) -> None:
    source_id, indicator_id, iso3, year, *breakdown = spot
    reference = references[source_id]
    columns = ["Indicator", "Dimension", "Category", "Sex", "Age", "Unit of measurement"]
    mask = (reference["Iso3_code"] == iso3) & (reference["Year"] == str(year))
    for column, value in zip(columns, breakdown, strict=True):
        mask &= reference[column] == value
    (text,) = reference.loc[mask, "VALUE"].tolist()
    censored = text.startswith("<")
    expected = float(text.lstrip("<").replace(",", ""))
    with offline_run.published() as con:
        rows = con.execute(
            "select value, censored, edition from marts.fct_indicator where source_id = ? "
            "and indicator_id = ? and iso3 = ? and year = ?",
            [source_id, indicator_id, iso3, year],
        ).fetchall()
    assert rows == [(pytest.approx(expected), censored, EXPECTED[source_id][2])]


def test_a_censored_value_is_published_as_a_bound(offline_run: Any) -> None:
    with offline_run.published() as con:
        rows = con.execute(
            "select value, obs_status, count(*) from marts.fct_indicator "
            "where source_id = ? and censored group by all",
            [TIP],
        ).fetchall()
    assert [(value, status) for value, status, _ in rows] == [(5.0, "<5")]
    assert rows[0][2] > 1000


@pytest.mark.parametrize("source_id", list(CLASSES))
def test_counts_reconcile_from_raw_to_the_mart(offline_run: Any, source_id: str) -> None:
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        raw, unmatched, eligible, staged, keys, published, excluded = con.execute(
            f"""
            select count(*),
                   count(*) filter (where country_match = 'unmatched'),
                   count(*) filter (where country_match = 'country' and indicator_id is not null),
                   (select count(*) from staging.{source_id}),
                   (select count(distinct (indicator_id, iso3, year, edition)) from staging.{source_id}),
                   (select count(*) from marts.fct_indicator where source_id = '{source_id}'),
                   (select count(*) from staging.{source_id}
                    where iso3 is null or iso3 in ('GBR', 'IRQ', 'GGY'))
            from raw.{source_id}
            """
        ).fetchone()
    assert raw == EXPECTED[source_id][0]
    assert unmatched == 0
    assert staged == eligible == keys == published > 0
    if source_id == CTS:
        assert excluded == 0  # GBR_E_W, GBR_S, GBR_NI and IRQ_C are not summed into GBR/IRQ
    evaluations = offline_run.result.get_asset_check_evaluations()
    checks = {
        e.check_name: e.passed
        for e in evaluations
        if e.asset_key.to_user_string() == f"raw/{source_id}"
    }
    assert checks["countries_harmonised"] is True
    assert checks["expectations"] is True
