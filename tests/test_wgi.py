"""The World Bank WGI connector: bundled snapshot vs the official bulk file, the bundle
builder, payload validation, paging, and a paginated fetch over HTTP."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceFetcher,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.wgi import COLUMNS, WgiConnector, build_bundled_snapshot

#: The official WGI 2024 bulk file, in the shared data folder next to the repository.
XLSX = Path(__file__).resolve().parents[2] / "shared" / "data" / "wgi" / "wgidataset.xlsx"

DIMENSIONS = ("cc", "ge", "pv", "rl", "rq", "va")
ECONOMIES, YEARS = 214, 25


# -- helpers ---------------------------------------------------------------------------


def _connector(**options: Any) -> WgiConnector:
    config = load_registry()["wgi"]
    if options:
        config = dataclasses.replace(config, options={**config.options, **options})
    return WgiConnector(config)


def _resource(connector: WgiConnector, code: str = "GOV_WGI_CC.EST") -> Resource:
    return next(r for r in connector.resources() if r.name == code)


def _record(
    country: str = "AFG",
    year: str = "2023",
    value: float | None = -1.18,
    *,
    code: str = "GOV_WGI_CC.EST",
    country_id: str = "AF",
    iso3: str | None = None,
    obs_status: str = "",
) -> dict[str, Any]:
    return {
        "indicator": {"id": code, "value": "Control of Corruption: Estimate"},
        "country": {"id": country_id, "value": f"Name of {country}"},
        "countryiso3code": country if iso3 is None else iso3,
        "date": year,
        "value": value,
        "unit": "",
        "obs_status": obs_status,
        "decimal": 0,
    }


def _page(
    records: list[dict[str, Any]] | None,
    *,
    page: int = 1,
    pages: int = 1,
    per_page: int | None = None,
    total: int | None = None,
    lastupdated: str | None = "2024-09-27",
    sourceid: str | None = "3",
) -> bytes:
    count = len(records or [])
    envelope = {
        "page": page,
        "pages": pages,
        "per_page": per_page if per_page is not None else max(count, 1),
        "total": total if total is not None else count,
        "sourceid": sourceid,
        "lastupdated": lastupdated,
    }
    return json.dumps([envelope, records]).encode()


def _missing(cell: Any) -> bool:
    return cell is None or cell in ("", "..")


# -- (a) the bundled snapshot against the bulk file ------------------------------------


@pytest.fixture(scope="module")
def xlsx_cells() -> dict[tuple[str, str, int], dict[str, Any]]:
    """The bulk file read directly with calamine (not through the builder)."""
    if not XLSX.is_file():
        pytest.skip("the WGI bulk file (shared/data/wgi/wgidataset.xlsx) is not available")
    rows = CalamineWorkbook.from_path(str(XLSX)).get_sheet_by_name("Sheet1").to_python()
    header = rows[0]
    cells = {}
    for row in rows[1:]:
        item = dict(zip(header, row, strict=True))
        cells[(item["code"], item["indicator"], int(item["year"]))] = item
    return cells


@pytest.fixture(scope="module")
def bundled() -> dict[str, pd.DataFrame]:
    """Every bundled resource, validated and parsed by the connector."""
    connector = _connector()
    manifest = connector.bundled_manifest()
    frames = {}
    for resource in connector.resources():
        pages = []
        for path in manifest.files[resource.name]:
            # parse() runs the same checks as validate() before it reads a page.
            pages.append(connector.parse(resource, read_bundled_file(path)))
        frames[resource.name] = pd.concat(pages, ignore_index=True)
    return frames


def test_bundle_covers_every_registry_indicator() -> None:
    connector = _connector()
    manifest = connector.bundled_manifest()
    assert list(manifest.files) == list(connector.config.options["indicators"])
    assert not manifest.synthetic
    assert manifest.edition == "2024"
    for name, files in manifest.files.items():
        assert [f.name for f in files] == [f"{name}.json.gz"]
        assert all(f.is_file() for f in files)


def test_parsed_frame_has_the_contract_columns(bundled: dict[str, pd.DataFrame]) -> None:
    frame = bundled["GOV_WGI_CC.EST"]
    assert tuple(frame.columns) == COLUMNS
    assert frame["year"].dtype == "int64"
    assert frame["value"].dtype == "float64"
    assert set(frame["indicator_id"]) == {"wgi.cc.estimate"}
    assert set(frame["indicator_label"]) == {"Control of Corruption: Estimate"}
    assert set(frame["edition"]) == {"2024"}
    assert set(frame["obs_status"]) == {""}
    ranks = bundled["GOV_WGI_PV.PER.RNK"]
    assert set(ranks["indicator_id"]) == {"wgi.pv.percentile_rank"}
    assert set(ranks["unit"]) == {"percentile rank 0-100"}
    for frame in bundled.values():
        assert set(frame["direction"]) == {"higher_is_better"}


def test_row_counts_are_every_economy_and_year(bundled: dict[str, pd.DataFrame]) -> None:
    for code, frame in bundled.items():
        assert len(frame) == ECONOMIES * YEARS, code
        assert frame["country_code"].nunique() == ECONOMIES, code
        assert frame["year"].nunique() == YEARS, code
        assert not frame.duplicated(["country_code", "year"]).any(), code


def test_wgi_codes_are_kept_as_the_bulk_file_has_them(bundled: dict[str, pd.DataFrame]) -> None:
    codes = set(bundled["GOV_WGI_CC.EST"]["country_code"])
    # The harmoniser maps these; the connector must not guess.
    assert {"ROM", "ZAR", "ADO", "TMP", "KSV", "WBG", "ANT"} <= codes
    assert not {"ROU", "COD"} & codes


def test_control_of_corruption_2023_covers_200_economies(
    bundled: dict[str, pd.DataFrame],
) -> None:
    frame = bundled["GOV_WGI_CC.EST"]
    assert frame.loc[frame["year"] == 2023, "value"].notna().sum() >= 200


def test_every_value_equals_the_bulk_file(
    bundled: dict[str, pd.DataFrame], xlsx_cells: dict[tuple[str, str, int], dict[str, Any]]
) -> None:
    for code, frame in bundled.items():
        dimension = code.removeprefix("GOV_WGI_")[:2].lower()
        column = "estimate" if code.endswith(".EST") else "pctrank"
        nulls = 0
        for country, name, year, value in zip(
            frame["country_code"], frame["country_name"], frame["year"], frame["value"], strict=True
        ):
            cell = xlsx_cells[(country, dimension, int(year))]
            assert name == cell["countryname"]
            if _missing(cell[column]):
                nulls += 1
                assert math.isnan(value), (code, country, year)
            else:
                assert value == float(cell[column]), (code, country, year)  # exact, not approx
        assert frame["value"].isna().sum() == nulls > 0


def test_spot_values(
    bundled: dict[str, pd.DataFrame], xlsx_cells: dict[tuple[str, str, int], dict[str, Any]]
) -> None:
    def value(code: str, country: str, year: int) -> float:
        frame = bundled[code]
        hit = frame[(frame["country_code"] == country) & (frame["year"] == year)]
        assert len(hit) == 1
        return float(hit["value"].iloc[0])

    assert value("GOV_WGI_CC.EST", "AFG", 1996) == xlsx_cells[("AFG", "cc", 1996)]["estimate"]
    assert value("GOV_WGI_CC.EST", "AFG", 1996) == pytest.approx(-1.2917048, abs=1e-7)
    assert value("GOV_WGI_CC.PER.RNK", "AFG", 1996) == pytest.approx(4.3010755, abs=1e-6)
    assert value("GOV_WGI_CC.EST", "ADO", 1996) == xlsx_cells[("ADO", "cc", 1996)]["estimate"]
    for country in ("DEU", "NGA", "COL", "ROM"):
        for dim in DIMENSIONS:
            cell = xlsx_cells[(country, dim, 2023)]
            assert value(f"GOV_WGI_{dim.upper()}.EST", country, 2023) == cell["estimate"]
            assert value(f"GOV_WGI_{dim.upper()}.PER.RNK", country, 2023) == cell["pctrank"]


def test_missing_values_stay_null(
    bundled: dict[str, pd.DataFrame], xlsx_cells: dict[tuple[str, str, int], dict[str, Any]]
) -> None:
    assert xlsx_cells[("ASM", "cc", 1996)]["estimate"] == ".."
    frame = bundled["GOV_WGI_CC.EST"]
    cell = frame[(frame["country_code"] == "ASM") & (frame["year"] == 1996)]["value"]
    assert cell.isna().all() and len(cell) == 1
    assert (frame["value"] == 0).sum() < 5  # a null turned 0 would show up by the hundred


# -- (b) the builder -------------------------------------------------------------------


def test_bundle_builder_is_deterministic(tmp_path: Path) -> None:
    if not XLSX.is_file():
        pytest.skip("the WGI bulk file (shared/data/wgi/wgidataset.xlsx) is not available")
    shipped = _connector().config.bundled_dir
    built = build_bundled_snapshot(XLSX, tmp_path)
    assert sorted(p.name for p in built) == sorted(p.name for p in shipped.glob("*.json.gz"))
    for path in built:
        original = (shipped / path.name).read_bytes()
        rebuilt = path.read_bytes()
        assert gzip.decompress(rebuilt) == gzip.decompress(original), path.name
        # Same JSON but different gzip bytes means another zlib build (see PROVENANCE.md).
        assert rebuilt == original, f"{path.name}: gzip bytes differ from the shipped file"


# -- (c) validation and parsing --------------------------------------------------------


def test_resources_one_per_indicator_with_the_api_url() -> None:
    connector = _connector()
    resources = connector.resources()
    assert [r.name for r in resources] == list(connector.config.options["indicators"])
    assert resources[0].url == (
        "https://api.worldbank.org/v2/country/all/indicator/GOV_WGI_CC.EST"
        "?source=3&format=json&per_page=20000&page=1"
    )


def test_unknown_indicator_code_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"unknown WGI indicator code 'CC\.EST'"):
        _connector(indicators=["CC.EST"])
    with pytest.raises(ValueError, match="per_page"):
        _connector(per_page=0)


GOOD = [_record("AFG", "2023"), _record("AFG", "2022", None)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b'[{"message":[{"id":"120","key":"Invalid value",'
            b'"value":"The provided parameter value is not valid"}]}]',
            r"returned an error.*id 120, key Invalid value: "
            r"The provided parameter value is not valid",
        ),
        (_page(GOOD)[:-25], "not valid JSON"),
        (b"", "empty response body"),
        (b"<html>Service unavailable</html>", "not valid JSON"),
        (b'{"page": 1}', "expected a JSON array"),
        (b"[]", "2 elements"),
        (json.dumps([{"page": 1}, [], []]).encode(), "2 elements"),
        (json.dumps([{"page": 1, "per_page": 2, "total": 2}, GOOD]).encode(), "'pages'"),
        (
            json.dumps([{"page": 1, "pages": 1, "per_page": 2, "total": 2}, {}]).encode(),
            "array or null",
        ),
        (_page([_record(code="GOV_WGI_RL.EST"), *GOOD[1:]]), r"for indicator 'GOV_WGI_RL\.EST'"),
        (_page([], total=2), "total 2 but page 1 has no records"),
        (_page(None, total=2), "total 2 but page 1 has no records"),
        (_page(GOOD, total=3, per_page=3), "has 2 records"),
        (_page([_record(year="2023Q1")]), "not a year"),
        (_page([_record(value="1.5")]), "not a number or null"),  # type: ignore[arg-type]
        (_page([_record(), _record()]), "repeats country AFG year 2023"),
        (_page(GOOD, sourceid="2"), "sourceid"),
        (_page(GOOD, page=2, pages=1), "page 2 of 1"),
        (_page([{"country": {"id": "AF"}}]), "no indicator id"),
    ],
)
def test_validate_rejects_what_the_publisher_does_not_serve(payload: bytes, message: str) -> None:
    connector = _connector()
    with pytest.raises(PayloadError, match=message):
        connector.validate(_resource(connector), payload)


def test_empty_result_page_is_valid_and_parses_to_zero_rows() -> None:
    connector = _connector()
    resource = _resource(connector)
    payload = (
        b'[{"page":1,"pages":0,"per_page":20000,"total":0,"sourceid":null,"lastupdated":null},null]'
    )
    connector.validate(resource, payload)
    frame = connector.parse(resource, payload)
    assert frame.empty
    assert tuple(frame.columns) == COLUMNS
    assert connector.next_page_url(resource, payload, 1) is None


def test_parse_keeps_nulls_aggregates_and_falls_back_to_the_country_id() -> None:
    connector = _connector()
    resource = _resource(connector)
    records = [
        _record("AFG", "2023", -1.18),
        _record("AFG", "2022", None, obs_status="E"),
        _record("", "2023", 0.5, country_id="XK", iso3=""),  # no iso3 code: use country.id
        _record("WLD", "2023", 0.0, country_id="1W"),  # an aggregate stays
    ]
    frame = connector.parse(resource, _page(records, lastupdated="2025-01-28"))
    assert list(frame["country_code"]) == ["AFG", "AFG", "XK", "WLD"]
    assert frame["value"].isna().tolist() == [False, True, False, False]
    assert frame["value"].iloc[3] == 0.0
    assert list(frame["year"]) == [2023, 2022, 2023, 2023]
    assert list(frame["obs_status"]) == ["", "E", "", ""]
    assert set(frame["edition"]) == {"2025"}  # the year of the envelope's lastupdated
    assert set(frame["unit"]) == {"estimate -2.5..2.5"}


def test_envelope_numbers_sent_as_text_are_accepted() -> None:
    connector = _connector()
    payload = json.dumps(
        [{"page": "1", "pages": "1", "per_page": "50", "total": "2", "sourceid": "3"}, GOOD]
    ).encode()
    connector.validate(_resource(connector), payload)
    assert set(connector.parse(_resource(connector), payload)["edition"]) == {"2024"}


# -- (d) paging ------------------------------------------------------------------------


def test_next_page_url_follows_pages() -> None:
    connector = _connector(per_page=2)
    resource = _resource(connector)
    url = connector.next_page_url(resource, _page(GOOD, pages=3, per_page=2, total=5), 1)
    assert url == resource.url.replace("page=1", "page=2")
    assert url.endswith("?source=3&format=json&per_page=2&page=2")
    page2 = _page(GOOD, page=2, pages=3, per_page=2, total=5)
    assert connector.next_page_url(resource, page2, 2) == resource.url.replace("page=1", "page=3")
    page3 = _page(GOOD[:1], page=3, pages=3, per_page=2, total=5)
    assert connector.next_page_url(resource, page3, 3) is None


def test_next_page_url_refuses_a_server_that_ignores_the_page_parameter() -> None:
    connector = _connector(per_page=2)
    resource = _resource(connector)
    with pytest.raises(PayloadError, match="asked for page 2"):
        connector.next_page_url(resource, _page(GOOD, page=1, pages=3, per_page=2, total=5), 2)


# -- through the fetcher ---------------------------------------------------------------


def test_paginated_fetch_over_http(httpserver: Any, tmp_path: Path) -> None:
    code = "GOV_WGI_CC.EST"
    records = [_record(c, y, v) for c, y, v in [
        ("AFG", "2023", -1.18), ("AFG", "2022", -1.2), ("ALB", "2023", None),
        ("ALB", "2022", -0.5), ("DZA", "2023", -0.6),
    ]]  # fmt: skip
    path = f"/v2/country/all/indicator/{code}"
    for page in (1, 2, 3):
        chunk = records[(page - 1) * 2 : page * 2]
        httpserver.expect_request(
            path,
            query_string={"source": "3", "format": "json", "per_page": "2", "page": str(page)},
        ).respond_with_data(
            _page(chunk, page=page, pages=3, per_page=2, total=5), content_type="application/json"
        )
    config = load_registry()["wgi"].with_base_url(httpserver.url_for("/"))
    connector = WgiConnector(
        dataclasses.replace(config, options={"indicators": [code], "per_page": 2})
    )
    fetcher = SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode="live",
    )
    (acquired,) = fetcher.acquire(connector)

    assert acquired.mode == "live" and not acquired.stale
    assert [s.provenance.page for s in acquired.snapshots] == [1, 2, 3]
    assert {s.provenance.pages for s in acquired.snapshots} == {3}
    frame = pd.concat(
        [connector.parse(acquired.resource, s.read()) for s in acquired.snapshots],
        ignore_index=True,
    )
    assert list(zip(frame["country_code"], frame["year"], strict=True)) == [
        (r["countryiso3code"], int(r["date"])) for r in records
    ]
    assert frame["value"].isna().tolist() == [False, False, True, False, False]
    httpserver.check_assertions()


def test_offline_fetch_uses_the_bundled_snapshot(tmp_path: Path) -> None:
    connector = _connector(indicators=["GOV_WGI_VA.PER.RNK"])
    fetcher = SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode="offline",
    )
    (acquired,) = fetcher.acquire(connector)
    assert acquired.mode == "bundled"
    provenance = acquired.snapshots[0].provenance
    assert provenance.retrieved_at == "2024-12-11T00:00:00Z"
    assert provenance.licence == "CC BY 4.0" and not provenance.synthetic
    assert "bulk file" in provenance.note
    frame = connector.parse(acquired.resource, acquired.snapshots[0].read())
    assert len(frame) == ECONOMIES * YEARS
