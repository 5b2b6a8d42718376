"""Run storage in PostgreSQL by configuration alone, against a real server.

The module starts a throwaway PostgreSQL cluster of its own (Debian's server binaries, which
`make test` installs where missing; no system service is used), writes DAGSTER_HOME/dagster.yaml
as the shipped `assets/dagster.yaml` with `deploy/dagster.yaml`'s `storage: postgres` block
(every value from DAGSTER_PG_* environment variables), and runs the project as it is: the
nightly job in process through `extra_pipeline.runner`, and `extra status --json`. Nothing in
the code knows which storage it has.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from extra_pipeline.definitions import NIGHTLY_JOB
from extra_pipeline.settings import PROJECT_ROOT, Settings
from extra_pipeline.warehouse import WRITER_POOL

MAKE_TEST_HINT = "run `make test` (it installs Debian's postgresql)"
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
SHIPPED_YAML = PROJECT_ROOT / "assets" / "dagster.yaml"
DEPLOY_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"


def find_pg_bindir(
    path_dirs: Sequence[str] | None = None, debian_root: Path = DEBIAN_PG_ROOT
) -> Path:
    """The folder holding PostgreSQL's `initdb` and `pg_ctl`: where `pg_ctl` on PATH points,
    else Debian's newest /usr/lib/postgresql/<version>/bin. Fails (never skips) without one."""
    candidates = []
    search = os.pathsep.join(path_dirs) if path_dirs is not None else None
    on_path = shutil.which("pg_ctl", path=search)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = debian_root.glob("*/bin") if debian_root.is_dir() else []
    candidates += sorted(versions, key=lambda p: _version(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "pg_ctl").is_file() and (folder / "initdb").is_file():
            return folder
    pytest.fail(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {MAKE_TEST_HINT}")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db_name}"

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml's storage block reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg2  # dagster-postgres brings it

        with psycopg2.connect(self.url) as con, con.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        con.close()
        return rows


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    """A PostgreSQL server of this module's own: a new cluster in a temporary folder, trust
    authentication, on a free port of 127.0.0.1 (its socket in the folder too), stopped and
    removed afterwards. PostgreSQL refuses to run as root: as root, it runs as the `postgres`
    system user (Debian's package creates it)."""
    bindir = find_pg_bindir()
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="extra-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.fail(f"no `postgres` system user to run the server as: {MAKE_TEST_HINT}")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{server_log}"
            )

    server = PgServer("127.0.0.1", port, "extra", "unused-with-trust", "dagster_runs")
    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", server.user,
            "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", options)  # fmt: skip
        started = True
        import psycopg2

        con = psycopg2.connect(
            host=server.host, port=port, user=server.user, dbname="postgres", connect_timeout=10
        )
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"create database {server.db_name}")
        con.close()
        yield server
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PgHome:
    settings: Settings
    server: PgServer
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def pg_home(postgres: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgHome]:
    """A fresh EXTRA_HOME whose DAGSTER_HOME/dagster.yaml is the shipped one with PostgreSQL
    storage, written before `prepare_dagster_home` (which never overwrites it), and the
    nightly job run in process against it on the bundled data."""
    from extra_pipeline.runner import prepare_dagster_home, run_nightly

    home = tmp_path_factory.mktemp("pg_extra_home")
    config = yaml.safe_load(SHIPPED_YAML.read_text(encoding="utf-8"))
    config["storage"] = yaml.safe_load(DEPLOY_YAML.read_text(encoding="utf-8"))["storage"]
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_HOME", raising=False)
        for name, value in postgres.env().items():
            patch.setenv(name, value)
        settings = Settings(extra_home=home, sources_mode="offline")
        prepare_dagster_home(settings)  # sets DAGSTER_HOME, keeps our dagster.yaml
        assert yaml.safe_load((settings.dagster_home / "dagster.yaml").read_text())["storage"]
        summary = run_nightly(settings, progress=False)
        yield PgHome(settings, postgres, summary)


# --- the tests --------------------------------------------------------------------------


