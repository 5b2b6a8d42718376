"""What an engineer on call relies on (`extra_pipeline.defs.operations`, `extra status`):

- a source answering HTTP 500 (a local server) fails its run after the asset's retry with
  backoff; the run-failure sensor, evaluated as the daemon evaluates it, writes the alert
  naming the asset, the error and a link to the run, and posts it to the webhook (a webhook
  that answers 500 or refuses the connection leaves the file alert standing, saying so);
  `extra status` then exits 1 naming the failed run and step;
- the product schedules (the monthly bulletins for the month just ended, the annual report
  in mid-January) and the alert sensor are on by default;
- only the assets that reach the network are retried, exponentially and with jitter;
- `extra status` names drops waiting too long and drops rejected this week;
- the shipped instance configuration retries crashed runs only and monitors run time.

The same flow through the real webserver and daemon is in test_ui_e2e.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from extra_pipeline.definitions import (
    BULLETINS_JOB,
    MAX_RUNTIME_SECONDS,
    NIGHTLY_JOB,
    REPORT_JOB,
    build_definitions,
)
from extra_pipeline.defs.operations import (
    ALERT_SENSOR,
    BULLETIN_SCHEDULE,
    REPORT_SCHEDULE,
    TIMEZONE,
    AlertsResource,
    alerts_resource,
    run_failure_alert,
)
from extra_pipeline.defs.sources import source_key
from extra_pipeline.runner import ingest_drop_files, prepare_dagster_home
from extra_pipeline.settings import PROJECT_ROOT, Settings, SettingsError
from extra_pipeline.sources.base import load_registry

WGI = source_key("wgi")
WGI_STEP = "raw__wgi"
UI_URL = "http://extra-ui.test:3000/"  # only ever written into links, never requested
BRUSSELS = ZoneInfo(TIMEZONE)


def extra(
    *args: str, home: Path, dagster_home: Path, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `extra` command in a subprocess, on the given EXTRA_HOME and DAGSTER_HOME and the
    `settings` variables only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "DAGSTER_"))}
    env |= {"EXTRA_HOME": str(home), "DAGSTER_HOME": str(dagster_home)} | (settings or {})
    return subprocess.run(
        [sys.executable, "-m", "extra_pipeline.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- settings --------------------------------------------------------------------------------


def test_settings_read_the_operations_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "EXTRA_HOME": str(tmp_path),
            "EXTRA_ALERT_WEBHOOK": " https://hooks.example.test/extra ",
            "EXTRA_UI_URL": "https://dagster.example.test",
            "EXTRA_SOURCE_RETRIES": "5",
            "EXTRA_SOURCE_RETRY_DELAY": "2.5",
        }
    )
    assert settings.alert_webhook_url == "https://hooks.example.test/extra"
    assert settings.ui_url == "https://dagster.example.test"
    assert (settings.source_retries, settings.source_retry_delay) == (5, 2.5)
    assert settings.alerts_dir == tmp_path.resolve() / "alerts"
    resource = alerts_resource(settings)
    assert resource.alerts_dir == str(settings.alerts_dir)
    assert resource.webhook_url == settings.alert_webhook_url
    assert resource.ui_url == settings.ui_url

    defaults = Settings.from_env({"EXTRA_HOME": str(tmp_path)})
    assert defaults.alert_webhook_url == ""
    assert defaults.ui_url == "http://127.0.0.1:3000"
    assert (defaults.source_retries, defaults.source_retry_delay) == (2, 30.0)
    with pytest.raises(SettingsError, match="EXTRA_SOURCE_RETRY_DELAY"):
        Settings.from_env({"EXTRA_HOME": str(tmp_path), "EXTRA_SOURCE_RETRY_DELAY": "soon"})


# -- definitions: retries, schedules, sensor, instance ----------------------------------------


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    home = tmp_path_factory.mktemp("operations_defs")
    return build_definitions(
        Settings(extra_home=home, sources_mode="offline", source_retries=3, source_retry_delay=7.5)
    )


def test_only_assets_that_reach_the_network_are_retried_with_backoff_and_jitter(
    defs: dg.Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    sources = {source_key(source_id) for source_id in load_registry()}
    assert sources <= set(graph.get_all_asset_keys())
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).assets_def.op.retry_policy
        if key in sources:
            assert policy == dg.RetryPolicy(
                max_retries=3,
                delay=7.5,
                backoff=dg.Backoff.EXPONENTIAL,
                jitter=dg.Jitter.PLUS_MINUS,
            ), key
        else:  # models, checks' assets, reference data, drops, publish, products
            assert policy is None, key
    for job_name in (NIGHTLY_JOB, REPORT_JOB, BULLETINS_JOB):
        assert defs.resolve_job_def(job_name).op_retry_policy is None, job_name


def test_monthly_bulletins_ask_for_the_month_just_ended(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def(BULLETIN_SCHEDULE)
    assert schedule.job_name == BULLETINS_JOB
    assert schedule.cron_schedule == "0 6 1 * *"  # the 1st, 06:00
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for when, month in [
        (datetime(2026, 7, 1, 6, 0, tzinfo=BRUSSELS), "2026-06-01"),
        (datetime(2026, 1, 1, 6, 0, tzinfo=BRUSSELS), "2025-12-01"),  # across the year
    ]:
        result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))
        assert [request.partition_key for request in result.run_requests or []] == [month]


def test_yearly_report_in_mid_january_brussels_time(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def(REPORT_SCHEDULE)
    assert schedule.job_name == REPORT_JOB
    assert schedule.cron_schedule == "0 6 15 1 *"  # 15 January, 06:00
    assert schedule.execution_timezone == "Europe/Brussels"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2027, 1, 15, 6, 0, tzinfo=BRUSSELS)
    )
    (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.partition_key is None


def test_the_failure_alert_sensor_is_on_by_default(defs: dg.Definitions) -> None:
    sensor = defs.resolve_sensor_def(ALERT_SENSOR)
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert "alerts" in sensor.required_resource_keys
    assert isinstance(defs.resources["alerts"], AlertsResource)


def test_instance_retries_only_crashed_runs_and_watches_run_time(
    tmp_path: Path, defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    prepare_dagster_home(Settings(extra_home=tmp_path))
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster"))
    try:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False  # a failed asset: no
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 300
    finally:
        instance.dispose()
    nightly = defs.resolve_job_def(NIGHTLY_JOB)
    assert nightly.tags["dagster/max_runtime"] == str(MAX_RUNTIME_SECONDS) == "7200"


# -- a source answering HTTP 500 ----------------------------------------------------------------


@dataclass
class FailedRun:
    settings: Settings
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult
    server: HTTPServer
    source_requests: list[Request]
    alert_path: Path

    @property
    def run(self) -> dg.DagsterRun:
        run = self.instance.get_run_by_id(self.result.run_id)
        assert run is not None
        return run

    def alert(self, resource: AlertsResource) -> Path:
        """The run-failure sensor evaluated on this run, the way the daemon evaluates it;
        the alert file written."""
        failure = self.result.get_run_failure_event()
        context = dg.build_run_status_sensor_context(
            sensor_name=ALERT_SENSOR,
            dagster_instance=self.instance,
            dagster_run=self.run,
            dagster_event=failure,
            resources={"alerts": resource},
        ).for_run_failure()
        before = set(Path(resource.alerts_dir).glob("*.json"))
        assert run_failure_alert(context) is None  # an alert is a side effect, not a run
        (written,) = set(Path(resource.alerts_dir).glob("*.json")) - before
        return written


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedRun]:
    """The nightly job, WGI only, live from a local server answering 500: retried once
    (0.1 s), failed, recorded in a DAGSTER_HOME of the shipped configuration; then the
    alert sensor evaluated on it with a webhook on the same server."""
    root = tmp_path_factory.mktemp("failed_source")
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"^/v2/")).respond_with_data("upstream down", status=500)
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    settings = Settings(
        extra_home=root / "home",
        sources_mode="live",
        base_urls={"wgi": server.url_for("").rstrip("/")},
        http_max_attempts=1,  # no HTTP-level retry: each attempt of the asset is one request
        source_retries=1,
        source_retry_delay=0.1,
        alert_webhook_url=server.url_for("/hook"),
        ui_url=UI_URL,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        prepare_dagster_home(settings)
        instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
        try:
            defs = build_definitions(settings)
            result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
                instance=instance, asset_selection=[WGI], raise_on_error=False
            )
            source_requests = [r for r, _ in server.log if r.path.startswith("/v2/")]
            failed = FailedRun(settings, instance, result, server, source_requests, Path())
            failed.alert_path = failed.alert(alerts_resource(settings))
            yield failed
        finally:
            instance.dispose()
            server.clear()
            server.stop()


def test_failing_source_fails_the_run_after_one_retry(failed_run: FailedRun) -> None:
    result = failed_run.result
    assert not result.success
    assert failed_run.run.status == dg.DagsterRunStatus.FAILURE
    steps = [e.event_type_value for e in result.all_events if e.step_key == WGI_STEP]
    assert steps == ["STEP_START", "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_FAILURE"]
    assert not result.get_asset_materialization_events()
    # the server was asked again after the retry: the first resource, once per attempt
    assert len(failed_run.source_requests) == 2
    first, again = failed_run.source_requests
    assert first.full_path == again.full_path
    assert first.path == "/v2/country/all/indicator/GOV_WGI_CC.EST"
    # the error the attempts met is the publisher's 500, as a source the pipeline names
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    causes = []
    while error is not None:
        causes.append(error.message)
        error = error.cause
    assert any("SourceUnavailable: wgi GOV_WGI_CC.EST" in c and "HTTP 500" in c for c in causes)
    # a failed asset is not a crashed run: the instance does not retry the run itself
    assert failed_run.run.tags.get("dagster/will_retry") == "false"
    assert failed_run.run.tags.get("dagster/max_runtime") == "7200"


def test_alert_names_the_failed_asset_the_error_and_the_run(failed_run: FailedRun) -> None:
    path = failed_run.alert_path
    run_id = failed_run.result.run_id
    assert path.parent == failed_run.settings.alerts_dir
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{NIGHTLY_JOB}-{run_id[:8]}\.json", path.name)
    alert = json.loads(path.read_text(encoding="utf-8"))
    assert alert["job"] == NIGHTLY_JOB and alert["run_id"] == run_id
    assert alert["status"] == "FAILURE"
    assert alert["failed_assets"] == ["raw/wgi"]
    (step,) = alert["failed_steps"]
    assert step["step"] == WGI_STEP and step["assets"] == ["raw/wgi"]
    # the error is the source's own, not Dagster's wrapper or the retry count
    assert step["error"].startswith("extra_pipeline.sources.base.SourceUnavailable: wgi")
    assert "HTTP 500" in step["error"] and "max_retries" not in step["error"]
    assert WGI_STEP in alert["error"]  # the run's failure: which steps failed
    assert alert["run_url"] == f"{UI_URL.rstrip('/')}/runs/{run_id}"
    assert alert["summary"] == (
        f"{NIGHTLY_JOB} run {run_id[:8]} failed: raw/wgi ({alert['run_url']})"
    )
    assert alert["tags"]["dagster/max_runtime"] == "7200"
    assert datetime.strptime(alert["occurred_at"], "%Y-%m-%dT%H:%M:%SZ")
    log = (path.parent / "alerts.log").read_text(encoding="utf-8").splitlines()
    assert log == [f"{alert['occurred_at']} {alert['summary']}"]

    # the webhook got the same alert (without the delivery note) and said 200
    assert alert["webhook"] == "HTTP 200"
    posted = [r for r, _ in failed_run.server.log if r.path == "/hook"]
    assert len(posted) == 1 and posted[0].method == "POST"
    assert posted[0].headers["Content-Type"] == "application/json"
    body = json.loads(posted[0].get_data())
    assert body == {k: v for k, v in alert.items() if k != "webhook"}


@pytest.mark.parametrize(
    ("webhook", "delivery"),
    [
        ("/hook-down", "HTTP 500"),
        ("refused", "not delivered: ConnectionError"),
        ("", None),  # none configured: the folder only
    ],
)
def test_a_failed_webhook_leaves_the_file_alert(
    failed_run: FailedRun, tmp_path: Path, webhook: str, delivery: str | None
) -> None:
    server = failed_run.server
    server.expect_request("/hook-down", method="POST").respond_with_data("no", status=500)
    url = {
        "/hook-down": server.url_for("/hook-down"),
        "refused": f"http://127.0.0.1:{closed_port()}/hook",
        "": "",
    }[webhook]
    resource = AlertsResource(alerts_dir=str(tmp_path / "alerts"), webhook_url=url, ui_url=UI_URL)
    alert = json.loads(failed_run.alert(resource).read_text(encoding="utf-8"))
    assert alert["failed_assets"] == ["raw/wgi"]
    assert alert.get("webhook") == delivery
    assert (tmp_path / "alerts" / "alerts.log").read_text(encoding="utf-8").count("\n") == 1


def test_status_exits_1_naming_the_failed_run_and_step(failed_run: FailedRun) -> None:
    settings = failed_run.settings
    run_id = failed_run.result.run_id
    done = extra("status", "--json", home=settings.extra_home, dagster_home=settings.dagster_home)
    assert done.returncode == 1, done.stderr
    status = json.loads(done.stdout)
    last = status["last_run"]
    assert last["run_id"] == run_id and last["status"] == "FAILURE"
    (step,) = last["failed_steps"]
    assert step["step"] == WGI_STEP and step["assets"] == ["raw/wgi"]
    assert "SourceUnavailable: wgi GOV_WGI_CC.EST" in step["error"] and "\n" not in step["error"]
    assert "last nightly run" in status["attention"]
    assert failed_run.alert_path.name in status["drops"]["alerts_last_day"]
    wgi = next(s for s in status["sources"] if s["source"] == "wgi")
    assert wgi["fresh"] is False and wgi["note"] == "never fetched"

    text = extra("status", home=settings.extra_home, dagster_home=settings.dagster_home)
    assert text.returncode == 1
    assert f"last nightly run: FAILURE {run_id}" in text.stdout
    assert f"  failed: raw/wgi: {step['error']}" in text.stdout
    assert "alerts in the last day: 1" in text.stdout
    needs = text.stdout.splitlines()[-1]
    assert needs.startswith("needs attention: ") and "last nightly run" in needs


def test_a_failed_cli_run_writes_its_own_alert(tmp_path: Path, httpserver: HTTPServer) -> None:
    """`extra run` executes in process, where the daemon's sensor does not look: the command
    writes the same alert itself, and says where."""
    httpserver.expect_request(re.compile(".*")).respond_with_data("upstream down", status=500)
    every_source_here = {
        f"EXTRA_{source_id.upper()}_BASE_URL": httpserver.url_for("").rstrip("/")
        for source_id in load_registry()
    }
    home = tmp_path / "home"
    done = extra(
        "run", "--json",
        home=home,
        dagster_home=home / "dagster",
        settings=every_source_here | {
            "EXTRA_SOURCES": "live",
            "EXTRA_HTTP_MAX_ATTEMPTS": "1",
            "EXTRA_SOURCE_RETRIES": "0",
            "EXTRA_UI_URL": UI_URL,
        },
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    (path,) = (home / "alerts").glob("*.json")
    alert = json.loads(path.read_text(encoding="utf-8"))
    assert alert["run_id"] == summary["run_id"] and alert["job"] == NIGHTLY_JOB
    # every source failed (nothing answers but the 500), each named by its asset
    assert alert["failed_assets"] == sorted(source_key(s).to_user_string() for s in load_registry())
    assert all("HTTP 500" in step["error"] for step in alert["failed_steps"])
    assert alert["run_url"] == f"{UI_URL.rstrip('/')}/runs/{summary['run_id']}"
    assert f"alert written to {path}" in done.stderr


# -- drops in `extra status` ------------------------------------------------------------------


def test_status_names_drops_waiting_too_long_and_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(extra_home=tmp_path / "home", sources_mode="offline")
    monkeypatch.setenv("DAGSTER_HOME", str(settings.extra_home / "dagster"))
    prepare_dagster_home(settings)
    sent = tmp_path / "sent"
    sent.mkdir()
    empty = sent / "empty.csv"
    empty.write_bytes(b"")
    unusable = sent / "unusable.csv"  # every row breaks the contract
    unusable.write_text(
        "seizure_ref,seizure_date,market,quantity,unit,origin_country\n"
        "ES-1,not a date,no such market,-5,parsecs,Atlantis\n",
        encoding="utf-8",
    )
    outcomes = ingest_drop_files(
        settings, [empty, unusable], member_state="ES", dataset="seizures", period="2025-Q1"
    )
    assert [o["status"] for o in outcomes] == ["rejected", "rejected"]
    rejected = {o["drop_id"]: o["reason"] for o in outcomes}

    incoming = settings.drops_dir / "incoming" / "ES"
    incoming.mkdir(parents=True)
    stuck = incoming / "stuck.csv"  # three hours in the landing area: nobody picked it up
    stuck.write_text("seizure_ref\nES-2\n", encoding="utf-8")
    three_hours_ago = time.time() - 3 * 3600
    os.utime(stuck, (three_hours_ago, three_hours_ago))
    (incoming / "fresh.csv").write_text("seizure_ref\nES-3\n", encoding="utf-8")

    done = extra("status", "--json", home=settings.extra_home, dagster_home=settings.dagster_home)
    assert done.returncode == 1, done.stderr
    status = json.loads(done.stdout)
    drops = status["drops"]
    assert (drops["waiting"], drops["waiting_too_long"]) == (2, 1)
    assert drops["oldest_waiting_hours"] == pytest.approx(3.0, abs=0.1)
    listed = {d["drop_id"]: d for d in drops["rejected_last_week"]}
    assert {k: d["reason"] for k, d in listed.items()} == rejected
    assert {d["file"] for d in listed.values()} == {"empty.csv", "unusable.csv"}
    assert all(d["member_state"] == "ES" for d in listed.values())
    assert "1 drop(s) waiting over an hour" in status["attention"]
    assert "2 drop(s) rejected this week" in status["attention"]

    text = extra("status", home=settings.extra_home, dagster_home=settings.dagster_home).stdout
    assert "drops waiting: 2 (oldest 3.0 h); rejected this week: 2" in text
    for drop_id, reason in rejected.items():
        file = listed[drop_id]["file"]
        assert f"  rejected: {drop_id} ({file}): {reason}" in text
    needs = text.splitlines()[-1]
    assert "1 drop(s) waiting over an hour" in needs and "2 drop(s) rejected this week" in needs


def test_a_run_whose_cli_process_died_is_failed_and_alerted_by_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed `extra run` cannot alert; the next `extra` command finds its run dead, marks
    it failed and writes the alert (the daemon's sensor never sees the CLI's runs)."""
    from extra_pipeline.runner import (
        CLI_HOST_TAG,
        CLI_PID_TAG,
        dagster_instance,
        recovered_instance,
    )

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = Settings(extra_home=tmp_path / "home", sources_mode="offline")
    prepare_dagster_home(settings)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead, alive = "d" * 32, "a" * 32
    with dagster_instance() as instance:
        for run_id, pid in ((dead, gone.stdout.strip()), (alive, str(os.getpid()))):
            instance.add_run(
                dg.DagsterRun(
                    job_name=NIGHTLY_JOB,
                    run_id=run_id,
                    status=dg.DagsterRunStatus.STARTED,
                    tags={CLI_PID_TAG: pid, CLI_HOST_TAG: socket.gethostname()},
                )
            )

    with recovered_instance(settings) as instance:
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED

    (path,) = settings.alerts_dir.glob("*.json")
    alert = json.loads(path.read_text(encoding="utf-8"))
    assert alert["run_id"] == dead and alert["status"] == "FAILURE"
    assert alert["job"] == NIGHTLY_JOB
    assert "abandoned by a dead process" in alert["error"]
    assert alert["run_url"].endswith(f"/runs/{dead}")
