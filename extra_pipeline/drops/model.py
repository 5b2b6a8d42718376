"""The shapes every part of drop ingestion shares: limits, the file as read, row issues,
and the outcome of one drop.

Reading (`readers.py`) turns bytes into a `RawTable` of text; the contract
(`contracts.py`) maps its headers; the rules (`rules.py`) accept or quarantine each row
with a `RowIssue`; `ingest.py` archives, records and reports a `DropOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

DropStatus = Literal["accepted", "partial", "rejected", "duplicate"]
DropFormat = Literal["csv", "xlsx", "json"]


@dataclass(frozen=True)
class Limits:
    """What a drop may be, checked before (and while) parsing. Configurable per deployment."""

    #: any file; a plain UTF-8 CSV is streamed through DuckDB, so this can be large
    max_bytes: int = 1024 * 1024 * 1024
    #: a file the exact reader must read (XLSX, JSON, other encodings, a CSV with blank,
    #: multi-line or broken rows): it holds the whole text in memory
    max_exact_bytes: int = 256 * 1024 * 1024
    max_rows: int = 10_000_000
    max_columns: int = 200
    max_cell_chars: int = 10_000
    #: XLSX: the sum of the members' declared uncompressed sizes, and the actual bytes inflated
    xlsx_max_uncompressed: int = 512 * 1024 * 1024
    #: XLSX: a member whose uncompressed/compressed ratio exceeds this is a zip bomb
    xlsx_max_ratio: float = 200.0


class DropRejected(Exception):
    """The whole file is unusable. `code` is stable (reports and tests key on it); the
    message says what was wrong, where, and what the sender can do."""

    CODES = frozenset(
        {
            "empty",              # no bytes, or a header and no data rows
            "unreadable",         # not CSV, XLSX or JSON; corrupt workbook; invalid JSON
            "too_large",          # over Limits.max_bytes
            "too_many_rows",
            "too_many_columns",
            "zip_bomb",           # XLSX over the decompression limits
            "xml_entities",       # XLSX with DTD / entity declarations
            "ambiguous_headers",  # two headers that normalise to the same contract column
            "missing_columns",    # a required contract column has no header
            "unknown_dataset",    # no contract matches, and none was named
            "bad_sidecar",        # the <file>.meta.json is not valid
            "bad_metadata",       # the period, marking or dataset given for the file is not valid
        }
    )  # fmt: skip

    def __init__(self, code: str, message: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RowIssue:
    """One broken rule on one row. A row with any issue is quarantined, whole."""

    row_number: int  # 1 = the first data row of the file (the header is not counted)
    column: str | None  # the contract column, or None for the row as a whole
    rule: str  # stable code: required, unique, max_length, date, date_range, number, minimum,
    #            enum, market, country, boolean, list, encoding, column_count, ...
    reason: str  # readable, names the value: "seizure_date '31/02/2024' is not a date ..."


@dataclass
class RawTable:
    """A file as read: its header cells and its rows as text, nothing interpreted yet.

    `rows` has positional columns `c0..c{n-1}` (never the file's own headers, which are
    untrusted) of Python `str` or None for an empty cell, indexed by row number. XLSX
    dates become ISO `YYYY-MM-DD` (or `YYYY-MM-DDTHH:MM:SS`) text and numbers their
    shortest decimal text, so the rules see one representation.
    """

    format: DropFormat
    headers: list[str]
    rows: pd.DataFrame
    encoding: str | None = None  # CSV/JSON: the encoding used to decode
    delimiter: str | None = None  # CSV only
    sheet: str | None = None  # XLSX only
    #: rows that could not be read at all (undecodable bytes, wrong number of fields...):
    #: they are quarantined with these issues; their raw text, where any, is in `unreadable_text`
    unreadable: list[RowIssue] = field(default_factory=list)
    unreadable_text: dict[int, str] = field(default_factory=dict)

    @property
    def rows_received(self) -> int:
        return len(self.rows) + len(self.unreadable)


@dataclass
class DropOutcome:
    """What happened to one file: the reconciliation `rows_received = accepted + quarantined`
    always holds (a rejected or duplicate file has zero of each)."""

    drop_id: str
    member_state: str
    dataset: str | None
    file_name: str  # as sent, stored as escaped metadata only
    sha256: str
    bytes: int
    status: DropStatus
    period: str | None
    marking: str
    received_at: str
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reason: str = ""  # for rejected / duplicate: why
    rejection_code: str | None = None
    duplicate_of: str | None = None
    supersedes: list[str] = field(default_factory=list)
    synthetic: bool = False
    format: str | None = None
    encoding: str | None = None
    extra_columns: list[str] = field(default_factory=list)  # headers kept aside, not loaded
    issues_by_rule: dict[str, int] = field(default_factory=dict)
    report_html: str | None = None
    report_json: str | None = None
    #: seconds per phase (archive, read, rules, gate, quarantine, load, report)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_received != self.rows_accepted + self.rows_quarantined:
            raise ValueError(
                f"drop {self.drop_id}: {self.rows_received} received != "
                f"{self.rows_accepted} accepted + {self.rows_quarantined} quarantined"
            )
