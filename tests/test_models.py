"""SQL models: discovery and lineage from the real `sql/` folder, every rejection rule on
throwaway folders, code versions, descriptions, and marking propagation through models."""

from __future__ import annotations

from pathlib import Path

import pytest

from extra_pipeline.defs.models import model_markings
from extra_pipeline.markings import Marking
from extra_pipeline.models import SQL_DIR, ModelError, SqlModel, discover_models, load_model
from extra_pipeline.sources.base import load_registry

OPEN_TABLES = (
    *(f"raw.{source_id}" for source_id in load_registry()),
    "raw.country_reference",
    "raw.market_reference",
    "raw.source_registry",
    "raw.methodology",
)
DROP_TABLES = ("raw.drop_seizures", "raw.drop_criminal_networks", "audit.drops")
RAW_TABLES = OPEN_TABLES + DROP_TABLES


def write_models(sql_dir: Path, files: dict[str, str]) -> Path:
    """Write `{"marts/x.sql": "select ..."}` under `sql_dir`; returns `sql_dir`."""
    for relative, text in files.items():
        path = sql_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sql_dir


def by_table(models: list[SqlModel]) -> dict[str, SqlModel]:
    return {m.table: m for m in models}


# --- the real sql/ folder -----------------------------------------------------------------


def test_real_models_and_their_lineage() -> None:
    models = discover_models(SQL_DIR, known_tables=RAW_TABLES)
    tables = [m.table for m in models]
    # built layer by layer, each layer in name order
    layers = [t.split(".")[0] for t in tables]
    assert layers == sorted(layers, key=["staging", "intermediate", "marts"].index)
    assert {"marts.dim_country", "marts.dim_market", "marts.dim_indicator"} <= set(tables)
    lineage = {m.table: m.depends_on for m in models}
    assert lineage["staging.goci"] == ("raw.goci",)
    assert lineage["staging.seizures"] == ("audit.drops", "raw.drop_seizures")
    assert lineage["staging.criminal_networks"] == ("audit.drops", "raw.drop_criminal_networks")
    assert lineage["marts.dim_country"] == ("raw.country_reference",)
    assert lineage["marts.fct_indicator"] == ("intermediate.indicator_values",)
    assert lineage["marts.dim_indicator"] == (
        "intermediate.indicator_values",
        "raw.source_registry",
    )
    assert lineage["marts.fct_seizure"] == ("staging.seizures",)
    # every indicator source reaches the fact table through its staging model
    assert {"staging.goci", "staging.wgi"} <= set(lineage["intermediate.indicator_values"])
    for model in models:
        assert model.relative_path == f"sql/{model.layer}/{model.name}.sql"
        assert model.description, f"{model.relative_path} has no header comment"
        assert not model.description.startswith("--")
        assert len(model.code_version) == 16


def test_real_models_fail_without_the_raw_tables() -> None:
    with pytest.raises(ModelError, match=r"raw\.goci"):
        discover_models(SQL_DIR, known_tables=[t for t in RAW_TABLES if t != "raw.goci"])


def test_real_models_take_the_marking_of_their_sources() -> None:
    models = discover_models(SQL_DIR, known_tables=RAW_TABLES)
    inputs = {
        **dict.fromkeys(OPEN_TABLES, Marking.CLEAR),
        **dict.fromkeys(DROP_TABLES, Marking.AMBER),
    }
    inputs["audit.drops"] = Marking.CLEAR
    markings = model_markings(models, inputs)
    assert markings["marts.fct_indicator"] == Marking.CLEAR
    assert markings["marts.fct_seizure"] == Marking.AMBER
    assert markings["marts.fct_network"] == Marking.AMBER


# --- rejection rules -------------------------------------------------------------------------


