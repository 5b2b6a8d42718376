"""The GDELT DOC 2.0 connector: ISO3 -> FIPS mapping, payload validation (throttle text,
plain-text refusals, HTML, malformed JSON, empty timelines), fetching over a real loopback
server with pacing and throttle retries, the synthetic bundle, and the surge events the
offline run publishes."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceFetcher,
    SourceUnavailable,
    Throttled,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.gdelt import (
    COLUMNS,
    COUNTRY_CODES_CSV,
    MISSING_DAY,
    PLANTED_NEAR_MISS,
    PLANTED_SURGES,
    GdeltConnector,
    build_bundled_snapshot,
    fips_code,
    fips_table,
)

API = "/api/v2/doc/doc"
THROTTLE = (
    "Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com "
    "for larger queries."
)


# -- helpers ---------------------------------------------------------------------------


def _connector(base_url: str | None = None, **options: Any) -> GdeltConnector:
    config = load_registry()["gdelt"].with_base_url(base_url)
    if options:
        config = dataclasses.replace(config, options={**config.options, **options})
    return GdeltConnector(config)


def _small(base_url: str, interval: float = 5.0) -> GdeltConnector:
    """Two resources (COL and NGA drug trade) pointed at a test server."""
    themes = {"drug_trade": load_registry()["gdelt"].options["themes"]["drug_trade"]}
    connector = _connector(base_url, countries=["COL", "NGA"], themes=themes)
    connector.config = dataclasses.replace(connector.config, min_interval_seconds=interval)
    return connector


def _resource(connector: GdeltConnector, name: str = "COL.drug_trade") -> Resource:
    return next(r for r in connector.resources() if r.name == name)


def _point(day: str, value: Any, norm: Any = 10000) -> dict[str, Any]:
    return {"date": f"{day.replace('-', '')}T000000Z", "value": value, "norm": norm}


def _answer(points: list[dict[str, Any]], series: str = "Article Count", **extra: Any) -> bytes:
    body = {
        "query_details": {"title": "theme:DRUG_TRADE sourcecountry:CO", "date_resolution": "day"},
        "timeline": [{"series": series, "data": points}],
        **extra,
    }
    return json.dumps(body).encode()


POINTS = [_point("2025-06-01", 40, 9000), _point("2025-06-02", 0, 9500), _point("2025-06-04", 55)]


def _query(fips: str) -> dict[str, str]:
    return {
        "query": f"theme:DRUG_TRADE sourcecountry:{fips}",
        "mode": "TimelineVolRaw",
        "format": "json",
        "timespan": "180d",
    }


class FakeTime:
    """A clock that only moves when the fetcher sleeps: pacing without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _fetcher(tmp_path: Path, fake: FakeTime, mode: str = "live", **policy: Any) -> SourceFetcher:
    client = HttpClient(
        retry=RetryPolicy(**{"max_attempts": 1, "backoff_base": 0.01, **policy}),
        sleep=fake.sleep,
        read_timeout=5.0,
    )
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=client,
        mode=mode,  # type: ignore[arg-type]
        sleep=fake.sleep,
        clock=fake.clock,
    )


def _serve_sequence(
    server: HTTPServer,
    fips: str,
    replies: list[tuple[int, bytes, str]],
    fake: FakeTime,
    times: list[float],
) -> None:
    """Answer successive requests for one country with `replies` (status, body, type); the
    last one repeats. Records the fake time of each request."""
    state = {"n": 0}

    def handler(_request: Request) -> Response:
        times.append(fake.now)
        status, body, content_type = replies[min(state["n"], len(replies) - 1)]
        state["n"] += 1
        return Response(body, status=status, content_type=content_type)

    server.expect_request(API, query_string=_query(fips)).respond_with_handler(handler)


def _rows(connector: GdeltConnector, acquired: Any) -> pd.DataFrame:
    return pd.concat(
        [connector.parse(acquired.resource, s.read()) for s in acquired.snapshots],
        ignore_index=True,
    )


# -- ISO alpha-3 -> FIPS 10-4 ----------------------------------------------------------


