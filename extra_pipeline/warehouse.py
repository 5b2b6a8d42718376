"""The DuckDB warehouse: the working file the pipeline writes, and the published copies
analysts and tools read.

One process writes the working file at a time (the `duckdb_writer` concurrency pool of
size 1 serialises writers across runs). Readers never open it: `publish()` builds a new
file per marking level and swaps it in with an atomic rename, so a reader holding the old
copy keeps its snapshot and a new connection sees the new data.

Every write records, beside the table's marking, its code version (a model's SQL hash) and
its data version (what it was built from: see `extra_pipeline.refresh`). They let a model
be kept up to date by key (`run_model`), a published copy be updated from the previous one
instead of rebuilt (`publish`), and the nightly refresh skip what has not changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from pydantic import PrivateAttr

from extra_pipeline.markings import Marking, levels_up_to, parse_marking
from extra_pipeline.methodology import bind_parameters

SCHEMAS = ("raw", "staging", "intermediate", "marts", "audit")
#: schemas copied into the published files; raw and staging stay in the working file
PUBLISHED_SCHEMAS = ("marts", "audit")
#: the DuckDB storage format the published copies are written in, so that readers a release
#: or more behind (the DuckDB CLI, R's and other clients' DuckDB 1.3 and later) open them:
#: the oldest as fast to write as the current one (v1.0.0 costs a third more per publish,
#: for want of the newer compression); the working warehouse keeps the current format
PUBLISHED_STORAGE_VERSION = "v1.3.0"
#: the Dagster concurrency pool every writer of the working file joins (limit 1)
WRITER_POOL = "duckdb_writer"

_AUDIT_DDL = """
create table if not exists audit.table_markings (
    table_name varchar primary key,   -- schema.table
    marking varchar not null,         -- TLP slug: clear, green, amber, amber+strict, red
    asset_key varchar,
    row_count bigint,
    updated_at timestamptz not null,
    code_version varchar,             -- a model's SQL hash
    data_version varchar,             -- what the table was built from (extra_pipeline.refresh)
    incremental_key varchar           -- the column a model is kept up to date by, if any
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
    marking varchar,                  -- the source's TLP slug: rows reach copies at or above it
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
    checked_at timestamptz not null,
    suite_digest varchar              -- the suite's content: a changed suite checks again
);
create table if not exists audit.publications (
    level varchar primary key,        -- the published copy's TLP slug
    fingerprint varchar not null,     -- the working file's state it was built from
    built_at timestamptz not null
);
"""
#: columns added since the first release: a warehouse made before them gains them on connect
_AUDIT_COLUMNS = {
    "audit.table_markings": (
        ("code_version", "varchar"),
        ("data_version", "varchar"),
        ("incremental_key", "varchar"),
    ),
    "audit.check_results": (("suite_digest", "varchar"),),
    "audit.source_snapshots": (("marking", "varchar"),),
}
#: bookkeeping of the working file, never copied into the published files
_INTERNAL_TABLES = ("audit.publications",)

#: audit tables are CLEAR as tables; their rows are filtered per level (`_PUBLISHED_ROWS`)
_AUDIT_MARKINGS = {
    "audit.table_markings": Marking.CLEAR,
    "audit.source_snapshots": Marking.CLEAR,
    "audit.check_results": Marking.CLEAR,
    "audit.drops": Marking.CLEAR,
    "audit.quarantine": Marking.CLEAR,
}


#: Audit rows are published only where what they describe is: a CLEAR copy must not reveal
#: the names, sizes or observed values of AMBER tables, the payloads of AMBER sources, nor the
#: files of AMBER drops (nor the
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
    # a row without a marking (recorded before markings were) counts as RED
    "audit.source_snapshots": (
        "select * from audit.source_snapshots where list_contains($1, coalesce(marking, 'red'))",
        "levels",
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
class TableVersion:
    """What `audit.table_markings` records about one table's last write."""

    table: str
    marking: str
    code_version: str | None
    data_version: str | None
    incremental_key: str | None
    updated_at: datetime | None


