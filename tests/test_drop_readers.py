"""Reading member-state drops: formats by content, encodings, CSV dialects, XLSX and JSON,
limits, hostile files (zip bombs, billion laughs) and the row-accounting invariant.

Every test writes a real file into a temporary folder and reads its bytes back, as the
landing sensor does.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import json
import time
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extra_pipeline.drops.model import DropRejected, Limits, RawTable
from extra_pipeline.drops.readers import read_drop

BAD_CHARS = ("\ufffd", "\x00")


def drop(tmp_path: Path, data: bytes, name: str = "drop.csv", **kwargs: Any) -> RawTable:
    """Write `data` as a dropped file and read it back."""
    path = tmp_path / name
    path.write_bytes(data)
    table = read_drop(path.read_bytes(), **kwargs)
    check_invariants(table)
    return table


def rejected(tmp_path: Path, data: bytes, code: str, **kwargs: Any) -> DropRejected:
    with pytest.raises(DropRejected) as caught:
        drop(tmp_path, data, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def cells(table: RawTable) -> list[list[str | None]]:
    return table.rows.values.tolist()


def check_invariants(table: RawTable) -> None:
    """What every reader output promises, whatever the input."""
    rows = table.rows
    assert list(rows.columns) == [f"c{j}" for j in range(len(table.headers))]
    assert rows.index.name == "row_number"
    assert all(dtype.kind == "O" for dtype in rows.dtypes)
    unreadable = [issue.row_number for issue in table.unreadable]
    assert len(set(unreadable)) == len(unreadable), "one issue per unreadable row"
    assert sorted([*rows.index, *unreadable]) == list(range(1, table.rows_received + 1))
    assert set(table.unreadable_text) == set(unreadable)
    for value in rows.to_numpy().ravel():
        assert value is None or (type(value) is str and value == value.strip() and value)
        if value is not None:
            assert not any(bad in value for bad in BAD_CHARS)
            assert not any("\ud800" <= char <= "\udfff" for char in value)
    for text in table.unreadable_text.values():
        text.encode("utf-8")  # storable: no lone surrogates


# --- formats by content ---------------------------------------------------------------


def test_format_is_decided_by_content_not_by_name(tmp_path: Path) -> None:
    assert drop(tmp_path, b"a,b\n1,2\n", name="seizures.xlsx").format == "csv"
    assert drop(tmp_path, b'[{"a": 1}]', name="seizures.csv").format == "json"
    assert drop(tmp_path, xlsx_bytes([["a"], ["x"]]), name="seizures.json").format == "xlsx"


@pytest.mark.parametrize(
    ("magic", "words"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, ".xls"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"a,b\x00\x01\x02\x03binary", "binary"),
    ],
)
def test_legacy_xls_pdf_and_binaries_are_refused(tmp_path: Path, magic: bytes, words: str) -> None:
    error = rejected(tmp_path, magic, "unreadable")
    assert words in error.message
    assert "CSV" in error.message and ".xlsx" in error.message and "JSON" in error.message


def test_size_is_checked_first_and_empty_files_are_empty(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100
    rejected(tmp_path, ole, "too_large", limits=Limits(max_bytes=50))
    rejected(tmp_path, b"", "empty")
    rejected(tmp_path, b" \r\n\r\n\t\n", "empty")
    rejected(tmp_path, codecs.BOM_UTF8, "empty")
    assert "no data rows" in rejected(tmp_path, b"ref;qty\r\n", "empty").message
    rejected(tmp_path, b"ref,qty\n\n  \n,\n", "empty")


# --- CSV encodings ----------------------------------------------------------------------

ACCENTED = [["ref", "name", "market"], ["A1", "Café Müller", "€ 5"], ["A2", "Genève", "ß"]]


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    """Rows as CSV. Python's writer quotes a cell holding CR or LF only when both are in
    its line terminator, so with LF or CR alone every cell is quoted."""
    out = io.StringIO(newline="")
    quoting = csv.QUOTE_MINIMAL if newline == "\r\n" else csv.QUOTE_ALL
    csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        (lambda text: text.encode("utf-8"), "utf-8"),
        (lambda text: codecs.BOM_UTF8 + text.encode("utf-8"), "utf-8-sig"),
        (lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "utf-16-le"),
        (lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16-be"),
        (lambda text: text.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "cp1252"],
)
def test_each_encoding_reads_the_same_cells(tmp_path: Path, encode: Any, expected: str) -> None:
    table = drop(tmp_path, encode(csv_text(ACCENTED)))
    assert table.encoding == expected
    assert table.headers == ["ref", "name", "market"]
    assert cells(table) == ACCENTED[1:]


def test_utf8_file_with_one_corrupt_line_quarantines_only_that_row(tmp_path: Path) -> None:
    lines = ["ref,name", "A1,Café", "A2,Genève", "A3,Müller", "A4,Zürich", "A5,Bogotá"]
    data = "\n".join(lines).encode("utf-8").replace("Müller".encode(), "Müller".encode("cp1252"))
    table = drop(tmp_path, data)
    assert table.encoding == "utf-8"
    assert table.rows["c1"].tolist() == ["Café", "Genève", "Zürich", "Bogotá"]
    assert list(table.rows.index) == [1, 2, 4, 5]
    [issue] = table.unreadable
    assert (issue.row_number, issue.rule) == (3, "encoding")
    assert issue.reason.startswith("row 3: byte 0xFC is not valid UTF-8")
    assert '"name"' in issue.reason and "line 4" in issue.reason
    assert table.unreadable_text[3] == "A3,M\\xFCller"


def test_bytes_undefined_in_windows_1252_make_the_row_unreadable(tmp_path: Path) -> None:
    table = drop(tmp_path, b"ref,name\nA1,Caf\xe9\nA2,x\x81y\nA3,\x80 5\n")
    assert table.encoding == "cp1252"
    assert cells(table) == [["A1", "Café"], ["A3", "€ 5"]]
    [issue] = table.unreadable
    assert issue.rule == "encoding" and "0x81" in issue.reason and "Windows-1252" in issue.reason


def test_a_replacement_character_in_the_text_makes_the_row_unreadable(tmp_path: Path) -> None:
    table = drop(tmp_path, "ref,name\nA1,ok\nA2,M\ufffdller\n".encode())
    assert cells(table) == [["A1", "ok"]]
    assert table.unreadable[0].rule == "encoding" and "U+FFFD" in table.unreadable[0].reason


def test_an_explicit_encoding_wins(tmp_path: Path) -> None:
    table = drop(tmp_path, "ref,name\nA1,Café\n".encode("latin-1"), encoding="latin-1")
    assert table.encoding == "iso8859-1" and cells(table) == [["A1", "Café"]]
    table = drop(tmp_path, "ref,name\nA1,Café\n".encode(), encoding="cp1252")
    assert cells(table) == [["A1", "CafÃ©"]]
    with pytest.raises(ValueError, match="unknown encoding"):
        read_drop(b"a,b\n1,2\n", encoding="no-such-codec")


def test_an_undecodable_header_rejects_the_file(tmp_path: Path) -> None:
    data = "réf,name\nA1,Café\nA2,Genève\n".encode().replace("réf".encode(), "réf".encode("cp1252"))
    assert "Header 1" in rejected(tmp_path, data, "unreadable").message


# --- CSV dialects -----------------------------------------------------------------------

ROWS = [["ref", "qty", "note"], ["A1", "1.234,5", "a, b; c|d\te"], ["A2", "", 'say "hi"']]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_each_delimiter_and_line_ending(tmp_path: Path, delimiter: str, newline: str) -> None:
    table = drop(tmp_path, csv_text(ROWS, delimiter, newline).encode())
    assert table.delimiter == delimiter
    assert table.headers == ROWS[0]
    assert cells(table) == [["A1", "1.234,5", "a, b; c|d\te"], ["A2", None, 'say "hi"']]


def test_quoted_fields_hold_delimiters_newlines_and_doubled_quotes(tmp_path: Path) -> None:
    data = (
        'ref;note;qty\r\n"A1";"line one\r\nline two; still ""note""";"1,5"\r\n'
        'A2;"multi\nline\n\nwith blank";2\r\n'
    )
    table = drop(tmp_path, data.encode())
    assert table.delimiter == ";"
    assert cells(table) == [
        ["A1", 'line one\r\nline two; still "note"', "1,5"],
        ["A2", "multi\nline\n\nwith blank", "2"],
    ]


