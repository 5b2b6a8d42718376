"""The data dictionary: every published column described (from the marts' SQL headers and the
audit YAML), a new undocumented column caught by name, the header's column block parsed, and
the committed docs/data-dictionary.md exactly what the generator makes from an offline run."""

from __future__ import annotations

import difflib
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import PipelineRun

from extra_pipeline.dictionary import (
    AUDIT_COLUMNS_FILE,
    DICTIONARY_FILE,
    REGENERATE,
    DictionaryError,
    build_dictionary,
    column_descriptions,
    main,
    markdown_text,
    model_prose,
    render_markdown,
    require_descriptions,
)
from extra_pipeline.markings import Marking
from extra_pipeline.models import SQL_DIR, load_model
from extra_pipeline.warehouse import _INTERNAL_TABLES, PUBLISHED_SCHEMAS, WarehouseResource


def write_model(sql_dir: Path, name: str, text: str) -> Path:
    path = sql_dir / "marts" / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def published_columns(path: Path) -> dict[str, list[str]]:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{path}' as published (read_only)")
        rows = con.execute(
            "select schema_name || '.' || table_name, column_name from duckdb_columns() "
            "where database_name = 'published' order by 1, column_index"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


# --- (a) every published column of a real RED copy ------------------------------------------------


def test_every_published_column_is_described(offline_run: PipelineRun) -> None:
    red = offline_run.settings.published_path("red")
    entries = build_dictionary(red)  # raises, naming them, if any column lacks a description
    published = published_columns(red)
    assert {e.table for e in entries} == set(published)
    assert all(t.split(".")[0] in PUBLISHED_SCHEMAS for t in published)
    # every mart model is published in the RED copy (AMBER ones too, empty without drops)
    marts = {f"marts.{p.stem}" for p in (SQL_DIR / "marts").glob("*.sql")}
    assert marts <= set(published)
    for entry in entries:
        assert [c.name for c in entry.columns] == published[entry.table]
        assert entry.description, entry.table
        for column in entry.columns:
            assert column.type, f"{entry.table}.{column.name}"
            assert len(column.description) >= 10, f"{entry.table}.{column.name}"
    by_table = {e.table: e for e in entries}
    # markings as the copy records them; row-marked tables name their column
    assert by_table["marts.threat_matrix"].marking == Marking.CLEAR.slug
    assert by_table["marts.fct_seizure"].marking == Marking.AMBER.slug
    assert by_table["marts.early_warnings"].row_marking == "marking"
    assert by_table["audit.published_tables"].marking == Marking.CLEAR.slug
    # lineage: the model's reads, and the open sources and raw inputs behind them
    assert by_table["marts.fct_seizure"].reads == ("staging.seizures",)
    assert "raw.drop_seizures" in dict(by_table["marts.fct_seizure"].inputs)
    assert "goci" in dict(by_table["marts.threat_matrix"].sources)
    assert by_table["marts.dim_country"].sources == ()
    assert by_table["audit.drops"].written_by


# --- (b) a new mart column without a description ------------------------------------------------


UNDOCUMENTED = """\
-- A test mart: one row per thing.
--
-- Columns:
--   a  the first column, described
select 1 as a, 2 as b
"""


def test_an_undocumented_column_is_named(tmp_path: Path) -> None:
    model = load_model(write_model(tmp_path, "x", UNDOCUMENTED), "marts")
    descriptions = column_descriptions(model)
    assert descriptions == {"a": "the first column, described"}
    columns = duckdb.sql(model.sql).columns
    assert columns == ["a", "b"]
    with pytest.raises(DictionaryError, match=r"without a description: marts\.x\.b \(") as caught:
        require_descriptions({"marts.x": columns}, {"marts.x": descriptions}, {"marts.x": "x.sql"})
    assert "marts.x.a" not in str(caught.value)


def tiny_copy(path: Path, table_sql: str) -> Path:
    """A published copy holding one mart and the copy's manifest."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema audit")
    con.execute(table_sql)
    con.execute(
        "create table audit.published_tables (table_name varchar, marking varchar, row_count "
        "bigint, level varchar, built_at timestamptz, data_version varchar, code_version varchar)"
    )
    con.execute(
        "insert into audit.published_tables values ('marts.x', 'clear', 1, 'red', now(), null, null)"
    )
    con.close()
    return path


def test_the_generator_refuses_a_published_column_without_a_description(tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "x", UNDOCUMENTED)
    copy = tiny_copy(tmp_path / "red.duckdb", "create table marts.x as select 1 as a, 2 as b")
    with pytest.raises(DictionaryError, match=r"marts\.x\.b") as caught:
        build_dictionary(copy, sql_dir=sql_dir, known_tables=[])
    assert "sql/marts/x.sql" in str(caught.value)
    assert main(["--published", str(copy)]) == 2  # the command fails too (exit 2), writing nothing

    # described, it goes through; a description of a column the table lacks does not
    write_model(sql_dir, "x", UNDOCUMENTED.replace("select", "--   b  the second\nselect"))
    (entry, _manifest) = build_dictionary(copy, sql_dir=sql_dir, known_tables=[])
    assert [(c.name, c.type, c.description) for c in entry.columns] == [
        ("a", "INTEGER", "the first column, described"),
        ("b", "INTEGER", "the second"),
    ]
    write_model(
        sql_dir, "x", UNDOCUMENTED.replace("select", "--   b  the second\n--   c  gone\nselect")
    )
    with pytest.raises(DictionaryError, match=r"the table does not have: marts\.x\.c"):
        build_dictionary(copy, sql_dir=sql_dir, known_tables=[])


def test_a_published_table_without_a_model_is_refused(tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    write_model(sql_dir, "y", "-- Y.\nselect 1 as a\n")
    copy = tiny_copy(tmp_path / "red.duckdb", "create table marts.x as select 1 as a")
    with pytest.raises(DictionaryError, match=r"nothing describes: marts\.x"):
        build_dictionary(copy, sql_dir=sql_dir, known_tables=[])


# --- (c) the header's column block --------------------------------------------------------------


def test_the_column_block_joins_continuation_lines_and_ends_at_another_line(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        "scores",
        "-- Scores: one row per country.\n"
        "-- Read them with care.\n"
        "--\n"
        "-- A second paragraph.\n"
        "--\n"
        "-- Columns:\n"
        "--   iso3   ISO 3166 alpha-3 code of the country\n"
        "--   score  the threat score, 0-1 (null: too little evidence,\n"
        "--          confidence D)\n"
        "--   rank   its rank   (1 = highest)\n"
        "-- marking: amber\n"
        "--   later  not part of the block\n"
        "select 'ABC' as iso3, 0.5 as score, 1 as rank, 2 as later\n",
    )
    model = load_model(path, "marts")
    assert column_descriptions(model) == {
        "iso3": "ISO 3166 alpha-3 code of the country",
        "score": "the threat score, 0-1 (null: too little evidence, confidence D)",
        "rank": "its rank   (1 = highest)",
    }
    assert model.declared_marking is Marking.AMBER  # the directive after the block still counts
    assert model_prose(model) == "Scores: one row per country. Read them with care."
    # no block: no descriptions
    bare = load_model(write_model(tmp_path, "bare", "-- Bare.\nselect 1 as a\n"), "marts")
    assert column_descriptions(bare) == {}
    assert model_prose(bare) == "Bare."


def test_a_column_block_is_one_and_names_each_column_once(tmp_path: Path) -> None:
    twice = load_model(
        write_model(
            tmp_path, "twice", "-- T.\n-- Columns:\n--   a  one\n--   a  two\nselect 1 as a\n"
        ),
        "marts",
    )
    with pytest.raises(
        DictionaryError, match=r"sql/marts/twice\.sql: column 'a' is described twice"
    ):
        column_descriptions(twice)
    blocks = load_model(
        write_model(
            tmp_path,
            "blocks",
            "-- Columns:\n--   a  one\n--\n-- Columns:\n--   b  two\nselect 1 as a, 2 as b\n",
        ),
        "marts",
    )
    with pytest.raises(DictionaryError, match=r"more than one `-- Columns:` block"):
        column_descriptions(blocks)


def test_the_real_headers_keep_their_directives() -> None:
    """The column blocks sit in the headers without turning a line into a directive."""
    models = {p.stem: load_model(p, "marts") for p in (SQL_DIR / "marts").glob("*.sql")}
    assert models["fct_seizure"].incremental_key == "drop_id"
    assert models["fct_network"].incremental_key == "drop_id"
    assert models["network_priority"].declared_marking is Marking.AMBER
    assert models["early_warnings"].row_marking == "marking"
    assert models["fct_listing"].row_marking == "marking"
    for name, model in models.items():
        assert column_descriptions(model), f"sql/marts/{name}.sql has no `-- Columns:` block"
        assert model_prose(model), f"sql/marts/{name}.sql has no description"


def test_markdown_escapes_markup_outside_code() -> None:
    assert markdown_text("a <b> | c*d [e](f) `x_|y`") == "a &lt;b&gt; \\| c\\*d \\[e\\](f) `x_\\|y`"
    assert (
        markdown_text("snake_case stays, _edge_ does not")
        == "snake_case stays, \\_edge\\_ does not"
    )


# --- (d) the committed file -------------------------------------------------------------------------


def test_the_committed_dictionary_is_what_the_generator_makes(
    offline_run: PipelineRun, tmp_path: Path
) -> None:
    red = offline_run.settings.published_path("red")
    expected = render_markdown(build_dictionary(red))
    assert render_markdown(build_dictionary(red)) == expected  # deterministic
    committed = DICTIONARY_FILE.read_text(encoding="utf-8") if DICTIONARY_FILE.is_file() else ""
    if committed != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/data-dictionary.md (committed)",
                    "docs/data-dictionary.md (generated)",
                )
            )[:40]
        )
        pytest.fail(
            "docs/data-dictionary.md is out of date: regenerate it from an offline run's RED "
            f"copy with\n  {REGENERATE}\n{diff}"
        )
    # the command writes the same, and --check agrees
    out = tmp_path / "dictionary.md"
    assert main(["--published", str(red), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == expected
    assert main(["--published", str(red), "--out", str(out), "--check"]) == 0
    out.write_text(expected + "edited\n", encoding="utf-8")
    assert main(["--published", str(red), "--out", str(out), "--check"]) == 1


# --- (e) the audit tables -----------------------------------------------------------------------------


def test_audit_descriptions_cover_the_ddl(
    warehouse: WarehouseResource, offline_run: PipelineRun
) -> None:
    with warehouse.connect() as con:  # a fresh working file: every audit table as the DDL makes it
        rows = con.execute(
            "select schema_name || '.' || table_name, column_name from duckdb_columns() "
            "where schema_name = 'audit' and database_name = current_database()"
        ).fetchall()
    ddl: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in _INTERNAL_TABLES:
            ddl.setdefault(table, set()).add(column)
    # the copy's own manifest is made by the publisher, in every copy
    manifest = published_columns(offline_run.settings.published_path("red"))[
        "audit.published_tables"
    ]
    ddl["audit.published_tables"] = set(manifest)

    described = yaml.safe_load(AUDIT_COLUMNS_FILE.read_text(encoding="utf-8"))["tables"]
    assert set(described) == set(ddl)
    for table, columns in ddl.items():
        spec = described[table]
        assert str(spec["description"]).strip(), table
        assert str(spec["written_by"]).strip(), table
        documented = {c for c, text in spec["columns"].items() if str(text or "").strip()}
        assert columns - documented == set(), f"{table}: columns without a description"
        assert set(spec["columns"]) - columns == set(), f"{table}: descriptions of no column"
