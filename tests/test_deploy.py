"""The production profile under `deploy/`, checked without a cluster.

`deploy/dagster.yaml` is validated by Dagster's own instance-config schema (the function
`DagsterInstance` loads a DAGSTER_HOME with) and, once its `env:` values are substituted,
processed by it; each configurable class it names is imported and its config processed by
that class's own `config_type()` (the `K8sRunLauncher` of dagster-k8s among them); the
launcher is then built from that config and renders the Kubernetes Job a run would get,
through dagster-k8s's own code. The Helm values and the namespace's manifests are checked
for structure and for agreeing with the instance file: no chart is rendered and nothing is
applied. Every check is shown to reject a broken copy.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._serdes import class_from_code_pointer

from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.warehouse import WRITER_POOL

DEPLOY = PROJECT_ROOT / "deploy"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
MANIFESTS = DEPLOY / "kubernetes.yaml"
SHIPPED_YAML = PROJECT_ROOT / "assets" / "dagster.yaml"

IMAGE = "registry.example.org/extra-pipeline:<tag>"
EXTRA_HOME = "/data/extra"
PVC = "extra-home"
#: what a site sets (deploy/kubernetes.yaml's ConfigMap and Secret)
PG_ENV = {
    "DAGSTER_PG_HOST": "postgres.example.org",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
}
#: a kubeconfig for a cluster nobody calls: the launcher only reads it when built
NO_CLUSTER = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "none",
    "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "none", "user": {"token": "none"}}],
    "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
}
#: the instance's configurable classes, each validated by its own schema
CONFIGURABLE = ("run_launcher", "run_coordinator", "compute_logs")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def validate_instance(config: Mapping[str, Any], tmp: Path) -> Mapping[str, Any]:
    """What `DagsterInstance` does with DAGSTER_HOME/dagster.yaml before building anything:
    Dagster's instance schema and its cross-field rules. Raises DagsterInvalidConfigError."""
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    validated, _ = dagster_instance_config(str(home))
    return validated


def process_instance(config: Mapping[str, Any]) -> dict[str, Any]:
    """The instance config with its `env:` values substituted from the environment, processed
    by Dagster's instance schema, then each configurable class's config by that class's own
    `config_type()`. Raises DagsterInvalidConfigError listing what is wrong."""
    result = process_config(dagster_instance_config_schema(), dict(config))
    if not result.success:
        raise DagsterInvalidConfigError("instance config", result.errors, config)
    processed = dict(result.value)
    for key in CONFIGURABLE:
        if key not in config:
            continue
        section = config[key]
        klass = class_from_code_pointer(section["module"], section["class"])
        class_result = process_config(klass.config_type(), section.get("config") or {})
        if not class_result.success:
            raise DagsterInvalidConfigError(f"{key} config", class_result.errors, section)
        processed[key] = {**section, "config": class_result.value}
    return processed


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    yield PG_ENV


@pytest.fixture(scope="module")
def instance_config() -> dict[str, Any]:
    return load(INSTANCE_YAML)


@pytest.fixture(scope="module")
def helm_values() -> dict[str, Any]:
    return load(HELM_VALUES)


# --- deploy/dagster.yaml -----------------------------------------------------------------


def test_instance_config_validates_against_dagsters_schema(instance_config, tmp_path):
    validated = validate_instance(instance_config, tmp_path)
    assert set(validated) >= {"storage", "run_launcher", "run_coordinator", "concurrency"}