def test_european_numbers_and_dates_stay_text(tmp_path: Path) -> None:
    table = drop(tmp_path, b"ref;qty;date\nA1;1.234,50;31.12.2024\nA2;0,5;01/02/2024\n")
    assert cells(table) == [["A1", "1.234,50", "31.12.2024"], ["A2", "0,5", "01/02/2024"]]


def test_cells_are_stripped_and_empty_cells_are_none(tmp_path: Path) -> None:
    table = drop(tmp_path, b'ref , qty ,note\n A1 ,  12\t, \n\xc2\xa0A2\xc2\xa0," 3 ",""\n')
    assert table.headers == ["ref", "qty", "note"]
    assert cells(table) == [["A1", "12", None], ["A2", "3", None]]


def test_header_cells_lose_marks_and_empty_ones_get_placeholders(tmp_path: Path) -> None:
    table = drop(tmp_path, codecs.BOM_UTF8 + "\ufeffref,,qty,\nA1,x,1,\n".encode())
    assert table.headers == ["ref", "column_2", "qty", "column_4"]
    assert cells(table) == [["A1", "x", "1", None]]


def test_blank_lines_and_empty_records_are_not_rows(tmp_path: Path) -> None:
    table = drop(tmp_path, b'\n\nref;qty\n\nA1;1\n;\n   \n"";\nA2;2\n\n')
    assert cells(table) == [["A1", "1"], ["A2", "2"]]
    assert list(table.rows.index) == [1, 2]