_UNRECORDED = TableVersion("", "", None, None, None, None)


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


@dataclass(frozen=True)
class ModelBuild:
    """What `run_model` did: the table's stats and how it got there."""

    stats: TableStats
    mode: str  # full, incremental or unchanged
    reason: str
    rows_inserted: int
    rows_deleted: int

    def metadata(self) -> dict[str, object]:
        return {
            **self.stats.metadata(),
            "mode": self.mode,
            "mode_reason": self.reason,
            "rows_inserted": self.rows_inserted,
            "rows_deleted": self.rows_deleted,
        }


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB working file. Open it through `connect()`; every writer shares the pool.

    A step that connects several times wraps its work in `session()`: opening and closing
    a DuckDB file costs tens of milliseconds (its catalogue is read, its log checkpointed),
    while a connection to a file already open in the process is nearly free. The session
    ends with the step's work, so the file is locked no longer than the writer pool's slot
    is held, and other runs' steps queue on the pool as before.
    """

    path: str
    _anchor: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the file open until the block ends; `connect()` inside shares it."""
        if self._anchor is not None:  # already in one
            yield
            return
        self._anchor = self._open()
        try:
            yield
        finally:
            anchor, self._anchor = self._anchor, None
            anchor.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the file, with every schema and audit table in place."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = _connect_when_free(self.path)
        try:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {quote_ident(schema)}")
            con.execute(_AUDIT_DDL)
            _add_missing_columns(con)
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with every schema and audit table in place."""
        # with the file held open, a connection shares its database (schemas already made)
        con = self._anchor.cursor() if self._anchor is not None else self._open()
        try:
            yield con
        finally:
            con.close()

    def write_frame(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        marking: Marking,
        asset_key: str,
        data_version: str | None = None,
    ) -> TableStats:
        """Replace `table` with `frame` and record its marking (and data version), in one transaction.

        A column with no value at all (every entity without a country, say) would reach
        DuckDB with no type; it becomes text, which is what such a column holds when it has any.
        """
        untyped = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
        with self.connect() as con:
            con.register("incoming_frame", frame)
            try:
                with transaction(con):
                    columns = ", ".join(
                        f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in untyped
                    )
                    replace = f" replace ({columns})" if untyped else ""
                    con.execute(
                        f"create or replace table {qualified(table)} as "
                        f"select *{replace} from incoming_frame"
                    )
                    stats = describe_table(con, table, marking)
                    record_marking(
                        con, table, marking, asset_key=asset_key, row_count=stats.row_count,
                        data_version=data_version,
                    )  # fmt: skip
                return stats
            finally:
                con.unregister("incoming_frame")

    def run_model(
        self,
        table: str,
        select_sql: str,
        *,
        marking: Marking,
        asset_key: str,
        code_version: str | None = None,
        data_version: str | None = None,
        incremental_key: str | None = None,
        full: bool = False,
        parameters: Mapping[str, object] | None = None,
        key_source: str | None = None,
    ) -> ModelBuild:
        """Bring `table` up to date with a model's SELECT and record its marking and versions.

        - `unchanged`: the table exists and was built by this code from inputs of this data
          version: nothing to do.
        - `incremental` (a model with an `incremental_key`, built before by the same code): in
          one transaction, rows of key values the SELECT no longer yields are deleted and
          rows of new key values inserted; the SELECT is asked only for its key column and
          for the new keys' rows, so the cost follows what changed, not the table's size.
        - `full`: the table is replaced (first build, code changed, not incremental, or
          `full` asked for).

        `parameters` are bound as DuckDB variables first (the SQL's `getvariable()`);
        `key_source` names the input whose key values are the SELECT's (read instead of
        running the SELECT for its keys).
        """
        with self.connect() as con, transaction(con):
            bind_parameters(con, parameters or {})
            recorded = recorded_versions(con, [table]).get(table) or _UNRECORDED
            exists = table_exists(con, table)
            same_code = bool(exists and code_version and recorded.code_version == code_version)
            unchanged = bool(
                not full and same_code and data_version and recorded.data_version == data_version
            )
            delta = None
            if not unchanged and incremental_key and not full and same_code:
                wanted = (
                    distinct_values(con, qualified(key_source), incremental_key)
                    if key_source
                    else None
                )
                delta = key_delta(
                    con, qualified(table), _subquery(select_sql), incremental_key, wanted=wanted
                )
            replaced = 0
            if not unchanged and delta is None:
                if exists:
                    (replaced,) = con.execute(f"select count(*) from {qualified(table)}").fetchone()
                con.execute(f"create or replace table {qualified(table)} as {select_sql}")
            stats = describe_table(con, table, marking)
            if not unchanged or recorded.marking != marking.slug:
                record_marking(
                    con, table, marking, asset_key=asset_key, row_count=stats.row_count,
                    code_version=code_version, data_version=data_version,
                    incremental_key=incremental_key,
                )  # fmt: skip
        if unchanged:
            return ModelBuild(stats, "unchanged", "code and inputs as at the last build", 0, 0)
        if delta is not None:
            return ModelBuild(stats, "incremental", "new inputs", *delta)
        reason = _full_reason(
            exists=exists, same_code=same_code, full=full, incremental=incremental_key is not None
        )
        return ModelBuild(stats, "full", reason, stats.row_count, int(replaced))

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
                with transaction(con):
                    if keys:
                        match = " and ".join(
                            f"t.{quote_ident(k)} = i.{quote_ident(k)}" for k in keys
                        )
                        con.execute(
                            f"delete from {qualified(table)} t "
                            f"where exists (select 1 from incoming_rows i where {match})"
                        )
                    columns = ", ".join(quote_ident(c) for c in frame.columns)
                    con.execute(
                        f"insert into {qualified(table)} ({columns}) select {columns} from incoming_rows"
                    )
            finally:
                con.unregister("incoming_rows")
        return len(frame)

    def query_parameters(self, queries: Mapping[str, str]) -> dict[str, object]:
        """The single value each query returns (a suite's parameters, from the warehouse);
        None where it returns no row."""
        if not queries:
            return {}
        with self.connect() as con:
            rows = {name: con.execute(sql).fetchone() for name, sql in queries.items()}
        return {name: row[0] if row else None for name, row in rows.items()}

    def table_markings(self) -> dict[str, Marking]:
        """Every table's recorded marking (audit tables included)."""
        with self.connect() as con:
            rows = con.execute("select table_name, marking from audit.table_markings").fetchall()
        markings = {name: parse_marking(marking) for name, marking in rows}
        return {**_AUDIT_MARKINGS, **markings}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together or not at all."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in _AUDIT_COLUMNS.items():
        have = set(_columns(con, table))
        for name, type_ in columns:
            if name not in have:
                con.execute(
                    f"alter table {qualified(table)} add column if not exists {name} {type_}"
                )


def _columns(
    con: duckdb.DuckDBPyConnection, table: str, *, database: str | None = None
) -> list[str]:
    schema, _, name = table.partition(".")
    rows = con.execute(
        "select column_name from duckdb_columns() where database_name = "
        "coalesce(?, current_database()) and schema_name = ? and table_name = ? "
        "order by column_index",
        [database, schema, name],
    ).fetchall()
    return [row[0] for row in rows]


def table_exists(
    con: duckdb.DuckDBPyConnection, table: str, *, database: str | None = None
) -> bool:
    schema, _, name = table.partition(".")
    (found,) = con.execute(
        "select count(*) from duckdb_tables() where database_name = coalesce(?, current_database()) "
        "and schema_name = ? and table_name = ?",
        [database, schema, name],
    ).fetchone()
    return bool(found)


def recorded_versions(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str] | None = None
) -> dict[str, TableVersion]:
    """What `audit.table_markings` says about each table (or those named): empty where the
    warehouse predates it, versions None where it predates versions."""
    have = set(_columns(con, "audit.table_markings"))
    if not have:
        return {}
    wanted = ["code_version", "data_version", "incremental_key"]
    columns = ", ".join(c if c in have else f"null as {c}" for c in wanted)
    sql = f"select table_name, marking, {columns}, updated_at from audit.table_markings"
    params: list[object] = []
    if tables is not None:
        sql += " where list_contains(?, table_name)"
        params.append(list(tables))
    return {row[0]: TableVersion(*row) for row in con.execute(sql, params).fetchall()}


