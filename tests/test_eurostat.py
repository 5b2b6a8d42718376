"""The Eurostat connector: the bundled response against the shared sample, JSON-stat decoding
(sparse and dense values and statuses), the API's error bodies, splitting a request refused
with 413 EXTRACTION_TOO_BIG, geo harmonisation, and spot values in marts.fct_indicator.

The HTTP tests serve real-format JSON-stat cut from the real sample by a small Eurostat
stand-in (`_Eurostat`) that applies the query's filters and the API's extraction cap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import shared_file
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.http import HttpClient, HttpError, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.eurostat import COLUMNS, EurostatConnector

SAMPLE_PARTS = ("api_samples", "eurostat", "crim_off_cat.jsonstat.json")
DATA_PATH = "/statistics/1.0/data/crim_off_cat"
ICCS = ["ICCS0101", "ICCS0102", "ICCS020111", "ICCS0301", "ICCS03011", "ICCS03012", "ICCS0502"]


# -- an independent reading of the sample ----------------------------------------------


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The shared sample read with `json` alone (not through the connector)."""
    return json.loads(shared_file(*SAMPLE_PARTS).read_bytes())


def _codes(cube: dict[str, Any], dimension: str) -> list[str]:
    index = cube["dimension"][dimension]["category"]["index"]
    return sorted(index, key=index.__getitem__)


def _flat(cube: dict[str, Any], **coords: str) -> int:
    """The flat index of one cell: row-major over `id`, the last dimension fastest."""
    flat = 0
    for name, size in zip(cube["id"], cube["size"], strict=True):
        flat = flat * size + cube["dimension"][name]["category"]["index"][coords[name]]
    return flat


def _cell(cube: dict[str, Any], **coords: str) -> float | None:
    return cube["value"].get(str(_flat(cube, **coords)))


def _subset(
    cube: dict[str, Any],
    keep: dict[str, list[str]],
    *,
    rename_geo: dict[str, str] | None = None,
    dense: bool = False,
    status: dict[tuple[str, ...], str] | None = None,
    dense_status: bool = False,
    updated: str | None = None,
) -> dict[str, Any]:
    """A JSON-stat 2.0 response for part of `cube` (the categories in `keep`, in the
    cube's order), as the API would answer the narrower query; `status` flags cells by
    their codes in `id` order."""
    dims = {
        name: [c for c in _codes(cube, name) if name not in keep or c in keep[name]]
        for name in cube["id"]
    }
    sizes = [len(dims[name]) for name in cube["id"]]
    total = math.prod(sizes)
    values: dict[str, Any] = {}
    statuses: dict[str, str] = {}
    for new_flat in range(total):
        rest, coords = new_flat, {}
        for name, size in reversed(list(zip(cube["id"], sizes, strict=True))):
            coords[name] = dims[name][rest % size]
            rest //= size
        value = _cell(cube, **coords)
        if value is not None:
            values[str(new_flat)] = value
        flag = (status or {}).get(tuple(coords[name] for name in cube["id"]))
        if flag:
            statuses[str(new_flat)] = flag
    rename = rename_geo or {}
    dimension = {}
    for name in cube["id"]:
        labels = cube["dimension"][name]["category"]["label"]
        codes = [rename.get(c, c) if name == "geo" else c for c in dims[name]]
        dimension[name] = {
            "label": cube["dimension"][name]["label"],
            "category": {
                "index": {code: i for i, code in enumerate(codes)},
                "label": {rename.get(c, c) if name == "geo" else c: labels[c] for c in dims[name]},
            },
        }
    body: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "label": cube["label"],
        "source": cube["source"],
        "updated": updated or cube["updated"],
        "value": [values.get(str(i)) for i in range(total)] if dense else values,
        "id": list(cube["id"]),
        "size": sizes,
        "dimension": dimension,
        "extension": cube["extension"],
    }
    if statuses:
        body["status"] = [statuses.get(str(i)) for i in range(total)] if dense_status else statuses
    return body