def _csv_codes() -> dict[str, tuple[str, str]]:
    """ISO3 -> (ISO2, FIPS) read with the csv module, independently of the connector."""
    with COUNTRY_CODES_CSV.open(encoding="utf-8", newline="") as handle:
        return {
            row["ISO3166-1-Alpha-3"].strip(): (
                row["ISO3166-1-Alpha-2"].strip(),
                row["FIPS"].strip(),
            )
            for row in csv.DictReader(handle)
        }


@pytest.mark.parametrize(
    ("iso3", "fips"),
    [("DEU", "GM"), ("MAR", "MO"), ("NGA", "NI"), ("CHN", "CH"), ("CHE", "SZ"), ("TUR", "TU")],
)
def test_fips_comes_from_the_table_not_from_iso2(iso3: str, fips: str) -> None:
    iso2, table_fips = _csv_codes()[iso3]
    assert fips == table_fips != iso2  # the trap: FIPS differs from ISO alpha-2 here
    assert fips_code(iso3, fips_table()) == fips


def test_china_is_not_switzerland() -> None:
    table = fips_table()
    # FIPS CH is China; ISO CH is Switzerland (FIPS SZ): a guess from ISO2 would swap them.
    assert fips_code("CHN", table) == "CH"
    assert fips_code("CHE", table) == "SZ"


def test_a_table_value_that_is_not_two_letters_needs_an_override() -> None:
    table = fips_table()
    assert table["SRB"] == "RIKV"  # the datahub table runs Serbia RI and Kosovo KV together
    with pytest.raises(ValueError, match=r"SRB the FIPS value 'RIKV'.*fips_overrides"):
        fips_code("SRB", table)
    assert fips_code("SRB", table, {"SRB": "RI"}) == "RI"
    with pytest.raises(ValueError, match="FIPS value ''"):
        fips_code("ALA", table)  # Aland: the cell is a no-break space
    with pytest.raises(ValueError, match="not an ISO 3166 alpha-3"):
        fips_code("XXX", table)
    with pytest.raises(ValueError, match="not a 2-letter code"):
        fips_code("SRB", table, {"SRB": "RIKV"})


def test_resources_one_per_country_and_theme_with_the_fips_query() -> None:
    connector = _connector()
    config = connector.config
    assert config.min_interval_seconds == 5
    assert config.max_age_days == 1
    names = [r.name for r in connector.resources()]
    assert len(names) == len(config.options["countries"]) * len(config.options["themes"]) == 30
    assert names[:3] == ["COL.drug_trade", "COL.human_trafficking", "COL.cocaine"]
    assert _resource(connector).url == (
        "https://api.gdeltproject.org/api/v2/doc/doc?query=theme%3ADRUG_TRADE+sourcecountry%3ACO"
        "&mode=TimelineVolRaw&format=json&timespan=180d"
    )
    fips = {item.iso3: item.fips for item in connector.series.values()}
    assert fips == {
        "COL": "CO", "ECU": "EC", "MEX": "MX", "MAR": "MO", "TUR": "TU",
        "ALB": "AL", "SRB": "RI", "NGA": "NI", "AFG": "AF", "CHN": "CH",
    }  # fmt: skip
    assert "sourcecountry%3ANI" in _resource(connector, "NGA.cocaine").url


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"countries": []}, "needs `countries`"),
        ({"countries": ["CO"]}, "ISO alpha-3"),
        ({"countries": ["COL", "COL"]}, "listed twice"),
        ({"themes": {"Drug-Trade": {"query": "x", "label": "y"}}}, "lower_snake_case"),
        ({"themes": {"drugs": {"query": "theme:X sourcecountry:CO", "label": "y"}}}, "leave"),
        ({"themes": {"drugs": {"query": "theme:X"}}}, "needs a `query` and a `label`"),
        ({"timespan": "forever"}, "not a GDELT timespan"),
        ({"fips_overrides": {}}, "RIKV"),
    ],
)
def test_registry_mistakes_fail_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _connector(**options)


# -- validation ------------------------------------------------------------------------