def test_missing_binaries_fail_with_the_make_test_hint(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=re.escape(MAKE_TEST_HINT)):
        find_pg_bindir(path_dirs=[str(tmp_path)], debian_root=tmp_path / "none")


def test_instance_loads_with_postgres_storage(pg_home: PgHome):
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    instance = dg.DagsterInstance.get()
    try:
        # `storage: postgres` is dagster-postgres's storage, for runs, events and schedules
        storage = instance.get_ref().storage_data
        assert (storage.module_name, storage.class_name) == (
            "dagster_postgres",
            "DagsterPostgresStorage",
        )
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    finally:
        instance.dispose()
    # and nothing went to SQLite under DAGSTER_HOME
    assert not [p for p in pg_home.settings.dagster_home.rglob("*.db")]
    assert not (pg_home.settings.dagster_home / "history").exists()


def test_nightly_run_is_recorded_in_postgres(pg_home: PgHome):
    summary = pg_home.summary
    assert summary["success"], summary["failed_steps"]
    assert summary["materialized"], "the first run materialises every asset"
    run_id = summary["run_id"]
    ((status, job),) = pg_home.server.query(
        "select status, pipeline_name from runs where run_id = %s", [run_id]
    )
    assert (status, job) == ("SUCCESS", NIGHTLY_JOB)
    rows = pg_home.server.query(
        "select distinct asset_key from event_logs"
        " where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
        [run_id],
    )
    in_postgres = {dg.AssetKey.from_db_string(key).to_user_string() for (key,) in rows}
    assert in_postgres == set(summary["materialized"])
    # the catalogue of assets is in PostgreSQL too
    keys = {k for (k,) in pg_home.server.query("select asset_key from asset_keys")}
    assert {dg.AssetKey.from_db_string(k).to_user_string() for k in keys} >= in_postgres


def test_writer_pool_limit_is_held_in_postgres(pg_home: PgHome):
    """The pool the run's writers joined got the instance's default limit (1), as rows in
    PostgreSQL, all released after the run; and a second claim is refused while one holds."""
    instance = dg.DagsterInstance.get()
    try:
        storage = instance.event_log_storage
        assert WRITER_POOL in storage.get_concurrency_keys()
        info = storage.get_concurrency_info(WRITER_POOL)
        assert (info.slot_count, info.limit) == (1, 1)
        assert info.claimed_slots == [] and info.pending_steps == []
        ((slots,),) = pg_home.server.query(
            "select count(*) from concurrency_slots where concurrency_key = %s", [WRITER_POOL]
        )
        assert slots == 1
        first = storage.claim_concurrency_slot(WRITER_POOL, "run-a", "write_a")
        second = storage.claim_concurrency_slot(WRITER_POOL, "run-b", "write_b")
        try:
            assert first.is_claimed and not second.is_claimed
            storage.free_concurrency_slot_for_step("run-a", "write_a")
            assert storage.claim_concurrency_slot(WRITER_POOL, "run-b", "write_b").is_claimed
        finally:
            storage.free_concurrency_slots_for_run("run-a")
            storage.free_concurrency_slots_for_run("run-b")
        assert storage.get_concurrency_info(WRITER_POOL).claimed_slots == []
    finally:
        instance.dispose()


def test_extra_status_reads_the_run_from_postgres(pg_home: PgHome):
    settings = pg_home.settings
    env = {
        **os.environ,
        **pg_home.server.env(),
        "EXTRA_HOME": str(settings.extra_home),
        "DAGSTER_HOME": str(settings.dagster_home),
        "EXTRA_SOURCES": "offline",
    }
    extra = Path(sys.executable).with_name("extra")
    command = [str(extra)] if extra.exists() else [sys.executable, "-m", "extra_pipeline.cli"]
    done = subprocess.run(
        [*command, "status", "--json"], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode in (0, 1), done.stderr  # 1: something needs attention (stale data)
    status = json.loads(done.stdout)
    assert status["last_run"]["run_id"] == pg_home.summary["run_id"]
    assert status["last_run"]["status"] == "SUCCESS"
    assert "last nightly run" not in status["attention"]