def key_delta(
    con: duckdb.DuckDBPyConnection,
    target: str,
    source: str,
    key: str,
    *,
    wanted: set[object] | None = None,
    held: set[object] | None = None,
) -> tuple[int, int] | None:
    """Make `target` hold the rows of `source` by key: delete the rows of key values `source`
    no longer has, insert `source`'s rows of key values `target` lacks; (inserted, deleted).

    Rows of a key value both hold are left alone: this is right only where a key value's
    rows never change once written (a drop's rows). None, with nothing changed, when the
    key is null somewhere or of a type not handled here (the caller rebuilds instead).
    `wanted` and `held` are the key values of `source` and `target`, where already known.
    """
    column = quote_ident(key)
    wanted = wanted if wanted is not None else distinct_values(con, source, key)
    held = held if held is not None else distinct_values(con, target, key)
    try:
        gone, new = _literals(held - wanted), _literals(wanted - held)
    except TypeError:
        return None
    deleted = inserted = 0
    if gone:
        (deleted,) = con.execute(f"delete from {target} where {column} in ({gone})").fetchone()
    if new:
        # key values as literals: DuckDB filters the scan with them (a join would not)
        (inserted,) = con.execute(
            f"insert into {target} by name select * from {source} where {column} in ({new})"
        ).fetchone()
    return int(inserted), int(deleted)