def test_a_row_with_the_wrong_number_of_fields_is_unreadable(tmp_path: Path) -> None:
    header = ",".join(f"h{i}" for i in range(14))
    good = ",".join(str(i) for i in range(14))
    lines = [header] + [good] * 11 + [",".join("x" * 9), good, good + ",extra"]
    table = drop(tmp_path, "\n".join(lines).encode())
    assert len(table.rows) == 12 and table.rows_received == 14
    short, long = table.unreadable
    assert (short.row_number, short.rule) == (12, "column_count")
    assert short.reason == "row 12 has 9 fields, the header has 14 (line 13)"
    assert table.unreadable_text[12] == ",".join("x" * 9)
    assert long.reason.startswith("row 14 has 15 fields, the header has 14")
    assert table.unreadable_text[14] == good + ",extra"


def test_rows_past_the_first_chunk_keep_their_numbers_and_raw_text(tmp_path: Path) -> None:
    rows = [f"R{i};{i},5;Café" for i in range(1, 150_001)]
    rows[99_999] = "R100000;bad"  # one field short, after a chunk boundary
    rows[139_999] = "R140000;1;Caf\udce9"  # one Windows-1252 byte in a UTF-8 file
    data = ("ref;qty;note\n" + "\n".join(rows) + "\n").encode("utf-8", "surrogateescape")
    table = drop(tmp_path, data)
    assert table.rows_received == 150_000 and len(table.rows) == 149_998
    assert [(i.row_number, i.rule) for i in table.unreadable] == [
        (100_000, "column_count"),
        (140_000, "encoding"),
    ]
    assert table.unreadable_text == {100_000: "R100000;bad", 140_000: "R140000;1;Caf\\xE9"}
    assert table.rows.loc[150_000].tolist() == ["R150000", "150000,5", "Café"]
    assert table.rows.loc[99_999, "c0"] == "R99999" and table.rows.loc[100_001, "c0"] == "R100001"
    assert gc.isenabled(), "the collector paused for the parse is back on"


