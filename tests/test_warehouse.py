"""The DuckDB warehouse on real files: writes, markings, rollbacks, upserts and the
per-marking published copies that readers hold open across refreshes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from extra_pipeline.markings import Marking
from extra_pipeline.warehouse import (
    PUBLISHED_STORAGE_VERSION,
    WarehouseError,
    WarehouseResource,
    open_published,
    publish,
)

AUDIT_TABLES = {
    "audit.table_markings",
    "audit.source_snapshots",
    "audit.check_results",
    "audit.drops",
    "audit.quarantine",
}


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def recorded_markings(warehouse: WarehouseResource) -> dict[str, tuple]:
    with warehouse.connect() as con:
        return {
            name: tuple(rest)
            for name, *rest in rows(
                con, "select table_name, marking, asset_key, row_count from audit.table_markings"
            )
        }


def tables_in(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            f"{schema}.{name}"
            for schema, name in rows(
                con,
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()",
            )
        }


# --- writes ------------------------------------------------------------------------------------


def test_write_frame_creates_table_records_marking_and_reports_stats(
    warehouse: WarehouseResource,
) -> None:
    frame = pd.DataFrame(
        {
            "iso3": ["FRA", "DEU", "ITA"],
            "year": [2023, 2024, 2025],
            "value": [1.5, None, 3.0],
            "seen_at": pd.Series(["2024-01-01", "2024-02-01", "2024-03-01"]).astype(
                "datetime64[us]"
            ),
        }
    )
    stats = warehouse.write_frame(
        "raw.sample", frame, marking=Marking.AMBER, asset_key="raw/sample"
    )

    assert stats.table == "raw.sample"
    assert stats.row_count == 3
    assert stats.marking is Marking.AMBER
    assert stats.columns == (
        ("iso3", "VARCHAR"),
        ("year", "BIGINT"),
        ("value", "DOUBLE"),
        ("seen_at", "TIMESTAMP"),
    )

    metadata = stats.metadata()
    assert metadata["dagster/row_count"] == 3
    schema = metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == list(stats.columns)
    assert metadata["dagster/table_name"] == "raw.sample"
    assert metadata["marking"] == "TLP:AMBER"

    with warehouse.connect() as con:
        assert rows(con, "select iso3, year, value from raw.sample order by year") == [
            ("FRA", 2023, 1.5),
            ("DEU", 2024, None),
            ("ITA", 2025, 3.0),
        ]
    assert recorded_markings(warehouse) == {"raw.sample": ("amber", "raw/sample", 3)}
    assert warehouse.table_markings()["raw.sample"] is Marking.AMBER


def test_write_frame_replaces_table_and_marking(warehouse: WarehouseResource) -> None:
    warehouse.write_frame(
        "raw.sample", pd.DataFrame({"a": [1, 2, 3]}), marking=Marking.CLEAR, asset_key="raw/sample"
    )
    stats = warehouse.write_frame(
        "raw.sample", pd.DataFrame({"b": ["x"]}), marking=Marking.RED, asset_key="raw/sample"
    )
    assert stats.columns == (("b", "VARCHAR"),)
    with warehouse.connect() as con:
        assert rows(con, "select * from raw.sample") == [("x",)]
        # the registered frame does not outlive the write
        with pytest.raises(duckdb.CatalogException):
            con.execute("select * from incoming_frame")
    assert recorded_markings(warehouse) == {"raw.sample": ("red", "raw/sample", 1)}


def test_table_markings_include_the_audit_tables(warehouse: WarehouseResource) -> None:
    markings = warehouse.table_markings()
    assert {name: markings[name] for name in AUDIT_TABLES} == dict.fromkeys(
        AUDIT_TABLES, Marking.CLEAR
    )


def test_unqualified_table_name_is_refused(warehouse: WarehouseResource) -> None:
    with pytest.raises(WarehouseError, match="schema"):
        warehouse.write_frame(
            "sample", pd.DataFrame({"a": [1]}), marking=Marking.CLEAR, asset_key="x"
        )


@pytest.mark.parametrize(
    "failing_sql",
    [
        "select * from raw.no_such_table",  # fails binding
        "select cast(v as integer) as a from (values ('1'), ('not a number')) t(v)",  # fails running
    ],
)
def test_failed_model_rolls_back(warehouse: WarehouseResource, failing_sql: str) -> None:
    warehouse.run_model(
        "marts.m", "select 1 as a union all select 2", marking=Marking.CLEAR, asset_key="marts/m"
    )
    with pytest.raises(duckdb.Error):
        warehouse.run_model("marts.m", failing_sql, marking=Marking.RED, asset_key="marts/m")
    with warehouse.connect() as con:
        assert rows(con, "select a from marts.m order by a") == [(1,), (2,)]
    assert recorded_markings(warehouse) == {"marts.m": ("clear", "marts/m", 2)}
    # and the warehouse is still writable afterwards
    build = warehouse.run_model(
        "marts.m", "select 3 as a", marking=Marking.GREEN, asset_key="marts/m"
    )
    assert build.stats.row_count == 1
    assert recorded_markings(warehouse) == {"marts.m": ("green", "marts/m", 1)}


def test_failed_first_model_leaves_no_table_and_no_marking(warehouse: WarehouseResource) -> None:
    with pytest.raises(duckdb.Error):
        warehouse.run_model(
            "marts.m", "select * from raw.nope", marking=Marking.CLEAR, asset_key="marts/m"
        )
    with warehouse.connect() as con:
        assert rows(
            con, "select count(*) from information_schema.tables where table_name = 'm'"
        ) == [(0,)]
    assert recorded_markings(warehouse) == {}


# --- append_rows ----------------------------------------------------------------------------------


@pytest.fixture
def audit_table(warehouse: WarehouseResource) -> str:
    with warehouse.connect() as con:
        con.execute("create table audit.runs (source varchar, run integer, status varchar)")
    return "audit.runs"


def read_runs(warehouse: WarehouseResource) -> list[tuple]:
    with warehouse.connect() as con:
        return rows(con, "select source, run, status from audit.runs order by source, run, status")


def test_append_rows_inserts(warehouse: WarehouseResource, audit_table: str) -> None:
    first = pd.DataFrame({"source": ["goci", "wgi"], "run": [1, 1], "status": ["ok", "ok"]})
    assert warehouse.append_rows(audit_table, first) == 2
    assert warehouse.append_rows(audit_table, first) == 2  # no key: plain append
    assert read_runs(warehouse) == [("goci", 1, "ok")] * 2 + [("wgi", 1, "ok")] * 2


def test_append_rows_replaces_rows_with_the_same_key(
    warehouse: WarehouseResource, audit_table: str
) -> None:
    warehouse.append_rows(
        audit_table,
        pd.DataFrame(
            {"source": ["goci", "goci", "wgi"], "run": [1, 2, 1], "status": ["ok", "ok", "ok"]}
        ),
    )
    # columns in another order than the table's: matched by name
    update = pd.DataFrame({"status": ["failed", "new"], "run": [2, 3], "source": ["goci", "goci"]})
    assert warehouse.append_rows(audit_table, update, replace_on=("source", "run")) == 2
    assert read_runs(warehouse) == [
        ("goci", 1, "ok"),
        ("goci", 2, "failed"),
        ("goci", 3, "new"),
        ("wgi", 1, "ok"),
    ]


def test_append_rows_with_nothing_to_add(warehouse: WarehouseResource, audit_table: str) -> None:
    empty = pd.DataFrame({"source": [], "run": [], "status": []})
    assert warehouse.append_rows(audit_table, empty, replace_on=("source",)) == 0
    assert read_runs(warehouse) == []


def test_failed_append_keeps_the_rows_it_would_have_replaced(
    warehouse: WarehouseResource, audit_table: str
) -> None:
    warehouse.append_rows(
        audit_table, pd.DataFrame({"source": ["goci"], "run": [1], "status": ["ok"]})
    )
    bad = pd.DataFrame({"source": ["goci"], "run": [1], "no_such_column": ["x"]})
    with pytest.raises(duckdb.Error):
        warehouse.append_rows(audit_table, bad, replace_on=("source", "run"))
    assert read_runs(warehouse) == [("goci", 1, "ok")]


# --- publish ----------------------------------------------------------------------------------------


@pytest.fixture
def marked_warehouse(warehouse: WarehouseResource) -> WarehouseResource:
    """marts tables marked CLEAR, GREEN and AMBER, one with no recorded marking, and raw/staging
    tables that are never published."""
    warehouse.write_frame(
        "marts.open_data",
        pd.DataFrame({"v": [1, 2]}),
        marking=Marking.CLEAR,
        asset_key="marts/open_data",
    )
    warehouse.write_frame(
        "marts.partner_data",
        pd.DataFrame({"v": [3]}),
        marking=Marking.GREEN,
        asset_key="marts/partner_data",
    )
    warehouse.write_frame(
        "marts.drop_data",
        pd.DataFrame({"v": [4, 5, 6]}),
        marking=Marking.AMBER,
        asset_key="marts/drop_data",
    )
    warehouse.write_frame(
        "raw.open_source",
        pd.DataFrame({"v": [7]}),
        marking=Marking.CLEAR,
        asset_key="raw/open_source",
    )
    warehouse.run_model(
        "staging.open_source",
        "select * from raw.open_source",
        marking=Marking.CLEAR,
        asset_key="staging/open_source",
    )
    with warehouse.connect() as con:
        con.execute("create table marts.unmarked as select 42 as v")
    return warehouse


def test_publish_splits_tables_by_marking(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    copies = publish(marked_warehouse, published)

    assert [c.level for c in copies] == list(Marking)
    expected_marts = {
        Marking.CLEAR: {"marts.open_data"},
        Marking.GREEN: {"marts.open_data", "marts.partner_data"},
        Marking.AMBER: {"marts.open_data", "marts.partner_data", "marts.drop_data"},
        Marking.AMBER_STRICT: {"marts.open_data", "marts.partner_data", "marts.drop_data"},
        Marking.RED: {"marts.open_data", "marts.partner_data", "marts.drop_data", "marts.unmarked"},
    }
    all_marts = expected_marts[Marking.RED]
    for copy in copies:
        assert copy.path == published / f"{copy.level.slug}.duckdb"
        assert copy.path.is_file()
        marts = expected_marts[copy.level]
        assert set(copy.tables) == marts | AUDIT_TABLES
        assert set(copy.withheld) == all_marts - marts
        # raw and staging stay in the working file
        assert tables_in(copy.path) == marts | AUDIT_TABLES | {"audit.published_tables"}

    assert (published / "clear.duckdb").is_file()
    assert (published / "amber.duckdb").is_file()
    assert (published / "red.duckdb").is_file()
    # nothing half-built left behind
    assert sorted(p.name for p in published.iterdir()) == sorted(
        f"{m.slug}.duckdb" for m in Marking
    )


def test_published_files_record_what_they_hold(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    publish(marked_warehouse, published)

    with duckdb.connect(str(published / "amber.duckdb"), read_only=True) as con:
        audit = {
            table: (marking, count, level)
            for table, marking, count, level in rows(
                con, "select table_name, marking, row_count, level from audit.published_tables"
            )
        }
        assert rows(con, "select v from marts.drop_data order by v") == [(4,), (5,), (6,)]
        assert rows(con, "select count(distinct built_at) from audit.published_tables") == [(1,)]
    assert audit["marts.open_data"] == ("clear", 2, "amber")
    assert audit["marts.partner_data"] == ("green", 1, "amber")
    assert audit["marts.drop_data"] == ("amber", 3, "amber")
    assert audit["audit.table_markings"][0] == "clear"
    assert "marts.unmarked" not in audit

    with duckdb.connect(str(published / "red.duckdb"), read_only=True) as con:
        assert rows(
            con,
            "select marking, row_count from audit.published_tables where table_name = 'marts.unmarked'",
        ) == [("red", 1)]
        assert rows(con, "select v from marts.unmarked") == [(42,)]

    with duckdb.connect(str(published / "clear.duckdb"), read_only=True) as con:
        assert {t for (t,) in rows(con, "select table_name from audit.published_tables")} == {
            "marts.open_data"
        } | AUDIT_TABLES


#: the tag DuckDB gives a file written in the published copies' storage format
PUBLISHED_FORMAT = f"{PUBLISHED_STORAGE_VERSION}+"


def storage_version(path: Path) -> str:
    with duckdb.connect() as con:
        con.execute(f"attach '{path}' as copy (read_only)")
        (tags,) = con.execute(
            "select tags from duckdb_databases() where database_name = 'copy'"
        ).fetchone()
    return tags["storage_version"]


def test_published_copies_are_readable_by_duckdb_1_3(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    publish(marked_warehouse, published)
    for level in Marking:
        assert storage_version(published / f"{level.slug}.duckdb") == PUBLISHED_FORMAT
    # the working warehouse keeps the current format
    assert storage_version(marked_warehouse.path) != PUBLISHED_FORMAT


def test_a_copy_in_another_storage_format_is_rebuilt_not_built_on(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    current = published / "clear.duckdb"
    publish(marked_warehouse, published, levels=[Marking.CLEAR])
    (again,) = publish(marked_warehouse, published, levels=[Marking.CLEAR])
    assert again.updated  # the control: a copy in the published format is built on
    # the same copy in the current format, as an older publisher wrote it
    newer = tmp_path / "newer.duckdb"
    with duckdb.connect(str(newer)) as con:
        con.execute(f"attach '{current}' as old (read_only)")
        con.execute("copy from database old to newer")
    assert storage_version(newer) != PUBLISHED_FORMAT
    assert tables_in(newer) == tables_in(current)
    newer.replace(current)

    (rebuilt,) = publish(marked_warehouse, published, levels=[Marking.CLEAR])
    assert not rebuilt.updated
    assert storage_version(current) == PUBLISHED_FORMAT
    assert tables_in(current) == {"marts.open_data"} | AUDIT_TABLES | {"audit.published_tables"}


def test_publish_only_the_levels_asked_for(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    (copy,) = publish(marked_warehouse, published, levels=[Marking.CLEAR])
    assert copy.level is Marking.CLEAR
    assert [p.name for p in published.iterdir()] == ["clear.duckdb"]


def test_explicit_markings_override_the_recorded_ones(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    # an explicit mapping that forgets a table publishes it as RED, never lower
    (copy,) = publish(
        marked_warehouse,
        published,
        levels=[Marking.AMBER],
        markings={"marts.drop_data": Marking.CLEAR},
    )
    assert set(copy.tables) == {"marts.drop_data"}


def test_reader_keeps_its_snapshot_across_a_publish(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    publish(marked_warehouse, published)
    clear = published / "clear.duckdb"

    reader = duckdb.connect(str(clear), read_only=True)
    try:
        assert rows(reader, "select v from marts.open_data order by v") == [(1,), (2,)]

        marked_warehouse.write_frame(
            "marts.open_data",
            pd.DataFrame({"v": [10, 20, 30]}),
            marking=Marking.CLEAR,
            asset_key="marts/open_data",
        )
        publish(marked_warehouse, published)

        # the open reader still sees the snapshot it opened, without error
        assert rows(reader, "select v from marts.open_data order by v") == [(1,), (2,)]
        assert rows(
            reader,
            "select row_count from audit.published_tables where table_name = 'marts.open_data'",
        ) == [(2,)]

        # a new connection from another process (an analyst, a downstream tool) sees the new data
        script = (
            "import sys, duckdb\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print(con.execute('select sum(v) from marts.open_data').fetchall()[0][0])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(clear)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert done.stdout.strip() == "60"
    finally:
        reader.close()

    # with the old reader gone, a new connection in this process sees the new data too
    with open_published(published, Marking.CLEAR) as con:
        assert rows(con, "select v from marts.open_data order by v") == [(10,), (20,), (30,)]
    assert sorted(p.name for p in published.iterdir()) == sorted(
        f"{m.slug}.duckdb" for m in Marking
    )


def test_open_published_sees_new_data_while_an_old_reader_is_open(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    publish(marked_warehouse, published, levels=[Marking.CLEAR])
    with open_published(published, Marking.CLEAR) as old:
        marked_warehouse.write_frame(
            "marts.open_data",
            pd.DataFrame({"v": [10]}),
            marking=Marking.CLEAR,
            asset_key="marts/open_data",
        )
        publish(marked_warehouse, published, levels=[Marking.CLEAR])
        with open_published(published, Marking.CLEAR) as new:
            assert rows(new, "select v from marts.open_data") == [(10,)]
        assert rows(old, "select v from marts.open_data order by v") == [(1,), (2,)]


def test_failed_publish_leaves_no_temporary_file(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    (published / "green.duckdb").mkdir(parents=True)  # the swap into place will fail
    with pytest.raises(OSError):
        publish(marked_warehouse, published)
    assert not [p.name for p in published.iterdir() if ".tmp" in p.name]


def test_published_copy_is_read_only(marked_warehouse: WarehouseResource, tmp_path: Path) -> None:
    published = tmp_path / "published"
    publish(marked_warehouse, published, levels=[Marking.CLEAR])
    with open_published(published, Marking.CLEAR) as con:
        assert rows(con, "select count(*) from marts.open_data") == [(2,)]
        with pytest.raises(duckdb.Error, match=r"(?i)read.only"):
            con.execute("delete from marts.open_data")


def test_open_published_on_a_missing_level_explains(
    marked_warehouse: WarehouseResource, tmp_path: Path
) -> None:
    published = tmp_path / "published"
    with pytest.raises(WarehouseError) as caught:
        open_published(published, Marking.AMBER)
    message = str(caught.value)
    assert "TLP:AMBER" in message
    assert "amber.duckdb" in message
    assert "extra run" in message

    publish(marked_warehouse, published, levels=[Marking.CLEAR])
    with pytest.raises(WarehouseError, match="TLP:RED"):
        open_published(published, Marking.RED)


def test_audit_rows_are_published_only_at_the_level_of_what_they_describe(
    warehouse: WarehouseResource, tmp_path: Path
) -> None:
    warehouse.write_frame(
        "marts.open_data", pd.DataFrame({"v": [1]}), marking=Marking.CLEAR, asset_key="a"
    )
    warehouse.write_frame(
        "marts.drop_data", pd.DataFrame({"v": [2]}), marking=Marking.AMBER, asset_key="b"
    )
    with warehouse.connect() as con:
        for drop_id, marking in (("es-open", "clear"), ("es-amber", "amber")):
            con.execute(
                "insert into audit.drops (drop_id, member_state, file_name, sha256, bytes, status, "
                "rows_received, rows_accepted, rows_quarantined, marking, synthetic, received_at) "
                "values (?, 'ES', 'f.csv', 'x', 1, 'partial', 2, 1, 1, ?, false, now())",
                [drop_id, marking],
            )
            con.execute(
                "insert into audit.quarantine values (?, 1, 'quantity', 'minimum', 'negative', '{}')",
                [drop_id],
            )
    published = tmp_path / "published"
    publish(warehouse, published)

    def visible(level: str, sql: str) -> set:
        with duckdb.connect(str(published / f"{level}.duckdb"), read_only=True) as con:
            return {row[0] for row in con.execute(sql).fetchall()}

    with warehouse.connect() as con:
        con.execute("update audit.drops set superseded_by = 'es-amber' where drop_id = 'es-open'")
    publish(warehouse, published)
    assert visible("clear", "select drop_id from audit.drops") == {"es-open"}
    assert visible("clear", "select superseded_by from audit.drops") == {None}
    assert visible("amber", "select superseded_by from audit.drops where drop_id = 'es-open'") == {
        "es-amber"
    }
    assert visible("clear", "select drop_id from audit.quarantine") == {"es-open"}
    assert visible("clear", "select table_name from audit.table_markings") == {"marts.open_data"}
    assert visible("amber", "select drop_id from audit.quarantine") == {"es-open", "es-amber"}
    assert "marts.drop_data" in visible("amber", "select table_name from audit.table_markings")


def test_a_column_without_any_value_is_written_as_text(warehouse: WarehouseResource) -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "iso3": pd.Series([None, None], dtype=object)})
    warehouse.write_frame("raw.people", frame, marking=Marking.CLEAR, asset_key="raw/people")
    with warehouse.connect() as con:
        types = dict(
            con.execute("select column_name, column_type from (describe raw.people)").fetchall()
        )
    assert types == {"name": "VARCHAR", "iso3": "VARCHAR"}


def test_a_session_keeps_the_file_open_and_releases_it_when_done(
    warehouse: WarehouseResource,
) -> None:
    path = warehouse.path
    with warehouse.session():
        with warehouse.connect() as con:
            con.execute("create table raw.kept as select 1 as x")
        with warehouse.connect() as con:  # shares the open file: sees the committed table
            assert con.execute("select x from raw.kept").fetchall() == [(1,)]
        with warehouse.session(), warehouse.connect() as con:  # nested: the same session
            assert con.execute("select count(*) from raw.kept").fetchone() == (1,)
        # another process cannot open the file while the session holds it
        held = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", path],
            capture_output=True, text=True,
        )  # fmt: skip
        assert held.returncode != 0 and "lock" in held.stderr.lower()
    # released at the end of the session
    free = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", path],
        capture_output=True, text=True,
    )  # fmt: skip
    assert free.returncode == 0, free.stderr


# --- tables published row by row ----------------------------------------------------------


def test_a_row_marked_table_reaches_lower_copies_with_only_their_rows(
    warehouse: WarehouseResource, tmp_path: Path
) -> None:
    """An AMBER table whose rows carry their own marking: each copy below AMBER holds the
    rows at or below its level (a row without a marking counts as RED); its audit rows stay
    at AMBER (their counts cover every row); built on the previous copy, it is refiltered."""
    warehouse.write_frame(
        "marts.signals",
        pd.DataFrame(
            {
                "id": ["open", "partner", "drop", "unmarked"],
                "marking": ["clear", "green", "amber", None],
            }
        ),
        marking=Marking.AMBER,
        asset_key="marts/signals",
        data_version="v1",
    )
    published = tmp_path / "published"
    row_marked = {"marts.signals": "marking"}
    copies = {c.level: c for c in publish(warehouse, published, row_marked=row_marked)}

    expected = {
        Marking.CLEAR: ["open"],
        Marking.GREEN: ["open", "partner"],
        Marking.AMBER: ["drop", "open", "partner", "unmarked"],  # the table's own level: whole
        Marking.RED: ["drop", "open", "partner", "unmarked"],
    }
    for level, ids in expected.items():
        assert "marts.signals" in copies[level].tables
        with duckdb.connect(str(published / f"{level.slug}.duckdb"), read_only=True) as con:
            assert [r[0] for r in rows(con, "select id from marts.signals order by id")] == ids
            (recorded,) = rows(
                con, "select marking, row_count from audit.published_tables "
                "where table_name = 'marts.signals'",
            )  # fmt: skip
            assert recorded == ((level if level < Marking.AMBER else Marking.AMBER).slug, len(ids))
            audit = rows(
                con, "select count(*) from audit.table_markings where table_name = 'marts.signals'"
            )
            assert audit == [(1 if level >= Marking.AMBER else 0,)]

    # a new AMBER row: the next copies, built on the previous ones, filter it out again
    warehouse.write_frame(
        "marts.signals",
        pd.DataFrame({"id": ["open", "new"], "marking": ["clear", "amber"]}),
        marking=Marking.AMBER,
        asset_key="marts/signals",
        data_version="v2",
    )
    publish(warehouse, published, row_marked=row_marked)
    with duckdb.connect(str(published / "clear.duckdb"), read_only=True) as con:
        assert rows(con, "select id from marts.signals") == [("open",)]
    with duckdb.connect(str(published / "amber.duckdb"), read_only=True) as con:
        assert rows(con, "select id from marts.signals order by id") == [("new",), ("open",)]


def test_without_row_marking_an_amber_table_stays_out_of_lower_copies(
    warehouse: WarehouseResource, tmp_path: Path
) -> None:
    """The marking column alone publishes nothing lower: only a declared row marking does."""
    warehouse.write_frame(
        "marts.signals",
        pd.DataFrame({"id": ["open"], "marking": ["clear"]}),
        marking=Marking.AMBER,
        asset_key="marts/signals",
    )
    copies = {c.level: c for c in publish(warehouse, tmp_path / "published")}
    assert "marts.signals" in copies[Marking.CLEAR].withheld
    assert "marts.signals" not in tables_in(copies[Marking.CLEAR].path)
