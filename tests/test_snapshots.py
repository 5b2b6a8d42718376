"""SnapshotStore on real temp dirs: addressing, provenance records, reuse and damage."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from extra_pipeline.snapshots import (
    Provenance,
    Snapshot,
    SnapshotError,
    SnapshotStore,
    sha256_bytes,
    utc_now_iso,
)

URL = "https://api.worldbank.org/v2/country/all/indicator/GOV_WGI_CC.EST?format=json"


def prov(**overrides: Any) -> Provenance:
    """A live provenance for one page; the store fills sha256, bytes and used_at."""
    values: dict[str, Any] = {
        "source_id": "worldbank_wgi",
        "resource": "GOV_WGI_CC.EST",
        "url": URL,
        "sha256": "",
        "bytes": 0,
        "retrieved_at": "2026-11-25T10:00:00.000000Z",
        "used_at": "",
        "publisher": "World Bank",
        "licence": "CC BY 4.0",
        "edition": "2025",
        "mode": "live",
    }
    values.update(overrides)
    return Provenance(**values)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_and_read_round_trip(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    payload = b'[{"page":1},[{"value":0.5}]]'

    snap = store.put(payload, prov(etag='"abc"'))

    digest = sha256_bytes(payload)
    assert isinstance(snap, Snapshot)
    assert snap.read() == payload
    assert snap.path == tmp_path / "blobs" / "sha256" / digest[:2] / digest
    assert snap.provenance.sha256 == digest
    assert snap.provenance.bytes == len(payload)
    assert snap.provenance.used_at.endswith("Z")
    assert snap.provenance.etag == '"abc"'

    records = list((tmp_path / "records" / "worldbank_wgi").glob("*.json"))
    assert len(records) == 1
    name = records[0].name
    assert name.split("-")[1] == digest[:12]
    on_disk = json.loads(records[0].read_text(encoding="utf-8"))
    assert on_disk["sha256"] == digest
    assert on_disk["licence"] == "CC BY 4.0"
    assert Provenance.from_dict(on_disk) == snap.provenance
    assert store.records() == [snap.provenance]


def test_put_recomputes_sha_and_size_whatever_the_caller_said(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    snap = store.put(b"abc", prov(sha256="0" * 64, bytes=999))
    assert snap.provenance.sha256 == sha256_bytes(b"abc")
    assert snap.provenance.bytes == 3


def test_same_bytes_twice_is_one_blob_and_two_records(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    first = store.put(b"same", prov())
    blob_mtime = first.path.stat().st_mtime_ns
    second = store.put(b"same", prov(retrieved_at="2026-11-26T10:00:00Z"))

    assert first.path == second.path
    assert first.path.stat().st_mtime_ns == blob_mtime  # not rewritten
    assert len(list((tmp_path / "blobs").rglob("*"))) == 3  # sha256/, <first2>/, the blob
    assert len(all_files(tmp_path / "records")) == 2
    assert [r.retrieved_at for r in store.records("worldbank_wgi")] == [
        "2026-11-25T10:00:00.000000Z",
        "2026-11-26T10:00:00Z",
    ]


def test_record_reuses_a_stored_blob_and_refuses_a_missing_one(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    stored = store.put(b"body", prov(etag='"v1"'))

    reuse = store.record(
        dataclasses.replace(stored.provenance, retrieved_at=utc_now_iso(), note="304 reuse")
    )
    assert reuse.path == stored.path
    assert reuse.read() == b"body"
    assert reuse.provenance.note == "304 reuse"
    assert len(store.records()) == 2

    with pytest.raises(SnapshotError, match="no intact snapshot blob"):
        store.record(dataclasses.replace(stored.provenance, sha256=sha256_bytes(b"other")))


def test_latest_for_url_orders_by_retrieved_at_then_used_at(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.put(b"v2", prov(retrieved_at="2026-11-20T00:00:00Z", etag='"v2"'))
    store.put(b"v1", prov(retrieved_at="2026-11-10T00:00:00Z", etag='"v1"'))  # written later
    store.put(
        b"other", prov(url="https://elsewhere.example/x", retrieved_at="2026-12-01T00:00:00Z")
    )

    latest = store.latest_for_url(URL)
    assert latest is not None
    assert latest.provenance.etag == '"v2"'
    assert latest.read() == b"v2"

    # Same retrieved_at: the record written last wins.
    store.put(b"v3", prov(retrieved_at="2026-11-20T00:00:00Z", etag='"v3"'))
    latest = store.latest_for_url(URL)
    assert latest is not None
    assert latest.provenance.etag == '"v3"'

    assert store.latest_for_url("https://never.example/") is None


def test_latest_for_url_skips_records_whose_blob_is_gone(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.put(b"old", prov(retrieved_at="2026-11-01T00:00:00Z", etag='"old"'))
    newer = store.put(b"new", prov(retrieved_at="2026-11-02T00:00:00Z", etag='"new"'))
    newer.path.unlink()

    latest = store.latest_for_url(URL)
    assert latest is not None
    assert latest.provenance.etag == '"old"'


def put_fetch(
    store: SnapshotStore,
    fetch_id: str,
    retrieved_at: str,
    pages: int,
    present: list[int] | None = None,
    **overrides: Any,
) -> None:
    for page in present or list(range(1, pages + 1)):
        store.put(
            f"{fetch_id} page {page}".encode(),
            prov(
                fetch_id=fetch_id,
                page=page,
                pages=pages,
                retrieved_at=retrieved_at,
                url=f"{URL}&page={page}",
                **overrides,
            ),
        )


def test_latest_fetch_returns_the_newest_complete_fetch_in_page_order(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    put_fetch(store, "f-old", "2026-11-01T00:00:00Z", pages=3)
    put_fetch(store, "f-new", "2026-11-02T00:00:00Z", pages=3, present=[3, 1, 2])

    pages = store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST")
    assert pages is not None
    assert [s.provenance.page for s in pages] == [1, 2, 3]
    assert {s.provenance.fetch_id for s in pages} == {"f-new"}
    assert pages[0].read() == b"f-new page 1"


def test_latest_fetch_ignores_an_incomplete_newer_fetch(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    put_fetch(store, "f-old", "2026-11-01T00:00:00Z", pages=2)
    put_fetch(store, "f-broken", "2026-11-02T00:00:00Z", pages=3, present=[1, 2])

    pages = store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST")
    assert pages is not None
    assert [(s.provenance.fetch_id, s.provenance.page) for s in pages] == [
        ("f-old", 1),
        ("f-old", 2),
    ]


def test_latest_fetch_ignores_a_fetch_with_a_damaged_page(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    put_fetch(store, "f-old", "2026-11-01T00:00:00Z", pages=1)
    put_fetch(store, "f-new", "2026-11-02T00:00:00Z", pages=2)
    damaged = store.blob_path(sha256_bytes(b"f-new page 2"))
    damaged.write_bytes(b"tampered")

    pages = store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST")
    assert pages is not None
    assert [s.provenance.fetch_id for s in pages] == ["f-old"]


def test_latest_fetch_filters_by_mode_and_resource(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    put_fetch(store, "f-live", "2026-11-01T00:00:00Z", pages=1)
    put_fetch(
        store,
        "f-bundled",
        "2026-11-05T00:00:00Z",
        pages=1,
        mode="bundled",
        note="shipped with the package",
    )
    put_fetch(store, "f-other", "2026-11-09T00:00:00Z", pages=1, resource="GOV_WGI_RL.EST")

    live = store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST")
    assert live is not None
    assert live[0].provenance.fetch_id == "f-live"

    any_mode = store.latest_fetch(
        "worldbank_wgi", "GOV_WGI_CC.EST", modes=("live", "stored", "bundled")
    )
    assert any_mode is not None
    assert any_mode[0].provenance.fetch_id == "f-bundled"

    assert store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST", modes=("stored",)) is None
    assert store.latest_fetch("nobody", "GOV_WGI_CC.EST") is None


def test_corrupt_records_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SnapshotStore(tmp_path)
    good = store.put(b"good", prov())
    folder = tmp_path / "records" / "worldbank_wgi"
    (folder / "20261125T000000000000Z-truncated-00000000.json").write_text('{"source_id": "wor')
    (folder / "20261125T000000000001Z-wrongtype-00000000.json").write_text(
        json.dumps({**good.provenance.to_dict(), "bytes": "many"})
    )
    (folder / "20261125T000000000002Z-badmode-00000000.json").write_text(
        json.dumps({**good.provenance.to_dict(), "mode": "guessed"})
    )
    (folder / "20261125T000000000003Z-list-00000000.json").write_text("[]")
    (folder / "20261125T000000000004Z-binary-00000000.json").write_bytes(b"\xff\xfe\x00")

    with caplog.at_level(logging.WARNING, logger="extra_pipeline.snapshots"):
        assert store.records() == [good.provenance]
        latest = store.latest_for_url(URL)
        pages = store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST")

    assert latest is not None
    assert latest.provenance == good.provenance
    assert pages is not None
    assert pages[0].read() == b"good"
    skipped = [r for r in caplog.records if "skipping unreadable snapshot record" in r.message]
    assert len(skipped) == 5  # warned once per bad file, not on every lookup


def test_tampered_blob_is_treated_as_missing(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    snap = store.put(b"original", prov())
    assert store.latest_for_url(URL) is not None

    snap.path.write_bytes(b"tampered!")

    assert store.latest_for_url(URL) is None
    assert store.latest_fetch("worldbank_wgi", "GOV_WGI_CC.EST") is None
    assert not store.has_blob(snap.provenance.sha256)
    with pytest.raises(SnapshotError, match="does not match its sha256"):
        snap.read()
    with pytest.raises(SnapshotError):
        store.record(snap.provenance)

    # Storing the same payload again repairs the blob; the records were never touched.
    store.put(b"original", prov())
    assert snap.read() == b"original"
    assert len(store.records()) == 2


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for i in range(5):
        store.put(f"payload {i}".encode(), prov(fetch_id="f", page=1, pages=1))
    store.put(b"payload 0", prov())
    store.record(store.records()[0])

    files = all_files(tmp_path)
    assert not [p for p in files if p.name.startswith(".") or p.suffix == ".tmp"]
    assert len([p for p in files if "blobs" in p.parts]) == 5
    assert len([p for p in files if "records" in p.parts]) == 7


def test_leftover_temp_files_are_ignored(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    good = store.put(b"good", prov())
    folder = tmp_path / "records" / "worldbank_wgi"
    (folder / ".20261125T000000000000Z-abc-00000000.json.1234.tmp").write_text("{")
    assert store.records() == [good.provenance]


def test_records_are_oldest_first_and_filter_by_source(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    a = store.put(b"a", prov())
    b = store.put(b"b", prov(source_id="fatf", resource="lists", url="https://fatf.example/"))
    c = store.put(b"c", prov())

    assert store.records() == [a.provenance, b.provenance, c.provenance]
    assert store.records("worldbank_wgi") == [a.provenance, c.provenance]
    assert store.records("fatf") == [b.provenance]
    assert store.records("unknown") == []


def test_a_second_store_on_the_same_root_sees_the_same_records(tmp_path: Path) -> None:
    first = SnapshotStore(tmp_path)
    snap = first.put(b"shared", prov())
    second = SnapshotStore(tmp_path)
    latest = second.latest_for_url(URL)
    assert latest is not None
    assert latest.provenance == snap.provenance


@pytest.mark.parametrize(
    "overrides",
    [
        {"source_id": "../escape"},
        {"source_id": ""},
        {"mode": "cached"},
        {"page": 3, "pages": 2},
        {"retrieved_at": "yesterday"},
    ],
)
def test_invalid_provenance_is_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        prov(**overrides)


def test_provenance_dict_round_trip_keeps_every_field() -> None:
    original = prov(
        sha256="a" * 64,
        bytes=10,
        used_at="2026-11-25T10:00:01.000000Z",
        synthetic=True,
        stale=True,
        fetch_id="f1",
        page=2,
        pages=3,
        etag='W/"x"',
        last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
        note="fallback: live fetch failed",
    )
    assert Provenance.from_dict(json.loads(json.dumps(original.to_dict()))) == original
