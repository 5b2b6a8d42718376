"""Row rules: parse and check every cell of a drop against its contract.

`validate` takes one text column per matched contract column and returns the accepted
rows, typed, and one issue per broken rule; a row with any issue is quarantined whole, so
``accepted + quarantined == received`` always holds.

It is vectorised for million-row drops: each column is factorised once, every rule that
depends only on the cell (type, format, range, length, vocabulary) is decided once per
*distinct* value, and the verdicts are spread back to the rows with array indexing. Only
`required` and `unique` look at rows. Reasons name the value and what was expected.

Decimal separators are decided per FILE, across all its number columns (see
`decimal_separator`): ``12,5`` and ``1.234,5`` show a decimal comma, ``12.5`` and
``1,234.5`` a decimal point, and ``1,234`` / ``1.234`` (one separator, then exactly three
digits) are read by the file's convention. With no evidence the point is assumed (ISO,
spreadsheet cells); with both kinds of evidence those ambiguous values are quarantined.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from extra_pipeline.countries import CountryMatch, default_harmoniser
from extra_pipeline.drops.contracts import (
    NUMBER_TYPES,
    TODAY,
    ColumnSpec,
    Contract,
    normalise_value,
    quote_value,
)
from extra_pipeline.drops.model import RowIssue
from extra_pipeline.settings import PROJECT_ROOT

MARKETS_CSV: Path = PROJECT_ROOT / "assets" / "reference" / "markets.csv"

#: Lists are separated by `;` or `|`, never `,` (country names hold commas: "Korea, Republic of").
LIST_SEPARATOR = re.compile(r"[;|]")

#: Booleans in the drop languages (matched after `normalise_value`: case and accents ignored).
BOOLEAN_SPELLINGS: Mapping[bool, tuple[str, ...]] = {
    True: ("true", "yes", "y", "1", "t", "oui", "vrai", "ja", "j", "wahr", "si", "sí", "sì",
           "s", "verdadero", "vero", "sim", "tak", "waar"),
    False: ("false", "no", "n", "0", "f", "non", "faux", "nein", "falsch", "falso", "não",
            "nie", "nee", "onwaar"),
}  # fmt: skip

DATE_FORMS = "YYYY-MM-DD, DD/MM/YYYY, DD.MM.YYYY or DD-MM-YYYY"

#: The DuckDB type of each contract type in the accepted frame (and the raw tables).
DUCKDB_TYPES: Mapping[str, str] = {
    "text": "VARCHAR",
    "date": "DATE",
    "decimal": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "market": "VARCHAR",
    "market_list": "VARCHAR[]",
    "country": "VARCHAR",
    "country_list": "VARCHAR[]",
    "enum": "VARCHAR",
    "text_list": "VARCHAR[]",
}

ISSUE_COLUMNS = ["row_number", "column", "rule", "reason"]

# ISO 8601 date (an optional time is accepted and dropped), or day-first with / . or -.
_DATE = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<hh>\d{1,2}):(?P<mm>\d{2})(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
    r"|(?P<d2>\d{1,2})(?P<sep>[/.-])(?P<m2>\d{1,2})(?P=sep)(?P<y2>\d{4})",
    re.ASCII,  # digits are 0-9, not any script's
)
# Number forms. `either` (one separator, then exactly three digits) is the ambiguous one.
_NUMBER = re.compile(
    r"""(?P<sign>[+-]?)(?:
        (?P<plain>\d+)
      | (?P<either>[1-9]\d{0,2}[.,]\d{3})
      | (?P<point>\d+\.\d+|[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?)
      | (?P<comma>\d+,\d+|[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?)
      | (?P<spaced>[1-9]\d{0,2}(?:[\x20\u00a0\u202f']\d{3})+(?P<fraction>[.,]\d+)?)
      | (?P<exponent>\d+(?:\.\d+)?[eE][+-]?\d+)
    )""",
    re.VERBOSE | re.ASCII,
)
_GROUPING = str.maketrans("", "", " \u00a0\u202f'")
_INTEGER_LIMIT = 2**53  # beyond this a float no longer holds every integer exactly


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Validation:
    """The outcome of the row rules for one drop."""

    #: accepted rows, typed, indexed by row number; columns as `output_schema` lists them
    accepted: pd.DataFrame
    #: one row per broken rule: row_number, column, rule, reason
    issues: pd.DataFrame
    #: the row numbers with at least one issue (sorted)
    quarantined: pd.Index
    #: the file's decimal separator: "." or "," ("mixed" when it used both)
    decimal_separator: str = "."

    @property
    def rows_received(self) -> int:
        return len(self.accepted) + len(self.quarantined)

    def row_issues(self) -> list[RowIssue]:
        """The issues as `RowIssue` records (for small drops and reports)."""
        return [
            RowIssue(int(r.row_number), r.column, r.rule, r.reason)
            for r in self.issues.itertuples(index=False)
        ]


def output_schema(contract: Contract) -> list[tuple[str, str]]:
    """(column, DuckDB type) of the accepted frame, in order: each contract column, then its
    derived ``<column>_iso3`` for countries, then the conversions (e.g. ``quantity_kg``).
    The row number is the frame's index, not a column."""
    schema: list[tuple[str, str]] = []
    for spec in contract.columns:
        schema.append((spec.name, DUCKDB_TYPES[spec.type]))
        if spec.iso3_column:
            schema.append((spec.iso3_column, DUCKDB_TYPES[spec.type]))
    schema += [(conversion.name, "DOUBLE") for conversion in contract.conversions]
    return schema


# --------------------------------------------------------------------------- reference data


@functools.cache
def market_index() -> dict[str, str]:
    """Normalised market code, label or alias -> market code (from ``markets.csv``)."""
    index: dict[str, str] = {}
    with MARKETS_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            code = row["market"]
            for spelling in (code, row["label"], *row["aliases"].split(";")):
                key = normalise_value(spelling)
                if key and index.setdefault(key, code) != code:
                    raise ValueError(f"markets.csv: {spelling!r} names two markets")
    return index


@functools.cache
def _boolean_index() -> dict[str, bool]:
    return {
        normalise_value(s): flag for flag, spellings in BOOLEAN_SPELLINGS.items() for s in spellings
    }


# --------------------------------------------------------------------------- per distinct value


class _Verdicts:
    """The first broken rule (and its reason) of each distinct value of a column."""

    def __init__(self, size: int) -> None:
        self.rule = np.full(size, None, dtype=object)
        self.reason = np.full(size, None, dtype=object)

    def fail(self, i: int, rule: str, reason: str) -> None:
        if self.rule[i] is None:  # one issue per cell: the first rule it breaks
            self.rule[i] = rule
            self.reason[i] = reason

    def failed(self, i: int) -> bool:
        return self.rule[i] is not None

    @property
    def bad(self) -> np.ndarray:
        return ~pd.isna(self.rule)


@dataclass
class _Context:
    today: date
    separator: str  # ".", "," or "mixed"
    numbers: dict[str, list[re.Match[str] | None]] = field(default_factory=dict)


@dataclass
class _Parsed:
    values: np.ndarray  # one per distinct value
    derived: dict[str, np.ndarray] = field(default_factory=dict)


_Parser = Callable[[ColumnSpec, list[str], _Verdicts, _Context], _Parsed]


def _objects(items: Sequence[Any]) -> np.ndarray:
    """A 1-d object array (np.array would turn equal-length lists into a 2-d array)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _split(text: str) -> list[str]:
    return [item.strip() for item in LIST_SEPARATOR.split(text) if item.strip()]


def _parse_text(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    return _Parsed(_objects(texts))


def _parse_text_list(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    return _Parsed(_objects([_list_items(spec, text, i, v) for i, text in enumerate(texts)]))


def _list_items(spec: ColumnSpec, text: str, i: int, v: _Verdicts) -> list[str] | None:
    """The items of a list cell; separators alone are an empty (missing) value."""
    items = _split(text)
    if not items and spec.required:
        v.fail(
            i,
            "list",
            f"{spec.name} {quote_value(text)} lists nothing (expected at least one item, separated by ; or |)",
        )
    return items or None


def _parse_enum(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    index = spec.value_index()
    values = [index.get(normalise_value(text)) for text in texts]
    allowed = ", ".join(spec.values)
    for i, value in enumerate(values):
        if value is None:
            v.fail(
                i,
                "enum",
                f"{spec.name} {quote_value(texts[i])} is not one of {allowed} (or their translations)",
            )
    return _Parsed(_objects(values))


def _parse_boolean(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    index = _boolean_index()
    values = [index.get(normalise_value(text)) for text in texts]
    for i, value in enumerate(values):
        if value is None:
            v.fail(
                i, "boolean",
                f"{spec.name} {quote_value(texts[i])} is not yes or no "
                "(expected yes/no, true/false, 1/0, oui/non, ja/nein, sí/no, sim/não, tak/nie, ja/nee)",
            )  # fmt: skip
    return _Parsed(_objects(values))


def _market_reason(spec: ColumnSpec, text: str, unknown: str | None = None) -> str:
    what = quote_value(text) if unknown is None else f"{quote_value(text)}: {quote_value(unknown)}"
    return (
        f"{spec.name} {what} is not a GI-TOC market (expected a market code such as "
        "cocaine_trade, its label such as 'Cocaine trade', or a short form listed in "
        "markets.csv such as cocaine)"
    )


def _parse_market(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    index = market_index()
    values = [index.get(normalise_value(text)) for text in texts]
    for i, value in enumerate(values):
        if value is None:
            v.fail(i, "market", _market_reason(spec, texts[i]))
    return _Parsed(_objects(values))


def _parse_market_list(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    index = market_index()
    values: list[list[str] | None] = []
    for i, text in enumerate(texts):
        items = _list_items(spec, text, i, v)
        codes = [index.get(normalise_value(item)) for item in items or []]
        unknown = [item for item, code in zip(items or [], codes, strict=True) if code is None]
        if unknown:
            v.fail(i, "market", _market_reason(spec, text, unknown[0]))
        values.append(list(dict.fromkeys(c for c in codes if c)) or None)
    return _Parsed(_objects(values))


def _country_problem(match: CountryMatch) -> str | None:
    """Why a harmoniser match is not a country, or None if it is one."""
    if match.kind == "country":
        return None
    if match.kind == "aggregate":
        return "is a region or group of countries (aggregate), not a country"
    if match.kind == "historic":
        return "is a former country (historic), not a current one"
    return f"is not a recognised country ({match.reason})"


_COUNTRY_HINT = "; use an ISO 3166 code (FR, FRA) or the country's name"


def _parse_country(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    harmoniser = default_harmoniser()
    iso3: list[str | None] = []
    for i, text in enumerate(texts):
        match = harmoniser.match(text)
        problem = _country_problem(match)
        if problem:
            v.fail(i, "country", f"{spec.name} {quote_value(text)} {problem}{_COUNTRY_HINT}")
        iso3.append(match.iso3)
    return _Parsed(_objects(texts), {str(spec.iso3_column): _objects(iso3)})


def _parse_country_list(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    harmoniser = default_harmoniser()
    values: list[list[str] | None] = []
    iso3: list[list[str] | None] = []
    for i, text in enumerate(texts):
        items = _list_items(spec, text, i, v) or []
        codes: list[str] = []
        for item in items:
            match = harmoniser.match(item)
            problem = _country_problem(match)
            if problem:
                v.fail(
                    i,
                    "country",
                    f"{spec.name} {quote_value(text)}: {quote_value(item)} {problem}{_COUNTRY_HINT}",
                )
            elif match.iso3 not in codes:
                codes.append(str(match.iso3))
        values.append(items or None)
        iso3.append(codes or None)
    return _Parsed(_objects(values), {str(spec.iso3_column): _objects(iso3)})


def _bound(value: float | date | str | None, today: date) -> Any:
    return today if value == TODAY else value


def _parse_date(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    low, high = _bound(spec.minimum, ctx.today), _bound(spec.maximum, ctx.today)
    values = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[D]")
    for i, text in enumerate(texts):
        day = _read_date(text)
        if day is None:
            v.fail(
                i, "date", f"{spec.name} {quote_value(text)} is not a date (expected {DATE_FORMS})"
            )
        elif low is not None and day < low:
            v.fail(i, "date_range", f"{spec.name} {quote_value(text)} is before {low.isoformat()}")
        elif high is not None and day > high:
            when = f"in the future (today is {high})" if spec.maximum == TODAY else f"after {high}"
            v.fail(i, "date_range", f"{spec.name} {quote_value(text)} is {when}")
        else:
            values[i] = np.datetime64(day, "D")
    return _Parsed(values)


def _read_date(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    if parts["hh"] is not None and (int(parts["hh"]) > 23 or int(parts["mm"]) > 59):
        return None
    try:
        if parts["y"] is not None:
            return date(int(parts["y"]), int(parts["m"]), int(parts["d"]))
        return date(int(parts["y2"]), int(parts["m2"]), int(parts["d2"]))
    except ValueError:  # 31/02, month 13, ...
        return None


def _number_form(match: re.Match[str]) -> str:
    """'point', 'comma', 'either' (1,234 / 1.234) or 'plain' for a matched number."""
    kind = match.lastgroup  # the alternative that matched (it closes after `sign`)
    if kind == "spaced":
        fraction = match.group("fraction")
        return "plain" if not fraction else ("point" if fraction[0] == "." else "comma")
    return kind if kind in ("point", "comma", "either") else "plain"


def decimal_separator(forms: Sequence[str]) -> str:
    """The file's decimal separator from the forms of its numbers: "," when some use a
    decimal comma and none a decimal point, "mixed" when both occur, else "."."""
    comma, point = "comma" in forms, "point" in forms
    if comma and point:
        return "mixed"
    return "," if comma else "."


def _parse_number(spec: ColumnSpec, texts: list[str], v: _Verdicts, ctx: _Context) -> _Parsed:
    values = np.full(len(texts), np.nan)
    expected = "a whole number" if spec.type == "integer" else "a number such as 12.5 or 12,5"
    for i, match in enumerate(ctx.numbers[spec.name]):
        text = texts[i]
        if match is None:
            v.fail(
                i,
                "number",
                f"{spec.name} {quote_value(text)} is not a number (expected {expected})",
            )
            continue
        form = _number_form(match)
        if form == "either" and ctx.separator == "mixed":
            v.fail(
                i, "number",
                f"{spec.name} {quote_value(text)} is ambiguous: the file uses both decimal commas "
                "and decimal points, so it may be a thousands separator or a decimal",
            )  # fmt: skip
            continue
        comma = form == "comma" or (form == "either" and ctx.separator == ",")
        body = text.translate(_GROUPING)
        body = body.replace(".", "").replace(",", ".") if comma else body.replace(",", "")
        values[i] = float(body)
    _check_range(spec, texts, values, v)
    return _Parsed(values)


def _check_range(spec: ColumnSpec, texts: list[str], values: np.ndarray, v: _Verdicts) -> None:
    """Whole numbers for integer columns, then the contract's bounds; a failed value is NaN."""
    low, high = cast(float | None, spec.minimum), cast(float | None, spec.maximum)
    for i in np.flatnonzero(~np.isnan(values)):
        value, shown = values[i], f"{spec.name} {quote_value(texts[i])}"
        if spec.type == "integer" and (not value.is_integer() or abs(value) >= _INTEGER_LIMIT):
            v.fail(i, "integer", f"{shown} is not a whole number")
        elif low is not None and value < low:
            v.fail(i, "minimum", f"{shown} is below the minimum {low:g}")
        elif high is not None and value > high:
            v.fail(i, "maximum", f"{shown} is above the maximum {high:g}")
        if v.failed(i):
            values[i] = np.nan


_PARSERS: dict[str, _Parser] = {
    "text": _parse_text,
    "text_list": _parse_text_list,
    "enum": _parse_enum,
    "boolean": _parse_boolean,
    "market": _parse_market,
    "market_list": _parse_market_list,
    "country": _parse_country,
    "country_list": _parse_country_list,
    "date": _parse_date,
    "decimal": _parse_number,
    "integer": _parse_number,
}


# --------------------------------------------------------------------------- per row


@dataclass
class _Column:
    """One column's cells as codes into its distinct stripped values (-1 = empty)."""

    spec: ColumnSpec
    codes: np.ndarray
    texts: list[str]


def _factorise(spec: ColumnSpec, series: pd.Series | None, size: int) -> _Column:
    if series is None:  # an optional column the file does not have
        return _Column(spec, np.full(size, -1, dtype=np.intp), [])
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
    raw = list(uniques)
    stripped = [str(u).strip() for u in raw]
    if stripped == raw and "" not in stripped:
        return _Column(spec, codes, stripped)
    # Surrounding spaces are not part of a value: " FR-1" repeats "FR-1"; "  " is empty.
    inner, distinct = pd.factorize(_objects([s or None for s in stripped]), use_na_sentinel=True)
    remap = np.append(inner, -1)  # codes == -1 (missing) index the appended -1
    return _Column(spec, remap[codes], list(distinct))


@dataclass
class _Issues:
    """Issue blocks, column by column, assembled into one frame at the end."""

    positions: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    rules: list[np.ndarray] = field(default_factory=list)
    reasons: list[np.ndarray] = field(default_factory=list)

    def add(self, positions: np.ndarray, column: str, rule: Any, reason: Any) -> None:
        if len(positions):
            self.positions.append(positions)
            self.columns.append(np.full(len(positions), column, dtype=object))
            self.rules.append(np.broadcast_to(np.asarray(rule, dtype=object), positions.shape))
            self.reasons.append(np.broadcast_to(np.asarray(reason, dtype=object), positions.shape))

    def frame(self, index: pd.Index) -> tuple[pd.DataFrame, np.ndarray]:
        """The issues frame (by row, then contract column order) and a per-row 'bad' mask."""
        bad = np.zeros(len(index), dtype=bool)
        if not self.positions:
            empty = pd.DataFrame(
                {c: pd.Series(dtype="int64" if c == "row_number" else "str") for c in ISSUE_COLUMNS}
            )
            return empty, bad
        positions = np.concatenate(self.positions)
        bad[positions] = True
        order = np.argsort(positions, kind="stable")  # blocks were added in column order
        row_numbers = np.asarray(index, dtype=np.int64)[positions[order]]
        frame = pd.DataFrame(
            {
                "row_number": row_numbers,
                "column": pd.array(np.concatenate(self.columns)[order], dtype="str"),
                "rule": pd.array(np.concatenate(self.rules)[order], dtype="str"),
                "reason": pd.array(np.concatenate(self.reasons)[order], dtype="str"),
            }
        )
        return frame, bad


def _row_issues(column: _Column, verdicts: _Verdicts, index: pd.Index, issues: _Issues) -> None:
    spec, codes = column.spec, column.codes
    if spec.required:
        issues.add(
            np.flatnonzero(codes < 0), spec.name, "required", f"{spec.name} is required but empty"
        )
    bad = np.append(verdicts.bad, False)  # the appended False serves empty cells
    positions = np.flatnonzero(bad[codes])
    issues.add(
        positions, spec.name, verdicts.rule[codes[positions]], verdicts.reason[codes[positions]]
    )
    if spec.unique:
        present = np.flatnonzero(codes >= 0)
        # np.unique returns the first occurrence of each value; later ones repeat it.
        _, first = np.unique(codes[present], return_index=True)
        first_position = np.full(len(column.texts), -1, dtype=np.intp)
        first_position[codes[present[first]]] = present[first]
        repeats = present[first_position[codes[present]] != present]
        if len(repeats):
            repeated = np.unique(codes[repeats])
            row_numbers = np.asarray(index)
            reason = np.full(len(column.texts), None, dtype=object)
            for code in repeated:
                reason[code] = (
                    f"{spec.name} {quote_value(column.texts[code])} repeats row "
                    f"{row_numbers[first_position[code]]} (must be unique within the file)"
                )
            issues.add(repeats, spec.name, "unique", reason[codes[repeats]])


def _check_text(spec: ColumnSpec, texts: list[str], v: _Verdicts) -> None:
    """Rules on the raw text, before the type: encoding, then length."""
    for i, text in enumerate(texts):
        if "\ufffd" in text:
            v.fail(
                i, "encoding",
                f"{spec.name} {quote_value(text)} holds a character that did not decode (U+FFFD): "
                "save the file as UTF-8 and send it again",
            )  # fmt: skip
    if spec.max_length is not None:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        for i in np.flatnonzero(lengths > spec.max_length):
            v.fail(
                i, "max_length",
                f"{spec.name} {quote_value(texts[i])} is {lengths[i]} characters long "
                f"(at most {spec.max_length})",
            )  # fmt: skip


def _typed(spec_type: str, values: np.ndarray) -> Any:
    """The accepted frame's column for one contract type (``values`` hold None/NaN/NaT for empty)."""
    if spec_type == "date":
        return pd.Series(values).astype("datetime64[us]").array
    if spec_type == "decimal":
        return values.astype("float64")
    if spec_type == "integer":
        return pd.array(values.astype("float64"), dtype="Int64")
    if spec_type == "boolean":
        mask = pd.isna(values)
        return pd.arrays.BooleanArray(np.where(mask, False, values).astype(bool), mask)
    if spec_type in ("text", "enum", "market", "country"):
        return pd.array(values, dtype="str")
    return values  # lists: Python lists of str, or None


def _null(values: np.ndarray) -> Any:
    if values.dtype.kind == "M":
        return np.datetime64("NaT")
    return np.nan if values.dtype.kind == "f" else None


def _take(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One value per row: ``values[code]``, and the type's null where code is -1."""
    return np.append(values, np.array([_null(values)], dtype=values.dtype))[codes]


# --------------------------------------------------------------------------- entry point


def validate(contract: Contract, rows: pd.DataFrame, *, today: date) -> Validation:
    """Apply ``contract``'s rules to ``rows``.

    ``rows`` holds one column per matched contract column (named by it; text or None),
    indexed by row number; an optional column the file lacks may be absent. ``today``
    bounds "not in the future". Every row ends up either in ``accepted`` or in
    ``quarantined`` (with at least one issue), never both.
    """
    unknown = [c for c in rows.columns if c not in contract.column_names]
    if unknown or rows.columns.has_duplicates:
        raise ValueError(
            f"rows must have distinct {contract.dataset} columns; got {list(rows.columns)}"
        )
    if isinstance(today, datetime):
        today = today.date()
    size = len(rows)
    columns = [
        _factorise(spec, rows[spec.name] if spec.name in rows.columns else None, size)
        for spec in contract.columns
    ]

    # The decimal separator is the file's, decided from all its decimal columns at once
    # (integer columns follow it: a stray "2.5" there must not unsettle the quantities).
    numbers = {
        c.spec.name: [_NUMBER.fullmatch(t) for t in c.texts]
        for c in columns
        if c.spec.type in NUMBER_TYPES
    }
    forms = {
        _number_form(m)
        for name, matches in numbers.items()
        if contract.column(name).type == "decimal"
        for m in matches
        if m is not None
    }
    ctx = _Context(today=today, separator=decimal_separator(sorted(forms)), numbers=numbers)

    issues = _Issues()
    parsed: dict[str, _Parsed] = {}
    for column in columns:
        verdicts = _Verdicts(len(column.texts))
        _check_text(column.spec, column.texts, verdicts)
        parsed[column.spec.name] = _PARSERS[column.spec.type](
            column.spec, column.texts, verdicts, ctx
        )
        _row_issues(column, verdicts, rows.index, issues)

    issue_frame, bad = issues.frame(rows.index)
    keep = ~bad
    data: dict[str, Any] = {}
    for column in columns:
        spec, result = column.spec, parsed[column.spec.name]
        codes = column.codes[keep]
        data[spec.name] = _typed(spec.type, _take(result.values, codes))
        for name, derived in result.derived.items():
            data[name] = _typed(spec.type, _take(derived, codes))
    accepted = pd.DataFrame(data, index=pd.Index(rows.index[keep], name="row_number"))
    for conversion in contract.conversions:
        factors = accepted[conversion.unit].map(dict(conversion.factors)).astype("float64")
        accepted[conversion.name] = accepted[conversion.source].astype("float64") * factors
    quarantined = pd.Index(np.asarray(rows.index)[bad], name="row_number").sort_values()
    return Validation(accepted, issue_frame, quarantined, ctx.separator)