def test_throttle_text_with_http_200_is_throttled_with_its_wait() -> None:
    connector = _connector()
    with pytest.raises(Throttled, match="slow down: Please limit requests") as info:
        connector.validate(_resource(connector), THROTTLE.encode())
    assert info.value.retry_after == 5.0
    wrapped = f"<html><body><p>{THROTTLE}</p></body></html>".encode()
    with pytest.raises(Throttled):
        connector.validate(_resource(connector), wrapped)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"Invalid query. Please check your syntax.",
            r"refused the query 'theme:DRUG_TRADE "
            r"sourcecountry:CO': Invalid query\. Please check your syntax",
        ),
        (
            b"Your search contained a keyword that was too short. Please lengthen it.",
            "refused the query.*too short",
        ),
        (
            b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>",
            "an HTML page, not JSON.*502 Bad Gateway",
        ),
        (b"", "empty response body"),
        (_answer(POINTS)[:-30], "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"timeline": {"series": "Article Count"}}', "'timeline' must be an array"),
        (
            json.dumps({"timeline": [{"series": "Article Count", "data": []}] * 2}).encode(),
            "one series, got 2",
        ),
        (b'{"timeline": [{"series": "Article Count"}]}', "no 'data' array"),
        (_answer(POINTS, series="Average Tone"), "not a TimelineVolRaw series"),
        (_answer([{"date": "20250601T151500Z", "value": 1, "norm": 9}]), "not daily"),
        (_answer(POINTS, query_details={"date_resolution": "15m"}), "date_resolution"),
        (_answer([{"date": "2025-06-01", "value": 1, "norm": 9}]), "not YYYYMMDDTHHMMSSZ"),
        (_answer([{"date": "20250231T000000Z", "value": 1, "norm": 9}]), "not a calendar date"),
        (_answer([_point("2025-06-01", 12, 10)]), "12 matching articles of only 10"),
        (_answer([_point("2025-06-01", -1)]), "value -1"),
        (_answer([_point("2025-06-01", "12")]), "value '12'"),
        (_answer([_point("2025-06-01", 1, None)]), "norm None"),
        (_answer([_point("2025-06-01", True)]), "value True"),
        (_answer([POINTS[0], POINTS[0]]), "out of order or repeated"),
        (_answer([POINTS[2], POINTS[0]]), "out of order or repeated"),
        (_answer(["20250601T000000Z"]), "not an object"),
    ],
)
def test_validate_rejects_what_gdelt_does_not_serve_as_data(payload: bytes, message: str) -> None:
    connector = _connector()
    with pytest.raises(PayloadError, match=message) as info:
        connector.validate(_resource(connector), payload)
    assert not isinstance(info.value, Throttled)


@pytest.mark.parametrize(
    "payload",
    [b"{}", b'{"timeline": []}', _answer([]), b'  {"query_details": {}, "timeline": []}\n'],
)
def test_an_empty_timeline_is_valid_and_gives_no_rows_not_zeros(payload: bytes) -> None:
    connector = _connector()
    resource = _resource(connector)
    connector.validate(resource, payload)
    frame = connector.parse(resource, payload)
    assert frame.empty
    assert tuple(frame.columns) == COLUMNS


def test_parse_keeps_zero_days_and_leaves_missing_days_missing() -> None:
    connector = _connector()
    resource = _resource(connector, "NGA.cocaine")
    frame = connector.parse(resource, _answer(POINTS))
    assert tuple(frame.columns) == COLUMNS
    assert list(frame["date"]) == ["2025-06-01", "2025-06-02", "2025-06-04"]  # no 06-03 row
    assert list(frame["articles"]) == [40, 0, 55]  # a published zero stays a zero
    assert list(frame["all_articles"]) == [9000, 9500, 10000]
    assert frame["articles"].dtype == "int64"
    assert set(frame["country_code"]) == {"NGA"}
    assert set(frame["fips"]) == {"NI"}
    assert set(frame["theme"]) == {"cocaine"}
    assert set(frame["query"]) == {"cocaine sourcecountry:NI"}
    assert set(frame["series"]) == {"Article Count"}


def test_counts_sent_as_whole_floats_are_accepted() -> None:
    connector = _connector()
    frame = connector.parse(_resource(connector), _answer([_point("2025-06-01", 3.0, 100.0)]))
    assert (frame["articles"].iloc[0], frame["all_articles"].iloc[0]) == (3, 100)
    with pytest.raises(PayloadError, match=r"value 3\.5"):
        connector.validate(_resource(connector), _answer([_point("2025-06-01", 3.5, 100)]))


