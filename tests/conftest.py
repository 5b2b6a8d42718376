"""Shared fixtures: one offline pipeline run per session, in a temporary EXTRA_HOME."""

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
from extra_pipeline.drops.contracts import Contract, load_contracts
from extra_pipeline.settings import PROJECT_ROOT, Settings
from extra_pipeline.warehouse import WarehouseResource

#: the real public data shipped beside the checkout (read independently of the connectors)
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of `../shared/data`, or skip the test when the folder is not beside the checkout."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {'/'.join(parts)}")
    return path


@dataclass
class PipelineRun:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult

    def published(self, level: str = "clear") -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.settings.published_path(level)), read_only=True)

    def rerun(self) -> dg.ExecuteInProcessResult:
        return run_nightly(self.defs, self.instance)


def run_nightly(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
        instance=instance, raise_on_error=False
    )


def offline_settings(home: Path) -> Settings:
    return Settings(extra_home=home, sources_mode="offline")


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """The nightly job, end to end on the bundled snapshots, once for the whole session."""
    home = tmp_path_factory.mktemp("extra_home")
    settings = offline_settings(home)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    result = run_nightly(defs, instance)
    return PipelineRun(settings, defs, instance, result)


@pytest.fixture
def home(offline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the session's refreshed EXTRA_HOME (offline), with a Dagster home of its own."""
    from extra_pipeline.runner import prepare_dagster_home

    target = tmp_path / "home"
    shutil.copytree(
        offline_run.settings.extra_home, target, ignore=shutil.ignore_patterns("dagster")
    )
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = offline_settings(target)
    prepare_dagster_home(settings)
    return settings


#: the seizures contract's headers the tests' drops use
SEIZURE_HEADER = (
    "seizure_ref,seizure_date,market,commodity,quantity,unit,origin_country,transport_mode,arrests"
)


def send_seizures(settings: Settings, name: str, rows: list[str], *, period: str) -> str:
    """A seizures file from Spain (rows under `SEIZURE_HEADER`), through the drop job, marked
    TLP:AMBER (the default); it must be accepted whole. Returns its drop id."""
    from extra_pipeline.runner import ingest_drop_files

    path = settings.extra_home / "sent" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([SEIZURE_HEADER, *rows]) + "\n", encoding="utf-8")
    (outcome,) = ingest_drop_files(
        settings, [path], member_state="ES", dataset="seizures", period=period
    )
    assert outcome["status"] == "accepted", outcome
    return outcome["drop_id"]


@pytest.fixture
def slow_server() -> Iterator[tuple[HTTPServer, threading.Event]]:
    """A threaded server of our own, so a stalled handler cannot hold up other tests."""
    release = threading.Event()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server, release
    finally:
        release.set()
        server.clear()
        server.stop()


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_contracts()


@pytest.fixture(scope="session")
def seizures(contracts: dict[str, Contract]) -> Contract:
    return contracts["seizures"]


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    """A fresh DuckDB working file in a temporary folder."""
    return WarehouseResource(path=str(tmp_path / "warehouse" / "extra.duckdb"))