def _bytes(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _connector(base_url: str | None = None, **filters: Any) -> EurostatConnector:
    """The registry's connector; `filters` replace or add crim_off_cat filters (None drops one)."""
    config = load_registry()["eurostat"].with_base_url(base_url)
    if filters:
        (entry,) = config.options["datasets"]
        merged = {k: v for k, v in {**entry["filters"], **filters}.items() if v is not None}
        datasets = [{**entry, "filters": merged}]
        config = dataclasses.replace(config, options={**config.options, "datasets": datasets})
    return EurostatConnector(config)


def _resource(connector: EurostatConnector) -> Resource:
    (resource,) = connector.resources()
    return resource


def _fetcher(tmp_path: Path, mode: str = "live") -> SourceFetcher:
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode=mode,  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


def _rows(connector: EurostatConnector, acquired: Any) -> pd.DataFrame:
    pages = [connector.parse(acquired.resource, s.read()) for s in acquired.snapshots]
    return pd.concat(pages, ignore_index=True)


def _error(status: int, id_: int, label: str) -> bytes:
    return _bytes({"error": {"status": status, "id": id_, "label": label}})


class _Eurostat:
    """A stand-in for the API: answers a query with the sample's cells it selects, or with
    413 EXTRACTION_TOO_BIG when the query spans more than `limit` cells."""

    def __init__(self, cube: dict[str, Any], limit: int) -> None:
        self.cube, self.limit = cube, limit
        self.seen: list[tuple[str, int]] = []  # (query string, HTTP status)

    def __call__(self, request: Request) -> Response:
        args = request.args
        keep = {n: args.getlist(n) for n in self.cube["id"] if args.getlist(n) and n != "time"}
        years = _codes(self.cube, "time")
        since, until = args.get("sinceTimePeriod"), args.get("untilTimePeriod")
        keep["time"] = [
            y
            for y in (args.getlist("time") or years)
            if y in years and (not since or y >= since) and (not until or y <= until)
        ]
        body = _subset(self.cube, keep)
        cells = math.prod(body["size"])
        query = request.query_string.decode()
        if cells > self.limit:
            self.seen.append((query, 413))
            label = (
                f"EXTRACTION_TOO_BIG: The requested extraction is too big, estimated {cells} "
                f"rows, max authorised is {self.limit}, please change your filters to reduce "
                "the extraction size"
            )
            return Response(_error(413, 413, label), status=413, content_type="application/json")
        self.seen.append((query, 200))
        return Response(_bytes(body), content_type="application/json")


# -- (a) the bundled snapshot ----------------------------------------------------------


def test_bundled_snapshot_is_the_real_sample_byte_for_byte() -> None:
    connector = _connector()
    manifest = connector.bundled_manifest()
    (path,) = manifest.files["crim_off_cat"]
    assert read_bundled_file(path) == shared_file(*SAMPLE_PARTS).read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "062fd3fab7b711306510fe6105d8b152f781d825fa9d1c975aa0c2990017a564"
    )
    assert not manifest.synthetic and manifest.edition == "2025-08-12"
    assert connector.config.edition == "2025-08-12" and connector.config.max_age_days == 400
    assert "2011/833/EU" in connector.config.licence


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    connector = _connector()
    (path,) = connector.bundled_manifest().files["crim_off_cat"]
    return connector.parse(_resource(connector), read_bundled_file(path))


