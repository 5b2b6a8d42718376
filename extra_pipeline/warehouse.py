"""The DuckDB warehouse: the working file the pipeline writes, and the published copies
analysts and tools read.

One process writes the working file at a time (the `duckdb_writer` concurrency pool of
size 1 serialises writers across runs). Readers never open it: `publish()` builds a new
file per marking level and swaps it in with an atomic rename, so a reader holding the old
copy keeps its snapshot and a new connection sees the new data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from extra_pipeline.markings import Marking, levels_up_to, parse_marking

SCHEMAS = ("raw", "staging", "intermediate", "marts", "audit")
#: schemas copied into the published files; raw and staging stay in the working file
PUBLISHED_SCHEMAS = ("marts", "audit")
#: the Dagster concurrency pool every writer of the working file joins (limit 1)
WRITER_POOL = "duckdb_writer"

_AUDIT_DDL = """
create table if not exists audit.table_markings (
    table_name varchar primary key,   -- schema.table
    marking varchar not null,         -- TLP slug: clear, green, amber, amber+strict, red
    asset_key varchar,
    row_count bigint,
    updated_at timestamptz not null
);
create table if not exists audit.source_snapshots (
    sha256 varchar not null,
    source_id varchar not null,
    resource varchar not null,
    url varchar not null,
    bytes bigint not null,
    retrieved_at timestamptz not null,
    used_at timestamptz not null,
    publisher varchar,
    licence varchar,
    edition varchar,
    mode varchar not null,            -- live, stored or bundled
    synthetic boolean not null,
    stale boolean not null,
    fetch_id varchar not null,
    page integer not null,
    pages integer not null,
    etag varchar,
    last_modified varchar,
    note varchar,
    primary key (fetch_id, page)
);
create table if not exists audit.drops (
    drop_id varchar primary key,
    member_state varchar not null,
    dataset varchar,
    file_name varchar not null,          -- as sent; metadata only, never a path
    sha256 varchar not null,
    bytes bigint not null,
    format varchar,
    encoding varchar,
    status varchar not null,             -- accepted, partial, rejected, duplicate
    rows_received bigint not null,
    rows_accepted bigint not null,
    rows_quarantined bigint not null,
    reason varchar,
    rejection_code varchar,
    duplicate_of varchar,
    period varchar,
    marking varchar not null,
    synthetic boolean not null,
    contact varchar,
    extra_columns varchar[],
    received_at timestamptz not null,
    superseded_by varchar
);
create table if not exists audit.quarantine (
    drop_id varchar not null,
    row_number bigint not null,
    column_name varchar,
    rule varchar not null,
    reason varchar not null,
    raw_values varchar                  -- JSON object: the row as sent, by the file's own headers
);
create table if not exists audit.check_results (
    check_name varchar not null,
    asset_key varchar not null,
    suite varchar not null,
    expectation varchar not null,
    column_name varchar,
    kwargs varchar,                   -- JSON
    success boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    element_count bigint,
    run_id varchar,
    checked_at timestamptz not null
);
"""

#: audit tables are CLEAR as tables; their rows are filtered per level (`_PUBLISHED_ROWS`)
_AUDIT_MARKINGS = {
    "audit.table_markings": Marking.CLEAR,
    "audit.source_snapshots": Marking.CLEAR,
    "audit.check_results": Marking.CLEAR,
    "audit.drops": Marking.CLEAR,
    "audit.quarantine": Marking.CLEAR,
}


#: Audit rows are published only where what they describe is: a CLEAR copy must not reveal
#: the names, sizes or observed values of AMBER tables, nor the files of AMBER drops (nor the
#: ids of drops above the level, through `superseded_by` / `duplicate_of`).
#: `$1` is bound to the tables visible at the level, or to the levels themselves.
_PUBLISHED_ROWS: dict[str, tuple[str, str]] = {
    "audit.table_markings": (
        "select * from audit.table_markings where list_contains($1, table_name)",
        "tables",
    ),
    "audit.check_results": (
        "select * from audit.check_results where list_contains($1, replace(asset_key, '/', '.'))",
        "tables",
    ),
    "audit.drops": (
        "with visible as (select drop_id from audit.drops where list_contains($1, marking)) "
        "select * replace ("
        " case when superseded_by in (from visible) then superseded_by end as superseded_by,"
        " case when duplicate_of in (from visible) then duplicate_of end as duplicate_of"
        ") from audit.drops where drop_id in (from visible)",
        "levels",
    ),
    "audit.quarantine": (
        "select * from audit.quarantine where drop_id in "
        "(select drop_id from audit.drops where list_contains($1, marking))",
        "levels",
    ),
}


class WarehouseError(RuntimeError):
    """The warehouse cannot do what was asked (missing table, bad published level...)."""


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted. Only code-defined names reach here, never user input."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """`schema.table` quoted as two identifiers."""
    schema, _, name = table.partition(".")
    if not name:
        raise WarehouseError(f"table name {table!r} lacks its schema (expected schema.table)")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def sql_string(value: str) -> str:
    """A SQL string literal (for file paths in ATTACH, which takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableStats:
    """What a materialisation reports about the table it wrote."""

    table: str
    row_count: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    marking: Marking

    def metadata(self) -> dict[str, object]:
        """Dagster materialisation metadata: row count, column schema, marking, table name."""
        return {
            "dagster/row_count": self.row_count,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, type_) for name, type_ in self.columns]
            ),
            "dagster/table_name": self.table,
            "marking": self.marking.label,
        }


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB working file. Open it through `connect()`; every writer shares the pool."""

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with every schema and audit table in place."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(_AUDIT_DDL)
            yield con
        finally:
            con.close()

    def write_frame(
        self, table: str, frame: pd.DataFrame, *, marking: Marking, asset_key: str
    ) -> TableStats:
        """Replace `table` with `frame` and record its marking, in one transaction."""
        with self.connect() as con:
            con.register("incoming_frame", frame)
            try:
                return self._replace(
                    con, table, "select * from incoming_frame", marking=marking, asset_key=asset_key
                )
            finally:
                con.unregister("incoming_frame")

    def run_model(
        self, table: str, select_sql: str, *, marking: Marking, asset_key: str
    ) -> TableStats:
        """Replace `table` with the result of a model's SELECT and record its marking."""
        with self.connect() as con:
            return self._replace(con, table, select_sql, marking=marking, asset_key=asset_key)

    @staticmethod
    def _replace(
        con: duckdb.DuckDBPyConnection,
        table: str,
        select_sql: str,
        *,
        marking: Marking,
        asset_key: str,
    ) -> TableStats:
        con.execute("begin transaction")
        try:
            con.execute(f"create or replace table {qualified(table)} as {select_sql}")
            stats = describe_table(con, table, marking)
            record_marking(con, table, marking, asset_key=asset_key, row_count=stats.row_count)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return stats

    def read_table(self, table: str) -> pd.DataFrame:
        """A whole table as a DataFrame (for checks on tables the size of one source)."""
        with self.connect() as con:
            return con.execute(f"select * from {qualified(table)}").df()

    def append_rows(
        self, table: str, frame: pd.DataFrame, *, replace_on: Iterable[str] = ()
    ) -> int:
        """Insert `frame` into an existing audit table; rows whose `replace_on` key exists are replaced."""
        if frame.empty:
            return 0
        keys = list(replace_on)
        with self.connect() as con:
            con.register("incoming_rows", frame)
            try:
                con.execute("begin transaction")
                if keys:
                    match = " and ".join(f"t.{quote_ident(k)} = i.{quote_ident(k)}" for k in keys)
                    con.execute(
                        f"delete from {qualified(table)} t "
                        f"where exists (select 1 from incoming_rows i where {match})"
                    )
                columns = ", ".join(quote_ident(c) for c in frame.columns)
                con.execute(
                    f"insert into {qualified(table)} ({columns}) select {columns} from incoming_rows"
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            finally:
                con.unregister("incoming_rows")
        return len(frame)

    def table_markings(self) -> dict[str, Marking]:
        """Every table's recorded marking (audit tables included)."""
        with self.connect() as con:
            rows = con.execute("select table_name, marking from audit.table_markings").fetchall()
        markings = {name: parse_marking(marking) for name, marking in rows}
        return {**_AUDIT_MARKINGS, **markings}


def describe_table(con: duckdb.DuckDBPyConnection, table: str, marking: Marking) -> TableStats:
    """Row count and column types of a table, for materialisation metadata."""
    columns = con.execute(f"describe {qualified(table)}").fetchall()
    (row_count,) = con.execute(f"select count(*) from {qualified(table)}").fetchone()
    return TableStats(
        table=table,
        row_count=int(row_count),
        columns=tuple((str(c[0]), str(c[1])) for c in columns),
        marking=marking,
    )


def record_marking(
    con: duckdb.DuckDBPyConnection, table: str, marking: Marking, *, asset_key: str, row_count: int
) -> None:
    con.execute(
        "insert or replace into audit.table_markings values (?, ?, ?, ?, ?)",
        [table, marking.slug, asset_key, row_count, datetime.now(UTC)],
    )


@dataclass(frozen=True)
class PublishedCopy:
    level: Marking
    path: Path
    tables: tuple[str, ...]
    withheld: tuple[str, ...]  # tables above this level, left out


def list_tables(con: duckdb.DuckDBPyConnection, schemas: Iterable[str]) -> list[str]:
    wanted = list(schemas)
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database() and table_type = 'BASE TABLE' "
        "and list_contains(?, table_schema) order by 1",
        [wanted],
    ).fetchall()
    return [row[0] for row in rows]


