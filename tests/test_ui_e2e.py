"""The deployment an operator runs, end to end: `dagster-webserver` and `dagster-daemon` on
loopback with a temporary DAGSTER_HOME (the shipped `assets/dagster.yaml`) and EXTRA_HOME on
the bundled data, driven only through their public interfaces.

- The nightly job is launched through the GraphQL API, queued, dequeued by the daemon and run
  to success; the asset catalogue then lists every asset and check the definitions declare,
  each materialised (or evaluated) by that run.
- The asset graph and the run page open in headless Chromium (Debian's, through Playwright)
  with no page error; their screenshots are the README's (`docs/screenshots/dagster-*.png`,
  rewritten only when `UPDATE_SCREENSHOTS=1`).
- A source answering HTTP 500 (a local server) fails its run after the asset's retry, the
  daemon's `run_failure_alert` sensor writes the alert naming the asset with a link to the
  run in this UI, and `extra status` exits 1 naming the failed run and step.

Slow (about three minutes here): every wait is a polling loop with its own deadline, and a
failure prints the tail of both processes' logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from dagster_graphql import DagsterGraphQLClient
from playwright.sync_api import Browser, ConsoleMessage, Page
from pytest_httpserver import HTTPServer

from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions
from extra_pipeline.defs.sources import COUNTRIES_CHECK, FRESHNESS_CHECK, source_key
from extra_pipeline.runner import prepare_dagster_home
from extra_pipeline.settings import PROJECT_ROOT, Settings

LOCATION = "extra_pipeline"  # workspace.yaml's location_name
REPOSITORY = "__repository__"  # what Dagster names the repository of a `Definitions`
BIN = Path(sys.executable).parent
SERVER_TIMEOUT = 180.0  # the webserver and its code server up, the location loaded
RUN_TIMEOUT = 360.0  # the nightly run takes 40-60 s here; queued until the daemon takes it
ALERT_TIMEOUT = 150.0  # the run-failure sensor ticks every 30 s
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
STEP_SUCCESS = dg.DagsterEventType.STEP_SUCCESS

VIEWPORT = {"width": 1440, "height": 900}
#: the README's screenshots: tall enough for the whole group graph, and the run's steps
TALL = {"width": 1440, "height": 1080}
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
MAX_SCREENSHOT_BYTES = 500_000


# -- the two processes ---------------------------------------------------------------------


@dataclass
class Service:
    """A process of ours, in its own process group, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}), last {lines} lines ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        else:  # the leader is gone: reap what it may have left in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Deployment:
    """The webserver and the daemon on one DAGSTER_HOME, and how to reach them."""

    settings: Settings
    env: dict[str, str]
    port: int
    services: list[Service] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=60)

    def logs(self) -> str:
        return "\n".join(service.tail() for service in self.services)

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.logs()}", pytrace=False)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def check_alive(self) -> None:
        for service in self.services:
            if service.process.poll() is not None:
                self.fail(f"{service.name} exited with status {service.process.returncode}")

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            self.check_alive()
            status = self.client.get_run_status(run_id).value
            if status in TERMINAL:
                return status
            time.sleep(2)
        self.fail(f"run {run_id} still {status} after {timeout:.0f} s")
        raise AssertionError  # pytest.fail raises; this keeps type checkers content

    def instance(self) -> dg.DagsterInstance:
        """The deployment's instance, read from this process (SQLite storage is shared)."""
        return dg.DagsterInstance.from_config(str(self.settings.dagster_home))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(name: str, args: list[str], env: dict[str, str], log: Path) -> Service:
    with log.open("wb") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole in teardown
        )
    return Service(name, process, log)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """`dagster-webserver` and `dagster-daemon` on the project's workspace, serving a fresh
    EXTRA_HOME (bundled data only) and DAGSTER_HOME; stopped (whole process groups) after
    the module, their logs printed when one of its tests failed."""
    root = tmp_path_factory.mktemp("ui_e2e")
    home = root / "extra_home"
    dagster_home = home / "dagster"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "DAGSTER_"))}
    env |= {
        "EXTRA_HOME": str(home),
        "EXTRA_SOURCES": "offline",
        "DAGSTER_HOME": str(dagster_home),
        "EXTRA_UI_URL": url,  # the alerts' links point at this UI
        # a failing source is retried once, at once (the default waits 30 s, then 60 s)
        "EXTRA_SOURCE_RETRIES": "1",
        "EXTRA_SOURCE_RETRY_DELAY": "0.2",
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(dagster_home))  # restored after the module
        settings = Settings.from_env(env)
        prepare_dagster_home(settings)  # writes DAGSTER_HOME/dagster.yaml from the template
        assert (dagster_home / "dagster.yaml").is_file()
        deployment = Deployment(settings, env, port)
        failed_before = request.session.testsfailed
        workspace = str(PROJECT_ROOT / "workspace.yaml")
        try:
            deployment.services.append(
                start(
                    "dagster-webserver",
                    [
                        str(BIN / "dagster-webserver"),
                        "-w",
                        workspace,
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                    ],
                    env,
                    root / "webserver.log",
                )
            )
            deployment.services.append(
                start(
                    "dagster-daemon",
                    [str(BIN / "dagster-daemon"), "run", "-w", workspace],
                    env,
                    root / "daemon.log",
                )
            )
            wait_for_location(deployment)
            yield deployment
        finally:
            for service in deployment.services:
                service.stop()
            if request.session.testsfailed > failed_before:
                print(deployment.logs(), file=sys.stderr)


