"""Data exports of a published copy for downstream tools: Parquet, CSV and one workbook.

`export_published()` turns one published copy (`published/<level>.duckdb`) into files that
tools and analysts can take without DuckDB: for every `marts.*` table a Parquet file and a
CSV file, one Excel workbook with the tables analysts read most (`DEFAULT_XLSX_TABLES`),
and a JSON manifest saying what each file holds (rows, columns, bytes, sha256), which copy
and methodology version they came from, and the source snapshots behind them. The marking
is in every file name (`threat_matrix.clear.parquet`, `gloca_tables.amber.xlsx`,
`manifest.amber.json`), in the manifest and in the workbook's document properties; the
copy's own `audit.published_tables` must say it was published for that level, and every
exported table must be recorded there at or below it, or nothing is written (a table
without a recorded marking counts as RED).

Formula neutralisation (OWASP "CSV injection"). A spreadsheet reads a cell that starts
with `=`, `+`, `-` or `@` (or a tab or carriage return in front of one) as a formula, and a
formula can run commands or send data away. Text in these tables comes from open sources
and member-state drops, so in the CSV files and the workbook every text cell (lists and
structs, written as JSON text, included) that starts with one of those characters gets a
leading `'`, the same quote a spreadsheet user would type; it is done in DuckDB SQL (one
`case when` per text column in the `COPY`'s select), so a large table costs little more
than a plain copy. Numbers stay numbers (a negative number is not text and is not
prefixed), booleans stay booleans and, in the workbook, dates stay dates. In the workbook
a text equal to one of Excel's error codes (`#N/A`...) is quoted too, or openpyxl would
write it as an error value. The Parquet files keep every value exactly as published: they
are typed, read by programs (DuckDB, pandas, Arrow, Spark...) and never opened by a
spreadsheet, and a prefixed quote there would corrupt the data for every such reader.
Parquet has no 128-bit integer, so a HUGEINT column (counts summed in SQL) is written as
BIGINT when every value fits, else as DECIMAL(38,0): exact either way.

Limits of the workbook, said in the manifest where they apply: a table over
`xlsx_max_rows` rows gets no sheet (its CSV and Parquet files are still there); text is cut
at Excel's 32,767 characters; characters XML cannot carry (control characters other than
tab, line feed and carriage return) become U+FFFD; a non-finite float (NaN, infinity) is an
empty cell; times with a time zone are written in UTC, without the zone (Excel has none);
a carriage return inside a text reads back as a line feed (XML line-end normalisation).
CSV files are UTF-8 without a byte-order mark, comma-separated, with a header; a null is an
empty field and an empty text `""`; timestamps with a time zone are written in UTC.

The export is atomic: it is built in a hidden sibling folder
(`.<out_dir name>.tmp-<uuid>`), then the previous `out_dir` is renamed aside, the new one
renamed in, and the old one removed, so a consumer sees the whole previous export or the
whole new one (or, for the instant between the two renames, none), never half of one; on
any failure the temporary folder is removed and the previous export stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from extra_pipeline.markings import Marking, MarkingError, parse_marking
from extra_pipeline.warehouse import quote_ident, sql_string

#: the tables the workbook holds by default, one sheet each, in this order
DEFAULT_XLSX_TABLES: tuple[str, ...] = (
    "threat_matrix",
    "country_profile",
    "regional_overview",
    "early_warnings",
    "sensitivity",
    "methodology",
    "dim_market",
    "dim_country",
)
#: the workbook's file name before `.<level>.xlsx`
WORKBOOK_STEM = "gloca_tables"
#: the characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Excel's limits: sheet name length, characters in a cell, rows in a sheet (less the header)
XLSX_SHEET_NAME_MAX = 31
XLSX_CELL_MAX = 32_767
XLSX_ROWS_MAX = 1_048_575
#: the error values openpyxl writes a text as when it equals one (kept text here: quoted)
XLSX_ERROR_CODES: tuple[str, ...] = (
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#N/A",
)
#: rows fetched from DuckDB at a time while a sheet is written
FETCH_BATCH = 2_000

#: the name the copy is attached under in the exporter's own in-memory database
_COPY = "published"
#: table names that make safe file and sheet names
_SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")
#: characters XML 1.0 cannot carry (RE2 syntax, as DuckDB's regexp functions read it)
_XML_ILLEGAL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]"

_NUMBER_TYPES = frozenset(
    {
        "tinyint", "smallint", "integer", "bigint", "hugeint",
        "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint",
        "float", "double", "decimal",
    }
)  # fmt: skip
_FLOAT_TYPES = frozenset({"float", "double"})
_DATE_TYPES = frozenset({"date"})
_TIMESTAMP_TYPES = frozenset({"timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns"})
_TIMESTAMPTZ_TYPES = frozenset({"timestamp with time zone"})
_TIME_TYPES = frozenset({"time", "time_ns"})
_NESTED_TYPES = frozenset({"list", "array", "struct", "map", "union"})
#: written as they are: numbers (unquoted in CSV), booleans, dates and times
_TYPED = _NUMBER_TYPES | {"boolean"} | _DATE_TYPES | _TIMESTAMP_TYPES | _TIME_TYPES


class ExportError(RuntimeError):
    """The export cannot be made as asked (not a published copy, wrong level, bad target)."""


@dataclass(frozen=True)
class ExportColumn:
    """One column of an exported file: its name and DuckDB type."""

    name: str
    type: str


@dataclass(frozen=True)
class ExportSheet:
    """One sheet of the workbook: the table it holds and how many rows."""

    sheet: str
    table: str
    rows: int
    columns: tuple[ExportColumn, ...]
    note: str | None = None


@dataclass(frozen=True)
class ExportFile:
    """One file of the export. `table` is None for the workbook, whose tables are `sheets`."""

    file: str
    table: str | None
    format: str  # parquet, csv or xlsx
    rows: int
    bytes: int
    sha256: str
    columns: tuple[ExportColumn, ...]
    note: str | None = None
    sheets: tuple[ExportSheet, ...] = ()


@dataclass(frozen=True)
class SkippedExport:
    """Something the export left out, and why (a table too large for a sheet...)."""

    table: str | None
    format: str
    reason: str


@dataclass(frozen=True)
class SnapshotRef:
    """A source snapshot the copy's data was parsed from (`audit.source_snapshots`)."""

    source_id: str | None
    sha256: str | None
    edition: str | None
    retrieved_at: str | None  # ISO 8601, UTC
    mode: str | None
    synthetic: bool | None