def test_instance_config_processes_once_env_vars_are_set(instance_config, pg_env):
    processed = process_instance(instance_config)
    db = processed["storage"]["postgres"]["postgres_db"]
    assert (db["hostname"], db["port"], db["username"], db["password"], db["db_name"]) == (
        pg_env["DAGSTER_PG_HOST"],
        int(pg_env["DAGSTER_PG_PORT"]),
        pg_env["DAGSTER_PG_USERNAME"],
        pg_env["DAGSTER_PG_PASSWORD"],
        pg_env["DAGSTER_PG_DB"],
    )
    assert processed["run_launcher"]["class"] == "K8sRunLauncher"
    assert processed["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_instance_config_holds_no_credentials(instance_config):
    """Every PostgreSQL setting comes from the environment, the password above all."""
    db = dict(instance_config["storage"]["postgres"]["postgres_db"])
    db.pop("scheme")
    assert all(isinstance(v, dict) and set(v) == {"env"} for v in db.values()), db
    assert {v["env"] for v in db.values()} == set(PG_ENV)


def test_storage_uses_the_driver_dagster_postgres_is_written_for(instance_config, helm_values):
    """psycopg2, which dagster-postgres brings: with SQLAlchemy 2.1 a bare `postgresql://`
    URL means psycopg 3, which is not installed. The scheme is set in the instance file and
    in the chart's values alike."""
    from dagster_postgres.utils import get_conn_string
    from sqlalchemy.engine import make_url

    scheme = instance_config["storage"]["postgres"]["postgres_db"]["scheme"]
    assert helm_values["postgresql"]["postgresqlScheme"] == scheme
    url = get_conn_string(username="u", hostname="h", db_name="d", scheme=scheme)
    assert make_url(url).get_dialect().driver == "psycopg2"


def test_instance_config_keeps_the_shipped_operational_settings(instance_config):
    """The writer pool, the run limit, retries and monitoring as `assets/dagster.yaml` has them."""
    shipped = load(SHIPPED_YAML)
    deploy = instance_config
    assert deploy["concurrency"]["pools"]["default_limit"] == 1
    assert deploy["concurrency"]["pools"] == shipped["concurrency"]["pools"]
    assert deploy["concurrency"]["runs"] == shipped["concurrency"]["runs"]
    assert deploy["telemetry"] == {"enabled": False}
    for section in ("run_retries", "run_monitoring"):
        if section in shipped:  # what the shipped instance sets, production sets alike
            assert shipped[section].items() <= deploy[section].items(), section
    assert deploy["run_retries"]["enabled"] and deploy["run_monitoring"]["enabled"]
    # slots held by a run whose pod died are freed by the daemon
    assert deploy["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def test_k8s_run_launcher_config_validates_against_its_own_schema(instance_config):
    from dagster_k8s import K8sRunLauncher

    section = instance_config["run_launcher"]
    klass = class_from_code_pointer(section["module"], section["class"])
    assert klass is K8sRunLauncher
    result = process_config(K8sRunLauncher.config_type(), section["config"])
    assert result.success, result.errors
    config = result.value
    assert config["job_namespace"] == "extra"
    assert config["env_vars"] == [f"EXTRA_HOME={EXTRA_HOME}"]
    assert {"name": PVC, "mount_path": EXTRA_HOME} in config["volume_mounts"]
    assert {"name": PVC, "persistentVolumeClaim": {"claimName": PVC}} in config["volumes"]


def test_a_run_gets_a_job_with_the_shared_volume_and_settings(instance_config, tmp_path):
    """The launcher built from deploy/dagster.yaml renders a run's Kubernetes Job (dagster-k8s's
    own code, as `launch_run` does it, short of calling the cluster): the project's image,
    EXTRA_HOME on the shared claim, the settings and secrets, the PostgreSQL password."""
    from dagster import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job
    from kubernetes.client import ApiClient

    section = instance_config["run_launcher"]
    config = process_config(K8sRunLauncher.config_type(), section["config"]).value
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(NO_CLUSTER), encoding="utf-8")
    launcher = K8sRunLauncher.from_config_value(
        None, {**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    )
    run = DagsterRun(job_name="nightly", run_id="0123abcd-0000-0000-0000-000000000000")
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    image = IMAGE.replace("<tag>", "test")
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=image, run_launcher=launcher),
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-0123abcd",
        pod_name="dagster-run-0123abcd",
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "nightly"},
    )
    manifest = ApiClient().sanitize_for_serialization(job)
    assert context.namespace == "extra"
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == image
    assert pod["serviceAccountName"] == "dagster"
    assert {"name": PVC, "persistentVolumeClaim": {"claimName": PVC}} in pod["volumes"]
    assert {"name": PVC, "mountPath": EXTRA_HOME} in container["volumeMounts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["EXTRA_HOME"]["value"] == EXTRA_HOME
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "dagster-postgresql-secret",
        "key": "postgresql-password",
    }
    assert {"configMapRef": {"name": "extra-settings"}} in container["envFrom"]
    assert {"secretRef": {"name": "extra-secrets"}} in container["envFrom"]
    assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "extra"
    json.dumps(manifest)  # what would be sent to the API server


