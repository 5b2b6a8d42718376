"""What every connector gets from the framework, tested with a small connector of this file
against a real loopback HTTP server: the registry (one file per source, connector discovery),
pacing to `min_interval_seconds`, "slow down" replies waited out (`Throttled`), requests
refused as too big narrowed (`narrow`), and source snapshots published by marking."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import duckdb
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from extra_pipeline.http import HttpClient, HttpError, RetryPolicy
from extra_pipeline.markings import Marking
from extra_pipeline.settings import PROJECT_ROOT, Settings
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources import connector_class, connector_classes
from extra_pipeline.sources.base import (
    THROTTLE_ATTEMPTS,
    PayloadError,
    Resource,
    SourceConfig,
    SourceConnector,
    SourceFetcher,
    SourceUnavailable,
    Throttled,
    load_registry,
)
from extra_pipeline.warehouse import WarehouseResource, publish

SLOW_DOWN = b"Please limit requests to one every 5 seconds."


class NumbersConnector(SourceConnector):
    """A toy source: each resource is a JSON list of numbers at `/<name>`; `/all` may be
    refused as too big and then asked for as `/low` and `/high`."""

    source_id: ClassVar[str] = "numbers"
    country_column: ClassVar[str] = "country"

    def __init__(self, config: SourceConfig, names: tuple[str, ...] = ("all",)) -> None:
        super().__init__(config)
        self.names = names

    def resources(self) -> list[Resource]:
        return [Resource(name, f"{self.config.base_url}/{name}") for name in self.names]

    def narrow(self, resource: Resource, url: str, error: HttpError) -> list[str] | None:
        if error.status == 413 and b"TOO_BIG" in error.body and url.endswith("/all"):
            return [url.removesuffix("/all") + "/low", url.removesuffix("/all") + "/high"]
        return None

    def validate(self, resource: Resource, payload: bytes) -> None:
        if payload.startswith(b"Please limit"):
            raise Throttled(payload.decode(), retry_after=2.0)
        try:
            numbers = json.loads(payload)
        except ValueError as error:
            raise PayloadError(f"not JSON: {error}") from None
        if not isinstance(numbers, list):
            raise PayloadError("not a list")

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        return pd.DataFrame({"value": json.loads(payload), "country": "DEU"})


def numbers_config(base_url: str, interval: float = 0.0) -> SourceConfig:
    return SourceConfig(
        source_id="numbers", title="Numbers", publisher="Tests", licence="CC0",
        base_url=base_url, marking=Marking.CLEAR, edition="1", max_age_days=1,
        bundled_dir=Path("/nonexistent"), min_interval_seconds=interval,
    )  # fmt: skip


class FakeTime:
    """A clock that only moves when slept on, recording every wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self.now += seconds


def fetcher(tmp_path: Path, mode: str = "live", time: FakeTime | None = None) -> SourceFetcher:
    time = time or FakeTime()
    client = HttpClient(retry=RetryPolicy(max_attempts=1), read_timeout=5.0)
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"), client=client, mode=mode,  # type: ignore[arg-type]
        sleep=time.sleep, clock=time.clock,
    )  # fmt: skip