def publish(
    warehouse: WarehouseResource,
    published_dir: Path,
    *,
    levels: Iterable[Marking] = tuple(Marking),
    markings: Mapping[str, Marking] | None = None,
) -> list[PublishedCopy]:
    """Write one DuckDB file per marking level with only the tables at or below it, atomically.

    A table with no recorded marking counts as RED, so it only reaches the RED copy.
    """
    published_dir.mkdir(parents=True, exist_ok=True)
    marks = dict(markings if markings is not None else warehouse.table_markings())
    copies = []
    built_at = datetime.now(UTC)
    with warehouse.connect() as con:
        tables = list_tables(con, PUBLISHED_SCHEMAS)
        for level in levels:
            allowed = [t for t in tables if marks.get(t, Marking.RED) <= level]
            withheld = [t for t in tables if t not in allowed]
            final = published_dir / f"{level.slug}.duckdb"
            temporary = published_dir / f".{level.slug}.{uuid.uuid4().hex}.tmp"
            try:
                _build_copy(con, temporary, level, allowed, marks, built_at)
                os.replace(temporary, final)  # atomic: readers see the old file or the new one
            finally:
                _remove_quietly(temporary)
                _remove_quietly(Path(f"{temporary}.wal"))
            copies.append(PublishedCopy(level, final, tuple(allowed), tuple(withheld)))
    return copies


