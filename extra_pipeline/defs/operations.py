"""What an engineer on call relies on: the product schedules, the alert on a failed run, and
the retry policy of the assets that reach the network.

- The risk bulletins run on the 1st of each month for the month before; the annual report
  in mid-January for the year before (and on demand: `extra report`). The nightly refresh's
  schedule is in `extra_pipeline.definitions`, beside its planner.
- `run_failure_alert` writes every failed run of the pipeline's jobs to
  `EXTRA_HOME/alerts/` (one JSON file each, and a line in `alerts.log`), naming the failed
  assets, the error and a link to the run in the UI, and posts the same JSON to
  `EXTRA_ALERT_WEBHOOK` when that is set.
- `network_retry_policy`: an asset that fetches over HTTP is retried after a failure, with
  exponential backoff and jitter (its HTTP client already retries single requests; this
  covers a source down for a few minutes).
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._utils.error import SerializableErrorInfo  # not re-exported at the top level

from extra_pipeline.settings import Settings

BULLETIN_SCHEDULE = "monthly_risk_bulletins"
REPORT_SCHEDULE = "yearly_gloca_report"
ALERT_SENSOR = "run_failure_alert"
TIMEZONE = "Europe/Brussels"


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: a folder always, a webhook when configured, with the UI's address for
    the link to the run."""

    alerts_dir: str
    webhook_url: str = ""
    ui_url: str = "http://127.0.0.1:3000"
    webhook_timeout: float = 10.0

    def send(self, alert: dict[str, Any]) -> Path:
        """Write `alert` to the folder (and post it to the webhook); the file's path."""
        folder = Path(self.alerts_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = alert["occurred_at"].replace(":", "").replace("-", "")
        path = folder / f"{stamp}-{alert['job']}-{alert['run_id'][:8]}.json"
        if self.webhook_url:
            alert = alert | {"webhook": self._post(alert)}
        path.write_text(json.dumps(alert, indent=2), encoding="utf-8")
        with (folder / "alerts.log").open("a", encoding="utf-8") as log:
            log.write(f"{alert['occurred_at']} {alert['summary']}\n")
        return path

    def _post(self, alert: dict[str, Any]) -> str:
        """Post to the webhook; what happened (the file alert stands whatever the answer)."""
        import requests

        try:
            response = requests.post(self.webhook_url, json=alert, timeout=self.webhook_timeout)
        except requests.RequestException as error:
            return f"not delivered: {type(error).__name__}"
        return f"HTTP {response.status_code}"


def alerts_resource(settings: Settings) -> AlertsResource:
    return AlertsResource(
        alerts_dir=str(settings.alerts_dir),
        webhook_url=settings.alert_webhook_url,
        ui_url=settings.ui_url,
    )


def network_retry_policy(settings: Settings) -> dg.RetryPolicy:
    """Retries of an asset that fetches over HTTP: exponential backoff with jitter."""
    return dg.RetryPolicy(
        max_retries=settings.source_retries,
        delay=settings.source_retry_delay,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def build_product_schedules(bulletins_job: Any, report_job: Any) -> list[dg.ScheduleDefinition]:
    """The monthly bulletins (the month before, on the 1st at 06:00 Brussels time) and the
    annual report (15 January, 06:00). Both only read published copies: safe to run on."""
    bulletins = dg.build_schedule_from_partitioned_job(
        bulletins_job,
        name=BULLETIN_SCHEDULE,
        hour_of_day=6,
        minute_of_hour=0,
        description="The risk bulletins of the month just ended, every region and market.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    report = dg.ScheduleDefinition(
        name=REPORT_SCHEDULE,
        job=report_job,
        cron_schedule="0 6 15 1 *",
        execution_timezone=TIMEZONE,
        description="The GLOCA annual report, every edition, each 15 January (and on demand).",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return [bulletins, report]


@dg.run_failure_sensor(
    name=ALERT_SENSOR,
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes an alert for every failed run (EXTRA_HOME/alerts/, and the webhook "
    "in EXTRA_ALERT_WEBHOOK when set): the failed assets, the error, a link to the run.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertsResource) -> None:
    """One alert per failed run launched through the UI, a schedule or a sensor (the CLI's
    in-process runs write their own: `extra_pipeline.runner`)."""
    message = context.failure_event.message if context.failure_event else None
    alert = failure_alert(context.instance, context.dagster_run, alerts.ui_url, message)
    path = alerts.send(alert)
    context.log.info(f"alert written: {path}")


def failure_alert(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    ui_url: str,
    run_error: str | None = None,
) -> dict[str, Any]:
    """What the alert on a failed run says: the run, the failed assets with their errors,
    the link to the run in the UI."""
    steps = failed_steps(instance, run)
    failed = sorted({asset for step in steps for asset in step["assets"]})
    link = f"{ui_url.rstrip('/')}/runs/{run.run_id}"
    occurred = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = (
        f"{run.job_name} run {run.run_id[:8]} failed"
        + (f": {', '.join(failed)}" if failed else "")
        + f" ({link})"
    )
    return {
        "occurred_at": occurred,
        "job": run.job_name,
        "run_id": run.run_id,
        "status": run.status.value,
        "failed_assets": failed,
        "failed_steps": steps,
        "error": run_error,
        "run_url": link,
        "tags": {k: v for k, v in run.tags.items() if not k.startswith(".")},
        "summary": summary,
    }


def failed_steps(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dict[str, Any]]:
    """Each failed step of `run`: its key, the assets (or checks) it computes, and the error
    that made it fail (the underlying one, not Dagster's wrapper or the retry count)."""
    entities = step_entities(instance, run)
    steps = []
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        data = event.event_specific_data if event else None
        error = root_error(getattr(data, "error", None))
        steps.append(
            {
                "step": entry.step_key,
                "assets": entities.get(entry.step_key or "", []),
                "error": error.message.strip() if error else None,
            }
        )
    return steps


def step_entities(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, list[str]]:
    """Step key -> the assets it materialises (or, for a check-only step, the checks it
    evaluates: `asset:check`), read from the run's execution plan."""
    snapshot_id = run.execution_plan_snapshot_id
    plan = instance.get_execution_plan_snapshot(snapshot_id) if snapshot_id else None
    if plan is None:
        return {}
    entities = {}
    for step in plan.steps:
        properties = [o.properties for o in step.outputs if o.properties]
        assets = [p.asset_key.to_user_string() for p in properties if p.asset_key]
        checks = [
            f"{p.asset_check_key.asset_key.to_user_string()}:{p.asset_check_key.name}"
            for p in properties
            if p.asset_check_key
        ]
        entities[step.key] = sorted(set(assets)) or sorted(set(checks))
    return entities


def root_error(error: SerializableErrorInfo | None) -> SerializableErrorInfo | None:
    """The error an asset raised, under Dagster's wrappers ("error occurred while executing",
    "exceeded max_retries"): the first of the chain that is not Dagster's own."""
    while error is not None and error.cause is not None and _is_dagster_wrapper(error):
        error = error.cause
    return error


def _is_dagster_wrapper(error: SerializableErrorInfo) -> bool:
    return error.cls_name is None or error.cls_name.startswith(("Dagster", "RetryRequested"))