def distinct_values(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> set[object]:
    """The distinct values of one column (DuckDB reads that column only)."""
    rows = con.execute(f"select distinct {quote_ident(column)} from {relation}").fetchall()
    return {row[0] for row in rows}


def _literals(values: Iterable[object]) -> str:
    """SQL literals for key values (strings and integers); TypeError for anything else."""
    rendered = []
    for value in sorted(values, key=repr):
        if isinstance(value, str):
            rendered.append(sql_string(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            rendered.append(str(value))
        else:
            raise TypeError(f"key value {value!r} is not a string or an integer")
    return ", ".join(rendered)


def _subquery(select_sql: str) -> str:
    """A model's SELECT as a relation (its text may end in a comment or a semicolon)."""
    return f"(\n{select_sql.strip().rstrip(';')}\n)"


def _full_reason(*, exists: bool, same_code: bool, full: bool, incremental: bool) -> str:
    if full:
        return "full refresh asked for"
    if not exists:
        return "first build (no table yet)"
    if not same_code:
        return "code changed since the last build"
    return (
        "key values not comparable (null, or not text or integer)" if incremental else "new inputs"
    )


def _connect_when_free(path: str, attempts: int = 20) -> duckdb.DuckDBPyConnection:
    """Open the working file read-write, waiting out a short lock held by another process
    (the schedule's planner reads it for a fraction of a second)."""
    for attempt in range(attempts):
        try:
            return duckdb.connect(path)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise AssertionError("unreachable")


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
    con: duckdb.DuckDBPyConnection,
    table: str,
    marking: Marking,
    *,
    asset_key: str,
    row_count: int,
    code_version: str | None = None,
    data_version: str | None = None,
    incremental_key: str | None = None,
) -> None:
    """Record a table's marking, size and versions (in the writer's transaction)."""
    con.execute(
        "insert or replace into audit.table_markings (table_name, marking, asset_key, row_count, "
        "updated_at, code_version, data_version, incremental_key) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [table, marking.slug, asset_key, row_count, datetime.now(UTC), code_version,
         data_version, incremental_key],
    )  # fmt: skip


@dataclass(frozen=True)
class PublishedCopy:
    level: Marking
    path: Path
    tables: tuple[str, ...]
    withheld: tuple[str, ...]  # tables above this level, left out
    #: built from the previous copy (only what changed rewritten) rather than from scratch
    updated: bool = False
    #: per table: kept, copied, or the rows inserted and deleted by key (+n -m)
    changes: Mapping[str, str] = field(default_factory=dict)


def list_tables(
    con: duckdb.DuckDBPyConnection, schemas: Iterable[str], *, database: str | None = None
) -> list[str]:
    wanted = list(schemas)
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = coalesce(?, current_database()) and table_type = 'BASE TABLE' "
        "and list_contains(?, table_schema) order by 1",
        [database, wanted],
    ).fetchall()
    return [row[0] for row in rows]


