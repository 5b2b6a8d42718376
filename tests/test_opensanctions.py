"""The OpenSanctions connector: the bundled real ransomwhere subset, parsing by header name,
multi-valued cells, per-row markings, every trap over a real loopback HTTP server, and
`marts.fct_listing` of the offline run against the real file read independently.

The Person rows below are a test fixture in the real `targets.simple.csv` layout (made-up
people, never bundled): the bundled snapshot holds only CryptoWallet entities.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from datetime import datetime
from pathlib import Path

import pytest
from conftest import shared_file
from pytest_httpserver import HTTPServer

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
from extra_pipeline.sources.opensanctions import COLUMNS, OpenSanctionsConnector, split_values

BUNDLE = ASSETS_DIR / "snapshots" / "opensanctions"
SUBSET = "targets.simple.ransomwhere_subset.csv"
HEADER = (
    "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,"
    "emails,dataset,first_seen,last_seen,last_change"
)
# Made-up entities in the export's layout: a wanted person with three countries (one a
# former country), an organisation without a country, multi-valued aliases and sanctions.
FIXTURE = (
    HEADER + "\n"
    '"NK-test-person-1","Person","Ivan Testov","Ivan Testoff;I. Testov","1970-01-01",'
    '"ru;us;suhh","Somewhere 1","","Wanted: fraud;INTERPOL red notice","","",'
    '"Test crime list;Other list","2024-01-02T03:04:05","2024-06-01T00:00:00",'
    '"2024-05-01T00:00:00"\n'
    '"NK-test-org-1","Organization","Test Cartel","","","","","","","","","Test crime list",'
    '"2024-01-02T03:04:05","2024-06-01T00:00:00","2024-01-02T03:04:05"\n'
)


@pytest.fixture(scope="module")
def connector() -> OpenSanctionsConnector:
    return OpenSanctionsConnector(load_registry()["opensanctions"])


def _reorder(text: str, order: list[str]) -> str:
    """`text` (a CSV) with its columns in `order` (columns not named are dropped)."""
    rows = list(csv.DictReader(text.splitlines()))
    lines = [",".join(order)]
    for row in rows:
        lines.append(",".join(f'"{row[c]}"' for c in order))
    return "\n".join(lines) + "\n"


# -- the registry and the bundled snapshot ----------------------------------------------


def test_registry_marks_the_source_amber_and_names_the_licence(
    connector: OpenSanctionsConnector,
) -> None:
    config = connector.config
    assert config.marking.slug == "amber"
    assert "CC BY-NC 4.0" in config.licence
    (resource,) = connector.resources()
    assert resource.url == (
        "https://data.opensanctions.org/datasets/latest/ransomwhere/targets.simple.csv"
    )


def test_bundled_file_is_the_real_subset_unmodified(connector: OpenSanctionsConnector) -> None:
    (path,) = connector.bundled_manifest().files["ransomwhere"]
    payload = read_bundled_file(path)
    assert payload == shared_file("api_samples", "opensanctions", SUBSET).read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    assert digest == "925f80df0db9ca9ca4b1c8858c3a0438a7a92ac85094f971aecde464a3f6bb0e"
    assert digest in (BUNDLE / "PROVENANCE.md").read_text(encoding="utf-8")
    assert not connector.bundled_manifest().synthetic


def test_offline_fetch_parses_211_clear_wallets(
    connector: OpenSanctionsConnector, tmp_path: Path
) -> None:
    fetcher = SourceFetcher(store=SnapshotStore(tmp_path), client=HttpClient(), mode="offline")
    (acquired,) = fetcher.acquire(connector)
    provenance = acquired.snapshots[0].provenance
    assert provenance.licence.startswith("CC BY-NC 4.0")
    frame = connector.parse(acquired.resource, acquired.snapshots[0].read())
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 211 == frame["id"].nunique()
    assert set(frame["schema"]) == {"CryptoWallet"} and set(frame["marking"]) == {"clear"}
    assert frame["country_code"].isna().all()  # no countries: null, not "unmatched" codes
    assert set(frame["dataset"]) == {"ransomwhere"}


# -- parsing by header name ---------------------------------------------------------------


def test_multi_valued_cells_and_row_markings(connector: OpenSanctionsConnector) -> None:
    (resource,) = connector.resources()
    frame = connector.parse(resource, FIXTURE.encode())
    person = frame[frame["id"] == "NK-test-person-1"]
    assert list(person["country_code"]) == ["ru", "us", "suhh"]  # one row per country
    assert set(person["marking"]) == {"amber"}
    assert set(person["aliases"]) == {"Ivan Testoff;I. Testov"}
    assert split_values(person["aliases"].iloc[0]) == ["Ivan Testoff", "I. Testov"]
    assert set(person["sanctions"]) == {"Wanted: fraud;INTERPOL red notice"}
    org = frame[frame["id"] == "NK-test-org-1"]
    assert len(org) == 1 and org["country_code"].isna().all()
    assert list(org["marking"]) == ["clear"]
    # Contact data is not kept, whatever the export carries.
    assert not {"birth_date", "addresses", "phones", "emails"} & set(frame.columns)
    harmonised = default_harmoniser().harmonise(person, "country_code")
    assert list(harmonised["iso3"]) == ["RUS", "USA", None]
    assert list(harmonised["country_match"]) == ["country", "country", "historic"]


def test_columns_reordered_give_the_same_rows(connector: OpenSanctionsConnector) -> None:
    (resource,) = connector.resources()
    order = HEADER.split(",")
    shuffled = _reorder(FIXTURE, list(reversed(order)))
    assert connector.parse(resource, shuffled.encode()).equals(
        connector.parse(resource, FIXTURE.encode())
    )


def test_a_missing_optional_column_is_a_null_column(connector: OpenSanctionsConnector) -> None:
    (resource,) = connector.resources()
    order = [c for c in HEADER.split(",") if c not in ("sanctions", "last_change", "aliases")]
    frame = connector.parse(resource, _reorder(FIXTURE, order).encode())
    assert frame["sanctions"].isna().all() and frame["aliases"].isna().all()
    assert list(frame["country_code"].fillna("-")) == ["ru", "us", "suhh", "-"]


@pytest.mark.parametrize("required", ["id", "schema", "name"])
def test_a_missing_required_column_is_refused(
    connector: OpenSanctionsConnector, required: str
) -> None:
    (resource,) = connector.resources()
    order = [c for c in HEADER.split(",") if c != required]
    with pytest.raises(PayloadError, match=rf"required column\(s\) \['{required}'\] missing"):
        connector.validate(resource, _reorder(FIXTURE, order).encode())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"<!DOCTYPE html><html><body>Not Found</body></html>\n", "HTML"),
        (FIXTURE.encode()[:-40], "truncated"),  # cut inside the last row: no final line break
        (FIXTURE.encode()[: FIXTURE.index("NK-test-org-1") + 20] + b"\n", "malformed CSV"),
        ((HEADER + "\n").encode(), "no entities"),
        (b"", "empty payload"),
        (
            (FIXTURE + FIXTURE.splitlines()[2] + "\n").encode(),
            "NK-test-org-1 appears twice",
        ),
        (FIXTURE.replace('"Organization"', '""').encode(), "schema '' is not a type"),
        (FIXTURE.replace("2024-06-01T00:00:00", "June 2024").encode(), "last_seen 'June 2024'"),
        ((HEADER + ",id\n").encode(), "repeats column"),
        ((HEADER + "\n" + '"a","Person","x"\n').encode(), "3 fields"),
    ],
)
def test_payloads_that_are_not_a_target_list(
    connector: OpenSanctionsConnector, payload: bytes, message: str
) -> None:
    (resource,) = connector.resources()
    with pytest.raises(PayloadError, match=message):
        connector.validate(resource, payload)


# -- over HTTP -------------------------------------------------------------------------------

PATH = "/datasets/latest/ransomwhere/targets.simple.csv"


def _served(httpserver: HTTPServer) -> OpenSanctionsConnector:
    config = load_registry()["opensanctions"].with_base_url(httpserver.url_for("/").rstrip("/"))
    return OpenSanctionsConnector(dataclasses.replace(config, min_interval_seconds=0))


def _fetcher(tmp_path: Path, mode: str) -> SourceFetcher:
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode=mode,  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


def test_live_fetch_over_http(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(PATH).respond_with_data(FIXTURE, content_type="text/csv")
    connector = _served(httpserver)
    (acquired,) = _fetcher(tmp_path, "live").acquire(connector)
    assert acquired.mode == "live"
    frame = connector.parse(acquired.resource, acquired.snapshots[0].read())
    assert len(frame) == 4 and set(frame["marking"]) == {"amber", "clear"}
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html><head><title>502 Bad Gateway</title></head></html>", "HTML"),
        (FIXTURE[:-30], "truncated"),
    ],
)
def test_http_200_non_csv_fails_live_and_falls_back_in_auto(
    httpserver: HTTPServer, tmp_path: Path, body: str, message: str
) -> None:
    httpserver.expect_request(PATH).respond_with_data(body, content_type="text/csv")
    connector = _served(httpserver)
    with pytest.raises(SourceUnavailable, match=message):
        _fetcher(tmp_path, "live").acquire(connector)
    (item,) = _fetcher(tmp_path, "auto").acquire(connector)
    assert (item.mode, item.stale) == ("bundled", True)
    assert len(connector.parse(item.resource, item.snapshots[0].read())) == 211


# -- the offline run: fct_listing equals the real file -------------------------------------

SPOT_IDS = [
    "rwre-1lud76q98vrhcuiyk7xus7agfofrqxep78",  # 7ev3n
    "rwre-1hyassc2viftzo7ykunn33udnwxw3ffq7t",  # AES-NI
    "rwre-377cy1m8w2qbqqx5hhjziimdh2fagjdelv",  # APT
]


@pytest.fixture(scope="module")
def shared_rows() -> dict[str, dict[str, str]]:
    path = shared_file("api_samples", "opensanctions", SUBSET)
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("entity_id", SPOT_IDS)
def test_fct_listing_matches_the_real_file(
    offline_run, shared_rows: dict[str, dict[str, str]], entity_id: str
) -> None:
    expected = shared_rows[entity_id]
    with offline_run.published("amber") as con:
        rows = con.execute(
            "select source_id, dataset, entity_schema, name, aliases, iso3, country_code, "
            "sanctions, first_seen, last_seen, marking from marts.fct_listing "
            "where listing_id = ?",
            [entity_id],
        ).fetchall()
    assert rows == [
        (
            "opensanctions",
            "ransomwhere",
            expected["schema"],
            expected["name"],
            expected["aliases"].split(";"),
            None,
            None,
            None,
            datetime.fromisoformat(expected["first_seen"]),
            datetime.fromisoformat(expected["last_seen"]),
            "clear",
        )
    ]


def test_fct_listing_counts_reconcile_and_only_clear_rows_reach_the_clear_copy(
    offline_run, shared_rows: dict[str, dict[str, str]]
) -> None:
    """The table is AMBER; its rows are published by their own marking: entities that are
    not persons (every one in the bundle: crypto wallets) reach the CLEAR copy, persons not."""
    with offline_run.published("amber") as con:
        (rows, ids) = con.execute(
            "select count(*), count(distinct listing_id) from marts.fct_listing"
        ).fetchone()
        by_marking = dict(
            con.execute("select marking, count(*) from marts.fct_listing group by all").fetchall()
        )
    assert rows == ids == len(shared_rows) == 211
    with offline_run.published("clear") as con:
        tables = {
            r[0] for r in con.execute("select table_name from audit.published_tables").fetchall()
        }
        clear_rows = con.execute(
            "select marking, count(*), count(*) filter (where entity_schema = 'Person') "
            "from marts.fct_listing group by all"
        ).fetchall()
    assert "raw.opensanctions" not in tables and "marts.fct_listing" in tables
    assert clear_rows == [("clear", by_marking["clear"], 0)]
    materialisations = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in offline_run.result.get_asset_materialization_events()
    }
    assert materialisations["raw/opensanctions"]["unmatched_countries"].value == []
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in offline_run.result.get_asset_check_evaluations()
    }
    assert evaluations[("raw/opensanctions", "expectations")] is True
    assert evaluations[("marts/fct_listing", "expectations")] is True