def test_bundled_parse_has_one_row_per_published_value(
    bundled: pd.DataFrame, sample: dict[str, Any]
) -> None:
    assert tuple(bundled.columns) == COLUMNS
    assert len(bundled) == len(sample["value"]) == 7221
    assert not bundled.duplicated(["indicator_id", "geo", "year"]).any()
    assert bundled["value"].notna().all()  # no status object: every row has a figure
    assert set(bundled["obs_status"]) == {""}
    assert set(bundled["edition"]) == {"2025-08-12"}
    assert bundled["year"].dtype == "int64" and bundled["value"].dtype == "float64"
    assert (bundled["year"].min(), bundled["year"].max()) == (2008, 2023)
    assert set(bundled["indicator_id"]) == {
        f"eurostat.crim_off_cat.{iccs.lower()}.{unit}"
        for iccs in ICCS
        for unit in ("nr", "p_hthab")
    }
    homicide_rate = bundled[bundled["indicator_id"] == "eurostat.crim_off_cat.iccs0101.p_hthab"]
    assert set(homicide_rate["indicator_label"]) == {
        "Intentional homicide (per 100,000 inhabitants)"
    }
    assert set(homicide_rate["unit"]) == {"per 100,000 inhabitants"}
    assert set(homicide_rate["scale"]) == {"rate"}
    assert set(homicide_rate["series_key"]) == {"A.ICCS0101.P_HTHAB"}
    theft = bundled[bundled["indicator_id"] == "eurostat.crim_off_cat.iccs0502.nr"]
    assert set(theft["indicator_label"]) == {"Theft (offences)"}
    assert set(zip(theft["unit"], theft["scale"], strict=True)) == {("offences", "absolute")}
    assert set(bundled["direction"]) == {"higher_is_worse"}
    assert bundled.loc[bundled["geo"] == "EL", "geo_label"].iloc[0] == "Greece"


def test_every_bundled_value_equals_the_sample_cell(
    bundled: pd.DataFrame, sample: dict[str, Any]
) -> None:
    missing = 0
    parsed = {
        (s, g, int(y)): v
        for s, g, y, v in zip(
            bundled["series_key"], bundled["geo"], bundled["year"], bundled["value"], strict=True
        )
    }
    for iccs in _codes(sample, "iccs"):
        for unit in _codes(sample, "unit"):
            for geo in _codes(sample, "geo"):
                for year in _codes(sample, "time"):
                    cell = _cell(sample, freq="A", iccs=iccs, unit=unit, geo=geo, time=year)
                    got = parsed.get((f"A.{iccs}.{unit}", geo, int(year)))
                    if cell is None:
                        missing += 1
                        assert got is None, (iccs, unit, geo, year)  # absent, not 0
                    else:
                        assert got == float(cell), (iccs, unit, geo, year)
    assert missing == 7840 - 7221


# -- (b) decoding ----------------------------------------------------------------------


def test_dense_values_and_statuses_decode_like_sparse_ones(sample: dict[str, Any]) -> None:
    connector = _connector()
    resource = _resource(connector)
    keep = {"iccs": ["ICCS0101", "ICCS0502"], "geo": ["DE", "EL", "MT", "TR"]}
    flags = {
        ("A", "ICCS0101", "NR", "DE", "2023"): "p",
        ("A", "ICCS0502", "P_HTHAB", "EL", "2022"): "e",
    }
    # A cell with a flag but no figure: find one the sample leaves empty.
    empty = next(
        (iccs, unit, geo, year)
        for iccs in keep["iccs"]
        for unit in ("NR", "P_HTHAB")
        for geo in keep["geo"]
        for year in _codes(sample, "time")
        if _cell(sample, freq="A", iccs=iccs, unit=unit, geo=geo, time=year) is None
    )
    flags[("A", *empty)] = "c"
    sparse = _subset(sample, keep, status=flags)
    dense = _subset(sample, keep, status=flags, dense=True, dense_status=True)
    assert isinstance(dense["value"], list) and None in dense["value"]

    a = connector.parse(resource, _bytes(sparse))
    b = connector.parse(resource, _bytes(dense))
    pd.testing.assert_frame_equal(a, b)
    present = sum(v is not None for v in dense["value"])
    assert len(a) == present + 1  # every figure, plus the flagged empty cell
    flagged = a[a["obs_status"] != ""].set_index(["series_key", "geo", "year"])["obs_status"]
    assert flagged.to_dict() == {
        ("A.ICCS0101.NR", "DE", 2023): "p",
        ("A.ICCS0502.P_HTHAB", "EL", 2022): "e",
        (f"A.{empty[0]}.{empty[1]}", empty[2], int(empty[3])): "c",
    }
    confidential = a[a["obs_status"] == "c"]["value"]
    assert confidential.isna().all() and len(confidential) == 1  # null, never 0
    de = a[(a["series_key"] == "A.ICCS0101.NR") & (a["geo"] == "DE") & (a["year"] == 2023)]
    assert de["value"].iloc[0] == _cell(
        sample, freq="A", iccs="ICCS0101", unit="NR", geo="DE", time="2023"
    )