def wait_for_location(deployment: Deployment) -> None:
    """Until the webserver answers and has loaded the code location."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline = time.monotonic() + SERVER_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        deployment.check_alive()
        try:
            info = requests.get(f"{deployment.url}/server_info", timeout=5)
            if info.ok:
                entries = deployment.graphql(query)["workspaceOrError"]["locationEntries"]
                entry = next((e for e in entries if e["name"] == LOCATION), None)
                last = json.dumps(entry)
                if entry and entry["loadStatus"] == "LOADED":
                    loaded = entry["locationOrLoadError"]
                    if loaded["__typename"] != "RepositoryLocation":
                        deployment.fail(f"the code location failed to load: {loaded}")
                    return
        except requests.RequestException as error:
            last = str(error)
        time.sleep(1)
    deployment.fail(f"the webserver was not ready after {SERVER_TIMEOUT:.0f} s: {last}")


# -- the nightly run, through the API --------------------------------------------------------


@pytest.fixture(scope="module")
def nightly_run(deployment: Deployment) -> str:
    """The nightly job launched through GraphQL and run by the daemon to success; its run id."""
    run_id = deployment.client.submit_job_execution(
        NIGHTLY_JOB, repository_location_name=LOCATION, repository_name=REPOSITORY
    )
    status = deployment.wait_for_run(run_id)
    if status != "SUCCESS":
        instance = deployment.instance()
        try:
            failures = [
                f"{entry.step_key}: {entry.message}"
                for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            ]
        finally:
            instance.dispose()
        deployment.fail(f"the nightly run {run_id} ended {status}: {failures}")
    return run_id


CATALOGUE = """
{ assetNodes {
    assetKey { path }
    jobNames
    assetMaterializations(limit: 1) { runId }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name executionForLatestMaterialization { status runId } } }
    }
} }"""


def test_nightly_job_launched_through_the_api_fills_the_catalogue(
    deployment: Deployment, nightly_run: str
) -> None:
    defs = build_definitions(deployment.settings)
    graph = defs.resolve_asset_graph()
    declared_assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    declared_checks = {f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys}
    nightly = {
        key.to_user_string()
        for key in defs.resolve_job_def(NIGHTLY_JOB).asset_layer.selected_asset_keys
    }

    nodes = deployment.graphql(CATALOGUE)["assetNodes"]
    listed = {"/".join(node["assetKey"]["path"]): node for node in nodes}
    assert set(listed) == declared_assets
    checks = {}
    for key, node in listed.items():
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", key
        for check in node["assetChecksOrError"]["checks"]:
            checks[f"{key}:{check['name']}"] = check
    assert set(checks) == declared_checks
    assert len(declared_assets) > 50 and len(declared_checks) > 40  # the real pipeline

    # the API's run did the nightly job's work: every asset of the job materialised by it,
    # every check on those assets evaluated by it (WARN checks may fail: old bundled data)
    assert {key for key, node in listed.items() if NIGHTLY_JOB in node["jobNames"]} == nightly
    for key in nightly:
        assert [m["runId"] for m in listed[key]["assetMaterializations"]] == [nightly_run], key
    for name, check in checks.items():
        if name.split(":")[0] not in nightly:
            continue
        execution = check["executionForLatestMaterialization"]
        assert execution and execution["runId"] == nightly_run, name
        assert execution["status"] == "SUCCEEDED" or (
            execution["status"] == "FAILED"
            and name.split(":")[1] in (FRESHNESS_CHECK, COUNTRIES_CHECK)
        ), (name, execution)


# -- the UI in a browser ---------------------------------------------------------------------


@dataclass
class Opened:
    page: Page
    page_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser: Browser, deployment: Deployment) -> Iterator[Callable[..., Opened]]:
    """Open a UI route in a fresh context, recording page errors and console messages."""
    # What "Skip" on the UI's first-visit community prompt does, so it covers no screenshot.
    assert deployment.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    contexts = []
    opened_pages: list[Opened] = []

    def open_(route: str, viewport: dict[str, int] = VIEWPORT) -> Opened:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        opened = Opened(context.new_page())
        opened_pages.append(opened)

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                opened.console.append(f"{route}: console {message.type}: {message.text[:300]}")

        opened.page.on("console", on_console)
        opened.page.on("pageerror", lambda error: opened.page_errors.append(f"{route}: {error}"))
        opened.page.goto(f"{deployment.url}{route}", wait_until="load")
        return opened

    yield open_
    for opened in opened_pages:  # shown with -rA or on failure; only page errors fail
        for line in opened.console:
            print(line)
    for context in contexts:
        context.close()


def wait_for_texts(opened: Opened, *texts: str, timeout: float = 60.0) -> None:
    for text in texts:
        opened.page.get_by_text(text, exact=True).first.wait_for(
            state="visible", timeout=timeout * 1000
        )


def save_screenshot(page: Page, path: Path, publish_as: str | None = None) -> Path:
    """A screenshot at `path` (PNG, under 500 kB: quantised when larger); copied to
    docs/screenshots/`publish_as` when UPDATE_SCREENSHOTS=1."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    if path.stat().st_size > MAX_SCREENSHOT_BYTES:
        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(
                path, optimize=True
            )
    assert path.stat().st_size <= MAX_SCREENSHOT_BYTES, path.stat().st_size
    viewport = page.viewport_size or {}
    with Image.open(path) as image:
        assert image.width == viewport["width"] and image.height >= viewport["height"]
    if publish_as and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, SCREENSHOTS / publish_as)
    return path


