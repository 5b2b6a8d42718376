"""Read a member-state drop (CSV, XLSX or JSON bytes) into a `RawTable` of text.

The payload comes from outside and is treated as hostile. Its format is decided by its
content, never by its name: an XLSX is a ZIP holding ``[Content_Types].xml`` and
``xl/workbook.xml``; JSON starts (after any byte-order mark) with ``[`` or ``{``; anything
else that is text is CSV. Legacy ``.xls``, PDF and other binaries are refused.

A problem with the whole file raises `DropRejected` with a stable code and a message for
the sender. A problem with one row makes that row *unreadable*: it is kept out of
`RawTable.rows`, listed once in `RawTable.unreadable` (rule ``encoding``,
``column_count``, ``cell_too_long`` or ``structure``) and its raw text kept in
`RawTable.unreadable_text`, so ``rows_received`` always counts every data row.

What the rows look like, whatever the format:

- cells are text stripped of surrounding whitespace, or None when empty; numbers are their
  shortest decimal text ("12", "1.5", never "1e-05"), dates ISO 8601, booleans
  "true"/"false", nested JSON values JSON text; markup and formula text stay verbatim;
- row numbers count data rows from 1 in file order; a row whose cells are all empty
  (a blank line, ``;;;;``, an empty sheet row, a JSON record of nulls) is not a row;
- no replacement character (U+FFFD), undecodable byte or NUL reaches `RawTable.rows`.

This is the exact reader: every file goes through it except a plain UTF-8 CSV, which
`staging.py` streams through DuckDB and which must give the same cells. CSV here is parsed
with the standard `csv` module: it reports every record's true field count, which pandas'
C parser hides (it pads short rows). Limits are checked before parsing
(size, XLSX decompression and XML entities) and while reading (rows, columns, cells).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import io
import itertools
import json
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import python_calamine

from extra_pipeline.drops.model import DropRejected, Limits, RawTable, RowIssue

__all__ = ["ACCEPTED_FORMATS", "read_drop"]

ACCEPTED_FORMATS = (
    "Send CSV (UTF-8, UTF-16 with a byte-order mark, or Windows-1252), an Excel workbook "
    "(.xlsx), or JSON (an array of records)."
)

_DEFAULT_LIMITS = Limits()

#: Good rows are gathered in chunks of this many before they become one array.
_CHUNK_ROWS = 65_536
#: Raw text kept for an unreadable row is cut after this many characters.
_RAW_TEXT_MAX = 20_000

# --- format and encoding detection ------------------------------------------------------

ZIP_MAGIC = b"PK\x03\x04"
_BINARY_MAGIC = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel .xls workbook (or another OLE document, such as a "
        "password-protected workbook): save it as .xlsx without a password, or as CSV",
    ),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
# UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CODEC_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252",
    "iso8859-1": "Latin-1",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "utf-16": "UTF-16",
}
_HIGH_BYTES = bytes(range(0x80, 0x100))
#: Codecs whose undecodable bytes are all >= 0x80, so the fast built-in escape serves.
_ASCII_SUPERSETS = frozenset({"utf-8", "utf-8-sig", "cp1252"})
#: An undecodable byte becomes the lone surrogate U+DC00 + byte: it marks the row (and
#: names the byte) without ever becoming a replacement character.
_ESCAPE = "extra_drops.escape"
#: What may not reach a row: NUL, lone surrogates (undecodable bytes), U+FFFD.
_BAD_CHARS = re.compile("[\x00\ud800-\udfff\ufffd]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


#: What `str.strip()` removes from a cell; DuckDB's `trim` is given the same set, so a cell
#: means the same whichever reader produced it.
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())


def strip_sql(column: str) -> str:
    """DuckDB SQL for `cell.strip() or None` on `column`. DuckDB's `trim` with a set of
    characters is slow, so it only runs on a cell that starts or ends with something other
    than printable ASCII (the others have nothing to strip)."""
    whitespace = "'" + WHITESPACE + "'"
    return (
        f"case when {column} is null or {column} = '' then null "
        f"when ascii({column}) between 33 and 126 and ascii(right({column}, 1)) between 33 and 126 "
        f"then {column} else nullif(trim({column}, {whitespace}), '') end"
    )


def plain_text_start(head: bytes) -> bool:
    """Whether a file starting with `head` can only be CSV text in UTF-8: not a workbook,
    JSON, a known binary, or text with a UTF-16/32 byte-order mark."""
    if head.startswith(ZIP_MAGIC) or any(head.startswith(m) for m, _ in _BINARY_MAGIC):
        return False
    found = _bom(head)
    if found is not None and found[0] != "utf-8-sig":
        return False
    start = head[3:] if found else head
    return start.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"[", b"{")


def _escape_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(_ESCAPE, _escape_undecodable)


def read_drop(
    payload: bytes, *, limits: Limits = _DEFAULT_LIMITS, encoding: str | None = None
) -> RawTable:
    """Read one dropped file into a `RawTable`, or raise `DropRejected`.

    `encoding` forces the text encoding of a CSV or JSON file (any Python codec name);
    otherwise a byte-order mark decides, then strict UTF-8, then Windows-1252 (see
    `_decode`). Raises ValueError for an unknown `encoding` name (a caller error).
    """
    if len(payload) > limits.max_bytes:
        raise DropRejected(
            "too_large",
            f"The file is {len(payload):,} bytes, over the limit of {limits.max_bytes:,} bytes. "
            "Split it into smaller files.",
        )
    if not payload:
        raise DropRejected("empty", "The file is empty (0 bytes).")
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
    if payload.startswith(ZIP_MAGIC):
        return _read_xlsx(payload, limits)
    if _is_json_text(payload, encoding):
        return _read_json(payload, limits, encoding)
    return _read_csv(payload, limits, encoding)


def _is_json_text(payload: bytes, encoding: str | None) -> bool:
    """Refuse known binaries; then JSON when the first non-blank character is [ or {."""
    for magic, what in _BINARY_MAGIC:
        if payload.startswith(magic):
            raise DropRejected("unreadable", f"This file is {what}. {ACCEPTED_FORMATS}")
    found = _bom(payload) if encoding is None else (encoding, 0)
    if found is None and b"\x00" in payload[:8192]:
        raise DropRejected(
            "unreadable",
            "This file is binary, not text (UTF-16 text needs a byte-order mark). "
            + ACCEPTED_FORMATS,
        )
    codec, skip = found or ("latin-1", 0)
    head = str(payload[skip : skip + 1024], codec, "ignore").lstrip("\ufeff \t\r\n")
    return head[:1] in ("[", "{")


def _bom(payload: bytes) -> tuple[str, int] | None:
    for mark, codec in _BOMS:
        if payload.startswith(mark):
            return codec, len(mark)
    return None


def _decode(payload: bytes, encoding: str | None) -> tuple[str, str, bool]:
    """Text, codec name and whether any byte could not be decoded (then escaped).

    An explicit `encoding` wins, then a byte-order mark, then strict UTF-8. If UTF-8
    fails, the file is still UTF-8 (with some corrupt rows) when it holds valid multi-byte
    UTF-8 sequences, unless bytes that are not UTF-8 outnumber them more than ten to one:
    that is Windows-1252 text in which a few byte pairs happen to look like UTF-8.
    """
    if encoding is not None:
        text, escaped = _decode_as(payload, encoding)
        return text.removeprefix("\ufeff"), encoding, escaped
    found = _bom(payload)
    if found is not None:
        codec, skip = found
        text, escaped = _decode_as(memoryview(payload)[skip:], codec)
        return text, codec, escaped
    try:
        return str(payload, "utf-8"), "utf-8", False
    except UnicodeDecodeError:
        pass
    # Counted in C: every undecodable byte became one escape character, which encoding
    # with errors="ignore" drops; ASCII bytes always decode to themselves.
    text = str(payload, "utf-8", "surrogateescape")
    invalid = len(payload) - len(text.encode("utf-8", "ignore"))
    ascii_bytes = len(payload.translate(None, _HIGH_BYTES))
    sequences = len(text) - invalid - ascii_bytes  # valid non-ASCII characters
    if sequences and invalid <= 10 * sequences:
        return text, "utf-8", True
    del text
    text, escaped = _decode_as(payload, "cp1252")
    return text, "cp1252", escaped


def _decode_as(data: bytes | memoryview, codec: str) -> tuple[str, bool]:
    try:
        return str(data, codec), False
    except UnicodeDecodeError:
        errors = "surrogateescape" if codec in _ASCII_SUPERSETS else _ESCAPE
        return str(data, codec, errors), True


def _codec_label(codec: str | None) -> str:
    return _CODEC_LABELS.get(codec or "utf-8", (codec or "").upper())


# --- CSV --------------------------------------------------------------------------------

_DELIMITERS = (",", ";", "\t", "|")
#: the delimiter is sniffed from this many characters at the start of the file
SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
#: Characters `str.splitlines` breaks on that CSV does not (the csv module only knows CR/LF).
_OTHER_LINE_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


class _LineFeed:
    """The lines handed to `csv.reader`, noting when they run out: the reader asking for
    more after the last line means a quoted field was never closed."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.exhausted = False

    def __iter__(self) -> Iterator[str]:
        yield from self.lines
        self.exhausted = True


def _read_csv(payload: bytes, limits: Limits, encoding: str | None) -> RawTable:
    text, codec, escaped = _decode(payload, encoding)
    delimiter = sniff_delimiter(text[:SNIFF_CHARS], truncated=len(text) > SNIFF_CHARS)
    # Only a file holding a bad character anywhere needs the per-row check.
    suspicious = escaped or "\ufffd" in text or "\x00" in text
    lines = _split_lines(text)
    del text  # the lines hold it now: one copy, released as it is read
    if csv.field_size_limit() < limits.max_bytes:
        # A long cell must become a `cell_too_long` row, not a parser error. Raising the
        # process-wide limit (never lowering it) cannot break another reader.
        csv.field_size_limit(limits.max_bytes)
    feed = _LineFeed(lines)
    reader = csv.reader(feed, delimiter=delimiter, skipinitialspace=True, strict=False)
    label = _codec_label(codec)
    try:
        with _gc_paused():
            header, header_line = _csv_header(reader, feed)
            headers = header_names(header, limits, f"line {header_line}", label)
            rows, unreadable, texts = _csv_rows(
                reader, feed, lines, headers, limits, label, suspicious=suspicious
            )
    except csv.Error as error:
        raise DropRejected(
            "unreadable", f"The CSV cannot be parsed at line {reader.line_num}: {error}."
        ) from None
    return RawTable(
        format="csv",
        headers=headers,
        rows=rows,
        encoding=codec,
        delimiter=delimiter,
        unreadable=unreadable,
        unreadable_text=texts,
    )


def _csv_header(reader: Any, feed: _LineFeed) -> tuple[list[str], int]:
    """The first non-blank record, and the line it starts on."""
    previous = 0
    for record in reader:
        first, previous = previous + 1, reader.line_num
        if feed.exhausted:
            raise _unclosed_quote(first)
        if not _blank(record):
            return record, first
    raise DropRejected("empty", "The file has no header and no rows.")


def _csv_rows(
    reader: Any,
    feed: _LineFeed,
    lines: list[str],
    headers: list[str],
    limits: Limits,
    label: str,
    *,
    suspicious: bool,
) -> tuple[pd.DataFrame, list[RowIssue], dict[int, str]]:
    """The data records: good ones cleaned and gathered in chunks, the others unreadable."""
    width = len(headers)
    max_rows = limits.max_rows
    max_cell = limits.max_cell_chars
    # A one-line record no longer than the cell limit cannot hold a cell over it, and
    # only a file holding a bad character somewhere has rows to look at for one.
    long_lines = max(map(len, lines), default=0) > max_cell
    bad_chars = _BAD_CHARS.search if suspicious else None
    table = _TableBuilder(width, capacity=len(lines))
    unreadable = _Unreadable()
    chunk: list[list[str | None]] = []
    number = 0
    previous = released = reader.line_num
    # The hot loop, about a microsecond a row: the common path has only cheap checks.
    for record in reader:
        first, previous = previous + 1, reader.line_num
        if feed.exhausted:
            raise _unclosed_quote(first)
        if (len(record) != width or not record[0] or record[0].isspace()) and _blank(record):
            continue
        number += 1
        if number > max_rows:
            raise too_many_rows(max_rows)
        if len(record) != width:
            where = f"line {first}" if first == previous else f"lines {first}-{previous}"
            reason = f"row {number} has {len(record)} fields, the header has {width} ({where})"
            unreadable.add(number, "column_count", reason, _joined(lines, first, previous))
            continue
        cells = [cell.strip() or None for cell in record]
        if (
            first != previous
            or (long_lines and len(lines[first - 1]) > max_cell)
            or (bad_chars and bad_chars(lines[first - 1]))
        ):
            problem = _row_problem(cells, headers, limits, label)
            if problem is not None:
                reason = problem.reason(number, f"line {first}")
                unreadable.add(number, problem.rule, reason, _joined(lines, first, previous))
                continue
        chunk.append(cells)
        if len(chunk) == _CHUNK_ROWS:
            table.add(chunk)
            chunk = []
            # Lines already read are dropped, so the text and the cells never both peak.
            lines[released:previous] = itertools.repeat("", previous - released)
            released = previous
    table.add(chunk)
    _check_has_rows(number)
    return table.frame(number, unreadable.numbers), unreadable.issues, unreadable.texts


def _joined(lines: list[str], first: int, last: int) -> str:
    return "".join(lines[first - 1 : last])


def _unclosed_quote(first_line: int) -> DropRejected:
    return DropRejected(
        "unreadable",
        f"A quoted field that starts on line {first_line} is never closed, so the rest of "
        'the file ran into it. Check the quotes (") on that line.',
    )


def _blank(record: Sequence[str]) -> bool:
    return not "".join(record).strip()


def _split_lines(text: str) -> list[str]:
    """Physical lines ending in LF, CRLF or CR, with their line breaks."""
    lines = text.splitlines(keepends=True)
    if not any(mark in text for mark in _OTHER_LINE_BREAKS):
        return lines
    merged: list[str] = []
    pending: list[str] = []
    for piece in lines:
        pending.append(piece)
        if piece.endswith(("\n", "\r")):
            merged.append("".join(pending))
            pending.clear()
    if pending:
        merged.append("".join(pending))
    return merged


def sniff_delimiter(sample: str, *, truncated: bool) -> str:
    """The delimiter that splits the header into the most columns, which the next records
    repeat: a quoted field holding other delimiters or line breaks does not mislead it.
    `sample` is the start of the text; `truncated` says the file goes on after it."""
    best, best_score = _DELIMITERS[0], (False, 0, 0.0)
    for delimiter in _DELIMITERS:
        reader = csv.reader(
            io.StringIO(sample, newline=""), delimiter=delimiter, skipinitialspace=True
        )
        try:
            records = [r for r in itertools.islice(reader, _SNIFF_RECORDS) if not _blank(r)]
        except csv.Error:
            continue
        if truncated:
            records = records[:-1]  # the sample may cut the last record short
        if not records or len(records[0]) < 2:
            continue
        width, body = len(records[0]), records[1:]
        agreeing = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (agreeing >= 0.8, width, agreeing)
        if score > best_score:
            best, best_score = delimiter, score
    return best


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector while millions of short lists are made: they hold no
    cycles, and collecting over them costs about a third of the parse time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- XLSX -------------------------------------------------------------------------------

_WORKBOOK_PARTS = frozenset({"[Content_Types].xml", "xl/workbook.xml"})
_CENTRAL_DIRECTORY = b"PK\x01\x02"
_MAX_ZIP_MEMBERS = 10_000
#: A member smaller than this is not judged by its compression ratio: it cannot be a bomb.
_RATIO_MIN_BYTES = 1 << 20
_INFLATE_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_SIGNATURE = 0x04034B50
_XML_SUFFIXES = (".xml", ".rels", ".vml")


def _read_xlsx(payload: bytes, limits: Limits) -> RawTable:
    _check_archive(payload, limits)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(payload))
        found = _first_sheet_with_data(workbook)
    except DropRejected:
        raise
    except Exception as error:  # the parser of a hostile file may fail in any way
        raise DropRejected(
            "unreadable",
            f"The workbook cannot be read ({type(error).__name__}: {str(error)[:200]}). "
            "Open it in Excel, save it again as .xlsx, and send it again.",
        ) from None
    if found is None:
        raise DropRejected("empty", "No sheet of the workbook holds any data.")
    sheet_name, sheet_rows, header, header_row = found
    headers = header_names(header, limits, f"sheet {sheet_name!r}, row {header_row}", "UTF-8")
    width = len(headers)
    table = _TableBuilder(width)
    unreadable = _Unreadable()
    chunk: list[list[str | None]] = []
    number = 0
    for sheet_row, values in enumerate(sheet_rows, header_row + 1):
        cells = [_cell_text(value) for value in values]
        if not any(cells):
            continue
        number += 1
        if number > limits.max_rows:
            raise too_many_rows(limits.max_rows)
        problem = _row_problem(cells, headers, limits, "UTF-8")
        if problem is not None:
            reason = problem.reason(number, f"sheet row {sheet_row}")
            unreadable.add(number, problem.rule, reason, _csv_line(cells))
            continue
        chunk.append(cells)
        if len(chunk) == _CHUNK_ROWS:
            table.add(chunk)
            chunk = []
    table.add(chunk)
    _check_has_rows(number)
    return RawTable(
        format="xlsx",
        headers=headers,
        rows=table.frame(number, unreadable.numbers),
        sheet=sheet_name,
        unreadable=unreadable.issues,
        unreadable_text=unreadable.texts,
    )


def _first_sheet_with_data(
    workbook: python_calamine.CalamineWorkbook,
) -> tuple[str, Iterator[list[Any]], list[str | None], int] | None:
    """The first worksheet with a non-empty cell (visible sheets before hidden ones), the
    rest of its rows, its header (the first non-empty row) and that row's sheet number."""
    sheets = [
        (index, meta)
        for index, meta in enumerate(workbook.sheets_metadata)
        if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
    ]
    sheets.sort(key=lambda item: item[1].visible != python_calamine.SheetVisibleEnum.Visible)
    for index, meta in sheets:
        # iter_rows starts at the sheet's first row, so positions are sheet row numbers.
        rows = workbook.get_sheet_by_index(index).iter_rows()
        for sheet_row, values in enumerate(rows, 1):
            cells = [_cell_text(value) for value in values]
            if any(cells):
                return meta.name, rows, cells, sheet_row
    return None


def _check_archive(payload: bytes, limits: Limits) -> None:
    """Refuse a ZIP that is not a workbook, a zip bomb or XML with entity declarations,
    all before any XML parser sees it. Declared sizes are checked first, then every
    member is inflated as a stream against the byte budget, because declared sizes can lie.
    """
    # Every member has an entry in the central directory: bound them before zipfile
    # builds an object for each.
    if payload.count(_CENTRAL_DIRECTORY) > _MAX_ZIP_MEMBERS:
        raise DropRejected(
            "zip_bomb", f"The workbook has more than {_MAX_ZIP_MEMBERS:,} parts; it is refused."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise _corrupt_workbook(str(error)) from None
    if not _WORKBOOK_PARTS.issubset(member.filename for member in members):
        raise DropRejected(
            "unreadable",
            "This file is a ZIP archive but not an Excel workbook (.xlsx); OpenDocument "
            "(.ods) and other archives are not accepted. " + ACCEPTED_FORMATS,
        )
    budget = limits.xlsx_max_uncompressed
    declared = sum(member.file_size for member in members)
    if declared > budget:
        raise DropRejected(
            "zip_bomb",
            f"The workbook would unpack to {declared:,} bytes, over the limit of {budget:,}.",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_MIN_BYTES and ratio > limits.xlsx_max_ratio:
            raise DropRejected(
                "zip_bomb",
                f"The workbook part {member.filename!r} is compressed {ratio:,.0f} to 1, over "
                f"the limit of {limits.xlsx_max_ratio:,.0f} to 1 (a zip bomb).",
            )
    for member in members:
        budget -= _scan_member(payload, member, budget, limits)


def _scan_member(payload: bytes, member: zipfile.ZipInfo, budget: int, limits: Limits) -> int:
    """Inflate one member in bounded chunks, checking its size and looking for a DTD;
    return the bytes it really holds."""
    name = member.filename
    if member.flag_bits & 0x1:
        raise DropRejected(
            "unreadable", "The workbook is password-protected: save it without a password."
        )
    try:
        signature, *_, name_length, extra_length = _LOCAL_HEADER.unpack_from(
            payload, member.header_offset
        )
    except struct.error:
        raise _corrupt_workbook(f"part {name!r} is missing") from None
    if signature != _LOCAL_SIGNATURE:
        raise _corrupt_workbook(f"part {name!r} is damaged")
    start = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    data = memoryview(payload)[start : start + member.compress_size]
    if member.compress_type == zipfile.ZIP_STORED:
        pieces: Iterable[bytes] = (
            bytes(data[at : at + _INFLATE_CHUNK]) for at in range(0, len(data), _INFLATE_CHUNK)
        )
    elif member.compress_type == zipfile.ZIP_DEFLATED:
        pieces = _inflate(data, name)
    else:
        raise _corrupt_workbook(f"part {name!r} uses compression method {member.compress_type}")
    # Only XML parts are looked at for a DTD: an SVG image may carry a harmless one.
    xml = name.lower().endswith(_XML_SUFFIXES)
    produced = 0
    tail = b""
    for piece in pieces:
        if produced == 0 and xml and _utf16_xml(piece):
            raise _corrupt_workbook(f"part {name!r} is not UTF-8 XML")
        produced += len(piece)
        if produced > member.file_size:
            raise DropRejected(
                "zip_bomb",
                f"The workbook part {name!r} unpacks to more than the {member.file_size:,} "
                "bytes it declares (a zip bomb).",
            )
        if produced > budget:
            raise DropRejected(
                "zip_bomb",
                "The workbook unpacks to more than the limit of "
                f"{limits.xlsx_max_uncompressed:,} bytes.",
            )
        if xml and (_declares_entities(tail + piece[:16]) or _declares_entities(piece)):
            raise DropRejected(
                "xml_entities",
                f"The workbook part {name!r} declares a DTD or XML entities, which are refused "
                "(they can expand without limit). Save the workbook again from Excel.",
            )
        tail = piece[-16:]
    return produced


def _inflate(data: memoryview, name: str) -> Iterator[bytes]:
    """Raw-deflate `data` in pieces of at most `_INFLATE_CHUNK` bytes, never all at once."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for at in range(0, len(data), _INFLATE_CHUNK):
            pending = data[at : at + _INFLATE_CHUNK]
            while pending:
                piece = inflater.decompress(pending, _INFLATE_CHUNK)
                if piece:
                    yield piece
                if inflater.eof:
                    return
                if not piece and len(inflater.unconsumed_tail) == len(pending):
                    raise _corrupt_workbook(f"part {name!r} is damaged")
                pending = inflater.unconsumed_tail
        while not inflater.eof:  # output zlib still holds after the last input
            piece = inflater.decompress(b"", _INFLATE_CHUNK)
            if not piece:
                return
            yield piece
    except zlib.error:
        raise _corrupt_workbook(f"part {name!r} is damaged") from None


def _declares_entities(chunk: bytes) -> bool:
    """Whether `chunk` holds ``<!DOCTYPE`` or ``<!ENTITY`` (any case, as lenient parsers
    accept)."""
    at = chunk.find(b"<!")
    while at != -1:
        if chunk[at + 2 : at + 9].upper().startswith((b"DOCTYPE", b"ENTITY")):
            return True
        at = chunk.find(b"<!", at + 2)
    return False


def _utf16_xml(head: bytes) -> bool:
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:4]


def _corrupt_workbook(detail: str) -> DropRejected:
    return DropRejected(
        "unreadable",
        f"The workbook is damaged ({detail}). Open it in Excel, save it again as .xlsx, "
        "and send it again.",
    )


# --- JSON -------------------------------------------------------------------------------

_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, at: int) -> int:
    match = _JSON_SPACE.match(text, at)
    return match.end() if match else at


class _RepeatedKeys(dict[str, Any]):
    """A JSON object that names a key more than once (json would keep the last value)."""

    repeated: str


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    values = dict(pairs)
    if len(values) == len(pairs):
        return values
    marked = _RepeatedKeys(values)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.repeated = key
            break
        seen.add(key)
    return marked


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _read_json(payload: bytes, limits: Limits, encoding: str | None) -> RawTable:
    text, codec, _ = _decode(payload, encoding)
    decoder = json.JSONDecoder(
        parse_float=_json_float, parse_constant=_refuse_constant, object_pairs_hook=_json_object
    )
    label = _codec_label(codec)
    keys: dict[str, int] = {}  # every key seen, in first-seen order: the header
    names: list[str] = []
    table = _TableBuilder(0)
    unreadable = _Unreadable()
    chunk: list[list[str | None]] = []
    number = 0
    try:
        for element in _json_records(text, decoder):
            problem = _json_problem(element, keys, label)
            cells: list[str | None] = []
            if problem is None:
                for key in element:
                    if key not in keys:
                        keys[key] = len(names)
                        names.append(key)
                if len(names) > limits.max_columns:
                    raise _too_many_columns(len(names), limits.max_columns)
                cells = [None] * len(names)
                for key, value in element.items():
                    cells[keys[key]] = _cell_text(value)
                if not any(cells):
                    continue
                problem = _row_problem(cells, names, limits, label)
            number += 1
            if number > limits.max_rows:
                raise too_many_rows(limits.max_rows)
            if problem is not None:
                raw = json.dumps(element, ensure_ascii=False)
                unreadable.add(number, problem.rule, problem.reason(number, None), raw)
                continue
            chunk.append(cells)
            if len(chunk) == _CHUNK_ROWS:
                table.add(chunk, width=len(names))
                chunk = []
    except json.JSONDecodeError as error:
        raise DropRejected(
            "unreadable",
            f"The file is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}.",
        ) from None
    except (ValueError, RecursionError) as error:
        raise DropRejected("unreadable", f"The file is not valid JSON: {error}.") from None
    table.add(chunk, width=len(names))
    _check_has_rows(number)
    return RawTable(
        format="json",
        headers=header_names(names, limits, "the JSON keys", label),
        rows=table.frame(number, unreadable.numbers),
        encoding=codec,
        unreadable=unreadable.issues,
        unreadable_text=unreadable.texts,
    )


def _json_problem(element: Any, keys: dict[str, int], label: str) -> _Problem | None:
    """Why a JSON array element cannot be a row, if it cannot (before its values)."""
    if not isinstance(element, dict):
        return _Problem("structure", f"the element is {_json_kind(element)}, not an object")
    if isinstance(element, _RepeatedKeys):
        return _Problem("structure", f"the key {_quote(element.repeated)} appears twice")
    for key in element:
        if key not in keys and _BAD_CHARS.search(key):
            return _Problem("encoding", f"a key: {_bad_char_detail(key, label)}")
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def _json_records(text: str, decoder: json.JSONDecoder) -> Iterator[Any]:
    """The elements of the array of records, one at a time: the whole document is never
    turned into Python objects at once, so the row limit stops reading early."""
    at = _skip_space(text, 0)
    if text.startswith("[", at):
        at = yield from _json_array(text, at, decoder)
    else:
        at = yield from _json_wrapped(text, at, decoder)
    at = _skip_space(text, at)
    if at != len(text):
        raise json.JSONDecodeError("Extra data", text, at)


def _json_array(text: str, at: int, decoder: json.JSONDecoder) -> Iterator[Any]:
    """Yield the elements of the array starting at `at`; return the position after it."""
    at = _skip_space(text, at + 1)
    if text.startswith("]", at):
        return at + 1
    while True:
        element, at = decoder.raw_decode(text, at)
        yield element
        at = _skip_space(text, at)
        if text.startswith("]", at):
            return at + 1
        if not text.startswith(",", at):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
        at = _skip_space(text, at + 1)


def _json_wrapped(text: str, at: int, decoder: json.JSONDecoder) -> Iterator[Any]:
    """Yield the records of the one array of objects an object holds (its other members
    are metadata); return the position after the object."""
    found = saw_empty = False
    at = _skip_space(text, at + 1)
    if text.startswith("}", at):
        at += 1
    else:
        while True:
            if not text.startswith('"', at):
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, at
                )
            _, at = decoder.raw_decode(text, at)
            at = _skip_space(text, at)
            if not text.startswith(":", at):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
            at = _skip_space(text, at + 1)
            inside = _skip_space(text, at + 1)
            if text.startswith("[", at) and text.startswith("{", inside):
                if found:
                    raise DropRejected(
                        "unreadable",
                        "The JSON object holds more than one array of records; send one.",
                    )
                found = True
                at = yield from _json_array(text, at, decoder)
            else:
                if text.startswith("[", at) and text.startswith("]", inside):
                    saw_empty = True
                _, at = decoder.raw_decode(text, at)
            at = _skip_space(text, at)
            if text.startswith("}", at):
                at += 1
                break
            if not text.startswith(",", at):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
            at = _skip_space(text, at + 1)
    if not found:
        if saw_empty:
            raise DropRejected("empty", "The JSON file holds no records.")
        raise DropRejected(
            "unreadable",
            "The JSON object holds no array of records. " + ACCEPTED_FORMATS,
        )
    return at


# --- cells, headers and rows ------------------------------------------------------------


def _cell_text(value: Any) -> str | None:
    """A spreadsheet or JSON value as the text the rules see, or None when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime):
        value = _whole_second(value)
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _whole_second(datetime.combine(date.min, value)).time().isoformat()
    if isinstance(value, timedelta):
        seconds = round(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip() or None


def _float_text(value: float) -> str:
    """Shortest decimal text: 12.0 -> "12", 1.5 -> "1.5", 1e-05 -> "0.00001"."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text and 1e-21 < abs(value) < 1e21:
        text = format(Decimal(text), "f")  # same digits, positional notation
    return text


def _whole_second(moment: datetime) -> datetime:
    """Round away the float noise of spreadsheet times (10:29:59.9999 is 10:30:00)."""
    rounded = moment.replace(microsecond=0)
    if moment.microsecond >= 500_000:
        with contextlib.suppress(OverflowError):
            rounded += timedelta(seconds=1)
    return rounded


def header_names(cells: Sequence[str | None], limits: Limits, where: str, label: str) -> list[str]:
    """Header names: stripped, byte-order marks removed, `column_<n>` for an empty one."""
    if len(cells) > limits.max_columns:
        raise _too_many_columns(len(cells), limits.max_columns)
    names = []
    for position, cell in enumerate(cells, 1):
        name = (cell or "").replace("\ufeff", "").strip()
        if _BAD_CHARS.search(name):
            raise DropRejected(
                "unreadable",
                f"Header {position} ({where}) {_bad_char_detail(name, label)}. "
                "Save the file as UTF-8 and send it again.",
            )
        names.append(name or f"column_{position}")
    return names


class _Problem(NamedTuple):
    """Why a row cannot be read: its rule, what is wrong, and in which column if one."""

    rule: str
    detail: str
    column: str | None = None

    def reason(self, number: int, where: str | None) -> str:
        """E.g. 'row 7: byte 0xE9 is not valid UTF-8 (column "commodity", line 8)'."""
        place = [f"column {_quote(self.column)}"] if self.column is not None else []
        place += [where] if where else []
        return f"row {number}: {self.detail}" + (f" ({', '.join(place)})" if place else "")


def _row_problem(
    cells: Sequence[str | None], headers: Sequence[str], limits: Limits, label: str
) -> _Problem | None:
    """The rule a row of stripped cells breaks, if any: undecodable text first."""
    text = "".join(filter(None, cells))  # one look at the whole row first: the usual answer
    if len(text) <= limits.max_cell_chars and not _BAD_CHARS.search(text):
        return None
    for name, cell in zip(headers, cells, strict=False):
        if cell and _BAD_CHARS.search(cell):
            return _Problem("encoding", _bad_char_detail(cell, label), name)
    for name, cell in zip(headers, cells, strict=False):
        if cell and len(cell) > limits.max_cell_chars:
            detail = f"{len(cell):,} characters, more than the {limits.max_cell_chars:,} allowed"
            return _Problem("cell_too_long", detail, name)
    return None


def _bad_char_detail(text: str, label: str) -> str:
    escaped = [ord(char) - 0xDC00 for char in text if "\udc00" <= char <= "\udcff"]
    if escaped:
        shown = " ".join(f"0x{byte:02X}" for byte in escaped[:8])
        many = len(escaped) > 1
        return f"{'bytes' if many else 'byte'} {shown} {'are' if many else 'is'} not valid {label}"
    if "\ufffd" in text:
        return "the value holds U+FFFD, a replacement character: it was damaged before it was sent"
    if "\x00" in text:
        return "the value holds a NUL character"
    return "the value holds an unpaired UTF-16 surrogate"


def _quote(name: str) -> str:
    return '"' + (name if len(name) <= 60 else name[:57] + "...") + '"'


def _csv_line(cells: Sequence[str | None]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if cell is None else cell for cell in cells])
    return out.getvalue()


def too_many_rows(limit: int) -> DropRejected:
    return DropRejected(
        "too_many_rows",
        f"The file has more than {limit:,} data rows, the limit. Split it into smaller files.",
    )


def _too_many_columns(count: int, limit: int) -> DropRejected:
    return DropRejected(
        "too_many_columns", f"The file has {count:,} columns, more than the {limit:,} allowed."
    )


def _check_has_rows(count: int) -> None:
    if count == 0:
        raise DropRejected("empty", "The file has a header but no data rows.")


class _Unreadable:
    """Rows that cannot be read: one issue each (so `rows_received` counts them once)."""

    def __init__(self) -> None:
        self.issues: list[RowIssue] = []
        self.texts: dict[int, str] = {}

    @property
    def numbers(self) -> list[int]:
        return [issue.row_number for issue in self.issues]

    def add(self, number: int, rule: str, reason: str, raw: str) -> None:
        self.issues.append(RowIssue(number, None, rule, reason))
        self.texts[number] = _storable(raw)


def _storable(raw: str) -> str:
    """Raw text safe to store: bounded, undecodable bytes shown as \\xNN, no NUL."""
    raw = raw.rstrip("\r\n")
    if len(raw) > _RAW_TEXT_MAX:
        raw = f"{raw[:_RAW_TEXT_MAX]}... ({len(raw) - _RAW_TEXT_MAX:,} more characters)"
    return _UNSTORABLE.sub(_show_char, raw)


def _show_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC00 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02X}"
    return "\\x00" if code == 0 else f"\\u{code:04X}"


class _TableBuilder:
    """The good rows as one object block of text cells, filled a chunk at a time.

    The rows were numbered 1..n in file order, unreadable ones included, so the good
    rows' numbers are those the unreadable rows do not take: no per-row number is kept.
    """

    def __init__(self, width: int, *, capacity: int | None = None) -> None:
        self._width = width
        # CSV knows an upper bound (its line count): filling one preallocated block avoids
        # a second copy of every cell pointer when the chunks are joined.
        self._data = None if capacity is None else np.empty((capacity, width), dtype=object)
        self._blocks: list[np.ndarray] = []
        self._count = 0

    def add(self, rows: list[list[str | None]], *, width: int = 0) -> None:
        """Add rows of cells; JSON rows may be shorter than `width`, the keys seen so far."""
        self._width = max(self._width, width)
        if not rows:
            return
        if self._data is not None:
            self._data[self._count : self._count + len(rows)] = rows
        else:
            rows = [row + [None] * (self._width - len(row)) for row in rows]
            block = np.empty((len(rows), self._width), dtype=object)
            block[:] = rows
            self._blocks.append(block)
        self._count += len(rows)

    def frame(self, received: int, unreadable: list[int]) -> pd.DataFrame:
        """The rows as a DataFrame: columns c0..c{n-1}, index the row numbers."""
        width = self._width
        if self._data is not None:
            data = self._data[: self._count]
        elif self._blocks:
            data = np.concatenate(
                [
                    np.hstack([b, np.full((len(b), width - b.shape[1]), None, dtype=object)])
                    if b.shape[1] < width
                    else b
                    for b in self._blocks
                ]
            )
        else:
            data = np.empty((0, width), dtype=object)
        if unreadable:
            numbers = np.setdiff1d(np.arange(1, received + 1), unreadable)
            index: pd.Index = pd.Index(numbers, name="row_number")
        else:
            index = pd.RangeIndex(1, received + 1, name="row_number")
        assert len(index) == len(data), "every row is either read or unreadable"
        columns = [f"c{j}" for j in range(width)]
        return pd.DataFrame(data, index=index, columns=columns, dtype=object, copy=False)