def test_an_unclosed_quote_rejects_the_file_with_its_line(tmp_path: Path) -> None:
    error = rejected(tmp_path, b'ref,note\nA1,ok\nA2,"never closed\nA3,x\nA4,y\n', "unreadable")
    assert "line 3" in error.message and "quote" in error.message


def test_formula_and_markup_text_is_kept_verbatim(tmp_path: Path) -> None:
    hostile = [
        '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0",
        "<script>alert(1)</script>",
        "'; DROP TABLE raw.seizures; --",
    ]
    table = drop(tmp_path, csv_text([["ref", "note"]] + [["A", h] for h in hostile]).encode())
    assert table.rows["c1"].tolist() == hostile


# --- limits -----------------------------------------------------------------------------


def test_row_column_and_cell_limits(tmp_path: Path) -> None:
    data = "ref,note\n" + "".join(f"A{i},x\n" for i in range(6))
    rejected(tmp_path, data.encode(), "too_many_rows", limits=Limits(max_rows=5))
    assert drop(tmp_path, data.encode(), limits=Limits(max_rows=6)).rows_received == 6
    wide = ",".join(f"h{i}" for i in range(8)) + "\n" + ",".join("1" * 8) + "\n"
    rejected(tmp_path, wide.encode(), "too_many_columns", limits=Limits(max_columns=7))

    long_cell = "ref,note\nA1,ok\nA2," + "y" * 101 + "\nA3,  " + "z" * 100 + "  \n"
    table = drop(tmp_path, long_cell.encode(), limits=Limits(max_cell_chars=100))
    assert table.rows["c0"].tolist() == ["A1", "A3"]
    [issue] = table.unreadable
    assert (issue.row_number, issue.rule) == (2, "cell_too_long")
    assert "101 characters" in issue.reason and '"note"' in issue.reason


def test_a_long_multiline_cell_is_caught_too(tmp_path: Path) -> None:
    data = 'ref,note\nA1,"' + "line\n" * 30 + '"\nA2,ok\n'
    table = drop(tmp_path, data.encode(), limits=Limits(max_cell_chars=100))
    assert cells(table) == [["A2", "ok"]] and table.unreadable[0].rule == "cell_too_long"


# --- XLSX -------------------------------------------------------------------------------


def xlsx_bytes(rows: list[list[Any]], *, leading_blank_rows: int = 0) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for r, row in enumerate(rows, leading_blank_rows + 1):
        for c, value in enumerate(row, 1):
            if value is not None:
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula, not a formula
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


BIG_TRUE = ["100000000000000000000", "true", None]