def base(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


# --- the registry ---------------------------------------------------------------------------


def test_every_registry_file_names_a_connector_for_its_source() -> None:
    registry = load_registry()
    classes = connector_classes(registry)
    assert set(classes) == set(registry)
    for source_id, cls in classes.items():
        assert cls.source_id == source_id
        assert registry[source_id].bundled_dir.is_dir(), f"{source_id}: no bundled snapshot"
        assert (registry[source_id].bundled_dir / "PROVENANCE.md").is_file()


def test_a_registry_file_naming_a_missing_module_fails_clearly() -> None:
    config = dataclasses.replace(numbers_config("http://x"), connector="no_such_module")
    with pytest.raises(ValueError, match=r"assets/sources/numbers\.yaml: no connector module"):
        connector_class(config)


def test_a_module_without_the_sources_connector_fails_clearly() -> None:
    config = dataclasses.replace(numbers_config("http://x"), connector="goci")
    with pytest.raises(ValueError, match=r"exactly one SourceConnector with source_id = 'numbers'"):
        connector_class(config)


def test_registry_files_are_read_with_their_defaults(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(
        "title: Tiny\npublisher: P\nlicence: CC0\nbase_url: https://example.org/\n"
        "min_interval_seconds: 5\nqueries: [a, b]\n",
        encoding="utf-8",
    )
    (config,) = load_registry(directory=tmp_path).values()
    assert (config.source_id, config.connector, config.base_url) == (
        "tiny", "tiny", "https://example.org",
    )  # fmt: skip
    assert config.marking is Marking.CLEAR and config.min_interval_seconds == 5.0
    assert config.options == {"queries": ["a", "b"]}  # a connector's own options


def test_a_registry_file_lacking_the_licence_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.yaml").write_text(
        "title: Bare\npublisher: P\nbase_url: https://example.org\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"assets/sources/bare\.yaml lacks licence"):
        load_registry(directory=tmp_path)


# --- pacing, throttling, narrowing ------------------------------------------------------------


def test_requests_to_a_source_are_paced_to_its_interval(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        httpserver.expect_request(f"/{name}").respond_with_data("[1]")
    time = FakeTime()
    connector = NumbersConnector(numbers_config(base(httpserver), interval=5.0), ("a", "b", "c"))
    acquired = fetcher(tmp_path, time=time).acquire(connector)
    assert [item.mode for item in acquired] == ["live"] * 3
    # no wait before the first request; each later one waits out the interval
    assert time.waits == [5.0, 5.0]


def test_a_throttle_reply_with_http_200_is_waited_out_then_the_data_are_taken(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_ordered_request("/all").respond_with_data(SLOW_DOWN)
    httpserver.expect_ordered_request("/all").respond_with_data("[1, 2, 3]")
    time = FakeTime()
    connector = NumbersConnector(numbers_config(base(httpserver), interval=5.0))
    (item,) = fetcher(tmp_path, time=time).acquire(connector)
    assert item.mode == "live" and len(item.snapshots) == 1
    assert json.loads(item.snapshots[0].read()) == [1, 2, 3]
    # the throttle asked for 2 s but the source's interval is longer; then pacing holds
    assert time.waits == [5.0]


def test_a_source_that_keeps_throttling_fails_and_stores_nothing(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/all").respond_with_data(SLOW_DOWN)
    connector = NumbersConnector(numbers_config(base(httpserver)))
    live = fetcher(tmp_path)
    with pytest.raises(SourceUnavailable, match=f"still throttled after {THROTTLE_ATTEMPTS}"):
        live.acquire(connector)
    assert live.store.records("numbers") == []


def test_a_request_refused_as_too_big_is_asked_again_narrower(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/all").respond_with_data(
        '{"error": "EXTRACTION_TOO_BIG"}', status=413
    )
    httpserver.expect_request("/low").respond_with_data("[1, 2]")
    httpserver.expect_request("/high").respond_with_data("[3]")
    connector = NumbersConnector(numbers_config(base(httpserver)))
    (item,) = fetcher(tmp_path).acquire(connector)
    assert [s.provenance.url.rsplit("/", 1)[1] for s in item.snapshots] == ["low", "high"]
    assert [(s.provenance.page, s.provenance.pages) for s in item.snapshots] == [(1, 2), (2, 2)]
    rows = pd.concat(connector.parse(item.resource, s.read()) for s in item.snapshots)
    assert rows["value"].tolist() == [1, 2, 3]


def test_a_refusal_the_connector_cannot_narrow_fails_with_the_servers_reason(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/all").respond_with_data("quota exceeded", status=413)
    connector = NumbersConnector(numbers_config(base(httpserver)))
    with pytest.raises(SourceUnavailable, match="HTTP 413"):
        fetcher(tmp_path).acquire(connector)


# --- provenance rows are published only where the source's data are ----------------------------


def test_source_snapshots_reach_only_the_copies_at_or_above_the_sources_marking(
    tmp_path: Path,
) -> None:
    warehouse = WarehouseResource(path=str(tmp_path / "extra.duckdb"))
    rows = pd.DataFrame(
        [
            {"sha256": sha, "source_id": source, "resource": "r", "url": "u", "bytes": 1,
             "retrieved_at": pd.Timestamp("2025-01-01", tz="UTC"),
             "used_at": pd.Timestamp("2025-01-01", tz="UTC"), "mode": "bundled",
             "synthetic": False, "stale": False, "fetch_id": sha, "page": 1, "pages": 1,
             "marking": marking}
            for sha, source, marking in (
                ("s1", "open", "clear"), ("s2", "people", "amber"), ("s3", "legacy", None),
            )
        ]
    )  # fmt: skip
    warehouse.append_rows("audit.source_snapshots", rows)
    publish(warehouse, tmp_path / "published")

    def sources(level: str) -> list[str]:
        with duckdb.connect(str(tmp_path / "published" / f"{level}.duckdb"), read_only=True) as con:
            query = "select source_id from audit.source_snapshots order by source_id"
            return [r[0] for r in con.execute(query).fetchall()]

    assert sources("clear") == sources("green") == ["open"]
    assert sources("amber") == ["open", "people"]
    # a row without a marking counts as RED
    assert sources("red") == ["legacy", "open", "people"]


def test_every_source_has_a_documented_base_url_variable_that_settings_read() -> None:
    documented = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    for source_id in load_registry():
        variable = f"EXTRA_{source_id.upper()}_BASE_URL"
        assert f"# {variable}=" in documented, f".env.example lacks {variable}"
        settings = Settings.from_env({variable: "http://127.0.0.1:9/mirror/"})
        assert settings.base_urls == {source_id: "http://127.0.0.1:9/mirror"}
        assert load_registry(settings)[source_id].base_url == "http://127.0.0.1:9/mirror"