@dataclass(frozen=True)
class ExportManifest:
    """What `export_published` wrote: the content of `manifest.<level>.json`, and its path."""

    path: Path
    marking: str  # TLP label, e.g. TLP:AMBER
    level: str  # slug, e.g. amber
    built_at: str  # ISO 8601
    source_copy: str  # the published copy's file name
    copy_built_at: str | None  # when the copy was published (its audit.published_tables)
    methodology_version: str | None
    files: tuple[ExportFile, ...]
    skipped: tuple[SkippedExport, ...]
    source_snapshots: tuple[SnapshotRef, ...]

    @property
    def directory(self) -> Path:
        """The export folder (`out_dir`)."""
        return self.path.parent

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to its JSON file (everything but the path)."""
        return {
            "marking": self.marking,
            "level": self.level,
            "built_at": self.built_at,
            "source_copy": self.source_copy,
            "copy_built_at": self.copy_built_at,
            "methodology_version": self.methodology_version,
            "files": [_file_json(f) for f in self.files],
            "skipped": [
                {"table": s.table, "format": s.format, "reason": s.reason} for s in self.skipped
            ],
            "source_snapshots": [
                {
                    "source_id": s.source_id,
                    "sha256": s.sha256,
                    "edition": s.edition,
                    "retrieved_at": s.retrieved_at,
                    "mode": s.mode,
                    "synthetic": s.synthetic,
                }
                for s in self.source_snapshots
            ],
        }


def _columns_json(columns: Sequence[ExportColumn]) -> list[dict[str, str]]:
    return [{"name": c.name, "type": c.type} for c in columns]


def _file_json(entry: ExportFile) -> dict[str, Any]:
    return {
        "file": entry.file,
        "table": entry.table,
        "format": entry.format,
        "rows": entry.rows,
        "bytes": entry.bytes,
        "sha256": entry.sha256,
        "columns": _columns_json(entry.columns),
        "note": entry.note,
        "sheets": [
            {
                "sheet": s.sheet,
                "table": s.table,
                "rows": s.rows,
                "columns": _columns_json(s.columns),
                "note": s.note,
            }
            for s in entry.sheets
        ],
    }


def manifest_name(level: Marking) -> str:
    """The manifest's file name for `level`, e.g. `manifest.clear.json`."""
    return f"manifest.{level.slug}.json"