def test_xlsx_first_sheet_with_data_and_typed_cells(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Read me"  # first sheet: empty
    sheet = workbook.create_sheet("Seizures")
    sheet.append([])
    sheet.append([])
    sheet.append(["  ref ", "date", "when", "qty", "share", "tiny", "big", "flag", None, "note"])
    when = datetime(2024, 3, 1, 10, 30, 15)
    sheet.append(["A1", date(2024, 3, 1), when, 12, 1.5, 0.00001, 1e20, True, None, "<b>bold</b>"])
    sheet.append(["A2", datetime(2024, 1, 2), datetime(2024, 1, 2, 0, 0), 12.0, -0.25, 0, 3, False])
    sheet.append([])
    sheet.append(["  A3  ", None, None, None, None, None, None, None, None, "=HYPERLINK(1)"])
    sheet["J7"].data_type = "s"
    out = io.BytesIO()
    workbook.save(out)

    table = drop(tmp_path, out.getvalue(), name="drop.xlsx")
    assert (table.format, table.sheet, table.encoding, table.delimiter) == (
        "xlsx",
        "Seizures",
        None,
        None,
    )
    assert table.headers == [
        "ref", "date", "when", "qty", "share", "tiny", "big", "flag", "column_9", "note"
    ]  # fmt: skip
    assert cells(table) == [
        [
            "A1",
            "2024-03-01",
            "2024-03-01T10:30:15",
            "12",
            "1.5",
            "0.00001",
            *BIG_TRUE,
            "<b>bold</b>",
        ],
        ["A2", "2024-01-02", "2024-01-02", "12", "-0.25", "0", "3", "false", None, None],
        ["A3", None, None, None, None, None, None, None, None, "=HYPERLINK(1)"],
    ]
    assert list(table.rows.index) == [1, 2, 3]


def test_xlsx_prefers_a_visible_sheet_and_reports_sheet_rows(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    hidden = workbook.active
    hidden.append(["lookup"])
    hidden.append(["x"])
    hidden.sheet_state = "hidden"
    visible = workbook.create_sheet("Data")
    visible.append([])
    visible.append(["ref", "note"])
    visible.append(["A1", "ok"])
    visible.append(["A2", "y" * 50])
    out = io.BytesIO()
    workbook.save(out)
    table = drop(tmp_path, out.getvalue(), limits=Limits(max_cell_chars=20))
    assert table.sheet == "Data" and cells(table) == [["A1", "ok"]]
    [issue] = table.unreadable
    assert issue.rule == "cell_too_long" and "sheet row 4" in issue.reason
    assert table.unreadable_text[2] == "A2," + "y" * 50


def test_xlsx_header_only_and_no_data_are_empty(tmp_path: Path) -> None:
    rejected(tmp_path, xlsx_bytes([["ref", "qty"]], leading_blank_rows=2), "empty")
    rejected(tmp_path, xlsx_bytes([]), "empty")


def zip_bytes(members: dict[str, bytes], *, level: int = 6) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def workbook_parts(sheet: bytes | None = None) -> dict[str, bytes]:
    """The parts of a real one-sheet workbook, its sheet XML replaced if given."""
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes([["ref"], ["A1"]]))) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    assert SHEET in parts
    return parts if sheet is None else {**parts, SHEET: sheet}


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    """A workbook whose sheet declares 1 GiB of zeros (about 4.5 MB compressed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in workbook_parts().items():
            if name != SHEET:
                archive.writestr(name, data)
        with archive.open(SHEET, "w") as sheet:
            block = b"\0" * (1 << 24)
            for _ in range(64):
                sheet.write(block)
    return out.getvalue()


def test_a_zip_bomb_is_refused_in_seconds(tmp_path: Path, gigabyte_bomb: bytes) -> None:
    started = time.perf_counter()
    error = rejected(tmp_path, gigabyte_bomb, "zip_bomb")
    assert time.perf_counter() - started < 5
    assert "would unpack to 1,07" in error.message
    # Under a generous total, the compression ratio alone still gives it away.
    limits = Limits(xlsx_max_uncompressed=1 << 31)
    assert "to 1" in rejected(tmp_path, gigabyte_bomb, "zip_bomb", limits=limits).message


def test_a_zip_bomb_that_lies_about_its_size_is_caught_while_inflating(tmp_path: Path) -> None:
    sheet = b"<worksheet>" + b" " * (64 << 20)
    data = bytearray(zip_bytes(workbook_parts(sheet)))
    declare_size(data, SHEET, 1000)
    started = time.perf_counter()
    error = rejected(tmp_path, bytes(data), "zip_bomb")
    assert time.perf_counter() - started < 5
    assert "declares" in error.message


def declare_size(data: bytearray, name: str, size: int) -> None:
    """Overwrite a member's uncompressed size in its local and central headers."""
    encoded = name.encode()
    at = data.find(b"PK\x03\x04")
    while at != -1:
        if data[at + 30 : at + 30 + len(encoded)] == encoded:
            data[at + 22 : at + 26] = size.to_bytes(4, "little")
        at = data.find(b"PK\x03\x04", at + 4)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        if data[at + 46 : at + 46 + len(encoded)] == encoded:
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    sheet = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
        f"{entities}]>\n"
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()
    data = zip_bytes(workbook_parts(sheet))
    assert "DTD" in rejected(tmp_path, data, "xml_entities").message
    # An SVG image may carry a DOCTYPE; no XML parser reads it, so it is no reason to refuse.
    svg = b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg/>'
    with_image = zip_bytes({**workbook_parts(), "xl/media/image1.svg": svg})
    assert cells(drop(tmp_path, with_image)) == [["A1"]]


