"""Connector acceptance tests: the real WGI and GOCI connectors, the real SourceFetcher and
SnapshotStore, against a real loopback HTTP server, in every `EXTRA_SOURCES` mode, and
once through Dagster into a real DuckDB file.

The HTTP client's own behaviour (backoff arithmetic, Retry-After dates, size limits) is in
test_http.py and the store's bookkeeping in test_snapshots.py; these tests check what the
pipeline does with each kind of server answer: what is parsed, what is stored, what is
recorded and what an operator is told.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extra_pipeline.defs.resources import SourcesResource
from extra_pipeline.defs.sources import FRESHNESS_CHECK, build_source_asset, source_key
from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore, sha256_bytes
from extra_pipeline.sources.base import (
    Acquired,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.goci import GociConnector
from extra_pipeline.sources.wgi import WgiConnector
from extra_pipeline.warehouse import WarehouseResource

CODE = "GOV_WGI_CC.EST"
WGI_PATH = f"/v2/country/all/indicator/{CODE}"
TINY = RetryPolicy(max_attempts=3, backoff_base=0.01)
ETAG = '"wgi-v1"'
BUNDLED_WGI_ROWS = 214 * 25  # economies x years in the bundled 2024 snapshot


# -- helpers ---------------------------------------------------------------------------


def _record(country: str, year: str, value: float | None, code: str = CODE) -> dict[str, Any]:
    """One World Bank API v2 record, as the API spells it."""
    return {
        "indicator": {"id": code, "value": "Control of Corruption: Estimate"},
        "country": {"id": country[:2], "value": f"Name of {country}"},
        "countryiso3code": country,
        "date": year,
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 1,
    }


RECORDS = [
    _record("AFG", "2023", -1.18),
    _record("AFG", "2022", None),  # not assessed: must stay missing
    _record("ALB", "2023", -0.41),
    _record("DEU", "2023", 1.72),
    _record("WLD", "2023", 0.0),  # an aggregate, kept; 0.0 is a real value
]


def _page(
    records: list[dict[str, Any]], *, page: int = 1, pages: int = 1, per_page: int | None = None
) -> bytes:
    """One API page `[envelope, records]` whose envelope agrees with `records`."""
    per_page = per_page or max(len(records), 1)
    total = per_page * (pages - 1) + len(records) if page == pages else per_page * pages
    envelope = {
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "sourceid": "3",
        "lastupdated": "2024-09-27",
    }
    return json.dumps([envelope, records]).encode()


def _query(page: int = 1, per_page: int = 20000) -> dict[str, str]:
    return {"source": "3", "format": "json", "per_page": str(per_page), "page": str(page)}


def _base(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def _wgi(base_url: str, **options: Any) -> WgiConnector:
    """The registry's WGI connector pointed at `base_url`, narrowed to one indicator."""
    config = load_registry()["wgi"].with_base_url(base_url)
    options = {**config.options, "indicators": [CODE], **options}
    return WgiConnector(dataclasses.replace(config, options=options))


def _goci(base_url: str) -> GociConnector:
    return GociConnector(load_registry()["goci"].with_base_url(base_url))


def _fetcher(
    store: SnapshotStore, mode: str, client: HttpClient | None = None, **policy: Any
) -> SourceFetcher:
    client = client or HttpClient(retry=dataclasses.replace(TINY, **policy), read_timeout=5.0)
    return SourceFetcher(store=store, client=client, mode=mode)  # type: ignore[arg-type]


def _rows(connector: WgiConnector, acquired: Acquired) -> pd.DataFrame:
    pages = [connector.parse(acquired.resource, s.read()) for s in acquired.snapshots]
    return pd.concat(pages, ignore_index=True)


def _keys(frame: pd.DataFrame) -> list[tuple[str, int, float | None]]:
    return [
        (c, int(y), None if math.isnan(v) else v)
        for c, y, v in zip(frame["country_code"], frame["year"], frame["value"], strict=True)
    ]


def _expected(records: list[dict[str, Any]]) -> list[tuple[str, int, float | None]]:
    return [(r["countryiso3code"], int(r["date"]), r["value"]) for r in records]


def _serve_mutable(server: HTTPServer, path: str, state: dict[str, Any]) -> None:
    """Serve whatever `state["body"]` (and optional `state["headers"]`) holds at the time."""

    def handler(_request: Request) -> Response:
        return Response(
            state["body"], headers=state.get("headers", {}), content_type="application/json"
        )

    server.expect_request(path).respond_with_handler(handler)


def _unused_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots")


# -- 1. one page -----------------------------------------------------------------------