def workbook_name(level: Marking) -> str:
    """The workbook's file name for `level`, e.g. `gloca_tables.clear.xlsx`."""
    return f"{WORKBOOK_STEM}.{level.slug}.xlsx"


def neutralise_text(text: str) -> str:
    """`text` as the CSV and the workbook write it: with a leading `'` where a spreadsheet
    would read it as a formula. (The exports do this in SQL; this is the same rule in Python.)"""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def export_published(
    copy: Path,
    out_dir: Path,
    *,
    level: Marking,
    built_at: datetime,
    xlsx_tables: Sequence[str] = DEFAULT_XLSX_TABLES,
    xlsx_max_rows: int = 100_000,
) -> ExportManifest:
    """Export the published copy `copy` (marked `level`) into `out_dir`, replacing it whole.

    Writes `<table>.<level>.parquet` and `<table>.<level>.csv` for every `marts` table of
    the copy, `gloca_tables.<level>.xlsx` with a sheet per table of `xlsx_tables` present in
    the copy and no larger than `xlsx_max_rows` rows, and `manifest.<level>.json`; returns
    the manifest. `built_at` (timezone-aware) is the export's time as the manifest states it.
    The copy is only read. Raises `ExportError` when the copy is not a published copy of
    `level` or holds a table recorded above it (or not recorded at all); nothing is then
    written and a previous export in `out_dir` stays as it was.
    """
    copy, out_dir = Path(copy), Path(out_dir)
    if built_at.tzinfo is None or built_at.utcoffset() is None:
        raise ExportError("built_at must be timezone-aware (e.g. datetime.now(UTC))")
    if xlsx_max_rows < 0:
        raise ExportError(f"xlsx_max_rows must not be negative (got {xlsx_max_rows})")
    if not copy.is_file():
        raise ExportError(f"no published copy at {copy}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        with closing(_open_copy(copy)) as con:
            content = _export(
                con, staging, copy=copy, level=level, built_at=built_at,
                xlsx_tables=xlsx_tables, xlsx_max_rows=min(xlsx_max_rows, XLSX_ROWS_MAX),
            )  # fmt: skip
        manifest = ExportManifest(path=out_dir / manifest_name(level), **content)
        text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
        (staging / manifest_name(level)).write_text(text, encoding="utf-8")
        _replace_folder(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _open_copy(copy: Path) -> duckdb.DuckDBPyConnection:
    """The copy attached read-only into a fresh in-memory database (as `open_published`
    does), with times rendered in UTC."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach {sql_string(str(copy))} as {_COPY} (read_only)")
        con.execute(f"use {_COPY}")
    except BaseException:
        con.close()
        raise
    return con


def _export(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    *,
    copy: Path,
    level: Marking,
    built_at: datetime,
    xlsx_tables: Sequence[str],
    xlsx_max_rows: int,
) -> dict[str, Any]:
    """Write every file into `folder`; the manifest's content (without its path)."""
    present = _tables(con)
    marts = sorted(name for schema, name in present if schema == "marts")
    copy_built_at = _check_marking(con, copy, level, present, marts)
    files: list[ExportFile] = []
    skipped: list[SkippedExport] = []
    exportable: list[str] = []
    for table in marts:
        if _SAFE_NAME.fullmatch(table):
            exportable.append(table)
        else:
            skipped.append(SkippedExport(table, "all", "name not usable in a file name"))
    rows: dict[str, int] = {}
    for table in exportable:
        relation = f"marts.{quote_ident(table)}"
        (rows[table],) = con.execute(f"select count(*) from {relation}").fetchone()
        files.append(_write_parquet(con, folder, table, level, rows[table]))
        files.append(_write_csv(con, folder, table, level, rows[table]))
    sheets: list[str] = []
    for table in dict.fromkeys(xlsx_tables):  # in the order asked, once each
        if table not in exportable:
            continue  # absent from this copy: nothing is said of it
        if len(table) > XLSX_SHEET_NAME_MAX or table.lower() == "history":
            skipped.append(SkippedExport(table, "xlsx", "name not usable as a sheet name"))
        elif rows[table] > xlsx_max_rows:
            skipped.append(
                SkippedExport(
                    table,
                    "xlsx",
                    f"{rows[table]} rows, over the workbook's limit of {xlsx_max_rows} "
                    "(see its CSV and Parquet files)",
                )
            )
        else:
            sheets.append(table)
    if sheets:
        files.append(_write_workbook(con, folder, sheets, level, built_at))
    elif xlsx_tables:
        skipped.append(SkippedExport(None, "xlsx", "no table for the workbook in this copy"))
    return {
        "marking": level.label,
        "level": level.slug,
        "built_at": _iso(built_at),
        "source_copy": copy.name,
        "copy_built_at": copy_built_at,
        "methodology_version": _methodology_version(con, present),
        "files": tuple(sorted(files, key=lambda f: f.file)),
        "skipped": tuple(sorted(skipped, key=lambda s: (s.table or "", s.format, s.reason))),
        "source_snapshots": _source_snapshots(con, present),
    }


def _tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, table) of every table in the copy."""
    found = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ?", [_COPY]
    ).fetchall()
    return {(schema, name) for schema, name in found}


def _check_marking(
    con: duckdb.DuckDBPyConnection,
    copy: Path,
    level: Marking,
    present: set[tuple[str, str]],
    marts: Sequence[str],
) -> str | None:
    """Refuse a copy not published for `level`, or holding a `marts` table recorded above
    it or not at all; when the copy was published (ISO), if it says."""
    if ("audit", "published_tables") not in present:
        raise ExportError(f"{copy.name} has no audit.published_tables: not a published copy")
    recorded = con.execute(
        "select table_name, marking, level, built_at from audit.published_tables"
    ).fetchall()
    levels = sorted({_marking(lvl) for _, _, lvl, _ in recorded})
    if levels != [level]:
        said = ", ".join(m.label for m in levels) or "no level"
        raise ExportError(f"{copy.name} was published for {said}, not {level.label}: not exported")
    markings = {name: _marking(marking) for name, marking, _, _ in recorded}
    for table in marts:
        marking = markings.get(f"marts.{table}", Marking.RED)  # unrecorded counts as RED
        if marking > level:
            raise ExportError(
                f"marts.{table} in {copy.name} is recorded as {marking.label} (or not at all), "
                f"above {level.label}: not exported"
            )
    times = [t for *_, t in recorded if t is not None]
    return _iso(max(times)) if times else None


def _marking(value: object) -> Marking:
    """A recorded marking; none, or one that is not a TLP marking, counts as RED."""
    try:
        return parse_marking(value)
    except MarkingError:
        return Marking.RED


def _iso(value: datetime) -> str:
    """ISO 8601; an aware time in UTC."""
    return value.astimezone(UTC).isoformat() if value.tzinfo is not None else value.isoformat()


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, Any]]:
    """(name, DuckDB type object) of each column of `relation`, in order."""
    return [(d[0], d[1]) for d in con.execute(f"select * from {relation} limit 0").description]


def _type_id(duck_type: Any) -> str:
    return str(getattr(duck_type, "id", duck_type)).lower()


def _any_of(expression: str, literals: Sequence[str]) -> str:
    """SQL: whether `expression` equals one of `literals` (SQL literals), as a chain of `or`.

    Not `in (...)` nor `list_contains`: DuckDB turns a list of six or more constants into a
    mark join, which does not keep the rows' order, and the files must keep the table's.
    """
    return "(" + " or ".join(f"{expression} = {literal}" for literal in literals) + ")"


def _triggered(expression: str) -> str:
    """SQL: whether the text `expression` starts with a formula trigger (by code point; an
    empty text gives -1, a null null)."""
    return _any_of(f"ord({expression})", [str(ord(c)) for c in FORMULA_TRIGGERS])


def _neutralised(expression: str) -> str:
    """SQL: the text `expression` with a leading `'` where it starts with a formula trigger."""
    return f"case when {_triggered(expression)} then '''' || {expression} else {expression} end"


def _as_text(column: str, type_id: str) -> str:
    """SQL: a column that is neither number, boolean nor time as text (lists, structs and
    maps as JSON; JSON values, enums, UUIDs, intervals... as their text)."""
    if type_id in _NESTED_TYPES:
        return f"cast(to_json({column}) as varchar)"
    return f"cast({column} as varchar)"


def _header(name: str) -> str:
    """A column name as a CSV header or sheet heading (neutralised like any text)."""
    return neutralise_text(name)


def _hash_file(path: Path) -> tuple[int, str]:
    """The size and sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def _write_parquet(
    con: duckdb.DuckDBPyConnection, folder: Path, table: str, level: Marking, rows: int
) -> ExportFile:
    """`<table>.<level>.parquet`: every value as published (zstd)."""
    relation = f"marts.{quote_ident(table)}"
    name = f"{table}.{level.slug}.parquet"
    select: list[str] = []
    narrowed: list[str] = []
    for column, duck_type in _describe(con, relation):
        ident = quote_ident(column)
        type_id = _type_id(duck_type)
        if type_id in {"hugeint", "uhugeint"}:
            # Parquet has no 128-bit integer (DuckDB would write DOUBLE): exact instead
            narrow = "bigint" if type_id == "hugeint" else "ubigint"
            (fits,) = con.execute(
                f"select bool_and(try_cast({ident} as {narrow}) is not null) "
                f"from {relation} where {ident} is not null"
            ).fetchone()
            target = narrow if fits in (True, None) else "decimal(38, 0)"
            select.append(f"cast({ident} as {target}) as {ident}")
            narrowed.append(f"{column} as {target.upper()}")
        else:
            select.append(ident)
    path = folder / name
    (written,) = con.execute(
        f"copy (select {', '.join(select)} from {relation}) to {sql_string(str(path))} "
        "(format parquet, compression zstd)"
    ).fetchone()
    _expect_rows(name, written, rows)
    columns = tuple(
        ExportColumn(c, str(t)) for c, t in _describe(con, f"read_parquet({sql_string(str(path))})")
    )
    note = "values exactly as published; no formula neutralisation (not for spreadsheets)"
    if narrowed:
        note += "; HUGEINT (no Parquet type) written exactly: " + ", ".join(narrowed)
    size, sha = _hash_file(path)
    return ExportFile(name, table, "parquet", rows, size, sha, columns, note)


def _write_csv(
    con: duckdb.DuckDBPyConnection, folder: Path, table: str, level: Marking, rows: int
) -> ExportFile:
    """`<table>.<level>.csv`: UTF-8, comma, header; text neutralised in the COPY's select."""
    relation = f"marts.{quote_ident(table)}"
    name = f"{table}.{level.slug}.csv"
    select: list[str] = []
    columns: list[ExportColumn] = []
    as_json: list[str] = []
    utc: list[str] = []
    for column, duck_type in _describe(con, relation):
        ident = quote_ident(column)
        type_id = _type_id(duck_type)
        alias = quote_ident(_header(column))
        columns.append(ExportColumn(column, str(duck_type)))
        if type_id in _TIMESTAMPTZ_TYPES:
            select.append(f"{ident} as {alias}")  # rendered in UTC (the connection's zone)
            utc.append(column)
        elif type_id in _TYPED:
            select.append(f"{ident} as {alias}")  # numbers unquoted, true/false, ISO times
        else:
            if type_id in _NESTED_TYPES:
                as_json.append(column)
            select.append(f"{_neutralised(_as_text(ident, type_id))} as {alias}")
    path = folder / name
    (written,) = con.execute(
        f"copy (select {', '.join(select)} from {relation}) to {sql_string(str(path))} "
        "(format csv, header true, delimiter ',', quote '\"', escape '\"')"
    ).fetchone()
    _expect_rows(name, written, rows)
    note = "UTF-8, comma, header; text starting with = + - @ tab or CR prefixed with '"
    if as_json:
        note += "; as JSON text: " + ", ".join(as_json)
    if utc:
        note += "; in UTC: " + ", ".join(utc)
    size, sha = _hash_file(path)
    return ExportFile(name, table, "csv", rows, size, sha, tuple(columns), note)


def _expect_rows(name: str, written: int, rows: int) -> None:
    """Guard: a file holds as many rows as the table (the copy is read-only: a bug if not)."""
    if written != rows:
        raise ExportError(f"{name}: wrote {written} rows, expected {rows}")


@dataclass(frozen=True)
class _SheetQuery:
    """How a table becomes a sheet: `prepared` (a select over the table: one column `c<i>`
    per column, text made XML-safe) and `select` over it (text neutralised and cut)."""

    columns: tuple[ExportColumn, ...]
    prepared: str
    select: str
    texts: tuple[str, ...]  # the prepared text columns
    floats: tuple[str, ...]  # the prepared float columns

    def rows_sql(self) -> str:
        """The rows as the sheet holds them."""
        return f"with prepared as ({self.prepared}) select {self.select} from prepared"

    def note_sql(self) -> str | None:
        """Counts of text cells over Excel's limit and of non-finite floats; None if neither
        can occur."""
        if not self.texts and not self.floats:
            return None
        # the quote a neutralised text gains counts towards the limit
        cut = [
            f"count(*) filter (where length({t}) "
            f"+ (case when {_triggered(t)} then 1 else 0 end) > {XLSX_CELL_MAX})"
            for t in self.texts
        ]
        nonfinite = [f"count(*) filter (where not isfinite({f}))" for f in self.floats]
        return (
            f"with prepared as ({self.prepared}) select "
            f"{' + '.join(cut) or '0'}, {' + '.join(nonfinite) or '0'} from prepared"
        )


def _sheet_query(con: duckdb.DuckDBPyConnection, relation: str) -> _SheetQuery:
    """The SQL that gives a table's rows as the workbook writes them."""
    columns: list[ExportColumn] = []
    inner: list[str] = []
    outer: list[str] = []
    texts: list[str] = []
    floats: list[str] = []
    error_codes = [sql_string(code) for code in XLSX_ERROR_CODES]
    for index, (column, duck_type) in enumerate(_describe(con, relation)):
        ident = quote_ident(column)
        type_id = _type_id(duck_type)
        columns.append(ExportColumn(column, str(duck_type)))
        c = f"c{index}"
        if type_id in _FLOAT_TYPES:
            inner.append(f"{ident} as {c}")
            outer.append(f"case when isfinite({c}) then {c} end")  # Excel has no NaN
            floats.append(c)
        elif type_id in _TIMESTAMPTZ_TYPES:
            inner.append(f"timezone('UTC', {ident}) as {c}")  # Excel has no time zones
            outer.append(c)
        elif type_id in _TIMESTAMP_TYPES:
            inner.append(f"cast({ident} as timestamp) as {c}")  # microseconds: Python's
            outer.append(c)
        elif type_id in _TIME_TYPES:
            inner.append(f"cast({ident} as time) as {c}")
            outer.append(c)
        elif type_id in _TYPED:  # numbers, booleans, dates
            inner.append(f"{ident} as {c}")
            outer.append(c)
        else:
            text = _as_text(ident, type_id)
            inner.append(f"regexp_replace({text}, '{_XML_ILLEGAL}', '\ufffd', 'g') as {c}")
            quote = f"{_triggered(c)} or {_any_of(c, error_codes)}"
            outer.append(f"left(case when {quote} then '''' || {c} else {c} end, {XLSX_CELL_MAX})")
            texts.append(c)
    return _SheetQuery(
        tuple(columns),
        f"select {', '.join(inner)} from {relation}",
        ", ".join(outer),
        tuple(texts),
        tuple(floats),
    )


def _write_workbook(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    tables: Sequence[str],
    level: Marking,
    built_at: datetime,
) -> ExportFile:
    """`gloca_tables.<level>.xlsx`: one sheet per table, written in openpyxl's write-only
    mode from DuckDB batches; text neutralised in SQL; numbers, booleans and dates typed."""
    name = workbook_name(level)
    workbook = Workbook(write_only=True)
    workbook.properties.title = f"GLOCA tables {level.label}"
    workbook.properties.subject = level.label
    workbook.properties.keywords = level.label
    workbook.properties.category = level.label
    workbook.properties.creator = "EXTRA data pipeline"
    workbook.properties.created = built_at.astimezone(UTC).replace(tzinfo=None)
    bold = Font(bold=True)
    sheets: list[ExportSheet] = []
    for table in tables:
        query = _sheet_query(con, f"marts.{quote_ident(table)}")
        sheet = workbook.create_sheet(table)
        sheet.freeze_panes = "A2"
        heading = []
        for column in query.columns:
            cell = WriteOnlyCell(sheet, value=_header(column.name))
            cell.font = bold
            heading.append(cell)
        sheet.append(heading)
        cursor = con.execute(query.rows_sql())
        count = 0
        while batch := cursor.fetchmany(FETCH_BATCH):
            for row in batch:
                sheet.append(row)
            count += len(batch)
        sheets.append(ExportSheet(table, table, count, query.columns, _sheet_note(con, query)))
    path = folder / name
    workbook.save(path)
    size, sha = _hash_file(path)
    note = (
        "one sheet per table; text starting with = + - @ tab or CR (or equal to an Excel "
        "error code) prefixed with '; lists/structs as JSON text; times with a zone in UTC"
    )
    rows = sum(s.rows for s in sheets)
    return ExportFile(name, None, "xlsx", rows, size, sha, (), note, tuple(sheets))


def _sheet_note(con: duckdb.DuckDBPyConnection, query: _SheetQuery) -> str | None:
    """What a sheet could not hold as published: cells cut to Excel's limit, non-finite
    floats left empty; None when nothing."""
    sql = query.note_sql()
    if sql is None:
        return None
    cut, nonfinite = con.execute(sql).fetchone()
    notes = []
    if cut:
        notes.append(f"{cut} text cells cut to Excel's {XLSX_CELL_MAX} characters")
    if nonfinite:
        notes.append(f"{nonfinite} non-finite numbers (NaN, infinity) left empty")
    return "; ".join(notes) or None


def _methodology_version(
    con: duckdb.DuckDBPyConnection, present: set[tuple[str, str]]
) -> str | None:
    """The methodology version(s) in `marts.methodology`, if the copy has it."""
    if ("marts", "methodology") not in present:
        return None
    if "methodology_version" not in {c for c, _ in _describe(con, "marts.methodology")}:
        return None
    versions = con.execute(
        "select distinct cast(methodology_version as varchar) from marts.methodology "
        "where methodology_version is not null order by 1"
    ).fetchall()
    return ", ".join(v for (v,) in versions) or None


_SNAPSHOT_FIELDS = ("source_id", "sha256", "edition", "retrieved_at", "mode", "synthetic")


def _source_snapshots(
    con: duckdb.DuckDBPyConnection, present: set[tuple[str, str]]
) -> tuple[SnapshotRef, ...]:
    """The distinct source snapshots the copy records, sorted (its rows are already those
    at or below its level)."""
    if ("audit", "source_snapshots") not in present:
        return ()
    have = {c for c, _ in _describe(con, "audit.source_snapshots")}
    select = ", ".join(f if f in have else f"null as {f}" for f in _SNAPSHOT_FIELDS)
    found = con.execute(
        f"select distinct {select} from audit.source_snapshots "
        "order by source_id, edition, retrieved_at, sha256, mode, synthetic"
    ).fetchall()
    return tuple(
        SnapshotRef(
            source_id=source_id,
            sha256=sha,
            edition=None if edition is None else str(edition),
            retrieved_at=_iso(retrieved) if isinstance(retrieved, datetime) else retrieved,
            mode=mode,
            synthetic=synthetic,
        )
        for source_id, sha, edition, retrieved, mode, synthetic in found
    )


def _replace_folder(staging: Path, out_dir: Path) -> None:
    """Put `staging` in place of `out_dir`: the old one renamed aside, the new one renamed
    in, the old one removed; the old one put back if the new one cannot go in."""
    aside: Path | None = None
    if out_dir.exists() or out_dir.is_symlink():
        aside = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex}"
        os.rename(out_dir, aside)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        if aside is not None:
            os.rename(aside, out_dir)
        raise
    if aside is not None:
        if aside.is_symlink():
            aside.unlink()
        else:
            shutil.rmtree(aside, ignore_errors=True)