def test_zips_that_are_not_workbooks_are_unreadable(tmp_path: Path) -> None:
    ods = zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"})
    assert ".ods" in rejected(tmp_path, ods, "unreadable").message
    rejected(tmp_path, b"PK\x03\x04" + b"\x14\x00" * 40, "unreadable")
    broken = zip_bytes(workbook_parts(b"<worksheet><sheetData><row"))
    rejected(tmp_path, broken, "unreadable")


# --- JSON -------------------------------------------------------------------------------


def test_json_array_of_records(tmp_path: Path) -> None:
    records = [
        {"ref": "A1", "qty": 12.0, "share": 1.5, "tiny": 1e-05, "flag": True, "note": None},
        {"ref": " A2 ", "qty": 3, "routes": ["FR", "DE"], "meta": {"k": "é"}, "note": ""},
        {"ref": "A3", "note": "<script>x</script>", "formula": "=HYPERLINK(1)"},
    ]
    table = drop(tmp_path, json.dumps(records, indent=2).encode(), name="drop.json")
    assert (table.format, table.encoding) == ("json", "utf-8")
    assert table.headers == [
        "ref", "qty", "share", "tiny", "flag", "note", "routes", "meta", "formula"
    ]  # fmt: skip
    assert cells(table) == [
        ["A1", "12", "1.5", "0.00001", "true", None, None, None, None],
        ["A2", "3", None, None, None, None, '["FR", "DE"]', '{"k": "é"}', None],
        ["A3", None, None, None, None, "<script>x</script>", None, None, "=HYPERLINK(1)"],
    ]


@pytest.mark.parametrize("wrapper", ["seizures", "data"])
def test_json_object_holding_one_array_of_records(tmp_path: Path, wrapper: str) -> None:
    document = {"version": 2, "tags": ["a", "b"], wrapper: [{"ref": "A1"}, {"ref": "A2"}]}
    table = drop(tmp_path, json.dumps(document).encode())
    assert cells(table) == [["A1"], ["A2"]]


def test_json_elements_that_are_not_records_are_unreadable(tmp_path: Path) -> None:
    table = drop(tmp_path, b'[{"ref": "A1"}, "A2", [1], {"ref": "A4", "ref": "A5"}, {}]')
    assert cells(table) == [["A1"]]
    reasons = {issue.row_number: (issue.rule, issue.reason) for issue in table.unreadable}
    assert reasons[2] == ("structure", "row 2: the element is a string, not an object")
    assert reasons[3][0] == "structure" and "array" in reasons[3][1]
    assert reasons[4] == ("structure", 'row 4: the key "ref" appears twice')
    assert table.unreadable_text[2] == '"A2"'


def test_json_utf16_with_bom(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + json.dumps([{"name": "Genève"}], ensure_ascii=False).encode(
        "utf-16-le"
    )
    table = drop(tmp_path, data)
    assert (table.format, table.encoding, cells(table)) == ("json", "utf-16-le", [["Genève"]])


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ('[\n  {"ref": "A1"},\n  {"ref": "A2",}\n]', "line 3, column 16"),
        ('[{"ref": "A1"}] trailing', "Extra data"),
        ('[{"qty": NaN}]', "NaN"),
        ('[{"qty": 1e400}]', "out of range"),
        ('{"a": [{"x": 1}], "b": [{"y": 2}]}', "more than one array"),
        ('{"ref": "A1", "qty": 2}', "no array of records"),
    ],
)
def test_invalid_json_is_unreadable_with_its_position(
    tmp_path: Path, document: str, words: str
) -> None:
    assert words in rejected(tmp_path, document.encode(), "unreadable").message