def _build_copy(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    level: Marking,
    allowed: list[str],
    marks: Mapping[str, Marking],
    built_at: datetime,
) -> None:
    """Write one published copy: the allowed tables, audit rows filtered to the level."""
    visible = [table for table, marking in marks.items() if marking <= level]
    con.execute(f"attach {sql_string(str(path))} as publishing")
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema publishing.{quote_ident(schema)}")
        lists = {"tables": visible, "levels": [m.slug for m in levels_up_to(level)]}
        for table in allowed:
            select, binds = _PUBLISHED_ROWS.get(table, (f"select * from {qualified(table)}", ""))
            con.execute(
                f"create table publishing.{qualified(table)} as {select}",
                [lists[binds]] if binds else [],
            )
        con.execute(
            "create table publishing.audit.published_tables "
            "(table_name varchar, marking varchar, row_count bigint, level varchar, built_at timestamptz)"
        )
        for table in allowed:
            (count,) = con.execute(f"select count(*) from publishing.{qualified(table)}").fetchone()
            con.execute(
                "insert into publishing.audit.published_tables values (?, ?, ?, ?, ?)",
                [table, marks.get(table, Marking.RED).slug, count, level.slug, built_at],
            )
        con.execute("checkpoint publishing")
    finally:
        con.execute("detach publishing")


def _remove_quietly(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def open_published(published_dir: Path, level: Marking) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published copy for `level`."""
    path = published_dir / f"{level.slug}.duckdb"
    if not path.is_file():
        raise WarehouseError(
            f"no published copy for {level.label} at {path.name}: run `extra run` first"
        )
    # Attach into a fresh in-memory database: a plain connect() to the same path would reuse
    # a database this process already holds open, and so could return a replaced copy.
    con = duckdb.connect(":memory:")
    con.execute(f"attach {sql_string(str(path))} as published (read_only)")
    con.execute("use published")
    return con
