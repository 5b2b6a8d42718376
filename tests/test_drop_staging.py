"""Staging a drop in its scratch DuckDB: the fast CSV path gives exactly the cells the
exact reader gives, or steps aside for it; rejections are the exact reader's."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extra_pipeline.drops.model import DropRejected, Limits
from extra_pipeline.drops.readers import read_drop
from extra_pipeline.drops.staging import Scratch, StagedTable, scratch, stage_drop

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n",
              encoding: str = "utf-8") -> Path:  # fmt: skip
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def staged(tmp_path: Path, path: Path, **kwargs) -> tuple[StagedTable, pd.DataFrame]:
    work = Scratch(tmp_path / "work", "test")
    try:
        table = stage_drop(work.connect(), path, limits=kwargs.pop("limits", Limits()), **kwargs)
        frame = work.connect().execute(f"select * from {table.table} order by row_number").df()
        return table, frame.astype(object).where(frame.notna(), None)
    finally:
        work.remove()


def assert_same_as_exact_reader(
    table: StagedTable, frame: pd.DataFrame, path: Path, **kwargs
) -> None:
    exact = read_drop(path.read_bytes(), **kwargs)
    assert table.headers == exact.headers
    assert (table.encoding, table.delimiter, table.format) == (
        exact.encoding,
        exact.delimiter,
        exact.format,
    )
    assert table.rows_received == exact.rows_received
    assert [i.row_number for i in table.unreadable] == [i.row_number for i in exact.unreadable]
    assert frame["row_number"].tolist() == exact.rows.index.tolist()
    assert frame.drop(columns="row_number").values.tolist() == exact.rows.values.tolist()


def test_a_plain_csv_takes_the_fast_path_with_the_same_cells(tmp_path: Path) -> None:
    rows = [["ref", "date", "note"], ["A-1", " 2024-01-02 ", "  "], ["A-2", "\t15/03/2024", "x,y"],
            ["A-3", "2024-05-06", 'say "hi"'], ["A-4", "\u00a0café\u00a0", "=SUM(A1)"]]  # fmt: skip
    path = write_csv(tmp_path / "plain.csv", rows, newline="\r\n")
    table, frame = staged(tmp_path, path)
    assert table.fast_path
    assert frame["c1"].tolist() == ["2024-01-02", "15/03/2024", "2024-05-06", "café"]
    assert frame["c2"].tolist()[0] is None
    assert_same_as_exact_reader(table, frame, path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("blank_line", b"a,b\n1,2\n\n3,4\n"),
        ("empty_record", b"a,b\n1,2\n,\n3,4\n"),
        ("quoted_newline", b'a,b\n1,"two\nlines"\n3,4\n'),
        ("ragged", b"a,b\n1,2,3\n4,5\n"),
        ("lone_cr", b"a,b\r1,2\r3,4\r"),
        ("cp1252", "a,b\ncafé,2\n".encode("cp1252")),
        ("bad_utf8_row", b"a,b\n1,\xff\n3,4\n"),
        ("nul", b"a,b\n" + b"1,2\n" * 3000 + b"1,\x002\n3,4\n"),
        ("replacement_char", "a,b\n1,\ufffd\n3,4\n".encode()),
        ("line_separator", "a,b\n1,x\u2028y\n3,4\n".encode()),
        ("utf16", codecs.BOM_UTF16_LE + "a,b\n1,2\n".encode("utf-16-le")),
        ("long_line", b"a,b\n1," + b"x" * 50 + b"\n3,4\n"),
        ("bare_quote", b'a,b\n1,"ab"c\n3,4\n'),
        ("extra_empty_field", b"a,b\n1,2,\n3,4\n"),
        ("extra_empty_fields_crlf", b"a,b\r\n1,2\r\n3,4,,\r\n"),
        ("extra_empty_field_last_line", b"a,b\n1,2\n3,4,"),
    ],
)
def test_anything_unusual_goes_to_the_exact_reader(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    limits = Limits(max_cell_chars=40)
    table, frame = staged(tmp_path, path, limits=limits)
    assert not table.fast_path, name
    assert_same_as_exact_reader(table, frame, path, limits=limits)


def test_an_empty_last_cell_is_not_an_extra_field(tmp_path: Path) -> None:
    path = tmp_path / "empty_last.csv"
    path.write_bytes(b"a,b,c\n1,2,\n3,,\n4,5,6")
    table, frame = staged(tmp_path, path)
    assert table.fast_path and frame["c2"].tolist() == [None, None, "6"]
    assert_same_as_exact_reader(table, frame, path)


def test_workbooks_and_json_are_staged_from_the_exact_reader(tmp_path: Path) -> None:
    path = tmp_path / "drop.json"
    path.write_text('[{"a": "1", "b": " x "}, {"a": "2", "b": null}]', encoding="utf-8")
    table, frame = staged(tmp_path, path)
    assert table.format == "json" and not table.fast_path
    assert frame.values.tolist() == [[1, "1", "x"], [2, "2", None]]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "empty"), (b"a,b\n", "empty"), (b"a,b\n1,2\n3,4\n5,6\n", "too_many_rows")],
)
def test_rejections_are_the_exact_readers(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(content)
    with pytest.raises(DropRejected) as caught:
        staged(tmp_path, path, limits=Limits(max_rows=2))
    assert caught.value.code == code


def test_a_large_file_that_needs_the_exact_reader_is_refused_with_the_way_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 100 + b"\n" + b"3,4\n" * 100)  # a blank line
    limits = Limits(max_exact_bytes=500)
    with pytest.raises(DropRejected, match="plain UTF-8 CSV only") as caught:
        staged(tmp_path, path, limits=limits)
    assert caught.value.code == "too_large"
    plain = tmp_path / "plain.csv"
    plain.write_bytes(b"a,b\n" + b"1,2\n" * 200)
    assert staged(tmp_path, plain, limits=limits)[0].fast_path


def test_the_scratch_space_is_removed_however_the_block_ends(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), scratch(tmp_path, "drop") as work:
        work.connect().execute("create table results.t as select 1")
        assert work.path.exists()
        raise RuntimeError("boom")
    assert not any(tmp_path.iterdir())


CELL = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffd"),
        st.sampled_from(',;|\t" \u00a0'),
    ),
    max_size=10,
)


@PROPERTY_SETTINGS
@given(
    width=st.integers(1, 5),
    data=st.data(),
    delimiter=st.sampled_from(",;\t|"),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_property_staged_cells_equal_the_exact_readers(
    tmp_path: Path, width: int, data: st.DataObject, delimiter: str, newline: str, bom: bool
) -> None:
    header = [f"h{j}" for j in range(width)]
    row = st.lists(CELL, min_size=width, max_size=width)
    rows = data.draw(st.lists(row, min_size=1, max_size=12))
    path = write_csv(
        tmp_path / "p.csv", [header, *rows], delimiter=delimiter, newline=newline,
        encoding="utf-8-sig" if bom else "utf-8",
    )  # fmt: skip
    try:
        exact_error = None
        read_drop(path.read_bytes())
    except DropRejected as error:
        exact_error = error.code
    if exact_error is not None:
        with pytest.raises(DropRejected) as caught:
            staged(tmp_path, path)
        assert caught.value.code == exact_error
        return
    table, frame = staged(tmp_path, path)
    assert_same_as_exact_reader(table, frame, path)
    if all("".join(r).strip() and not set("".join(r)) & set(',;\t|"') for r in rows):
        # every record on one line, none blank, no quoting: nothing for the exact reader
        assert table.fast_path