def test_json_empty_limits_and_bad_text(tmp_path: Path) -> None:
    rejected(tmp_path, b"[]", "empty")
    rejected(tmp_path, b'{"data": []}', "empty")
    rejected(tmp_path, b'[{"a": null, "b": ""}]', "empty")
    keys = json.dumps([{f"k{i}": i} for i in range(5)]).encode()
    rejected(tmp_path, keys, "too_many_columns", limits=Limits(max_columns=4))
    rejected(tmp_path, keys, "too_many_rows", limits=Limits(max_rows=4))
    table = drop(tmp_path, b'[{"a": "ok"}, {"a": "x\\u0000"}, {"a": "\\ufffd"}]')
    assert cells(table) == [["ok"]]
    assert [issue.rule for issue in table.unreadable] == ["encoding", "encoding"]


# --- properties -------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Printable text plus everything that makes CSV hard; no NUL, no U+FFFD (those rows are
# unreadable by design), no surrogates.
CELL_CHARS = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffd"),
    st.sampled_from(',;|\t"\r\n \u2028'),
)
# Windows-1252 text in which no byte pair can pass for UTF-8 (no byte 0x80-0xBF).
CP1252_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from('éèüößàç,;|\t"\r\n'),
)
ENCODINGS = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-sig": lambda text: text.encode("utf-8-sig"),
    "utf-16-le": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "cp1252": lambda text: text.encode("cp1252"),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, str, list[list[str]]]:
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    chars = CP1252_CHARS if encoding == "cp1252" else CELL_CHARS
    width = draw(st.integers(2, 5))
    row = st.lists(st.text(chars, max_size=12), min_size=width, max_size=width)
    rows = draw(st.lists(row.filter(lambda r: "".join(r).strip()), min_size=1, max_size=8))
    return encoding, draw(st.sampled_from(",;\t|")), rows


@PROPERTY_SETTINGS
@given(table=tables(), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_property_any_written_table_reads_back(
    tmp_path_factory: pytest.TempPathFactory, table: tuple[str, str, list[list[str]]], newline: str
) -> None:
    encoding, delimiter, rows = table
    header = [f"h{j}" for j in range(len(rows[0]))]
    text = csv_text([header, *rows], delimiter, newline)
    read = drop(tmp_path_factory.mktemp("p"), ENCODINGS[encoding](text))
    assert read.delimiter == delimiter and read.headers == header
    assert not read.unreadable
    assert cells(read) == [[cell.strip() or None for cell in row] for row in rows]


@PROPERTY_SETTINGS
@given(
    rows=st.lists(st.lists(st.text(CELL_CHARS, max_size=8), max_size=5), max_size=12),
    limit=st.integers(3, 12),
)
def test_property_every_written_row_is_received(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], limit: int
) -> None:
    text = csv_text([["h0", "h1", "h2"], *rows])
    written = [row for row in rows if "".join(row).strip()]
    if not written:
        rejected(tmp_path_factory.mktemp("p"), text.encode(), "empty")
        return
    table = drop(tmp_path_factory.mktemp("p"), text.encode(), limits=Limits(max_cell_chars=limit))
    assert table.rows_received == len(written)
    assert {issue.rule for issue in table.unreadable} <= {"column_count", "cell_too_long"}


@PROPERTY_SETTINGS
@given(
    payload=st.binary(max_size=300) | st.text(CELL_CHARS, max_size=200).map(str.encode),
    prefix=st.sampled_from([b"", b"h0;h1\n", b"[", b'{"d": [', codecs.BOM_UTF16_LE]),
)
def test_property_arbitrary_bytes_read_or_are_rejected(payload: bytes, prefix: bytes) -> None:
    try:
        table = read_drop(prefix + payload)
    except DropRejected as error:
        assert error.code in DropRejected.CODES
    else:
        check_invariants(table)
