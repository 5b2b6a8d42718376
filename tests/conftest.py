"""Shared fixtures: one offline pipeline run per session, in a temporary EXTRA_HOME."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
from extra_pipeline.drops.contracts import Contract, load_contracts
from extra_pipeline.settings import PROJECT_ROOT, Settings
from extra_pipeline.warehouse import WarehouseResource

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


# --- the products, on the demonstration drops and planted markers ----------------------------

#: a text and a number planted in AMBER drops only: no CLEAR product may contain either
AMBER_MARKER = "QX7731"
AMBER_MARKER_KG = 7373.73
#: drop text a renderer must escape and an export must neutralise
HOSTILE_NETWORK_REF = "<script>alert('QX7731')</script>\" onmouseover=\"x"
FORMULA_COMMODITY = '=HYPERLINK("http://example.invalid","QX7731")'
BULLETIN_MONTH = "2025-06"
NETWORK_HEADER = (
    "network_ref,assessment_date,principal_markets,base_country,countries_active,"
    "member_count_band,nationalities,uses_legal_business,uses_violence,uses_corruption,"
    "money_laundering_methods,threat_level,hvt"
)


@dataclass
class ProductsHome:
    settings: Settings
    summaries: dict[str, dict]

    @property
    def outputs(self) -> Path:
        return self.settings.outputs_dir


@pytest.fixture(scope="session")
def products_home(
    offline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> ProductsHome:
    """A refreshed home with the demonstration drops and two AMBER drops carrying markers and
    hostile text, then every product: the nightly run (notes, exports), the report and the
    bulletins of `BULLETIN_MONTH`, through their Dagster jobs."""
    import os
    from datetime import date

    from extra_pipeline.definitions import BULLETINS_JOB, REPORT_JOB
    from extra_pipeline.drops.demo import write_demo_drops
    from extra_pipeline.runner import (
        ingest_drop_files,
        ingest_pending_drops,
        prepare_dagster_home,
        run_job,
        run_nightly,
    )

    target = tmp_path_factory.mktemp("products") / "home"
    shutil.copytree(
        offline_run.settings.extra_home, target, ignore=shutil.ignore_patterns("dagster")
    )
    saved = os.environ.get("DAGSTER_HOME")
    settings = offline_settings(target)
    try:
        prepare_dagster_home(settings)
        write_demo_drops(settings.drops_dir / "incoming", today=date.today())
        assert all(d.get("status") != "error" for d in ingest_pending_drops(settings))
        sent = settings.extra_home / "sent"
        sent.mkdir()
        seizures = sent / "pl-seizures.csv"
        seizure_row = [f"PL-{AMBER_MARKER}-1", "2025-05-20", "cocaine", FORMULA_COMMODITY,
                       str(AMBER_MARKER_KG), "kg", "Colombia", "sea", "2"]  # fmt: skip
        _write_csv(seizures, SEIZURE_HEADER, seizure_row)
        networks = sent / "pl-networks.csv"
        network_row = [HOSTILE_NETWORK_REF, "2025-05-01", "cocaine;heroin;firearms", "Colombia",
                       "COL;ECU;NLD;BEL;ESP;DEU;FRA;ITA;PRT", ">500", "COL;ECU", "yes", "yes",
                       "yes", "hawala;trade-based;real estate", "very_high", "yes"]  # fmt: skip
        _write_csv(networks, NETWORK_HEADER, network_row)
        for path, dataset in ((seizures, "seizures"), (networks, "criminal_networks")):
            (outcome,) = ingest_drop_files(
                settings, [path], member_state="PL", dataset=dataset, period="2025-Q2"
            )
            assert outcome["status"] == "accepted", outcome
        summaries = {"nightly": run_nightly(settings, progress=False)}
        summaries["report"] = run_job(settings, REPORT_JOB, progress=False)
        summaries["bulletins"] = run_job(
            settings, BULLETINS_JOB, partition=f"{BULLETIN_MONTH}-01", progress=False
        )
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved
    for name, summary in summaries.items():
        assert summary["success"], (name, summary)
    return ProductsHome(settings, summaries)


def _write_csv(path: Path, header: str, row: list[str]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    path.write_text(header + "\n" + buffer.getvalue(), encoding="utf-8")


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium (Debian's) for a module. Missing Chromium is a failure, not a
    skip: the products and the UI must open in a browser."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium "
            "(or `apt-get install chromium`)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