def test_index_as_array_one_category_without_index_and_status_as_one_string(
    sample: dict[str, Any],
) -> None:
    connector = _connector()
    resource = _resource(connector)
    body = _subset(sample, {"iccs": ["ICCS0101"], "geo": ["FR", "IT"]})
    expected = connector.parse(resource, _bytes(body))
    for name in body["id"]:
        category = body["dimension"][name]["category"]
        category["index"] = sorted(category["index"], key=category["index"].__getitem__)
    del body["dimension"]["freq"]["category"]["index"]  # legal for a single category
    body["status"] = "p"
    got = connector.parse(resource, _bytes(body))
    assert len(got) == len(expected) > 0
    assert set(got["obs_status"]) == {"p"}
    pd.testing.assert_frame_equal(
        got.drop(columns="obs_status"), expected.drop(columns="obs_status")
    )


def test_edition_follows_the_responses_updated_date(sample: dict[str, Any]) -> None:
    connector = _connector()
    body = _subset(sample, {"geo": ["SE"]}, updated="2026-07-30T23:00:00+0200")
    frame = connector.parse(_resource(connector), _bytes(body))
    assert set(frame["edition"]) == {"2026-07-30"}


def _broken(sample: dict[str, Any], change: Any) -> bytes:
    body = _subset(sample, {"iccs": ["ICCS0101"], "geo": ["FR", "IT"]})
    result = change(body)
    return result if isinstance(result, bytes) else _bytes(body)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: _error(400, 140, "Syntax error: unknown dimension iccz"),
            r"returned an error.*HTTP 400, id 140: Syntax error: unknown dimension iccz",
        ),
        (
            lambda b: _bytes({"error": [{"status": 404, "id": 100, "label": "No results found"}]}),
            r"HTTP 404, id 100: No results found",
        ),
        (lambda b: _bytes(b)[:-40], "not valid JSON"),
        (lambda b: b"<html><body>Service Unavailable</body></html>", "not valid JSON"),
        (lambda b: b"", "empty response body"),
        (lambda b: b"[1, 2]", "expected a JSON-stat object"),
        (lambda b: b.update(version="1.0"), "not a JSON-stat 2.0 dataset"),
        (lambda b: b.update(extension={"id": "CRIM_GEN"}), "is dataset 'CRIM_GEN'"),
        (lambda b: b["size"].__setitem__(3, 3), "2 distinct categories but `size` says 3"),
        (lambda b: b.update(value={"999999": 1}), "outside the"),
        (lambda b: b.update(value={"0": "12"}), "not a number"),
        (lambda b: b.update(value=[1, 2]), "array of 2 entries"),
        (lambda b: b.update(status={"0": 7}), "not a text flag"),
        (lambda b: b.update(updated="last week"), "not an ISO 8601 date"),
        (lambda b: b["size"].pop(), "`size` must be 5"),
        (
            lambda b: [b["dimension"].pop("unit"), b["size"].pop(2), b["id"].remove("unit")],
            "no 'unit' dimension",
        ),
        (
            lambda b: b["dimension"]["unit"]["category"].update(
                index={"NR": 0, "PC_POP": 1}, label={"NR": "Number", "PC_POP": "%"}
            ),
            "categories the query did not ask for: PC_POP",
        ),
        (
            lambda b: b["dimension"]["iccs"]["category"].update(
                index={"ICCS0903": 0}, label={"ICCS0903": "Participation"}
            ),
            "categories the query did not ask for: ICCS0903",
        ),
        (
            lambda b: b["dimension"]["time"]["category"].update(
                index={f"{y}-Q1": i for i, y in enumerate(range(2008, 2024))}
            ),
            "are not years",
        ),
    ],
)
def test_validate_rejects_what_the_api_does_not_serve(
    sample: dict[str, Any], change: Any, message: str
) -> None:
    connector = _connector()
    with pytest.raises(PayloadError, match=message):
        connector.validate(_resource(connector), _broken(sample, change))


