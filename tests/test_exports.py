"""Data exports of a published copy (extra_pipeline.products.exports), on real DuckDB files
made here in the shape of a published copy: hostile text neutralised in CSV and XLSX and
kept as it is in Parquet, types kept, manifest true to the files, atomic replacement, and
only what the copy holds exported."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from extra_pipeline.markings import Marking
from extra_pipeline.products import exports
from extra_pipeline.products.exports import (
    DEFAULT_XLSX_TABLES,
    ExportError,
    export_published,
    neutralise_text,
)

BUILT_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COPY_BUILT_AT = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)

#: text a spreadsheet would run as a formula, and one it would not
HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
]
PLAIN = "Côte d'Ivoire, plain text"

#: marts.signals: one row per label; `amount` of the first row is the negative number
SIGNALS = [
    # id, label, amount, n, big, flag, day, seen_at, tags, detail, status
    (1, HOSTILE[0], -5.0, 10, 7, True, date(2025, 1, 2), datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
     ["=a", "b"], '{"k": "=x"}', "#N/A"),
    (2, HOSTILE[1], 1.5, -3, 8, False, date(2025, 2, 3), datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC),
     [], "-1", "ok"),
    (3, HOSTILE[2], 0.0, 0, 9, True, date(2025, 3, 4), None, ["x"], "[1, 2]", "ok"),
    (4, HOSTILE[3], 2.25, 4, 10, False, date(2025, 4, 5), None, None, None, None),
    (5, HOSTILE[4], 3.0, 5, 11, True, date(2025, 5, 6), None, ["@b"], '"=q"', "ok"),
    (6, HOSTILE[5], 4.0, 6, 12, False, date(2025, 6, 7), None, [], "{}", "ok"),
    (7, PLAIN, None, None, None, None, None, None, None, None, ""),
]  # fmt: skip
SIGNALS_DDL = """
create table marts.signals (
    id integer, label varchar, amount double, n integer, big hugeint, flag boolean, day date,
    seen_at timestamptz, tags varchar[], detail json, status varchar
)
"""


def make_copy(path: Path, level: Marking = Marking.CLEAR, *, amber_table: bool = False) -> Path:
    """A DuckDB file shaped like `published/<level>.duckdb`: marts.signals (hostile text and
    every kind of value), marts.methodology, marts.dim_market, audit.source_snapshots and
    audit.published_tables; with `amber_table`, also the AMBER marts.fct_seizure."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema marts; create schema audit")
        con.execute(SIGNALS_DDL)
        con.executemany(
            "insert into marts.signals values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", SIGNALS
        )
        con.execute(
            "create table marts.methodology as select * from (values "
            "('threat_score.weights.prevalence', 'threat_score', '0.4', '2026.1'), "
            "('threat_score.weights.trend', 'threat_score', '0.15', '2026.1')"
            ") v(parameter, section, value_json, methodology_version)"
        )
        con.execute(
            "create table marts.dim_market as select * from (values "
            "('cocaine_trade', 'Cocaine trade', true), ('=HYPERLINK(\"x\")', '-', false)"
            ") v(market, label, empact_priority)"
        )
        tables = ["marts.signals", "marts.methodology", "marts.dim_market"]
        if amber_table:
            con.execute(
                "create table marts.fct_seizure as select 'DE' as reporting_state, "
                "12.5::double as quantity_kg"
            )
            tables.append("marts.fct_seizure")
        con.execute(
            "create table audit.source_snapshots (sha256 varchar, source_id varchar, "
            "resource varchar, url varchar, bytes bigint, retrieved_at timestamptz, "
            "publisher varchar, licence varchar, edition varchar, mode varchar, "
            "synthetic boolean, stale boolean, page integer, marking varchar)"
        )
        con.executemany(
            "insert into audit.source_snapshots values (?, ?, 'r', 'https://example.org', "
            "10, ?, 'p', 'l', ?, ?, ?, false, ?, 'clear')",
            [
                ("b" * 64, "wgi", datetime(2025, 5, 1, tzinfo=UTC), "2024", "bundled", False, 1),
                ("b" * 64, "wgi", datetime(2025, 5, 1, tzinfo=UTC), "2024", "bundled", False, 2),
                ("a" * 64, "goci", datetime(2025, 9, 1, tzinfo=UTC), "2025", "live", False, 1),
            ],
        )
        con.execute(
            "create table audit.published_tables (table_name varchar, marking varchar, "
            "row_count bigint, level varchar, built_at timestamptz, data_version varchar, "
            "code_version varchar)"
        )
        for table in [*tables, "audit.source_snapshots"]:
            marking = "amber" if table == "marts.fct_seizure" else "clear"
            (count,) = con.execute(f"select count(*) from {table}").fetchone()
            con.execute(
                "insert into audit.published_tables values (?, ?, ?, ?, ?, null, null)",
                [table, marking, count, level.slug, COPY_BUILT_AT],
            )
    finally:
        con.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder with its sha256."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def leftovers(parent: Path, name: str) -> list[str]:
    """Temporary or set-aside folders of an export left beside it."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def clear_copy(tmp_path: Path) -> Path:
    return make_copy(tmp_path / "clear.duckdb")


@pytest.fixture
def exported(clear_copy: Path, tmp_path: Path) -> exports.ExportManifest:
    return export_published(
        clear_copy,
        tmp_path / "out" / "clear",
        level=Marking.CLEAR,
        built_at=BUILT_AT,
        xlsx_tables=("signals", *DEFAULT_XLSX_TABLES),
    )


def test_files_carry_the_marking_and_the_manifest_matches_them(
    exported: exports.ExportManifest, clear_copy: Path
) -> None:
    folder = exported.directory
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            "dim_market.clear.csv",
            "dim_market.clear.parquet",
            "gloca_tables.clear.xlsx",
            "manifest.clear.json",
            "methodology.clear.csv",
            "methodology.clear.parquet",
            "signals.clear.csv",
            "signals.clear.parquet",
        ]
    )
    assert all(".clear." in name for name in names)

    manifest = json.loads((folder / "manifest.clear.json").read_text(encoding="utf-8"))
    assert manifest == exported.to_json()
    assert exported.path == folder / "manifest.clear.json"
    assert manifest["marking"] == "TLP:CLEAR"
    assert manifest["level"] == "clear"
    assert manifest["built_at"] == "2026-03-01T12:00:00+00:00"
    assert manifest["source_copy"] == "clear.duckdb"
    assert manifest["copy_built_at"] == "2026-02-28T23:30:00+00:00"
    assert manifest["methodology_version"] == "2026.1"
    assert manifest["skipped"] == []
    # distinct (two pages of one WGI payload are one snapshot) and sorted
    assert manifest["source_snapshots"] == [
        {"source_id": "goci", "sha256": "a" * 64, "edition": "2025",
         "retrieved_at": "2025-09-01T00:00:00+00:00", "mode": "live", "synthetic": False},
        {"source_id": "wgi", "sha256": "b" * 64, "edition": "2024",
         "retrieved_at": "2025-05-01T00:00:00+00:00", "mode": "bundled", "synthetic": False},
    ]  # fmt: skip

    entries = manifest["files"]
    assert [e["file"] for e in entries] == sorted(e["file"] for e in entries)
    assert {e["file"] for e in entries} == set(names) - {"manifest.clear.json"}
    con = duckdb.connect(":memory:")
    for entry in entries:
        path = folder / entry["file"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == sha256(path)
        if entry["format"] == "parquet":
            (rows,) = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()
            assert entry["rows"] == rows
        elif entry["format"] == "csv":
            assert entry["rows"] == len(read_csv(path))
        else:
            workbook = openpyxl.load_workbook(path, read_only=True)
            sheets = {s["sheet"]: s["rows"] for s in entry["sheets"]}
            assert list(sheets) == ["signals", "methodology", "dim_market"]  # as asked
            assert workbook.sheetnames == list(sheets)
            for sheet, rows in sheets.items():
                # write-only sheets record no dimensions: count the rows, header included
                assert sum(1 for _ in workbook[sheet].iter_rows()) == rows + 1
            assert entry["rows"] == sum(sheets.values())
            assert workbook.properties.subject == "TLP:CLEAR"
            workbook.close()
    signals_csv = next(e for e in entries if e["file"] == "signals.clear.csv")
    assert signals_csv["table"] == "signals" and signals_csv["rows"] == len(SIGNALS)
    assert [c["name"] for c in signals_csv["columns"]][:3] == ["id", "label", "amount"]
    assert {"name": "tags", "type": "VARCHAR[]"} in signals_csv["columns"]


def test_parquet_keeps_every_value_as_published(
    exported: exports.ExportManifest, clear_copy: Path
) -> None:
    con = duckdb.connect(":memory:")
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{clear_copy}' as src (read_only)")
    parquet = exported.directory / "signals.clear.parquet"
    exported_rows = con.execute(
        "select * from read_parquet(?) order by id", [str(parquet)]
    ).fetchall()
    source_rows = con.execute("select * from src.marts.signals order by id").fetchall()
    assert exported_rows == source_rows
    labels = [row[1] for row in exported_rows]
    assert labels == [*HOSTILE, PLAIN]  # hostile text unchanged: Parquet is not for spreadsheets
    types = dict(
        con.execute("select column_name, column_type from (describe select * from read_parquet(?))",
                    [str(parquet)]).fetchall()
    )  # fmt: skip
    assert types["amount"] == "DOUBLE" and types["flag"] == "BOOLEAN" and types["day"] == "DATE"
    assert types["tags"] == "VARCHAR[]"
    assert types["big"] == "BIGINT"  # HUGEINT has no Parquet type: exact as BIGINT, not DOUBLE
    entry = next(f for f in exported.files if f.file == "signals.clear.parquet")
    assert "big as BIGINT" in (entry.note or "")


def test_csv_neutralises_text_and_keeps_numbers(exported: exports.ExportManifest) -> None:
    path = exported.directory / "signals.clear.csv"
    rows = read_csv(path)
    assert [row["label"] for row in rows] == ["'" + text for text in HOSTILE] + [PLAIN]
    assert [row["label"] for row in rows] == [neutralise_text(t) for t in [*HOSTILE, PLAIN]]
    first = rows[0]
    assert first["amount"] in ("-5.0", "-5")  # a number, not prefixed
    assert rows[1]["n"] == "-3"
    assert first["flag"] == "true" and first["day"] == "2025-01-02"
    assert first["seen_at"].startswith("2025-01-02 03:04:05")  # UTC
    # lists as JSON text; JSON text starting with a trigger neutralised too
    assert json.loads(first["tags"]) == ["=a", "b"]
    assert rows[1]["tags"] == "[]"
    assert rows[1]["detail"] == "'-1"
    assert json.loads(first["detail"]) == {"k": "=x"}
    assert rows[4]["detail"] == '"=q"'  # a JSON string starts with its quote: no formula
    # nulls are empty; an empty text too
    assert rows[6]["amount"] == "" and rows[6]["tags"] == "" and rows[6]["status"] == ""
    # the raw file: the negative number unquoted and bare; no cell starts with a trigger
    text = path.read_text(encoding="utf-8")
    assert "\n1,'=cmd|' /C calc'!A0,-5.0,10," in text
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
            assert not value.startswith("-") or value.lstrip("-")[:1].isdigit(), value
    # the header: the table's column names
    assert list(rows[0]) == ["id", "label", "amount", "n", "big", "flag", "day", "seen_at",
                             "tags", "detail", "status"]  # fmt: skip
    market = read_csv(exported.directory / "dim_market.clear.csv")
    assert market[1]["market"] == '\'=HYPERLINK("x")' and market[1]["label"] == "'-"
    assert market[1]["empact_priority"] == "false"


def test_xlsx_neutralises_text_and_keeps_types(exported: exports.ExportManifest) -> None:
    workbook = openpyxl.load_workbook(exported.directory / "gloca_tables.clear.xlsx")
    sheet = workbook["signals"]
    header = [cell.value for cell in sheet[1]]
    assert header == ["id", "label", "amount", "n", "big", "flag", "day", "seen_at", "tags",
                      "detail", "status"]  # fmt: skip
    column = {name: index for index, name in enumerate(header)}
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(SIGNALS)
    for row, text in zip(rows, [*HOSTILE, PLAIN], strict=True):
        cell = row[column["label"]]
        assert cell.data_type == "s" and isinstance(cell.value, str)
        if text == PLAIN:
            assert cell.value == PLAIN
        else:
            assert cell.value.startswith("'")
            # XML reads a carriage return back as a line feed; everything else exact
            assert cell.value == "'" + text.replace("\r", "\n")
    first = rows[0]
    amount = first[column["amount"]]
    assert amount.data_type == "n" and amount.value == -5
    assert first[column["n"]].data_type == "n" and first[column["n"]].value == 10
    assert first[column["big"]].data_type == "n" and first[column["big"]].value == 7
    assert rows[1][column["n"]].value == -3
    flag = first[column["flag"]]
    assert flag.data_type == "b" and flag.value is True
    assert rows[1][column["flag"]].value is False
    day = first[column["day"]]
    assert day.is_date and isinstance(day.value, (date, datetime))
    as_date = day.value.date() if isinstance(day.value, datetime) else day.value
    assert as_date == date(2025, 1, 2)
    seen = first[column["seen_at"]]
    assert seen.is_date and seen.value == datetime(2025, 1, 2, 3, 4, 5)  # UTC, without zone
    tags = first[column["tags"]]
    assert tags.data_type == "s" and json.loads(tags.value) == ["=a", "b"]
    assert rows[1][column["detail"]].value == "'-1"
    # an Excel error code as text stays text
    status = first[column["status"]]
    assert status.data_type == "s" and status.value == "'#N/A"
    # nulls are empty cells
    assert rows[6][column["amount"]].value is None
    assert workbook["dim_market"]["A3"].value == '\'=HYPERLINK("x")'
    assert workbook["methodology"]["D2"].value == "2026.1"
    workbook.close()


def test_tables_over_the_row_limit_get_no_sheet(clear_copy: Path, tmp_path: Path) -> None:
    manifest = export_published(
        clear_copy, tmp_path / "small", level=Marking.CLEAR, built_at=BUILT_AT,
        xlsx_tables=("signals", "methodology", "no_such_table"), xlsx_max_rows=3,
    )  # fmt: skip
    assert [(s.table, s.format) for s in manifest.skipped] == [("signals", "xlsx")]
    assert "7 rows" in manifest.skipped[0].reason
    workbook = next(f for f in manifest.files if f.format == "xlsx")
    assert [s.table for s in workbook.sheets] == ["methodology"]
    # the skipped table still has its CSV and Parquet files; an absent one is not mentioned
    names = {f.file for f in manifest.files}
    assert {"signals.clear.csv", "signals.clear.parquet"} <= names
    assert "no_such_table" not in manifest.path.read_text(encoding="utf-8")
    on_disk = json.loads(manifest.path.read_text(encoding="utf-8"))
    assert on_disk["skipped"] == [
        {"table": "signals", "format": "xlsx", "reason": manifest.skipped[0].reason}
    ]


def test_only_the_tables_in_the_copy_are_exported(tmp_path: Path) -> None:
    amber = make_copy(tmp_path / "amber.duckdb", Marking.AMBER, amber_table=True)
    clear = make_copy(tmp_path / "clear.duckdb", Marking.CLEAR)
    tables = ("signals", "fct_seizure", *DEFAULT_XLSX_TABLES)
    clear_export = export_published(
        clear, tmp_path / "exports" / "clear", level=Marking.CLEAR, built_at=BUILT_AT,
        xlsx_tables=tables,
    )  # fmt: skip
    amber_export = export_published(
        amber, tmp_path / "exports" / "amber", level=Marking.AMBER, built_at=BUILT_AT,
        xlsx_tables=tables,
    )  # fmt: skip
    clear_names = sorted(p.name for p in clear_export.directory.iterdir())
    assert all(".clear." in name for name in clear_names)
    assert not any("fct_seizure" in name for name in clear_names)
    for path in clear_export.directory.iterdir():
        if path.suffix in (".json", ".csv"):
            assert "fct_seizure" not in path.read_text(encoding="utf-8")
    sheets = openpyxl.load_workbook(clear_export.directory / "gloca_tables.clear.xlsx").sheetnames
    assert sheets == ["signals", "methodology", "dim_market"]

    amber_names = sorted(p.name for p in amber_export.directory.iterdir())
    assert all(".amber." in name for name in amber_names)
    assert {"fct_seizure.amber.csv", "fct_seizure.amber.parquet"} <= set(amber_names)
    assert amber_export.marking == "TLP:AMBER"
    workbook = openpyxl.load_workbook(amber_export.directory / "gloca_tables.amber.xlsx")
    assert workbook.sheetnames == ["signals", "fct_seizure", "methodology", "dim_market"]
    assert workbook.properties.subject == "TLP:AMBER"


def test_the_level_slug_is_in_every_file_name(tmp_path: Path) -> None:
    copy = make_copy(tmp_path / "amber+strict.duckdb", Marking.AMBER_STRICT)
    manifest = export_published(
        copy, tmp_path / "strict", level=Marking.AMBER_STRICT, built_at=BUILT_AT
    )
    names = sorted(p.name for p in manifest.directory.iterdir())
    assert "manifest.amber+strict.json" in names and "gloca_tables.amber+strict.xlsx" in names
    assert all(".amber+strict." in name for name in names)
    assert manifest.marking == "TLP:AMBER+STRICT" and manifest.level == "amber+strict"


def test_a_copy_of_another_level_or_with_a_table_above_it_is_refused(tmp_path: Path) -> None:
    amber = make_copy(tmp_path / "amber.duckdb", Marking.AMBER, amber_table=True)
    out = tmp_path / "exports" / "clear"
    with pytest.raises(ExportError, match="published for TLP:AMBER"):
        export_published(amber, out, level=Marking.CLEAR, built_at=BUILT_AT)
    assert not out.exists() and leftovers(out.parent, "clear") == []

    # a table recorded above the level (or not at all) in a copy claiming the level
    sneaky = make_copy(tmp_path / "sneaky.duckdb", Marking.CLEAR)
    con = duckdb.connect(str(sneaky))
    con.execute("create table marts.fct_network as select 'x' as network_ref")
    con.close()
    with pytest.raises(ExportError, match=r"marts\.fct_network .* above TLP:CLEAR"):
        export_published(sneaky, out, level=Marking.CLEAR, built_at=BUILT_AT)
    assert not out.exists() and leftovers(out.parent, "clear") == []

    with pytest.raises(ExportError, match="timezone-aware"):
        export_published(
            make_copy(tmp_path / "ok.duckdb"), out, level=Marking.CLEAR,
            built_at=datetime(2026, 1, 1),
        )  # fmt: skip


def test_an_earlier_export_is_replaced_whole(clear_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "clear"
    copy_sha = sha256(clear_copy)
    first = export_published(clear_copy, out, level=Marking.CLEAR, built_at=BUILT_AT)
    (out / "stale_table.clear.csv").write_text("old\n", encoding="utf-8")
    (out / "nested").mkdir()
    (out / "nested" / "old.txt").write_text("old\n", encoding="utf-8")
    second = export_published(
        clear_copy, out, level=Marking.CLEAR, built_at=datetime(2026, 3, 2, tzinfo=UTC)
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f.file for f in second.files), "manifest.clear.json"])
    assert "stale_table.clear.csv" not in names and "nested" not in names
    assert json.loads(second.path.read_text(encoding="utf-8"))["built_at"].startswith("2026-03-02")
    assert leftovers(out.parent, "clear") == []
    assert sha256(clear_copy) == copy_sha  # the copy is only read
    # the same copy gives the same Parquet and CSV bytes
    same = {f.file: f.sha256 for f in first.files if f.format != "xlsx"}
    assert same == {f.file: f.sha256 for f in second.files if f.format != "xlsx"}


def test_a_failure_midway_leaves_the_previous_export_intact(
    clear_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "clear"
    export_published(clear_copy, out, level=Marking.CLEAR, built_at=BUILT_AT)
    before = snapshot(out)

    def broken_workbook(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while writing the workbook")

    monkeypatch.setattr(exports, "_write_workbook", broken_workbook)
    with pytest.raises(RuntimeError, match="disk full"):
        export_published(
            clear_copy, out, level=Marking.CLEAR, built_at=datetime(2026, 3, 2, tzinfo=UTC)
        )
    assert snapshot(out) == before
    assert leftovers(out.parent, "clear") == []

    # and with no earlier export: nothing at all
    fresh = tmp_path / "out" / "fresh"
    with pytest.raises(RuntimeError, match="disk full"):
        export_published(clear_copy, fresh, level=Marking.CLEAR, built_at=BUILT_AT)
    assert not fresh.exists() and leftovers(fresh.parent, "fresh") == []


def test_large_tables_keep_their_row_order(tmp_path: Path) -> None:
    """More rows than one DuckDB row group (122,880), so the scan runs in parallel: the files
    must keep the table's order (a neutralisation written as `in (...)` became a mark join
    that did not)."""
    rows = 130_000
    path = make_copy(tmp_path / "clear.duckdb")
    con = duckdb.connect(str(path))
    con.execute(
        "create table marts.big as select i as id, "
        "case i % 3 when 0 then '=x' || i when 1 then '-' || i else 'y' || i end as label "
        "from range(?) r(i)",
        [rows],
    )
    con.execute(
        "insert into audit.published_tables "
        "values ('marts.big', 'clear', ?, 'clear', ?, null, null)",
        [rows, COPY_BUILT_AT],
    )
    con.close()
    manifest = export_published(
        path, tmp_path / "out", level=Marking.CLEAR, built_at=BUILT_AT, xlsx_tables=("big",),
        xlsx_max_rows=rows,
    )  # fmt: skip
    exported = read_csv(manifest.directory / "big.clear.csv")
    assert [int(row["id"]) for row in exported] == list(range(rows))
    assert [row["label"] for row in exported[:3]] == ["'=x0", "'-1", "y2"]
    # calamine reads a large sheet far faster than openpyxl
    sheet = CalamineWorkbook.from_path(str(manifest.directory / "gloca_tables.clear.xlsx"))
    cells = sheet.get_sheet_by_name("big").to_python()
    assert [int(row[0]) for row in cells[1:]] == list(range(rows))
    assert [row[1] for row in cells[1:4]] == ["'=x0", "'-1", "y2"]