def test_unknown_table_names_the_table(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select * from raw.nowhere"})
    with pytest.raises(ModelError) as caught:
        discover_models(tmp_path, known_tables=["raw.a"])
    message = str(caught.value)
    assert "'raw.nowhere'" in message
    assert "x.sql" in message


def test_unknown_table_names_the_file_with_its_layer(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select * from raw.nowhere"})
    with pytest.raises(ModelError, match=r"^sql/marts/x\.sql: .*'raw\.nowhere'"):
        discover_models(tmp_path, known_tables=["raw.a"])


def test_table_produced_by_another_model_is_known(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "staging/a.sql": "select * from raw.a",
            "marts/x.sql": "select * from staging.a",
        },
    )
    models = by_table(discover_models(tmp_path, known_tables=["raw.a"]))
    assert models["marts.x"].depends_on == ("staging.a",)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("select 1 as a; select 2 as a", "exactly one SELECT"),
        ("create table marts.x as select 1 as a", "exactly one SELECT"),
        ("insert into raw.a select 1", "exactly one SELECT"),
        ("drop table raw.a", "exactly one SELECT"),
        ("-- only a comment\n", "exactly one SELECT"),
        ("select * from a", "'a' must be schema-qualified"),
        ("select * from raw.a join b using (id)", "'b' must be schema-qualified"),
        ("select * from read_csv('x')", "models read warehouse tables only"),
        ("select * from raw.a where id in (select id from read_parquet('y'))", "read_parquet"),
        ("selec * from raw.a", "sql/marts/x.sql"),
    ],
)
def test_rejected_sql_names_the_file(tmp_path: Path, sql: str, fragment: str) -> None:
    write_models(tmp_path, {"marts/x.sql": sql})
    with pytest.raises(ModelError) as caught:
        discover_models(tmp_path, known_tables=["raw.a"])
    message = str(caught.value)
    assert message.startswith("sql/marts/x.sql: ")
    assert fragment.lower() in message.lower()


def test_read_csv_is_rejected_and_named(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select * from read_csv('x')"})
    with pytest.raises(ModelError, match=r"(?i)read_csv\('x'\)"):
        discover_models(tmp_path, known_tables=["raw.a"])


def test_cte_name_is_not_a_dependency(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "marts/x.sql": (
                "with recent as (select * from raw.a where year > 2020),\n"
                "     ranked as (select *, row_number() over () as n from recent)\n"
                "select * from ranked join raw.b using (id)"
            )
        },
    )
    (model,) = discover_models(tmp_path, known_tables=["raw.a", "raw.b"])
    assert model.depends_on == ("raw.a", "raw.b")