def test_one_page_is_parsed_stored_and_recorded(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    payload = _page(RECORDS)
    httpserver.expect_request(WGI_PATH, query_string=_query()).respond_with_data(
        payload, content_type="application/json"
    )
    connector = _wgi(_base(httpserver))
    before = datetime.now(UTC)

    (acquired,) = _fetcher(store, "live").acquire(connector)

    assert (acquired.mode, acquired.stale, acquired.note) == ("live", False, "")
    assert _keys(_rows(connector, acquired)) == _expected(RECORDS)
    frame = _rows(connector, acquired)
    assert set(frame["indicator_id"]) == {"wgi.cc.estimate"}
    assert set(frame["edition"]) == {"2024"}

    (snapshot,) = acquired.snapshots
    prov = snapshot.provenance
    assert prov.mode == "live" and not prov.stale and not prov.synthetic
    assert prov.url == f"{_base(httpserver)}{WGI_PATH}?source=3&format=json&per_page=20000&page=1"
    assert prov.sha256 == hashlib.sha256(payload).hexdigest()
    assert prov.bytes == len(payload)
    retrieved = datetime.fromisoformat(prov.retrieved_at.replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= retrieved <= datetime.now(UTC)
    config = load_registry()["wgi"]
    assert (prov.publisher, prov.licence, prov.edition) == (
        config.publisher,
        config.licence,
        config.edition,
    )
    assert prov.licence == "CC BY 4.0"
    assert re.fullmatch(r"[0-9a-f]{32}", prov.fetch_id)
    assert (prov.page, prov.pages) == (1, 1)
    assert (prov.source_id, prov.resource) == ("wgi", CODE)
    # The record is on disk and the blob holds exactly the served bytes.
    assert store.records("wgi") == [prov]
    assert store.has_blob(prov.sha256)
    assert store.blob_path(prov.sha256).read_bytes() == payload
    assert len(httpserver.log) == 1


# -- 2. several pages ------------------------------------------------------------------


def test_three_pages_are_fetched_in_order_as_one_fetch(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    chunks = [RECORDS[0:2], RECORDS[2:4], RECORDS[4:5]]
    payloads = [_page(chunk, page=n, pages=3, per_page=2) for n, chunk in enumerate(chunks, 1)]
    for number, payload in enumerate(payloads, start=1):
        httpserver.expect_request(
            WGI_PATH, query_string=_query(number, per_page=2)
        ).respond_with_data(payload, content_type="application/json")
    connector = _wgi(_base(httpserver), per_page=2)

    (acquired,) = _fetcher(store, "live").acquire(connector)

    assert [request.args["page"] for request, _ in httpserver.log] == ["1", "2", "3"]
    assert _keys(_rows(connector, acquired)) == _expected(RECORDS)
    provs = [s.provenance for s in acquired.snapshots]
    assert [p.page for p in provs] == [1, 2, 3]
    assert [p.sha256 for p in provs] == [sha256_bytes(p) for p in payloads]
    assert [p.url.rsplit("page=", 1)[1] for p in provs] == ["1", "2", "3"]
    recorded = store.records("wgi")
    assert len(recorded) == 3
    assert {p.pages for p in recorded} == {3}
    assert len({p.fetch_id for p in recorded}) == 1
    assert {p.retrieved_at for p in recorded} == {provs[0].retrieved_at}
    latest = store.latest_fetch("wgi", CODE)
    assert latest is not None and [s.read() for s in latest] == payloads


# -- 3. the API's HTTP-200 error body --------------------------------------------------

API_ERROR = (
    b'[{"message":[{"id":"120","key":"Invalid value",'
    b'"value":"The provided parameter value is not valid"}]}]'
)


def test_http_200_error_body_is_refused_and_nothing_is_stored(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    httpserver.expect_request(WGI_PATH).respond_with_data(
        API_ERROR, content_type="application/json"
    )
    connector = _wgi(_base(httpserver))
    (resource,) = connector.resources()

    with pytest.raises(SourceUnavailable) as info:
        _fetcher(store, "live").acquire(connector)

    message = str(info.value)
    assert CODE in message
    assert "Invalid value" in message
    assert "returned an error instead of data" in message
    assert store.latest_for_url(resource.url) is None
    assert store.records() == []
    assert not store.has_blob(sha256_bytes(API_ERROR))
    assert len(httpserver.log) == 1  # a bad payload is not retried


# -- 4. transient server errors --------------------------------------------------------


def test_500_500_200_recovers_with_the_final_data(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    payload = _page(RECORDS)
    httpserver.expect_ordered_request(WGI_PATH).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(WGI_PATH).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(WGI_PATH).respond_with_data(
        payload, content_type="application/json"
    )
    connector = _wgi(_base(httpserver))

    (acquired,) = _fetcher(store, "live", max_attempts=4).acquire(connector)

    assert len(httpserver.log) == 3
    assert [response.status_code for _, response in httpserver.log] == [500, 500, 200]
    assert acquired.mode == "live" and not acquired.stale
    assert _keys(_rows(connector, acquired)) == _expected(RECORDS)
    assert acquired.snapshots[0].provenance.sha256 == sha256_bytes(payload)
    assert len(store.records("wgi")) == 1  # the 500 bodies are never stored
    httpserver.check_assertions()


# -- 5. rate limiting ------------------------------------------------------------------


def test_429_with_retry_after_waits_then_recovers(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    httpserver.expect_ordered_request(WGI_PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request(WGI_PATH).respond_with_data(
        _page(RECORDS), content_type="application/json"
    )
    waits: list[float] = []
    client = HttpClient(retry=RetryPolicy(max_attempts=3, backoff_base=0.01), sleep=waits.append)
    connector = _wgi(_base(httpserver))

    (acquired,) = _fetcher(store, "live", client).acquire(connector)

    assert waits == [1.0]  # the server's Retry-After, not our 0.01 s backoff
    assert len(httpserver.log) == 2
    assert acquired.mode == "live"
    assert _keys(_rows(connector, acquired)) == _expected(RECORDS)


# -- 6. not found ----------------------------------------------------------------------


def test_404_fails_at_once_naming_the_status_and_url(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    httpserver.expect_request(WGI_PATH).respond_with_data("no such indicator", status=404)
    connector = _wgi(_base(httpserver))
    (resource,) = connector.resources()

    with pytest.raises(SourceUnavailable) as info:
        _fetcher(store, "live").acquire(connector)

    assert len(httpserver.log) == 1
    message = str(info.value)
    assert "404" in message
    assert resource.url in message
    assert "after 1 attempt:" in message
    assert message.startswith(f"wgi {CODE}: ")
    assert store.records() == []


# -- 7. timeout ------------------------------------------------------------------------


def test_read_timeout_is_retried_max_attempts_times_then_fails_clearly(
    slow_server: tuple[HTTPServer, threading.Event], store: SnapshotStore
) -> None:
    server, release = slow_server
    arrivals: list[float] = []

    def stall(_request: Request) -> Response:
        arrivals.append(time.monotonic())
        release.wait(2.0)
        return Response(_page(RECORDS), content_type="application/json")

    server.expect_request(WGI_PATH).respond_with_handler(stall)
    client = HttpClient(retry=RetryPolicy(max_attempts=3, backoff_base=0.01), read_timeout=0.2)
    connector = _wgi(_base(server))
    started = time.monotonic()

    with pytest.raises(SourceUnavailable) as info:
        _fetcher(store, "live", client).acquire(connector)
    elapsed = time.monotonic() - started

    message = str(info.value)
    assert "read timeout" in message
    assert "after 3 attempts" in message
    assert len(arrivals) == 3
    assert 0.6 <= elapsed < 2.0
    assert store.records() == []


# -- 8. conditional GET ----------------------------------------------------------------


def test_304_not_modified_reuses_the_stored_payload(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    payload = _page(RECORDS)

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == ETAG:
            return Response(status=304, headers={"ETag": ETAG})
        return Response(payload, headers={"ETag": ETAG}, content_type="application/json")

    httpserver.expect_request(WGI_PATH).respond_with_handler(handler)
    connector = _wgi(_base(httpserver))
    fetcher = _fetcher(store, "live")

    (first,) = fetcher.acquire(connector)
    (second,) = fetcher.acquire(connector)

    first_request, _ = httpserver.log[0]
    second_request, second_response = httpserver.log[1]
    assert "If-None-Match" not in first_request.headers
    assert second_request.headers["If-None-Match"] == ETAG
    assert second_response.status_code == 304
    old, new = first.snapshots[0].provenance, second.snapshots[0].provenance
    assert old.etag == ETAG and new.etag == ETAG
    assert second.mode == "live" and not second.stale
    assert new.sha256 == old.sha256 == sha256_bytes(payload)
    assert new.bytes == len(payload)
    assert new.fetch_id != old.fetch_id
    assert new.retrieved_at > old.retrieved_at
    assert "304" in new.note and old.retrieved_at in new.note
    assert old.note == ""
    pd.testing.assert_frame_equal(_rows(connector, second), _rows(connector, first))
    assert [p.mode for p in store.records("wgi")] == ["live", "live"]


# -- 9. a bad payload after a good one -------------------------------------------------

GOOD_PAGE = _page(RECORDS)
BAD_PAGES = {
    "truncated": GOOD_PAGE[:-25],
    "malformed": GOOD_PAGE.replace(b'"page"', b"page", 1),
}


@pytest.mark.parametrize("kind", sorted(BAD_PAGES))
def test_bad_payload_after_a_good_fetch(
    httpserver: HTTPServer, store: SnapshotStore, kind: str
) -> None:
    state: dict[str, Any] = {"body": GOOD_PAGE}
    _serve_mutable(httpserver, WGI_PATH, state)
    connector = _wgi(_base(httpserver))
    (good,) = _fetcher(store, "live").acquire(connector)
    good_prov = good.snapshots[0].provenance
    state["body"] = BAD_PAGES[kind]

    # live: refused, and the bad bytes never become "the latest".
    with pytest.raises(SourceUnavailable, match="not valid JSON"):
        _fetcher(store, "live").acquire(connector)
    latest = store.latest_fetch("wgi", CODE)
    assert latest is not None
    assert [s.provenance.sha256 for s in latest] == [good_prov.sha256]
    assert latest[0].provenance.fetch_id == good_prov.fetch_id
    assert not store.has_blob(sha256_bytes(BAD_PAGES[kind]))

    # auto: the newest good fetch is used, loudly stale.
    (fallback,) = _fetcher(store, "auto").acquire(connector)
    assert (fallback.mode, fallback.stale) == ("stored", True)
    assert "live fetch failed" in fallback.note
    assert "not valid JSON" in fallback.note
    assert "newest stored fetch used" in fallback.note
    prov = fallback.snapshots[0].provenance
    assert (prov.mode, prov.stale, prov.sha256) == ("stored", True, good_prov.sha256)
    assert prov.retrieved_at == good_prov.retrieved_at  # the data's age, not the reuse time
    assert prov.note == fallback.note
    assert _keys(_rows(connector, fallback)) == _expected(RECORDS)
    assert len(httpserver.log) == 3


# -- 10. server down, and offline ------------------------------------------------------


def test_auto_with_the_server_down_and_no_prior_fetch_uses_the_bundle(
    store: SnapshotStore,
) -> None:
    connector = _wgi(f"http://127.0.0.1:{_unused_loopback_port()}")
    waits: list[float] = []
    client = HttpClient(retry=RetryPolicy(max_attempts=2, backoff_base=0.01), sleep=waits.append)

    (acquired,) = _fetcher(store, "auto", client).acquire(connector)

    assert len(waits) == 1  # two attempts were made before giving up
    assert (acquired.mode, acquired.stale) == ("bundled", True)
    assert "Connection refused" in acquired.note
    assert "no stored fetch; bundled snapshot used" in acquired.note
    prov = acquired.snapshots[0].provenance
    assert (prov.mode, prov.stale, prov.retrieved_at) == ("bundled", True, "2024-12-11T00:00:00Z")
    bundled = read_bundled_file(connector.bundled_manifest().files[CODE][0])
    assert prov.sha256 == sha256_bytes(bundled)
    assert len(_rows(connector, acquired)) == BUNDLED_WGI_ROWS


def test_an_unreachable_host_costs_one_set_of_retries_not_one_per_resource(
    store: SnapshotStore,
) -> None:
    connector = _wgi(
        f"http://127.0.0.1:{_unused_loopback_port()}",
        indicators=[CODE, "GOV_WGI_RL.EST", "GOV_WGI_GE.EST"],
    )
    waits: list[float] = []
    client = HttpClient(retry=RetryPolicy(max_attempts=3, backoff_base=0.01), sleep=waits.append)

    acquired = _fetcher(store, "auto", client).acquire(connector)

    assert len(waits) == 2  # the first resource's retries only
    assert [a.mode for a in acquired] == ["bundled"] * 3
    assert all(a.stale for a in acquired)
    assert "Connection refused" in acquired[0].note
    assert all("live fetch skipped: wgi unreachable" in a.note for a in acquired[1:])


def test_offline_never_touches_the_network_and_is_not_stale(
    httpserver: HTTPServer, store: SnapshotStore
) -> None:
    httpserver.expect_request(WGI_PATH).respond_with_data(_page(RECORDS))
    connector = _wgi(_base(httpserver))

    (acquired,) = _fetcher(store, "offline").acquire(connector)

    assert httpserver.log == []
    assert (acquired.mode, acquired.stale) == ("bundled", False)
    assert acquired.note == "offline mode"
    assert not acquired.snapshots[0].provenance.stale
    assert len(_rows(connector, acquired)) == BUNDLED_WGI_ROWS


# -- 11. GOCI over HTTP ----------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"


def test_goci_workbook_over_http_and_an_html_page_in_its_place(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    connector = _goci(_base(httpserver))
    (manifest_file,) = connector.bundled_manifest().files["workbook"]
    workbook = read_bundled_file(manifest_file)
    path = connector.config.options["path"]
    state: dict[str, Any] = {"body": workbook}

    def handler(_request: Request) -> Response:
        kind = "text/html" if state["body"] is HTML else "application/vnd.ms-excel"
        return Response(state["body"], content_type=kind)

    httpserver.expect_request(path).respond_with_handler(handler)
    store = SnapshotStore(tmp_path / "snapshots")

    (live,) = _fetcher(store, "live").acquire(connector)
    assert live.mode == "live" and not live.stale
    prov = live.snapshots[0].provenance
    assert prov.url == f"{_base(httpserver)}{path}"
    assert prov.sha256 == sha256_bytes(workbook)
    frame = connector.parse(live.resource, live.snapshots[0].read())
    assert sorted(frame["edition"].unique()) == ["2021", "2023", "2025"]
    assert frame.groupby("edition")["country_name"].nunique().tolist() == [193, 193, 193]

    state["body"] = HTML
    with pytest.raises(SourceUnavailable, match="HTML page"):
        _fetcher(store, "live").acquire(connector)
    assert not store.has_blob(sha256_bytes(HTML))
    latest = store.latest_fetch("goci", "workbook")
    assert latest is not None and latest[0].provenance.sha256 == prov.sha256

    (stored,) = _fetcher(store, "auto").acquire(connector)
    assert (stored.mode, stored.stale) == ("stored", True)
    assert "HTML page" in stored.note
    assert stored.snapshots[0].provenance.sha256 == prov.sha256

    # With nothing stored yet, auto falls back to the bundled workbook instead.
    (bundled,) = _fetcher(SnapshotStore(tmp_path / "empty"), "auto").acquire(connector)
    assert (bundled.mode, bundled.stale) == ("bundled", True)
    assert "HTML page" in bundled.note
    assert bundled.snapshots[0].provenance.sha256 == prov.sha256  # the same official file
    assert len(httpserver.log) == 4


# -- 12. through Dagster ---------------------------------------------------------------


def test_dagster_run_falls_back_to_the_bundle_and_warns(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    # The asset reads the registry at run time (`sources.registry()`), so it fetches every
    # registry indicator whatever config it was built from: serve 503 for all twelve.
    httpserver.expect_request(re.compile(r"^/v2/.*")).respond_with_data("down", status=503)
    config = load_registry()["wgi"]
    indicators = list(config.options["indicators"])
    asset = build_source_asset(config, WgiConnector)
    warehouse_path = tmp_path / "w.duckdb"
    resources = {
        "warehouse": WarehouseResource(path=str(warehouse_path)),
        "sources": SourcesResource(
            mode="auto",
            snapshots_dir=str(tmp_path / "snapshots"),
            base_urls={"wgi": _base(httpserver)},
            backoff_base=0.01,
            max_attempts=2,
        ),
    }

    result = dg.materialize([asset], resources=resources)

    assert result.success
    assert len(httpserver.log) == 2 * len(indicators)  # max_attempts per indicator
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert event.asset_key == source_key("wgi")
    assert metadata["stale"].value is True
    assert metadata["mode"].value == "bundled"
    assert "HTTP 503" in metadata["fallback_reason"].value
    assert metadata["dagster/row_count"].value == BUNDLED_WGI_ROWS * len(indicators)

    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    freshness = checks[FRESHNESS_CHECK]
    assert freshness.passed is False
    assert freshness.severity == dg.AssetCheckSeverity.WARN

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        raw_rows = con.execute("select count(*) from raw.wgi").fetchone()[0]
        raw_codes = {
            code
            for (code,) in con.execute("select distinct indicator_code from raw.wgi").fetchall()
        }
        audit = con.execute(
            "select resource, mode, stale, url, sha256, licence "
            "from audit.source_snapshots where source_id = 'wgi' order by resource"
        ).df()
    assert raw_rows == BUNDLED_WGI_ROWS * len(indicators)
    assert raw_codes == set(indicators)
    assert sorted(audit["resource"]) == sorted(indicators)
    assert set(audit["mode"]) == {"bundled"}
    assert audit["stale"].all()
    assert audit["url"].str.startswith(_base(httpserver)).all()
    assert set(audit["licence"]) == {"CC BY 4.0"}
    assert audit["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