def test_asset_graph_and_run_page_render_without_page_errors(
    deployment: Deployment, nightly_run: str, open_page: Callable[..., Opened], tmp_path: Path
) -> None:
    # the global lineage: one box per asset group, sources and drops through to products
    lineage = open_page("/asset-groups")
    wait_for_texts(lineage, "Global asset lineage", "sources", "marts", "publish", "products")
    save_screenshot(lineage.page, tmp_path / "global-lineage.png")

    # the analytic core's lineage, the README's asset graph: the sources into the indicator
    # values, the four components, the score's scenarios, out to the matrix and profiles
    graph = open_page(f"/locations/{LOCATION}/asset-groups/intermediate", TALL)
    wait_for_texts(graph, "indicator_values", "eu_exposure", "threat_scenarios", "threat_matrix")
    graph.page.wait_for_timeout(1500)  # the first layout and zoom settle
    # zoom out a step (ctrl + wheel over the canvas's middle) so the whole group fits
    graph.page.mouse.move(840, 620)
    graph.page.keyboard.down("Control")
    graph.page.mouse.wheel(0, 150)
    graph.page.keyboard.up("Control")
    graph.page.wait_for_timeout(1500)
    wait_for_texts(graph, "fatf_events", "seizure_flows")  # the top and bottom nodes
    shot = save_screenshot(
        graph.page, tmp_path / "dagster-asset-graph.png", "dagster-asset-graph.png"
    )
    assert shot.stat().st_size > 20_000  # a drawn graph, not a blank canvas

    # the run the API launched: its status, its steps (as a waterfall, and the list of
    # those that succeeded: every one the run executed) and its events
    instance = deployment.instance()
    try:
        steps = {e.step_key for e in instance.all_logs(nightly_run, of_type=STEP_SUCCESS)}
    finally:
        instance.dispose()
    run = open_page(f"/runs/{nightly_run}", TALL)
    wait_for_texts(run, "Success", "RUN_SUCCESS", f"Succeeded ({len(steps)})")
    assert "[SUCCESS]" in run.page.title() and nightly_run[:8] in run.page.title()
    run.page.locator("button:has([aria-label='gantt_waterfall'])").click()
    divider = run.page.locator("[class*='verticalHitArea']").first.bounding_box()
    assert divider is not None
    run.page.mouse.move(840, divider["y"] + divider["height"] / 2)  # the chart taller
    run.page.mouse.down()
    run.page.mouse.move(840, 700, steps=12)
    run.page.mouse.up()
    run.page.get_by_text(f"Succeeded ({len(steps)})", exact=True).click()
    wait_for_texts(run, "raw__wgi", "intermediate__threat_scenarios")
    run.page.wait_for_timeout(1500)
    save_screenshot(run.page, tmp_path / "dagster-run.png", "dagster-run.png")

    errors = [e for opened in (lineage, graph, run) for e in opened.page_errors]
    assert not errors, errors