# --- the checks can fail -----------------------------------------------------------------


def _mutated(config: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy with the key at `path` set to `value` (removed for `...`)."""
    changed = copy.deepcopy(dict(config))
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # a misspelt PostgreSQL key
        (("storage", "postgres", "postgres_db", "hostnme"), {"env": "DAGSTER_PG_HOST"}, "hostnme"),
        # a missing required one
        (("storage", "postgres", "postgres_db", "hostname"), ..., "hostname"),
        # a second storage beside `storage`
        (
            ("run_storage",),
            {"module": "dagster_postgres", "class": "PostgresRunStorage"},
            "storage",
        ),
        # a pool limit out of range, a granularity Dagster does not know
        (("concurrency", "pools", "default_limit"), -1, "default_limit"),
        (("concurrency", "pools", "granularity"), "job", "granularity"),
        # a run limit in two places
        (("run_coordinator", "config", "max_concurrent_runs"), 2, "max_concurrent_runs"),
        (("run_monitoring", "poll_interval"), 60, "poll_interval"),
        (("telemetry", "enabled"), "no", "enabled"),
    ],
)
def test_instance_schema_rejects_a_broken_instance_config(
    instance_config, tmp_path, path, value, expected
):
    broken = _mutated(instance_config, path, value)
    with pytest.raises(DagsterInvalidConfigError) as raised:
        validate_instance(broken, tmp_path)
    assert expected in str(raised.value) + repr(getattr(raised.value, "errors", ""))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("config", "volume_mount"), [{"name": PVC}], "volume_mount"),  # misspelt
        (("config", "instance_config_map"), ..., "instance_config_map"),  # required
        (("config", "env_config_maps"), "extra-settings", "env_config_maps"),  # not a list
        (("config", "volume_mounts"), [{"mount_path": EXTRA_HOME}], "name"),  # a mount unnamed
        (("config", "fail_pod_on_run_failure"), "yes", "fail_pod_on_run_failure"),
    ],
)
def test_launcher_schema_rejects_a_broken_launcher_config(
    instance_config, pg_env, path, value, expected
):
    broken = copy.deepcopy(instance_config)
    broken["run_launcher"] = _mutated(instance_config["run_launcher"], path, value)
    with pytest.raises(DagsterInvalidConfigError) as raised:
        process_instance(broken)
    assert expected in repr(raised.value.errors)


def test_processing_fails_when_an_env_var_is_unset(instance_config, pg_env, monkeypatch):
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(DagsterInvalidConfigError) as raised:
        process_instance(instance_config)
    assert "DAGSTER_PG_PASSWORD" in repr(raised.value.errors)


def test_a_misnamed_class_is_not_importable(instance_config, pg_env):
    broken = _mutated(instance_config, ("run_launcher", "class"), "K8sRunLauncer")
    with pytest.raises(Exception, match="K8sRunLauncer"):
        process_instance(broken)


# --- the shipped instance config ---------------------------------------------------------


def test_shipped_instance_config_validates(tmp_path):
    shipped = load(SHIPPED_YAML)
    validated = validate_instance(shipped, tmp_path)
    assert validated["concurrency"]["pools"]["default_limit"] == 1
    process_instance(shipped)
    assert "storage" not in shipped  # SQLite under DAGSTER_HOME: Dagster's default


def test_shipped_instance_config_with_the_deploy_storage_validates(instance_config, tmp_path):
    """README's "PostgreSQL by configuration alone": the shipped file plus deploy's block."""
    combined = {**load(SHIPPED_YAML), "storage": instance_config["storage"]}
    validate_instance(combined, tmp_path)


# --- deploy/helm/values.yaml ---------------------------------------------------------------


def _pvc_volume(volumes: list[dict[str, Any]] | None) -> bool:
    return any(v.get("persistentVolumeClaim", {}).get("claimName") == PVC for v in volumes or [])


def _mounts_extra_home(mounts: list[dict[str, Any]] | None) -> bool:
    return any(m.get("mountPath") == EXTRA_HOME for m in mounts or [])


def helm_problems(values: Mapping[str, Any], instance: Mapping[str, Any]) -> list[str]:
    """What is wrong with the Helm values, structurally and against deploy/dagster.yaml."""
    problems = []
    user = values.get("dagster-user-deployments") or {}
    if not user.get("enabled"):
        problems.append("dagster-user-deployments is not enabled")
    deployments = user.get("deployments") or []
    if len(deployments) != 1:
        problems.append("expected one user code deployment")
    for d in deployments:
        image = d.get("image") or {}
        if f"{image.get('repository')}:{image.get('tag')}" != IMAGE:
            problems.append(f"{d.get('name')}: image is not {IMAGE}")
        if d.get("dagsterApiGrpcArgs") != ["-m", "extra_pipeline.definitions"]:
            problems.append(
                f"{d.get('name')}: dagsterApiGrpcArgs is not -m extra_pipeline.definitions"
            )
        if (d.get("env") or {}).get("EXTRA_HOME") != EXTRA_HOME:
            problems.append(f"{d.get('name')}: EXTRA_HOME is not {EXTRA_HOME}")
        if not (_pvc_volume(d.get("volumes")) and _mounts_extra_home(d.get("volumeMounts"))):
            problems.append(f"{d.get('name')}: the {PVC} claim is not mounted at {EXTRA_HOME}")
        # `extra status` in the code server reads the instance the chart writes
        instance_map = instance["run_launcher"]["config"]["instance_config_map"]
        home = instance["run_launcher"]["config"]["dagster_home"]
        volume = next(
            (
                v["name"]
                for v in d.get("volumes") or []
                if v.get("configMap", {}).get("name") == instance_map
            ),
            None,
        )
        if not any(
            m.get("name") == volume and m.get("mountPath") == home
            for m in d.get("volumeMounts") or []
        ):
            problems.append(f"{d.get('name')}: the {instance_map} ConfigMap is not at {home}")
        if {"name": "extra-settings"} not in (d.get("envConfigMaps") or []):
            problems.append(f"{d.get('name')}: no env from the extra-settings ConfigMap")
        if {"name": "extra-secrets"} not in (d.get("envSecrets") or []):
            problems.append(f"{d.get('name')}: no env from the extra-secrets Secret")
    launcher = values.get("runLauncher") or {}
    k8s = (launcher.get("config") or {}).get("k8sRunLauncher") or {}
    if launcher.get("type") != "K8sRunLauncher":
        problems.append("runLauncher.type is not K8sRunLauncher")
    if not (_pvc_volume(k8s.get("volumes")) and _mounts_extra_home(k8s.get("volumeMounts"))):
        problems.append(f"runLauncher: the {PVC} claim is not mounted at {EXTRA_HOME}")
    if f"EXTRA_HOME={EXTRA_HOME}" not in (k8s.get("envVars") or []):
        problems.append("runLauncher: EXTRA_HOME is not set")
    # the same run pods as deploy/dagster.yaml's launcher
    instance_launcher = instance["run_launcher"]["config"]
    if k8s.get("jobNamespace") != instance_launcher["job_namespace"]:
        problems.append("runLauncher: jobNamespace differs from deploy/dagster.yaml")
    for helm_key, key in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if [e.get("name") for e in k8s.get(helm_key) or []] != instance_launcher[key]:
            problems.append(f"runLauncher: {helm_key} differs from deploy/dagster.yaml")
    postgres = values.get("postgresql") or {}
    if postgres.get("enabled") is not False:
        problems.append("postgresql.enabled is not false (PostgreSQL is external)")
    if values.get("generatePostgresqlPasswordSecret") is not False:
        problems.append("generatePostgresqlPasswordSecret is not false")
    daemon = values.get("dagsterDaemon") or {}
    coordinator = daemon.get("runCoordinator") or {}
    if not daemon.get("enabled"):
        problems.append("dagsterDaemon is not enabled")
    if not coordinator.get("enabled") or coordinator.get("type") != "QueuedRunCoordinator":
        problems.append("the QueuedRunCoordinator is not enabled")
    for key in ("runMonitoring", "runRetries"):
        if not (daemon.get(key) or {}).get("enabled"):
            problems.append(f"dagsterDaemon.{key} is not enabled")
    concurrency = values.get("concurrency") or {}
    pools = concurrency.get("pools") or {}
    wanted = instance["concurrency"]
    if not concurrency.get("enabled"):
        problems.append("concurrency is not enabled")
    if not pools.get("defaultLimit") == wanted["pools"]["default_limit"] == 1:
        problems.append(f"the pool default limit ({WRITER_POOL}) is not 1")
    if pools.get("granularity") != wanted["pools"]["granularity"]:
        problems.append("the pool granularity differs from deploy/dagster.yaml")
    runs = (concurrency.get("runs") or {}).get("maxConcurrentRuns")
    if runs != wanted["runs"]["max_concurrent_runs"]:
        problems.append("maxConcurrentRuns differs from deploy/dagster.yaml")
    if (values.get("telemetry") or {}).get("enabled") is not False:
        problems.append("telemetry is not off")
    return problems


def test_helm_values_describe_the_deployment(helm_values, instance_config):
    assert helm_problems(helm_values, instance_config) == []


def test_helm_values_name_the_code_location_the_project_declares(helm_values):
    """`-m extra_pipeline.definitions` is the module pyproject's [tool.dagster] names, and it
    is importable from the installed package."""
    args = helm_values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"]
    tool = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert args[args.index("-m") + 1] == tool["module_name"]
    assert importlib.util.find_spec(tool["module_name"]) is not None


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("dagster-user-deployments", "deployments", 0, "image", "repository"),
            "dagster/user-code-example",
            "image",
        ),
        (
            ("dagster-user-deployments", "deployments", 0, "dagsterApiGrpcArgs"),
            ["-f", "defs.py"],
            "dagsterApiGrpcArgs",
        ),
        (
            ("dagster-user-deployments", "deployments", 0, "volumeMounts"),
            ...,
            "claim is not mounted",
        ),
        (("runLauncher", "config", "k8sRunLauncher", "volumes"), [], "claim is not mounted"),
        (
            ("dagster-user-deployments", "deployments", 0, "volumeMounts", 1, "mountPath"),
            "/opt/dagster",
            "dagster-instance ConfigMap",
        ),
        (("runLauncher", "type"), "CeleryK8sRunLauncher", "K8sRunLauncher"),
        (("concurrency", "pools", "defaultLimit"), 2, WRITER_POOL),
        (("concurrency", "enabled"), False, "concurrency"),
        (("dagsterDaemon", "runCoordinator", "enabled"), False, "QueuedRunCoordinator"),
        (("postgresql", "enabled"), True, "external"),
    ],
)
def test_helm_checks_reject_broken_values(helm_values, instance_config, path, value, expected):
    problems = helm_problems(_mutated(helm_values, path, value), instance_config)
    assert any(expected in p for p in problems), problems


# --- deploy/kubernetes.yaml ----------------------------------------------------------------


def test_manifests_provide_what_the_deployment_names(instance_config, helm_values):
    documents = [d for d in yaml.safe_load_all(MANIFESTS.read_text(encoding="utf-8")) if d]
    by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    claim = by_kind_name[("PersistentVolumeClaim", PVC)]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    launcher = instance_config["run_launcher"]["config"]
    for name in launcher["env_config_maps"]:
        assert ("ConfigMap", name) in by_kind_name
    for name in launcher["env_secrets"]:
        assert ("Secret", name) in by_kind_name
    password = by_kind_name[("Secret", launcher["postgres_password_secret"])]
    assert "postgresql-password" in password["stringData"]
    assert helm_values["global"]["postgresqlSecretName"] == launcher["postgres_password_secret"]
    # the ConfigMap gives the run pods every DAGSTER_PG_* the storage block reads but the password
    settings = by_kind_name[("ConfigMap", "extra-settings")]["data"]
    assert set(PG_ENV) - set(settings) == {"DAGSTER_PG_PASSWORD"}
    assert {d["metadata"]["namespace"] for d in documents} == {launcher["job_namespace"]}
