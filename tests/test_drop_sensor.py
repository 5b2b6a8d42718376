"""The landing sensor and the drop job, through Dagster's own sensor and run APIs."""

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import offline_settings

from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
from extra_pipeline.defs.drops import DROP_JOB, drop_partitions
from extra_pipeline.defs.resources import DropsResource

HEADER = "seizure_ref,seizure_date,market,quantity,unit,origin_country"
ROWS = ["NL-1,2025-02-01,cocaine,900,kg,Ecuador", "NL-2,2025-02-03,cannabis,40,kg,Morocco"]


@pytest.fixture
def landing(tmp_path: Path):
    settings = offline_settings(tmp_path / "home")
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    incoming = settings.drops_dir / "incoming" / "NL"
    incoming.mkdir(parents=True)
    return settings, defs, instance, incoming


def drop_file(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    past = time.time() - 60  # settled: not still being written
    os.utime(path, (past, past))
    return path


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, settings) -> list[dg.RunRequest]:
    """Evaluate the sensor once and do what the daemon does with its result."""
    sensor = defs.resolve_sensor_def("drop_sensor")
    resources = {"drop_area": DropsResource(root=str(settings.drops_dir), settle_seconds=5)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    job = defs.resolve_job_def(DROP_JOB)
    for run in result.run_requests or []:
        outcome = job.execute_in_process(
            instance=instance, partition_key=run.partition_key, run_config=run.run_config
        )
        assert outcome.success
    return list(result.run_requests or [])


def test_two_new_files_give_two_runs_and_a_retick_gives_none(landing):
    settings, defs, instance, incoming = landing
    drop_file(incoming, "february.csv", [HEADER, *ROWS])
    drop_file(incoming, "march.csv", [HEADER, "NL-3,2025-03-09,heroin,12,kg,Türkiye"])

    first = tick(defs, instance, settings)
    assert len(first) == 2
    assert {r.run_key for r in first} == {r.partition_key for r in first}
    assert set(instance.get_dynamic_partitions(drop_partitions.name)) == {
        r.partition_key for r in first
    }
    assert not any(incoming.iterdir())  # archived and recorded: the landing area is clear

    assert tick(defs, instance, settings) == []


def test_a_file_still_being_written_waits_for_the_next_tick(landing):
    settings, defs, instance, incoming = landing
    fresh = incoming / "writing.csv"
    fresh.write_text(HEADER + "\n" + ROWS[0] + "\n", encoding="utf-8")
    assert tick(defs, instance, settings) == []
    assert fresh.exists()


def test_the_same_bytes_under_a_new_name_are_a_duplicate(landing):
    settings, defs, instance, incoming = landing
    original = drop_file(incoming, "drop.csv", [HEADER, *ROWS])
    kept = settings.extra_home / "copy.csv"
    shutil.copyfile(original, kept)
    assert len(tick(defs, instance, settings)) == 1

    again = incoming / "drop-resent.csv"
    shutil.copyfile(kept, again)
    past = time.time() - 30
    os.utime(again, (past, past))
    assert len(tick(defs, instance, settings)) == 1

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        statuses = con.execute(
            "select file_name, status from audit.drops order by received_at"
        ).fetchall()
        (rows,) = con.execute("select count(*) from raw.drop_seizures").fetchone()
    assert statuses == [("drop.csv", "accepted"), ("drop-resent.csv", "duplicate")]
    assert rows == 2


def test_drops_flow_into_the_marts_and_only_current_drops_count(landing):
    settings, defs, instance, incoming = landing
    sidecar = '{"period": "2025-Q1", "marking": "TLP:AMBER"}'
    for name, rows, age in (("q1.csv", ROWS, 60), ("q1-corrected.csv", ROWS[:1], 30)):
        path = drop_file(incoming, name, [HEADER, *rows])
        meta = path.with_name(name + ".meta.json")
        meta.write_text(sidecar)
        for settled in (path, meta):  # both settled, the correction sent later
            os.utime(settled, (time.time() - age, time.time() - age))
        assert len(tick(defs, instance, settings)) == 1

    result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert result.success

    amber = settings.published_path("amber")
    with duckdb.connect(str(amber), read_only=True) as con:
        seizures = con.execute(
            "select seizure_ref, market, quantity_kg, origin_iso3 from marts.fct_seizure"
        ).fetchall()
        (markings,) = con.execute(
            "select marking from audit.published_tables where table_name = 'marts.fct_seizure'"
        ).fetchone()
    assert seizures == [
        ("NL-1", "cocaine_trade", 900.0, "ECU")
    ]  # the superseded drop's row left the mart
    assert markings == "amber"
    with duckdb.connect(str(settings.published_path("clear")), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("select table_name from audit.published_tables").fetchall()
        }
        (drops_visible,) = con.execute("select count(*) from audit.drops").fetchone()
    assert "marts.fct_seizure" not in tables  # a CLEAR copy never holds AMBER drop data
    assert drops_visible == 0


def test_the_landing_area_skips_partial_uploads_foreign_folders_and_fresh_sidecars(tmp_path):
    from extra_pipeline.defs.drops import pending_drops
    from extra_pipeline.drops.ingest import DropArea

    area = DropArea(tmp_path / "drops")
    nl = area.incoming / "NL"
    nl.mkdir(parents=True)
    ready = drop_file(nl, "ready.csv", [HEADER, *ROWS])
    drop_file(nl, "upload.csv.part", [HEADER, *ROWS])
    late = drop_file(nl, "late.csv", [HEADER, *ROWS])
    late.with_name("late.csv.meta.json").write_text('{"marking": "TLP:RED"}')  # just arrived
    (area.incoming / "tmp").mkdir()
    drop_file(area.incoming / "tmp", "x.csv", [HEADER])

    pending, skipped = pending_drops(area, settle_seconds=5)
    assert [d.path for d in pending] == [ready]
    assert pending[0].member_state == "NL"
    assert any(s.startswith("tmp/") for s in skipped)


def test_a_file_replaced_under_the_same_name_stays_for_the_next_pickup(tmp_path):
    from extra_pipeline.drops.ingest import file_sha256, remove_from_landing

    path = tmp_path / "drop.csv"
    path.write_text("first\n")
    original = file_sha256(path)
    path.write_text("second, sent later\n")
    remove_from_landing(path, original)
    assert path.read_text() == "second, sent later\n"
    remove_from_landing(path, file_sha256(path))
    assert not path.exists()
