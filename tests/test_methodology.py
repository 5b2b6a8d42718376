"""The threat methodology file: the one place weights and thresholds live, checked when read,
read by the SQL models as DuckDB variables, and part of their code versions, so that
changing one value re-materialises exactly the models that use it."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from extra_pipeline.definitions import build_definitions
from extra_pipeline.methodology import METHODOLOGY_FILE, MethodologyError, load_methodology
from extra_pipeline.models import SQL_DIR, ModelError, discover_models
from extra_pipeline.refresh import plan_refresh
from extra_pipeline.runner import dagster_instance, run_nightly
from extra_pipeline.settings import Settings

REBUILT = (
    "its SQL, marking or suite, or an upstream model's SQL, changed since it was last built: "
    "rebuilt whole"
)


def write_methodology(path: Path, changes: dict[str, object]) -> Path:
    """A copy of the shipped file with some parameters' values changed (dotted names)."""
    spec = yaml.safe_load(METHODOLOGY_FILE.read_text(encoding="utf-8"))
    for name, value in changes.items():
        node = spec["parameters"]
        for part in name.split("."):
            node = node[part]
        node["value"] = value
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def code_versions(defs: dg.Definitions) -> dict[str, str | None]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}


def changed_assets(tmp_path: Path, changes: dict[str, object]) -> set[str]:
    settings = Settings(extra_home=tmp_path / "home", sources_mode="offline")
    before = code_versions(build_definitions(settings))
    methodology = write_methodology(tmp_path / "methodology.yaml", changes)
    after = code_versions(build_definitions(settings, methodology_file=methodology))
    return {key for key, version in after.items() if before[key] != version}


def models_reading(*parameters: str) -> set[str]:
    return {
        m.table.replace(".", "/")
        for m in discover_models(SQL_DIR, known_tables=KNOWN)
        if set(parameters) & set(m.parameters)
    }


KNOWN = (
    "raw.goci", "raw.wgi", "raw.cpi", "raw.unodc_drug_seizures", "raw.unodc_trafficking_persons",
    "raw.unodc_firearms", "raw.unodc_economic_crime", "raw.unodc_homicide", "raw.eurostat",
    "raw.fatf", "raw.opensanctions", "raw.gdelt", "raw.country_reference", "raw.market_reference",
    "raw.source_registry", "raw.methodology", "raw.drop_seizures", "raw.drop_criminal_networks",
    "audit.drops",
)  # fmt: skip


# --- the file ---------------------------------------------------------------------------------


def test_the_shipped_methodology_is_versioned_and_explained() -> None:
    methodology = load_methodology()
    assert methodology.version and methodology.effective
    assert methodology.citation.startswith("GLOCA threat methodology v")
    assert methodology.changes and methodology.changes[-1]["version"] == methodology.version
    for parameter in methodology.parameters.values():
        assert len(parameter.about) > 15, parameter.name
    weights = {n: p.value for n, p in methodology.parameters.items() if ".weights." in n}
    for group in {n.rsplit(".", 1)[0] for n in weights}:
        total = sum(v for n, v in weights.items() if n.rsplit(".", 1)[0] == group)
        assert total == pytest.approx(1.0), group


def test_every_parameter_is_read_by_a_model_and_every_one_read_is_defined() -> None:
    """No weight or threshold is dead in the file, none lives elsewhere unnamed."""
    methodology = load_methodology()
    read = {name for m in discover_models(SQL_DIR, known_tables=KNOWN) for name in m.parameters}
    assert read == set(methodology.parameters)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda s: s["parameters"]["threat_score"]["weights"]["trend"].update(value=0.5),
         "threat_score.weights must be non-negative and sum to 1 (they sum to 1.35)"),
        (lambda s: s["parameters"]["sensitivity"]["top_n"].pop("about"),
         "sensitivity.top_n needs an `about`"),
        (lambda s: s["parameters"]["sensitivity"].update({"Top-N": {"value": 1, "about": "x"}}),
         "sensitivity.Top-N: names are lower_snake_case parts"),
        (lambda s: s["parameters"]["sensitivity"]["top_n"].update(unit="pairs"),
         "sensitivity.top_n has unknown keys unit"),
        (lambda s: s["parameters"]["sensitivity"]["top_n"].update(value={"a": 1}),
         "sensitivity.top_n: a value is a number, text"),
        (lambda s: s.pop("version"), "`version` is required"),
    ],
)  # fmt: skip
def test_a_broken_file_says_what_and_where(tmp_path: Path, edit, fragment: str) -> None:
    spec = yaml.safe_load(METHODOLOGY_FILE.read_text(encoding="utf-8"))
    edit(spec)
    path = tmp_path / "methodology.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(MethodologyError) as caught:
        load_methodology(path)
    assert str(caught.value).startswith("methodology.yaml: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("select getvariable('threat_score.weights.nothing') as w",
         "uses parameter 'threat_score.weights.nothing', which methodology.yaml does not define"),
        ("select getvariable('threat_score' || '.x') as w", "name the parameter as one text literal"),
    ],
)  # fmt: skip
def test_a_model_reading_an_unknown_parameter_fails_loading(
    tmp_path: Path, sql: str, fragment: str
) -> None:
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "x.sql").write_text(sql, encoding="utf-8")
    with pytest.raises(ModelError, match=r"^sql/marts/x\.sql: ") as caught:
        discover_models(tmp_path)
    assert fragment in str(caught.value)