def publish(
    warehouse: WarehouseResource,
    published_dir: Path,
    *,
    levels: Iterable[Marking] = tuple(Marking),
    markings: Mapping[str, Marking] | None = None,
    full: bool = False,
    row_marked: Mapping[str, str] | None = None,
) -> list[PublishedCopy]:
    """Write one DuckDB file per marking level with only the tables at or below it, atomically.

    A table with no recorded marking counts as RED, so it only reaches the RED copy. A table
    in `row_marked` (table -> the column holding each row's marking slug) also reaches the
    copies below its own marking, with only the rows at or below each (a row without a
    marking counts as RED).

    Each new file starts as a copy of the previous one, where there is one: a table whose
    data version is the one that copy holds is kept as it is, a table kept by key gets only
    its new and removed keys' rows, the rest is copied again; the audit tables (filtered per
    level) are always rewritten. A copy that would lose a table (withheld now, or gone) is
    built from scratch instead, and so is every copy with `full`.
    """
    published_dir.mkdir(parents=True, exist_ok=True)
    marks = dict(markings if markings is not None else warehouse.table_markings())
    copies = []
    built_at = datetime.now(UTC)
    with warehouse.connect() as con:
        fingerprint = publish_fingerprint(con)
        versions = recorded_versions(con)
        tables = [t for t in list_tables(con, PUBLISHED_SCHEMAS) if t not in _INTERNAL_TABLES]
        key_sets: dict[tuple[str, str], set[object]] = {}  # shared by the copies
        row_marked = dict(row_marked or {})
        for level in levels:
            allowed = [t for t in tables if marks.get(t, Marking.RED) <= level or t in row_marked]
            withheld = [t for t in tables if t not in allowed]
            # row-marked tables above this level: only their rows at or below it
            filtered = {t: row_marked[t] for t in allowed if marks.get(t, Marking.RED) > level}
            final = published_dir / f"{level.slug}.duckdb"
            temporary = published_dir / f".{level.slug}.{uuid.uuid4().hex}.tmp"
            try:
                # a copy holding some rows of a row-marked table is built afresh: a row whose
                # marking rose must not linger in the free blocks of the previous file
                previous = (
                    None if full or filtered else _previous_copy(con, final, temporary, allowed)
                )
                try:
                    changes = _build_copy(
                        con, temporary, level, allowed, marks, versions, built_at, previous,
                        key_sets, filtered,
                    )  # fmt: skip
                except _RowsWithdrawn:
                    # rows leaving a copy must not linger in its free blocks: start afresh
                    _remove_quietly(temporary)
                    previous = None
                    changes = _build_copy(
                        con, temporary, level, allowed, marks, versions, built_at, None, key_sets,
                        filtered,
                    )  # fmt: skip
                os.replace(temporary, final)  # atomic: readers see the old file or the new one
            finally:
                _remove_quietly(temporary)
                _remove_quietly(Path(f"{temporary}.wal"))
            copies.append(
                PublishedCopy(
                    level, final, tuple(allowed), tuple(withheld), previous is not None, changes
                )
            )
        with transaction(con):
            for copy in copies:
                con.execute(
                    "insert or replace into audit.publications values (?, ?, ?)",
                    [copy.level.slug, fingerprint, built_at],
                )
    return copies