def test_subquery_tables_are_dependencies(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select (select max(v) from raw.b) as m from raw.a"})
    (model,) = discover_models(tmp_path, known_tables=["raw.a", "raw.b"])
    assert model.depends_on == ("raw.a", "raw.b")


@pytest.mark.parametrize("relative", ["x.sql", "reporting/x.sql", "marts/extra/x.sql"])
def test_file_outside_a_layer_folder_is_rejected(tmp_path: Path, relative: str) -> None:
    write_models(tmp_path, {"marts/ok.sql": "select 1 as a", relative: "select 1 as a"})
    with pytest.raises(ModelError) as caught:
        discover_models(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"sql/{relative}: ")
    assert "staging, intermediate, marts" in message


def test_bad_model_name_is_rejected(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/Dim-Country.sql": "select 1 as a"})
    with pytest.raises(ModelError, match=r"^sql/marts/Dim-Country\.sql: .*lower_snake_case"):
        discover_models(tmp_path)


def test_model_reading_its_own_table_is_rejected(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select * from marts.x"})
    with pytest.raises(ModelError, match=r"reads its own table 'marts\.x'"):
        discover_models(tmp_path)


def test_cycle_between_models_is_a_model_error(tmp_path: Path) -> None:
    write_models(
        tmp_path, {"marts/a.sql": "select * from marts.b", "marts/b.sql": "select * from marts.a"}
    )
    with pytest.raises(ModelError, match=r"marts\.a"):
        model_markings(discover_models(tmp_path), {})


def test_models_come_in_layer_order(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "marts/a.sql": "select * from intermediate.z",
            "intermediate/z.sql": "select * from staging.m",
            "staging/m.sql": "select * from raw.a",
            "staging/b.sql": "select * from raw.a",
        },
    )
    models = discover_models(tmp_path, known_tables=["raw.a"])
    assert [m.table for m in models] == [
        "staging.b",
        "staging.m",
        "intermediate.z",
        "marts.a",
    ]


def test_empty_layers_are_fine(tmp_path: Path) -> None:
    assert discover_models(tmp_path) == []


# --- code version and description ------------------------------------------------------------


def test_code_version_follows_the_sql_text(tmp_path: Path) -> None:
    path = tmp_path / "marts" / "x.sql"
    write_models(tmp_path, {"marts/x.sql": "select a from raw.a"})
    first = load_model(path, "marts")
    again = load_model(path, "marts")
    assert first.code_version == again.code_version

    # same text in another folder: same version (the hash is of the SQL, not the path)
    write_models(tmp_path / "other", {"marts/x.sql": "select a from raw.a"})
    assert load_model(tmp_path / "other" / "marts" / "x.sql", "marts").code_version == (
        first.code_version
    )

    path.write_text("select a, b from raw.a", encoding="utf-8")
    changed = load_model(path, "marts")
    assert changed.code_version != first.code_version

    # even a comment-only change is a change: the description is part of the asset
    path.write_text("-- new note\nselect a from raw.a", encoding="utf-8")
    assert load_model(path, "marts").code_version not in {first.code_version, changed.code_version}


def test_header_comment_becomes_description(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "marts/x.sql": (
                "\n"
                "-- First line of the description.\n"
                "--   Second line, indented.\n"
                "--\n"
                "-- After a blank comment line.\n"
                "\n"
                "-- not part of it: after a blank line\n"
                "select a -- nor this\n"
                "from raw.a\n"
            )
        },
    )
    (model,) = discover_models(tmp_path, known_tables=["raw.a"])
    assert model.description == (
        "First line of the description.\nSecond line, indented.\n\nAfter a blank comment line."
    )


def test_no_header_comment_means_empty_description(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select a from raw.a -- trailing\n"})
    (model,) = discover_models(tmp_path, known_tables=["raw.a"])
    assert model.description == ""


# --- marking propagation -----------------------------------------------------------------------


def test_model_over_clear_and_amber_is_amber(tmp_path: Path) -> None:
    write_models(
        tmp_path, {"marts/x.sql": "select * from raw.indicators join raw.seizures using (iso3)"}
    )
    models = discover_models(tmp_path, known_tables=["raw.indicators", "raw.seizures"])
    markings = model_markings(
        models, {"raw.indicators": Marking.CLEAR, "raw.seizures": Marking.AMBER}
    )
    assert markings == {"marts.x": Marking.AMBER}


def test_model_over_an_unmarked_input_is_red(tmp_path: Path) -> None:
    write_models(
        tmp_path, {"marts/x.sql": "select * from raw.indicators join raw.mystery using (iso3)"}
    )
    models = discover_models(tmp_path, known_tables=["raw.indicators", "raw.mystery"])
    markings = model_markings(models, {"raw.indicators": Marking.CLEAR})
    assert markings == {"marts.x": Marking.RED}


def test_model_with_no_inputs_is_clear(tmp_path: Path) -> None:
    write_models(tmp_path, {"marts/x.sql": "select 1 as a"})
    assert model_markings(discover_models(tmp_path), {}) == {"marts.x": Marking.CLEAR}


def test_markings_propagate_through_two_levels_of_models(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "staging/indicators.sql": "select * from raw.indicators",
            "staging/seizures.sql": "select * from raw.seizures",
            "intermediate/joined.sql": (
                "select * from staging.indicators join staging.seizures using (iso3)"
            ),
            "marts/public.sql": "select * from staging.indicators",
            "marts/report.sql": "select * from intermediate.joined join raw.green using (iso3)",
        },
    )
    models = discover_models(tmp_path, known_tables=["raw.indicators", "raw.seizures", "raw.green"])
    inputs = {
        "raw.indicators": Marking.CLEAR,
        "raw.seizures": Marking.AMBER_STRICT,
        "raw.green": "green",
    }
    assert model_markings(models, inputs) == {
        "staging.seizures": Marking.AMBER_STRICT,
        "staging.indicators": Marking.CLEAR,
        "intermediate.joined": Marking.AMBER_STRICT,
        "marts.public": Marking.CLEAR,
        "marts.report": Marking.AMBER_STRICT,
    }
    # the inputs mapping is not modified
    assert inputs == {
        "raw.indicators": Marking.CLEAR,
        "raw.seizures": Marking.AMBER_STRICT,
        "raw.green": "green",
    }


def test_unmarked_input_makes_everything_downstream_red(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "staging/a.sql": "select * from raw.mystery",
            "marts/b.sql": "select * from staging.a join raw.indicators using (iso3)",
            "marts/c.sql": "select * from raw.indicators",
        },
    )
    models = discover_models(tmp_path, known_tables=["raw.mystery", "raw.indicators"])
    assert model_markings(models, {"raw.indicators": Marking.CLEAR}) == {
        "staging.a": Marking.RED,
        "marts.b": Marking.RED,
        "marts.c": Marking.CLEAR,
    }


