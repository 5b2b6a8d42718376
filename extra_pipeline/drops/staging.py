"""A drop's cells in a scratch DuckDB of its own, where the row rules and the quality gate run.

Each drop gets its own scratch space (`Scratch`) under the drop area: the file's cells land
in an in-memory table ``cells`` (``row_number`` and text columns ``c0..c{n-1}``), the rules
write ``issues`` beside it and the ``accepted`` rows into a results file, where Great
Expectations checks them in place and from which the warehouse copies them in one
transaction. The warehouse is never touched until the drop is decided, DuckDB spills to
disk rather than filling memory, and the scratch space is removed afterwards.

`stage_drop` loads the cells. A plain UTF-8 CSV, the common case, goes straight through
DuckDB's `read_csv`; anything else, or a CSV with anything unusual in it (blank or
multi-line records, ragged rows, undecodable bytes, over-long lines, stray line-break
characters), is read by the exact reader in `readers.py`, which reports such rows one by
one. Both give the same cells for the files the fast path accepts (`test_drop_staging.py`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from extra_pipeline.drops import readers
from extra_pipeline.drops.model import DropRejected, Limits, RawTable, RowIssue
from extra_pipeline.warehouse import quote_ident

#: the scratch database's memory budget: beyond it DuckDB spills to its temp folder
SCRATCH_MEMORY_LIMIT = "1GB"
_SCAN_CHUNK = 16 * 1024 * 1024
_SNIFF_BYTES = 4 * readers.SNIFF_CHARS  # enough bytes for the sniffer's characters
#: What makes a CSV take the exact reader, by first byte: NUL; U+FFFD (damaged before it
#: was sent); characters that are line breaks to `str.splitlines` but not to CSV (VT, FF,
#: FS, GS, RS, NEL, LS, PS). Searched with `in`, which runs at memory speed; a sequence is
#: only looked for when its first byte occurs (regex alternation is twenty times slower).
_UNUSUAL: dict[bytes, tuple[bytes, ...]] = {
    b"\x00": (b"\x00",), b"\x0b": (b"\x0b",), b"\x0c": (b"\x0c",), b"\x1c": (b"\x1c",),
    b"\x1d": (b"\x1d",), b"\x1e": (b"\x1e",), b"\xc2": (b"\xc2\x85",),
    b"\xe2": (b"\xe2\x80\xa8", b"\xe2\x80\xa9"), b"\xef": (b"\xef\xbf\xbd",),
}  # fmt: skip


@dataclass
class StagedTable:
    """A drop's cells, loaded into the scratch table `table`; what `RawTable` says, minus
    the rows themselves."""

    format: str
    headers: list[str]
    rows_read: int
    table: str = "cells"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    unreadable: list[RowIssue] = field(default_factory=list)
    unreadable_text: dict[int, str] = field(default_factory=dict)
    fast_path: bool = False

    @property
    def rows_received(self) -> int:
        return self.rows_read + len(self.unreadable)


class Scratch:
    """One drop's scratch space: an in-memory DuckDB for the work (spilling to a folder of
    its own past `SCRATCH_MEMORY_LIMIT`), with a results file attached as `results` where
    what must outlive it goes (the accepted rows, the quarantine records). `release()`
    detaches the file so another engine (GX, the warehouse) can open it."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder / f"{name}-{uuid.uuid4().hex[:8]}"
        self.path = self.folder / "results.duckdb"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._attached = False

    def connect(self) -> duckdb.DuckDBPyConnection:
        """The work connection, with the results file attached as `results`."""
        if self._con is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(
                ":memory:",
                config={
                    "memory_limit": SCRATCH_MEMORY_LIMIT,
                    "temp_directory": str(self.folder / "spill"),
                },
            )
            self._con.execute("set enable_progress_bar = false")
        if not self._attached:
            self._con.execute("attach ? as results", [str(self.path)])
            self._attached = True
        return self._con

    def release(self) -> None:
        """Detach (and so checkpoint) the results file; the work tables stay in memory."""
        if self._con is not None and self._attached:
            self._con.execute("detach results")
            self._attached = False

    def remove(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            self._attached = False
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def scratch(folder: Path, name: str) -> Iterator[Scratch]:
    """A scratch database for one drop, removed however the block ends."""
    work = Scratch(folder, name)
    try:
        yield work
    finally:
        work.remove()


def stage_drop(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    limits: Limits,
    encoding: str | None = None,
    table: str = "cells",
) -> StagedTable:
    """Load the file at `path` into `table` on `con`; raises `DropRejected` as `read_drop` does."""
    staged = _stage_plain_csv(con, path, limits=limits, encoding=encoding, table=table)
    if staged is not None:
        return staged
    size = path.stat().st_size
    if size > limits.max_exact_bytes:
        raise DropRejected(
            "too_large",
            f"The file is {size:,} bytes. Files over {limits.max_exact_bytes:,} bytes are "
            "accepted as plain UTF-8 CSV only (one record per line, no blank lines, no line "
            "breaks inside cells); send it that way, or split it into smaller files.",
        )
    raw = readers.read_drop(path.read_bytes(), limits=limits, encoding=encoding)
    _load_frame(con, raw, table)
    return StagedTable(
        format=raw.format,
        headers=raw.headers,
        rows_read=len(raw.rows),
        table=table,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        sheet=raw.sheet,
        unreadable=raw.unreadable,
        unreadable_text=raw.unreadable_text,
    )


def _load_frame(con: duckdb.DuckDBPyConnection, raw: RawTable, table: str) -> None:
    frame = raw.rows.reset_index()
    frame["row_number"] = np.asarray(frame["row_number"], dtype=np.int64)
    cells = [c for c in frame.columns if c != "row_number"]
    con.register("_staged_rows", frame)
    try:
        typed = "".join(f", cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in cells)
        con.execute(
            f"create or replace table {table} as select row_number{typed} from _staged_rows"
        )
    finally:
        con.unregister("_staged_rows")


# --- the fast path: a plain UTF-8 CSV, read by DuckDB -------------------------------------


@dataclass
class _Scan:
    """What one pass over the bytes found."""

    newlines: int = 0
    unusual: bool = False
    ends_with_newline: bool = True


def _scan(path: Path, delimiter: str, width: int) -> _Scan:
    """Line feeds, and anything that needs the exact reader, chunk by chunk (in C, but for
    lines ending in the delimiter, see `_extra_empty_fields`)."""
    scan = _Scan()
    separator = delimiter.encode()
    tail = b""  # the last, unfinished line of the previous chunk
    with path.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            data = tail + chunk
            end = data.rfind(b"\n") + 1  # whole lines only: data[:end]
            if _unusual(data, end) or _extra_empty_fields(data, end, separator, width):
                scan.unusual = True
                return scan
            scan.newlines += data.count(b"\n", 0, end)
            tail = data[end:]
    scan.ends_with_newline = not tail
    last = tail + b"\n"
    scan.unusual = _unusual(last, len(last)) or _extra_empty_fields(
        last, len(last), separator, width
    )
    return scan


def _unusual(data: bytes, end: int) -> bool:
    """A byte sequence from `_UNUSUAL`, or a CR that does not start a CRLF, in data[:end]."""
    if any(
        data.find(lead, 0, end) >= 0 and any(data.find(s, 0, end) >= 0 for s in sequences)
        for lead, sequences in _UNUSUAL.items()
    ):
        return True
    return data.find(b"\r", 0, end) >= 0 and data.count(b"\r", 0, end) != data.count(
        b"\r\n", 0, end
    )


def _extra_empty_fields(data: bytes, end: int, separator: bytes, width: int) -> bool:
    """Whether a line ending in the delimiter has more fields than the header.

    DuckDB quietly drops empty fields at the end of a line, so `1,2,` under a two-column
    header would lose the extra field the exact reader reports (`column_count`). Only lines
    ending in the delimiter can hide one; each is counted (one with a quote is left to the
    exact reader, which knows which delimiters are quoted).
    """
    for ending in (separator + b"\n", separator + b"\r\n"):
        at = data.find(ending, 0, end)
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            line = data[start : at + len(separator)]
            if b'"' in line or line.count(separator) + 1 != width:
                return True
            at = data.find(ending, at + len(ending), end)
    return False


def _stage_plain_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    limits: Limits,
    encoding: str | None,
    table: str,
) -> StagedTable | None:
    """Stage a plain UTF-8 CSV with DuckDB, or None when the exact reader must decide.

    Plain means: UTF-8 (with or without its byte-order mark); no NUL, U+FFFD or line-break
    characters other than LF/CRLF; no line longer than a cell may be; and DuckDB's strict
    parse yields exactly one record per line after the header (so no blank lines, no
    quoted line breaks, no ragged rows, and row numbers are line numbers minus one).
    """
    if encoding is not None and codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        return None
    size = path.stat().st_size
    if size == 0 or size > limits.max_bytes:
        return None  # the exact reader words these rejections
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not readers.plain_text_start(head):
        return None
    bom = head.startswith(codecs.BOM_UTF8)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head[3 if bom else 0 :], final=False)
    except UnicodeDecodeError:
        return None
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        return None
    truncated = len(head) < size or len(text) > readers.SNIFF_CHARS
    delimiter = readers.sniff_delimiter(text[: readers.SNIFF_CHARS], truncated=truncated)
    try:
        [header] = list(csv.reader([first_line], delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, ValueError):
        return None
    headers = readers.header_names(header, limits, "line 1", "UTF-8")
    scan = _scan(path, delimiter, len(headers))
    if scan.unusual:
        return None
    lines = scan.newlines + (0 if scan.ends_with_newline else 1)
    expected = lines - 1  # every line after the header holds one record
    if expected <= 0:
        return None
    columns = {f"c{i}": "VARCHAR" for i in range(len(headers))}
    # One pass: parse, number (the ordinality is the record's position in the file) and
    # strip, into the exact reader's cells: stripped, None when empty.
    cells = ", ".join(f"{readers.strip_sql(f'c{i}')} as c{i}" for i in range(len(headers)))
    try:
        con.execute(
            f"create or replace table {table} as select ordinality as row_number, {cells} "
            f"from read_csv(?, header = false, skip = 1, delim = ?, quote = '\"', escape = '\"', "
            f"columns = {columns!r}, auto_detect = false, strict_mode = true, "
            # a line longer than a cell may be could hide an over-long cell: DuckDB refuses
            # it, and the exact reader names the cell
            f"null_padding = false, max_line_size = {limits.max_cell_chars}) with ordinality",
            [str(path), delimiter],
        )
    except duckdb.Error:
        return None
    blank = " and ".join(f"c{i} is null" for i in range(len(headers)))
    count, blanks = con.execute(
        f"select count(*), count(*) filter (where {blank}) from {table}"
    ).fetchone()
    if count != expected or blanks:
        # a blank line, a quoted line break or a row of empty cells: the exact reader
        # decides what is a row and numbers them
        con.execute(f"drop table {table}")
        return None
    if count > limits.max_rows:
        raise readers.too_many_rows(limits.max_rows)
    return StagedTable(
        format="csv",
        headers=headers,
        rows_read=int(count),
        table=table,
        encoding="utf-8-sig" if bom else "utf-8",
        delimiter=delimiter,
        fast_path=True,
    )