def test_an_undeclared_unit_code_fails_with_what_to_do(sample: dict[str, Any]) -> None:
    connector = _connector(unit=None)  # unit not filtered: the API may add any unit
    body = _subset(sample, {"iccs": ["ICCS0101"], "geo": ["FR"]})
    body["dimension"]["unit"]["category"]["index"] = {"NR": 0, "PC": 1}
    body["dimension"]["unit"]["category"]["label"] = {"NR": "Number", "PC": "Percentage"}
    with pytest.raises(PayloadError, match=r"unit code\(s\) PC are not declared under `units`"):
        connector.validate(_resource(connector), _bytes(body))


def test_registry_entries_are_checked_at_construction() -> None:
    config = load_registry()["eurostat"]
    (entry,) = config.options["datasets"]
    cases = [
        ({**config.options, "datasets": []}, "needs `datasets`"),
        ({**config.options, "datasets": [{**entry, "units": {}}]}, "must declare every unit"),
        ({**config.options, "datasets": [{**entry, "units": {"NR": {"unit": "x"}}}]}, "scale"),
        ({**config.options, "datasets": [entry, entry]}, "listed twice"),
        ({**config.options, "datasets": [{**entry, "direction": "up"}]}, "direction"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            EurostatConnector(dataclasses.replace(config, options=options))


# -- (c) geo codes ---------------------------------------------------------------------


def test_eurostat_geo_codes_harmonise(sample: dict[str, Any]) -> None:
    """EL and UK are Eurostat's own codes, XK Kosovo, and EU/euro-area totals aggregates."""
    rename = {"EL": "EL", "DE": "UK", "FR": "XK", "IT": "EU27_2020", "ES": "EU28", "AT": "EA19"}
    body = _subset(sample, {"geo": list(rename)}, rename_geo=rename)
    connector = _connector()
    frame = default_harmoniser().harmonise(
        connector.parse(_resource(connector), _bytes(body)), connector.country_column
    )
    found = frame.drop_duplicates("geo").set_index("geo")[["iso3", "country_match"]]
    assert found.loc["EL"].tolist() == ["GRC", "country"]
    assert found.loc["UK"].tolist() == ["GBR", "country"]
    assert found.loc["XK"].tolist() == ["XKX", "country"]
    for aggregate in ("EU27_2020", "EU28", "EA19"):
        assert found.loc[aggregate, "country_match"] == "aggregate", aggregate
    assert "unmatched" not in set(frame["country_match"])


def test_every_bundled_geo_code_is_a_country(bundled: pd.DataFrame) -> None:
    harmoniser = default_harmoniser()
    assert harmoniser.unmatched(bundled["geo"]) == []
    kinds = {harmoniser.match(code).kind for code in bundled["geo"].unique()}
    assert kinds == {"country"}


# -- (d) narrowing ---------------------------------------------------------------------


def _too_big(url: str, body: bytes | None = None) -> HttpError:
    return HttpError(
        url, status=413, attempts=1, kind="status", detail="HTTP 413 Payload Too Large",
        advice="", body=body if body is not None else _error(413, 413, "EXTRACTION_TOO_BIG: big"),
    )  # fmt: skip


def test_narrow_splits_the_year_range_then_an_explicit_list() -> None:
    connector = _connector("http://eurostat.test")
    resource = _resource(connector)
    wide = resource.url
    assert wide.endswith("&sinceTimePeriod=2008")
    first, second = connector.narrow(resource, wide, _too_big(wide)) or []
    assert "sinceTimePeriod=2008&untilTimePeriod=" in first
    middle = int(first.rsplit("untilTimePeriod=", 1)[1])
    assert 2008 <= middle < 2030
    assert second.endswith(f"sinceTimePeriod={middle + 1}")  # open-ended: later years too
    assert "untilTimePeriod" not in second

    closed = wide + "&untilTimePeriod=2009"
    parts = connector.narrow(resource, closed, _too_big(closed)) or []
    assert [p.split("sinceTimePeriod=")[1] for p in parts] == [
        "2008&untilTimePeriod=2008",
        "2009&untilTimePeriod=2009",
    ]
    # One year left: split the longest other list (iccs, 7 codes) in two.
    one_year = wide.replace("sinceTimePeriod=2008", "time=2020")
    low, high = connector.narrow(resource, one_year, _too_big(one_year)) or []
    assert low.count("iccs=") == 3 and high.count("iccs=") == 4
    assert low.count("unit=") == high.count("unit=") == 2


def test_narrow_turns_error_bodies_into_payload_errors() -> None:
    connector = _connector("http://eurostat.test")
    resource = _resource(connector)
    url = resource.url
    not_found = HttpError(
        url, status=404, attempts=1, kind="status", detail="HTTP 404", advice="",
        body=_error(404, 100, "No results found"),
    )  # fmt: skip
    with pytest.raises(PayloadError, match=r"HTTP 404.*id 100: No results found"):
        connector.narrow(resource, url, not_found)
    plain = HttpError(url, status=502, attempts=1, kind="status", detail="HTTP 502", advice="")
    assert connector.narrow(resource, url, plain) is None  # the HTTP error stands
    other_413 = _too_big(url, body=b"<html>Request Entity Too Large</html>")
    assert connector.narrow(resource, url, other_413) is None
    unsplittable = (
        url.replace("sinceTimePeriod=2008", "time=2020")
        .replace(
            "&iccs=ICCS0102&iccs=ICCS020111&iccs=ICCS0301&iccs=ICCS03011&iccs=ICCS03012"
            "&iccs=ICCS0502",
            "",
        )
        .replace("&unit=P_HTHAB", "")
    )
    with pytest.raises(PayloadError, match=r"cannot be split further.*add filters"):
        connector.narrow(resource, unsplittable, _too_big(unsplittable))


# -- (e) over HTTP ---------------------------------------------------------------------


def test_one_response_over_http_with_provenance(
    httpserver: HTTPServer, tmp_path: Path, sample: dict[str, Any]
) -> None:
    payload = _bytes(_subset(sample, {"geo": ["PL", "PT"]}))
    httpserver.expect_request(
        DATA_PATH,
        query_string=_resource(_connector(httpserver.url_for("").rstrip("/"))).url.split("?")[1],
    ).respond_with_data(payload, content_type="application/json")
    connector = _connector(httpserver.url_for("").rstrip("/"))
    (acquired,) = _fetcher(tmp_path).acquire(connector)
    (snapshot,) = acquired.snapshots
    assert acquired.mode == "live" and not acquired.stale
    prov = snapshot.provenance
    assert prov.sha256 == hashlib.sha256(payload).hexdigest()
    assert (prov.source_id, prov.resource, prov.page, prov.pages) == (
        "eurostat", "crim_off_cat", 1, 1,
    )  # fmt: skip
    assert "2011/833/EU" in prov.licence and prov.edition == "2025-08-12"
    frame = _rows(connector, acquired)
    assert set(frame["geo"]) == {"PL", "PT"}
    assert len(frame) == len(_subset(sample, {"geo": ["PL", "PT"]})["value"])
    httpserver.check_assertions()


def test_a_413_is_split_by_years_and_the_pages_hold_the_union(
    httpserver: HTTPServer, tmp_path: Path, sample: dict[str, Any]
) -> None:
    server = _Eurostat(sample, limit=5000)  # the whole query is 7,840 cells
    httpserver.expect_request(DATA_PATH).respond_with_handler(server)
    connector = _connector(httpserver.url_for("").rstrip("/"))
    (acquired,) = _fetcher(tmp_path).acquire(connector)

    assert server.seen[0][1] == 413  # the wide query
    assert [status for _, status in server.seen].count(200) == len(acquired.snapshots) >= 2
    assert [s.provenance.page for s in acquired.snapshots] == list(
        range(1, len(acquired.snapshots) + 1)
    )
    urls = [s.provenance.url for s in acquired.snapshots]
    wide = _resource(connector).url
    assert wide not in urls and len(set(urls)) == len(urls)
    assert "untilTimePeriod" in urls[0] and "untilTimePeriod" not in urls[-1]  # last: open-ended
    frame = _rows(connector, acquired)
    assert not frame.duplicated(["indicator_id", "geo", "year"]).any()
    whole = connector.parse(_resource(connector), shared_file(*SAMPLE_PARTS).read_bytes())
    key = ["indicator_id", "geo", "year"]
    pd.testing.assert_frame_equal(
        frame.sort_values(key, ignore_index=True), whole.sort_values(key, ignore_index=True)
    )


def test_a_413_on_one_year_is_split_by_the_geo_list(
    httpserver: HTTPServer, tmp_path: Path, sample: dict[str, Any]
) -> None:
    geos = ["BE", "BG", "CZ", "DK", "DE", "EE", "IE", "EL", "ES", "FR"]
    server = _Eurostat(sample, limit=100)
    httpserver.expect_request(DATA_PATH).respond_with_handler(server)
    connector = _connector(
        httpserver.url_for("").rstrip("/"), geo=geos, time=["2022", "2023"], sinceTimePeriod=None
    )
    (acquired,) = _fetcher(tmp_path).acquire(connector)
    # 2 years x 7 x 2 x 10 = 280 cells: split by year (140 each), then by geo (70 each).
    assert [s for _, s in server.seen] == [413, 413, 200, 200, 413, 200, 200]
    frame = _rows(connector, acquired)
    assert len(acquired.snapshots) == 4
    assert set(frame["geo"]) == set(geos) and set(frame["year"]) == {2022, 2023}
    assert not frame.duplicated(["indicator_id", "geo", "year"]).any()
    expected = sum(
        _cell(sample, freq="A", iccs=i, unit=u, geo=g, time=t) is not None
        for i in ICCS for u in ("NR", "P_HTHAB") for g in geos for t in ("2022", "2023")
    )  # fmt: skip
    assert len(frame) == expected


def test_a_413_that_cannot_be_split_fails_with_the_apis_label(
    httpserver: HTTPServer, tmp_path: Path, sample: dict[str, Any]
) -> None:
    httpserver.expect_request(DATA_PATH).respond_with_handler(_Eurostat(sample, limit=10))
    connector = _connector(
        httpserver.url_for("").rstrip("/"), time="2023", sinceTimePeriod=None, iccs="ICCS0101",
        unit="NR",
    )  # fmt: skip
    with pytest.raises(SourceUnavailable, match=r"EXTRACTION_TOO_BIG.*max authorised is 10"):
        _fetcher(tmp_path).acquire(connector)


@pytest.mark.parametrize("status", [200, 400])
def test_an_error_body_fails_the_live_fetch_with_its_label(
    httpserver: HTTPServer, tmp_path: Path, status: int
) -> None:
    body = _error(400, 150, "Semantic error: dimension iccs has no code ICCS9999")
    httpserver.expect_request(DATA_PATH).respond_with_data(
        body, status=status, content_type="application/json"
    )
    connector = _connector(httpserver.url_for("").rstrip("/"))
    with pytest.raises(SourceUnavailable, match="id 150: Semantic error: dimension iccs"):
        _fetcher(tmp_path).acquire(connector)


def test_auto_mode_falls_back_to_the_bundle_on_an_html_page(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(DATA_PATH).respond_with_data(
        "<html>maintenance</html>", content_type="text/html"
    )
    connector = _connector(httpserver.url_for("").rstrip("/"))
    (acquired,) = _fetcher(tmp_path, "auto").acquire(connector)
    assert acquired.mode == "bundled" and acquired.stale
    assert "not valid JSON" in acquired.note
    assert len(_rows(connector, acquired)) == 7221


# -- (f) the pipeline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geo", "iso3", "iccs", "unit", "year"),
    [
        ("DE", "DEU", "ICCS0101", "NR", "2022"),
        ("EL", "GRC", "ICCS0101", "P_HTHAB", "2022"),
        ("FR", "FRA", "ICCS0502", "NR", "2021"),
        ("SE", "SWE", "ICCS03011", "P_HTHAB", "2023"),
        ("TR", "TUR", "ICCS0502", "NR", "2019"),
    ],
)
def test_fct_indicator_equals_the_sample(
    offline_run: Any, sample: dict[str, Any], geo: str, iso3: str, iccs: str, unit: str, year: str
) -> None:
    expected = _cell(sample, freq="A", iccs=iccs, unit=unit, geo=geo, time=year)
    assert expected is not None
    with offline_run.published() as con:
        rows = con.execute(
            "select value, edition, unit, scale from marts.fct_indicator "
            "where source_id = 'eurostat' and indicator_id = ? and iso3 = ? and year = ?",
            [f"eurostat.crim_off_cat.{iccs.lower()}.{unit.lower()}", iso3, int(year)],
        ).fetchall()
    assert len(rows) == 1
    value, edition, unit_text, scale = rows[0]
    assert value == float(expected)
    assert edition == "2025-08-12"
    assert (unit_text, scale) == (
        ("offences", "absolute") if unit == "NR" else ("per 100,000 inhabitants", "rate")
    )


def test_pipeline_keeps_every_row_and_its_checks_pass(
    offline_run: Any, sample: dict[str, Any]
) -> None:
    with offline_run.published() as con:
        (facts,) = con.execute(
            "select count(*) from marts.fct_indicator where source_id = 'eurostat'"
        ).fetchone()
        (countries,) = con.execute(
            "select count(distinct iso3) from marts.fct_indicator where source_id = 'eurostat'"
        ).fetchone()
        label = con.execute(
            "select label, licence from marts.dim_indicator "
            "where indicator_id = 'eurostat.crim_off_cat.iccs0101.p_hthab'"
        ).fetchone()
        (absent,) = con.execute(
            "select count(*) from marts.fct_indicator where source_id = 'eurostat' "
            "and indicator_id = 'eurostat.crim_off_cat.iccs020111.nr' and iso3 = 'TUR'"
        ).fetchone()
    assert facts == len(sample["value"])  # all 35 geo codes are countries: nothing dropped
    # Türkiye reports no serious assaults in the sample: no row, never a 0.
    assert all(
        _cell(sample, freq="A", iccs="ICCS020111", unit="NR", geo="TR", time=year) is None
        for year in _codes(sample, "time")
    )
    assert absent == 0
    assert countries == 35
    assert label[0] == "Intentional homicide (per 100,000 inhabitants)"
    assert "2011/833/EU" in label[1]
    evaluations = offline_run.result.get_asset_check_evaluations()
    ours = {
        e.check_name: e.passed
        for e in evaluations
        if e.asset_key.to_user_string() == "raw/eurostat"
    }
    assert ours.get("expectations") is True
    assert ours.get("countries_harmonised") is True