# --- incremental models ----------------------------------------------------------------------


def test_real_drop_models_are_kept_by_drop() -> None:
    models = by_table(discover_models(SQL_DIR, known_tables=RAW_TABLES))
    incremental = {t for t, m in models.items() if m.incremental_key}
    assert incremental == {
        "staging.seizures",
        "staging.criminal_networks",
        "marts.fct_seizure",
        "marts.fct_network",
        "intermediate.seizure_flows",
    }
    assert {models[t].incremental_key for t in incremental} == {"drop_id"}
    assert "incremental" not in models["marts.fct_seizure"].description


def test_incremental_directive_names_an_output_column(tmp_path: Path) -> None:
    write_models(
        tmp_path,
        {
            "marts/x.sql": (
                "-- Facts, one row per drop and ref.\n"
                "-- incremental: drop_id\n"
                "select d.drop_id, ref from raw.a as d\n"
            )
        },
    )
    (model,) = discover_models(tmp_path, known_tables=["raw.a"])
    assert model.incremental_key == "drop_id"
    assert model.incremental_source is None
    assert model.description == "Facts, one row per drop and ref."


def test_incremental_keys_may_come_from_an_input(tmp_path: Path) -> None:
    """`from <table>`: the key values are read from an input the model reads, not by running
    the (aggregating) SELECT for them."""
    write_models(
        tmp_path,
        {"marts/x.sql": "-- incremental: drop_id from raw.a\nselect drop_id, count(*) as n "
         "from raw.a group by drop_id"},
    )  # fmt: skip
    (model,) = discover_models(tmp_path, known_tables=["raw.a"])
    assert (model.incremental_key, model.incremental_source) == ("drop_id", "raw.a")
    write_models(
        tmp_path, {"marts/x.sql": "-- incremental: drop_id from raw.b\nselect drop_id from raw.a"}
    )
    with pytest.raises(ModelError, match=r"names a table the model does not read"):
        discover_models(tmp_path, known_tables=["raw.a", "raw.b"])


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("-- incremental: drop_id\nselect ref from raw.a", "'drop_id' is not a column"),
        ("-- incremental: drop_id\nselect * from raw.a", "`select *` hides them"),
        ("-- incremental: Drop-Id\nselect 1 as a from raw.a", "must name one output column"),
        ("-- incremental:\nselect 1 as a from raw.a", "must name one output column"),
        (
            "-- incremental: a\n-- incremental: b\nselect 1 as a, 2 as b from raw.a",
            "more than one",
        ),
    ],
)
def test_bad_incremental_directive_names_the_file(tmp_path: Path, sql: str, fragment: str) -> None:
    write_models(tmp_path, {"marts/x.sql": sql})
    with pytest.raises(ModelError) as caught:
        discover_models(tmp_path, known_tables=["raw.a"])
    assert str(caught.value).startswith("sql/marts/x.sql: ")
    assert fragment in str(caught.value)


# --- declared markings, suppression rules and row markings -----------------------------------

CLEAR_AND_AMBER = {"raw.a": Marking.CLEAR, "raw.drops": Marking.AMBER, "raw.red": Marking.RED}
SUPPRESSED = """-- Seizures per country, published below the drops' marking.
-- marking: clear
-- suppress: seizures by states, records
-- public: iso3
select iso3, seizures, states, records from raw.drops
"""


def markings_of(tmp_path: Path, files: dict[str, str]) -> dict[str, Marking]:
    models = discover_models(write_models(tmp_path, files), known_tables=CLEAR_AND_AMBER)
    return model_markings(models, CLEAR_AND_AMBER)


def test_a_declared_marking_above_the_inputs_is_a_floor(tmp_path: Path) -> None:
    """`-- marking: amber` over CLEAR inputs makes an AMBER table; what reads it is AMBER too."""
    markings = markings_of(
        tmp_path,
        {
            "marts/profiles.sql": "-- marking: amber\nselect * from raw.a",
            "marts/digest.sql": "select * from marts.profiles",
        },
    )
    assert markings["marts.profiles"] == Marking.AMBER
    assert markings["marts.digest"] == Marking.AMBER