_PUBLISHER_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def publish_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """The state of everything a published copy is made of: every table's recorded write and
    the audit tables' rows. It changes with any write; a copy built at this fingerprint is
    up to date while it holds. (Times as epoch microseconds: the same in any time zone.)"""
    # this module's code too: a change to what is published (a row filter...) republishes
    parts: list[object] = [_PUBLISHER_DIGEST, list_tables(con, PUBLISHED_SCHEMAS)]
    for sql in (
        "select table_name, marking, data_version, epoch_us(updated_at) "
        "from audit.table_markings order by table_name",
        "select drop_id, status, superseded_by, marking from audit.drops order by drop_id",
        "select count(*) from audit.quarantine",
        "select count(*), epoch_us(max(checked_at)) from audit.check_results",
        "select count(*), epoch_us(max(used_at)) from audit.source_snapshots",
    ):
        parts.append(con.execute(sql).fetchall())
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class _CopyVersion:
    data_version: str | None
    code_version: str | None


def _previous_copy(
    con: duckdb.DuckDBPyConnection, final: Path, temporary: Path, allowed: list[str]
) -> dict[str, _CopyVersion] | None:
    """Copy the current published file to `temporary` and say which versions it holds; None
    (and no copy) where it cannot be built on: missing, made before versions were recorded,
    unreadable, edited since (a table, view or schema it should not hold, or row counts
    that differ from what it recorded), or holding a table that must now leave it (built
    from scratch instead, so nothing withheld lingers in the file)."""
    if not final.is_file() or Path(f"{final}.wal").exists():
        return None
    _copy_file(final, temporary)
    held: dict[str, _CopyVersion] | None = None
    try:
        con.execute(f"attach {sql_string(str(temporary))} as previous (read_only)")
    except duckdb.Error:
        _remove_quietly(temporary)
        return None
    try:
        (tags,) = con.execute(
            "select tags from duckdb_databases() where database_name = 'previous'"
        ).fetchone()
        # a copy in another storage format (from an older publisher) is built afresh: the
        # format of an existing file cannot be lowered
        same_format = tags.get("storage_version") == f"{PUBLISHED_STORAGE_VERSION}+"
        everything = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where database_name = 'previous' union all "
            "select schema_name || '.' || view_name from duckdb_views() "
            "where database_name = 'previous' and not internal"
        ).fetchall()
        present = {name for (name,) in everything}
        columns = set(_columns(con, "audit.published_tables", database="previous"))
        if (
            same_format
            and {"data_version", "code_version", "row_count"} <= columns
            and present
            <= {
                *allowed,
                "audit.published_tables",
            }
        ):
            rows = con.execute(
                "select table_name, data_version, code_version, row_count "
                "from previous.audit.published_tables"
            ).fetchall()
            held = {name: _CopyVersion(dv, cv) for name, dv, cv, _ in rows if name in present}
            # a copy edited since it was published is not built on
            for name, _, _, count in rows:
                if name in present and name != "audit.published_tables":
                    (actual,) = con.execute(
                        f"select count(*) from previous.{qualified(name)}"
                    ).fetchone()
                    if actual != count:
                        held = None
                        break
    finally:
        con.execute("detach previous")
    if held is None:
        _remove_quietly(temporary)
    return held


class _RowsWithdrawn(Exception):
    """Building on the previous copy would delete rows: the copy is built from scratch."""