# -- a failing source, through the daemon ------------------------------------------------------


def test_failing_source_is_retried_then_alerted_by_the_daemon(
    deployment: Deployment, nightly_run: str
) -> None:
    """WGI answers HTTP 500: the run launched through the API fails after one retry of the
    asset (no run-level retry: only crashed runs are retried), the daemon's sensor writes the
    alert, and `extra status` exits 1 naming the failed run and step."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"^/v2/")).respond_with_data("upstream down", status=500)
    server.start()
    try:
        # the code location runs offline; this one run fetches WGI live from the local server
        sources = {
            "mode": "live",
            "snapshots_dir": str(deployment.settings.snapshots_dir),
            "base_urls": {"wgi": server.url_for("").rstrip("/")},
            "max_attempts": 1,  # no HTTP-level retry: each step attempt makes one request
        }
        run_id = deployment.client.submit_job_execution(
            NIGHTLY_JOB,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            asset_selection=[source_key("wgi").path],
            run_config={"resources": {"sources": {"config": sources}}},
        )
        status = deployment.wait_for_run(run_id)
        requests_seen = [request.path for request, _ in server.log]
    finally:
        server.clear()
        server.stop()
    assert status == "FAILURE"
    assert len(requests_seen) == 2, requests_seen  # the first attempt and the retry

    instance = deployment.instance()
    try:
        events = [
            e.dagster_event.event_type_value
            for e in instance.all_logs(run_id)
            if e.dagster_event and e.step_key == "raw__wgi"
        ]
        run = instance.get_run_by_id(run_id)
        children = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
    finally:
        instance.dispose()
    assert events.count("STEP_UP_FOR_RETRY") == 1 and events.count("STEP_RESTARTED") == 1
    assert events[-1] == "STEP_FAILURE"
    assert run is not None and run.tags.get("dagster/will_retry") == "false"
    assert children == []

    alerts_dir = deployment.settings.alerts_dir
    deadline = time.monotonic() + ALERT_TIMEOUT
    found: list[Path] = []
    while time.monotonic() < deadline and not found:
        deployment.check_alive()
        found = sorted(alerts_dir.glob(f"*-{NIGHTLY_JOB}-{run_id[:8]}.json"))
        time.sleep(2)
    if not found:
        deployment.fail(f"no alert for run {run_id} in {alerts_dir} after {ALERT_TIMEOUT:.0f} s")
    alert = json.loads(found[0].read_text(encoding="utf-8"))
    assert alert["run_id"] == run_id and alert["status"] == "FAILURE"
    assert alert["failed_assets"] == ["raw/wgi"]
    assert [s["step"] for s in alert["failed_steps"]] == ["raw__wgi"]
    assert alert["failed_steps"][0]["error"]
    assert alert["run_url"] == f"{deployment.url}/runs/{run_id}"
    assert alert["run_url"] in alert["summary"]
    assert alert["summary"] in (alerts_dir / "alerts.log").read_text(encoding="utf-8")
    # the link opens this run in the UI
    assert requests.get(alert["run_url"], timeout=30).status_code == 200

    done = subprocess.run(
        [sys.executable, "-m", "extra_pipeline.cli", "status"],
        env=deployment.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"last nightly run: FAILURE {run_id}" in done.stdout
    assert "  failed: raw/wgi: " in done.stdout
    assert "alerts in the last day: 1" in done.stdout
    assert "last nightly run" in done.stdout.splitlines()[-1]  # "needs attention: ..."