def test_a_declared_lower_marking_needs_a_suppression_rule(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"marts/x\.sql: declares TLP:CLEAR below its inputs' "):
        markings_of(tmp_path, {"marts/x.sql": "-- marking: clear\nselect * from raw.drops"})


def test_a_suppressed_model_is_published_at_its_declared_marking(tmp_path: Path) -> None:
    """With a `-- suppress:` rule, CLEAR over AMBER inputs holds; above AMBER it does not:
    aggregation never declassifies RED data."""
    markings = markings_of(
        tmp_path,
        {
            "marts/exposure.sql": SUPPRESSED,
            "marts/secret.sql": SUPPRESSED.replace("raw.drops", "raw.red"),
        },
    )
    assert markings["marts.exposure"] == Marking.CLEAR
    assert markings["marts.secret"] == Marking.RED
    model = by_table(discover_models(tmp_path, known_tables=CLEAR_AND_AMBER))["marts.exposure"]
    (rule,) = model.suppressions
    assert (rule.figures, rule.states_column, rule.records_column) == (
        ("seizures",),
        "states",
        "records",
    )
    assert model.declared_marking == Marking.CLEAR
    # directives are not part of the description shown in the UI
    assert model.description == "Seizures per country, published below the drops' marking."


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("-- marking: orange", "'orange' is not a TLP marking"),
        ("-- marking: clear\n-- marking: amber", "more than one `-- marking:` line"),
        ("-- suppress: seizures by states, records", "declare the marking it is published at"),
        ("-- marking: clear\n-- suppress: seizures", "write `-- suppress: <figure>"),
        ("-- marking: clear\n-- suppress: kg by states, records", "names 'kg'"),
        ("-- marking: clear\n-- suppress: seizures by nations, records", "names 'nations'"),
        ("-- row marking: level", "names 'level'"),
        ("-- public: iso3", "`-- public:` goes with `-- suppress:` rules"),
        (
            "-- marking: clear\n-- suppress: seizures by states, records",
            "column iso3 is neither suppressed nor declared public",
        ),
    ],
)
def test_bad_directives_name_the_file(tmp_path: Path, header: str, fragment: str) -> None:
    write_models(
        tmp_path, {"marts/x.sql": f"{header}\nselect iso3, seizures, states, records from raw.a"}
    )
    with pytest.raises(ModelError, match=r"^sql/marts/x\.sql: ") as caught:
        discover_models(tmp_path, known_tables=CLEAR_AND_AMBER)
    assert fragment in str(caught.value)


def test_prose_about_markings_is_not_a_directive(tmp_path: Path) -> None:
    """Directives are lower case: a sentence starting `-- Marking:` stays in the description."""
    write_models(tmp_path, {"marts/x.sql": "-- Marking: the table is TLP:AMBER.\nselect 1 as a"})
    (model,) = discover_models(tmp_path)
    assert model.declared_marking is None
    assert model.description == "Marking: the table is TLP:AMBER."


def test_real_analytic_models_declare_their_markings() -> None:
    """EU exposure is the one place drop data is declassified, by suppression; the threat
    matrix and products over it are CLEAR; network priorities stay AMBER; early warnings and
    listings are published row by row."""
    models = discover_models(SQL_DIR, known_tables=RAW_TABLES)
    inputs = {
        **dict.fromkeys(OPEN_TABLES, Marking.CLEAR),
        **dict.fromkeys(DROP_TABLES, Marking.AMBER),
    }
    inputs["audit.drops"] = Marking.CLEAR
    markings = model_markings(models, inputs)
    declassified = {m.table for m in models if m.suppressions}
    assert declassified == {"intermediate.eu_exposure"}
    for table in (
        "intermediate.eu_exposure", "marts.threat_matrix", "marts.sensitivity",
        "marts.regional_overview", "marts.country_profile", "marts.methodology",
    ):  # fmt: skip
        assert markings[table] == Marking.CLEAR, table
    assert markings["intermediate.seizure_flows"] == Marking.AMBER
    assert markings["marts.network_priority"] == Marking.AMBER
    assert markings["marts.early_warnings"] == Marking.AMBER
    row_marked = {m.table: m.row_marking for m in models if m.row_marking}
    assert row_marked == {"marts.early_warnings": "marking", "marts.fct_listing": "marking"}