def _build_copy(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    level: Marking,
    allowed: list[str],
    marks: Mapping[str, Marking],
    versions: Mapping[str, TableVersion],
    built_at: datetime,
    previous: Mapping[str, _CopyVersion] | None,
    key_sets: dict[tuple[str, str], set[object]],
    filtered: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Write one published copy: the allowed tables, audit rows filtered to the level; on
    top of the previous copy's file where `previous` says what that holds. `key_sets`
    caches the key values of a table at a data version (the same in every copy);
    `filtered` names the row-marked tables above the level and their marking column."""
    filtered = filtered or {}

    def keys_of(table: str, version: str, relation: str, key: str) -> set[object]:
        if (table, version) not in key_sets:
            key_sets[table, version] = distinct_values(con, relation, key)
        return key_sets[table, version]

    # audit rows of a row-marked table stay at its own level: their counts cover every row
    visible = [table for table, marking in marks.items() if marking <= level]
    changes: dict[str, str] = {}
    con.execute(
        f"attach {sql_string(str(path))} as publishing "
        f"(storage_version {sql_string(PUBLISHED_STORAGE_VERSION)})"
    )
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists publishing.{quote_ident(schema)}")
        lists = {"tables": visible, "levels": [m.slug for m in levels_up_to(level)]}
        for table in allowed:
            target = f"publishing.{qualified(table)}"
            levels = [m.slug for m in levels_up_to(level)]
            if table in filtered:
                column = quote_ident(filtered[table])
                con.execute(
                    f"create or replace table {target} as select * from {qualified(table)} "
                    f"where list_contains($1, coalesce(lower({column}), 'red'))",
                    [levels],
                )
                changes[table] = f"rows at or below {level.slug}"
                continue
            now = versions.get(table)
            held = (previous or {}).get(table)
            if table not in _PUBLISHED_ROWS and now and held and now.data_version:
                if held.data_version == now.data_version:
                    changes[table] = "kept"
                    continue
                key = now.incremental_key
                if key and held.data_version and now.code_version == held.code_version:
                    wanted = keys_of(table, now.data_version, qualified(table), key)
                    if keys_of(table, held.data_version, target, key) - wanted:
                        raise _RowsWithdrawn(table)
                    delta = key_delta(
                        con, target, qualified(table), key,
                        wanted=keys_of(table, now.data_version, qualified(table), key),
                        held=keys_of(table, held.data_version, target, key),
                    )  # fmt: skip
                    if delta is not None:
                        changes[table] = f"+{delta[0]} -{delta[1]}"
                        continue
            select, binds = _PUBLISHED_ROWS.get(table, (f"select * from {qualified(table)}", ""))
            con.execute(
                f"create or replace table {target} as {select}",
                [lists[binds]] if binds else [],
            )
            changes[table] = "copied"
        con.execute(
            "create or replace table publishing.audit.published_tables (table_name varchar, "
            "marking varchar, row_count bigint, level varchar, built_at timestamptz, "
            "data_version varchar, code_version varchar)"
        )
        for table in allowed:
            (count,) = con.execute(f"select count(*) from publishing.{qualified(table)}").fetchone()
            now = versions.get(table)
            # a row-marked table's rows here are at or below the level: that is their marking;
            # no data version, so a later copy never keeps these rows as the whole table
            marking = level if table in filtered else marks.get(table, Marking.RED)
            whole = now is not None and table not in filtered
            con.execute(
                "insert into publishing.audit.published_tables values (?, ?, ?, ?, ?, ?, ?)",
                [table, marking.slug, count, level.slug, built_at,
                 now.data_version if whole else None, now.code_version if whole else None],
            )  # fmt: skip
        con.execute("checkpoint publishing")
    finally:
        con.execute("detach publishing")
    return changes


#: Linux `ioctl` asking for a copy-on-write clone of a whole file (Btrfs, XFS, bcachefs...)
_FICLONE = 0x40049409


def _copy_file(source: Path, target: Path) -> None:
    """`source` copied to `target`: a copy-on-write clone where the file system offers one
    (instant, whatever the file's size), else a plain copy."""
    try:
        import fcntl

        with source.open("rb") as src, target.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        return
    except (ImportError, OSError):  # not Linux, or not a file system that clones
        pass
    shutil.copyfile(source, target)


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