# --- code versions: a change re-materialises what uses it, and nothing else --------------------


def test_changing_a_network_weight_changes_that_model_only(tmp_path: Path) -> None:
    changed = changed_assets(
        tmp_path,
        {"network_priority.weights.size": 0.20, "network_priority.weights.reach": 0.10},
    )
    # marts.methodology prints every value, so it changes with any of them
    assert changed == {"marts/network_priority", "marts/methodology"}


def test_changing_a_threat_weight_changes_the_score_and_what_reads_it(tmp_path: Path) -> None:
    changed = changed_assets(
        tmp_path,
        {"threat_score.weights.prevalence": 0.35, "threat_score.weights.eu_exposure": 0.30},
    )
    readers = models_reading("threat_score.weights.prevalence")
    assert readers == {"intermediate/threat_scenarios", "marts/sensitivity"}
    assert changed == readers | {
        "marts/threat_matrix", "marts/regional_overview", "marts/country_profile",
        "marts/methodology",
    }  # fmt: skip
    assert "intermediate/eu_exposure" not in changed
    assert "intermediate/prevalence" not in changed


def test_a_changed_weight_is_refreshed_and_shown_in_the_run_history(home: Settings) -> None:
    """On a refreshed home: the planner names the changed models (and the methodology table),
    the run rebuilds them under their new code versions, and the published matrix moves."""
    methodology = write_methodology(
        home.extra_home / "methodology.yaml",
        {"threat_score.weights.trend": 0.05, "threat_score.weights.vulnerability": 0.30},
    )
    defs = build_definitions(home, methodology_file=methodology)
    reasons = plan_refresh(home, defs).reasons()
    assert reasons["raw/methodology"] == "its reference files changed since it was last loaded"
    for key in ("intermediate/threat_scenarios", "marts/threat_matrix", "marts/sensitivity"):
        assert reasons[key] == REBUILT, key
    assert "intermediate/eu_exposure" not in reasons
    assert "marts/fct_indicator" not in reasons

    sql = "select sum(score) from marts.threat_matrix where year = 2025"
    before = query(home, sql)
    summary = run_nightly(home, progress=False, defs=defs)
    assert summary["success"], summary
    assert query(home, sql) != before
    assert query(home, "select value_json from marts.methodology "
                 "where parameter = 'threat_score.weights.trend'") == "0.05"  # fmt: skip
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(["marts", "threat_matrix"])
    with dagster_instance() as instance:
        event = instance.get_latest_materialization_event(key)
    assert event is not None
    assert event.asset_materialization.tags["dagster/code_version"] == graph.get(key).code_version
    assert plan_refresh(home, defs).up_to_date


def query(home: Settings, sql: str) -> object:
    import duckdb

    with duckdb.connect(str(home.published_path("clear")), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_the_methodology_is_published_for_the_method_annex(offline_run) -> None:
    methodology = load_methodology()
    with offline_run.published("clear") as con:
        rows = con.execute(
            "select parameter, methodology_version from marts.methodology order by parameter"
        ).fetchall()
    assert [r[0] for r in rows] == sorted(methodology.parameters)
    assert {r[1] for r in rows} == {methodology.version}


def test_a_copy_of_the_file_elsewhere_is_read(tmp_path: Path) -> None:
    """Tests and deployments may point the definitions at another file."""
    path = tmp_path / "elsewhere.yaml"
    shutil.copyfile(METHODOLOGY_FILE, path)
    assert load_methodology(path).digest == load_methodology().digest