def test_volume_intensity_series_name_is_accepted() -> None:
    connector = _connector()
    frame = connector.parse(_resource(connector), _answer(POINTS, series="Volume Intensity"))
    assert set(frame["series"]) == {"Volume Intensity"}


# -- over HTTP -------------------------------------------------------------------------


def test_requests_are_paced_to_one_every_five_seconds(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake, times = FakeTime(), []
    for fips in ("CO", "NI"):
        _serve_sequence(httpserver, fips, [(200, _answer(POINTS), "application/json")], fake, times)
    connector = _small(httpserver.url_for("/"))
    acquired = _fetcher(tmp_path, fake).acquire(connector)

    assert [a.resource.name for a in acquired] == ["COL.drug_trade", "NGA.drug_trade"]
    assert all(a.mode == "live" and not a.stale for a in acquired)
    assert fake.waits == [5.0]  # nothing before the first request, 5 s before the second
    assert times[1] - times[0] >= 5.0
    assert list(_rows(connector, acquired[1])["fips"]) == ["NI"] * 3
    httpserver.check_assertions()


def test_pacing_waits_only_what_is_left_of_the_interval(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake, times = FakeTime(), []
    for fips in ("CO", "NI"):
        _serve_sequence(httpserver, fips, [(200, _answer(POINTS), "application/json")], fake, times)
    connector = _small(httpserver.url_for("/"))
    fetcher = _fetcher(tmp_path, fake)
    fetcher.acquire_resource(connector, _resource(connector))
    fake.now += 3.0  # parsing took 3 s
    fetcher.acquire_resource(connector, _resource(connector, "NGA.drug_trade"))
    assert fake.waits == [pytest.approx(2.0)]


def test_throttle_text_with_200_is_waited_out_then_the_data_is_used(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake, times = FakeTime(), []
    replies = [(200, THROTTLE.encode(), "text/html"), (200, _answer(POINTS), "application/json")]
    _serve_sequence(httpserver, "CO", replies, fake, times)
    connector = _small(httpserver.url_for("/"))
    progress: list[str] = []
    fetcher = _fetcher(tmp_path, fake)
    fetcher.on_progress = progress.append
    acquired = fetcher.acquire_resource(connector, _resource(connector))

    assert len(times) == 2 and times[1] - times[0] == 5.0
    assert fake.waits == [5.0]  # the throttle wait; the pacing then has nothing left to wait
    assert any("throttled" in line and "asking again in 5 s" in line for line in progress)
    assert acquired.mode == "live" and len(acquired.snapshots) == 1
    # only the genuine answer is stored, never the throttle text
    assert acquired.snapshots[0].read() == _answer(POINTS)
    assert list(_rows(connector, acquired)["articles"]) == [40, 0, 55]


def test_throttle_text_with_429_is_retried_by_the_http_client(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake, times = FakeTime(), []
    replies = [(429, THROTTLE.encode(), "text/plain"), (200, _answer(POINTS), "application/json")]
    _serve_sequence(httpserver, "CO", replies, fake, times)
    connector = _small(httpserver.url_for("/"))
    acquired = _fetcher(tmp_path, fake, max_attempts=3).acquire_resource(
        connector, _resource(connector)
    )
    assert len(times) == 2
    assert len(fake.waits) == 1 and fake.waits[0] > 0  # the client's backoff
    assert list(_rows(connector, acquired)["articles"]) == [40, 0, 55]


def test_persistent_429_fails_the_live_fetch(httpserver: HTTPServer, tmp_path: Path) -> None:
    fake, times = FakeTime(), []
    _serve_sequence(httpserver, "CO", [(429, THROTTLE.encode(), "text/plain")], fake, times)
    connector = _small(httpserver.url_for("/"))
    with pytest.raises(SourceUnavailable, match="429"):
        _fetcher(tmp_path, fake, max_attempts=2).acquire_resource(connector, _resource(connector))
    assert len(times) == 2


def test_still_throttled_after_three_attempts_fails_live_and_falls_back_in_auto(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake, times = FakeTime(), []
    _serve_sequence(httpserver, "CO", [(200, THROTTLE.encode(), "text/html")], fake, times)
    connector = _small(httpserver.url_for("/"))
    with pytest.raises(SourceUnavailable, match="still throttled after 3 attempts"):
        _fetcher(tmp_path, fake).acquire_resource(connector, _resource(connector))
    assert len(times) == 3
    assert fake.waits == [5.0, 5.0]

    acquired = _fetcher(tmp_path / "auto", fake, mode="auto").acquire_resource(
        connector, _resource(connector)
    )
    assert acquired.mode == "bundled" and acquired.stale
    assert "still throttled" in acquired.note
    assert acquired.snapshots[0].provenance.synthetic


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"Invalid query. Please check your syntax.", "text/html", "refused the query"),
        (b"<html><body><h1>Service Unavailable</h1></body></html>", "text/html", "HTML page"),
        (_answer(POINTS)[:-40], "application/json", "not valid JSON"),
    ],
)
def test_error_replies_with_200_fail_the_live_fetch_and_store_nothing(
    httpserver: HTTPServer, tmp_path: Path, body: bytes, content_type: str, message: str
) -> None:
    fake, times = FakeTime(), []
    _serve_sequence(httpserver, "CO", [(200, body, content_type)], fake, times)
    connector = _small(httpserver.url_for("/"))
    fetcher = _fetcher(tmp_path, fake)
    with pytest.raises(SourceUnavailable, match=message):
        fetcher.acquire_resource(connector, _resource(connector))
    assert len(times) == 1  # not a throttle: no retry
    assert fetcher.store.latest_fetch("gdelt", "COL.drug_trade", modes=("live",)) is None


# -- the synthetic bundle --------------------------------------------------------------


def _bundle_json(name: str) -> dict[str, Any]:
    """A bundled file read with gzip + json only (not through the connector)."""
    path = load_registry()["gdelt"].bundled_dir / f"{name}.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def test_bundle_is_flagged_synthetic_and_covers_every_resource() -> None:
    connector = _connector()
    manifest = connector.bundled_manifest()
    assert manifest.synthetic
    assert list(manifest.files) == [r.name for r in connector.resources()]
    total = 0
    for name, files in manifest.files.items():
        assert [f.name for f in files] == [f"{name}.json.gz"]
        total += files[0].stat().st_size
    assert total < 200_000  # small enough for the repository
    provenance = (connector.config.bundled_dir / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in provenance and "not GDELT data" in provenance


def test_bundle_builder_is_deterministic(tmp_path: Path) -> None:
    shipped = _connector().config.bundled_dir
    built = build_bundled_snapshot(tmp_path)
    assert sorted(p.name for p in built) == sorted(p.name for p in shipped.glob("*.json.gz"))
    for path in built:
        assert gzip.decompress(path.read_bytes()) == read_bundled_file(shipped / path.name)


def test_bundle_has_a_weekly_rhythm_the_planted_surges_and_the_gap() -> None:
    body = _bundle_json("COL.drug_trade")
    data = {p["date"][:8]: p for p in body["timeline"][0]["data"]}
    assert len(data) == 180
    days = [date(2025, 1, 2) + timedelta(days=n) for n in range(180)]
    weekday = [data[f"{d:%Y%m%d}"]["norm"] for d in days if d.weekday() < 5]
    weekend = [data[f"{d:%Y%m%d}"]["norm"] for d in days if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < 0.8 * sum(weekday) / len(weekday)
    surge = data["20250514"]
    before = [data[f"{date(2025, 5, 14) - timedelta(days=n):%Y%m%d}"] for n in range(1, 29)]
    usual = sorted(p["value"] / p["norm"] for p in before)[14]
    assert surge["value"] / surge["norm"] > 3 * usual
    gap = _bundle_json(f"{MISSING_DAY[0]}.{MISSING_DAY[1]}")["timeline"][0]["data"]
    assert len(gap) == 179
    assert f"{MISSING_DAY[2]:%Y%m%d}T000000Z" not in {p["date"] for p in gap}


# -- through the whole offline run -----------------------------------------------------


@pytest.fixture(scope="module")
def gdelt_events(offline_run: Any) -> pd.DataFrame:
    with offline_run.published() as con:
        return con.execute(
            "select * from marts.fct_event where source_id = 'gdelt' order by event_id"
        ).df()


def _event_id(iso3: str, theme: str, day: date) -> str:
    return f"gdelt:{iso3}:{theme}:{day.isoformat()}"


def test_the_planted_surges_and_only_they_are_published_events(
    gdelt_events: pd.DataFrame,
) -> None:
    expected = sorted(_event_id(s.iso3, s.theme, s.day) for s in PLANTED_SURGES)
    assert list(gdelt_events["event_id"]) == expected
    assert set(gdelt_events["event_type"]) == {"gdelt.news_surge"}
    near = PLANTED_NEAR_MISS
    assert _event_id(near.iso3, near.theme, near.day) not in set(gdelt_events["event_id"])
    # quiet days around each surge are not events
    for surge in PLANTED_SURGES:
        for offset in (-7, -2, 2, 7):
            quiet = _event_id(surge.iso3, surge.theme, surge.day + timedelta(days=offset))
            assert quiet not in expected
            assert quiet not in set(gdelt_events["event_id"])


def test_surge_events_carry_readable_labels_and_their_evidence(
    gdelt_events: pd.DataFrame,
) -> None:
    row = gdelt_events.set_index("event_id").loc["gdelt:COL:drug_trade:2025-05-14"]
    raw = next(
        p for p in _bundle_json("COL.drug_trade")["timeline"][0]["data"]
        if p["date"] == "20250514T000000Z"
    )  # fmt: skip
    detail = json.loads(row["detail"])
    assert row["iso3"] == "COL"
    assert pd.Timestamp(row["event_date"]).date() == date(2025, 5, 14)
    assert (detail["articles"], detail["all_articles"]) == (raw["value"], raw["norm"])
    assert detail["share"] == pytest.approx(raw["value"] / raw["norm"])
    assert detail["baseline_days"] == 28 and detail["mad"] > 0
    assert row["value"] == pytest.approx(detail["share"] / detail["baseline_share"])
    assert row["value"] > 3
    assert row["label"] == (
        f"News surge on drug trafficking in COL media: {raw['value']} articles, "
        f"{row['value']:.1f}x the usual share"
    )
    assert row["snapshot_sha256"]


def test_counts_reconcile_from_the_bundle_to_staging(offline_run: Any) -> None:
    expected_rows, expected_articles = 0, 0
    connector = _connector()
    for resource in connector.resources():
        data = _bundle_json(resource.name)["timeline"][0]["data"]
        expected_rows += len(data)
        expected_articles += sum(p["value"] for p in data)
    with duckdb.connect(str(offline_run.settings.warehouse_path), read_only=True) as con:
        raw = con.execute(
            "select count(*), sum(articles), count(*) filter (where country_match <> 'country') "
            "from raw.gdelt"
        ).fetchone()
        staged = con.execute("select count(*), sum(articles) from staging.gdelt").fetchone()
        missing = con.execute(
            "select count(*) from staging.gdelt where iso3 = ? and theme = ? and date = ?",
            list(MISSING_DAY),
        ).fetchone()
        spot = con.execute(
            "select articles, all_articles, share from staging.gdelt "
            "where iso3 = 'MAR' and theme = 'cocaine' and date = date '2025-04-02'"
        ).fetchone()
        indicators = con.execute(
            "select count(*) from intermediate.indicator_values where source_id = 'gdelt'"
        ).fetchone()
    assert raw == (expected_rows, expected_articles, 0)  # every row placed on a country
    assert staged == (expected_rows, expected_articles) == (5399, expected_articles)
    assert missing == (0,)
    point = next(
        p for p in _bundle_json("MAR.cocaine")["timeline"][0]["data"]
        if p["date"] == "20250402T000000Z"
    )  # fmt: skip
    assert spot[:2] == (point["value"], point["norm"])
    assert spot[2] == pytest.approx(point["value"] / point["norm"])
    assert indicators == (0,)  # news volume is not a country-year indicator


def test_the_raw_table_passes_its_checks(offline_run: Any) -> None:
    evaluations = [
        e
        for e in offline_run.result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/gdelt"
    ]
    outcome = {e.check_name: e.passed for e in evaluations}
    assert outcome.get("countries_harmonised") is True
    assert outcome.get("expectations") is True  # expectations/gdelt.json
    # the synthetic bundle ends 2025-06-30: older than the one-day freshness window (WARN)
    assert outcome.get("freshness") is False
