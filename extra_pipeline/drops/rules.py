"""Row rules: parse and check every cell of a drop against its contract.

`check_table` takes a staged table of text cells in DuckDB (one column per matched contract
column) and writes the accepted rows, typed, and one issue per broken rule; a row with any
issue is quarantined whole, so ``accepted + quarantined == received`` always holds.
`validate` does the same for a small DataFrame (tests, the demo generator).

It is built for million-row drops: every rule that depends only on the cell (type, format,
range, length, vocabulary) is decided in Python once per *distinct* value, by the parsers
below, and DuckDB spreads the verdicts back to the rows with joins; `required` and
`unique` are decided in SQL over the rows. Reasons name the value and what was expected.

Decimal separators are decided per FILE, across all its number columns (see
`decimal_separator`): ``12,5`` and ``1.234,5`` show a decimal comma, ``12.5`` and
``1,234.5`` a decimal point, and ``1,234`` / ``1.234`` (one separator, then exactly three
digits) are read by the file's convention. With no evidence the point is assumed (ISO,
spreadsheet cells); with both kinds of evidence those ambiguous values are quarantined.
"""

from __future__ import annotations

import csv
import functools
import json
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
from extra_pipeline.warehouse import quote_ident

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


# --------------------------------------------------------------------------- per row, in SQL


@dataclass(frozen=True)
class Checked:
    """The outcome of the row rules on a staged table (see `check_table`)."""

    accepted: str  # table: row_number, then `output_schema` columns, typed
    issues: str  # table: row_number, column_name, rule, reason, in row then column order
    rows_received: int
    rows_accepted: int
    rows_quarantined: int
    decimal_separator: str


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal (for messages built from trusted contract names)."""
    return "'" + text.replace("'", "''") + "'"


def _transport(spec_type: str, values: np.ndarray) -> list[str | None]:
    """Parsed values as text for DuckDB to cast back (lists as JSON): one simple column
    type for every mapping table, whatever the contract type."""
    if spec_type == "date":
        return [None if np.isnat(v) else str(v) for v in values]
    if spec_type in NUMBER_TYPES:
        return [None if np.isnan(v) else repr(float(v)) for v in values]
    if spec_type == "boolean":
        return [None if v is None else ("true" if v else "false") for v in values]
    if spec_type.endswith("_list"):
        return [None if v is None else json.dumps(list(v), ensure_ascii=False) for v in values]
    return [None if v is None else str(v) for v in values]


def _typed_sql(duckdb_type: str, expression: str) -> str:
    if duckdb_type == "VARCHAR[]":
        return f"""from_json({expression}, '["VARCHAR"]')"""
    if duckdb_type == "BIGINT":
        return f"cast(cast({expression} as double) as bigint)"
    return f"cast({expression} as {duckdb_type})"


def _distinct(con: Any, column: str, where: str = "") -> list[str]:
    rows = con.execute(
        f"select distinct {column} from _cells where {column} is not null {where}"
    ).fetchall()
    return [row[0] for row in rows]


def _mapping_table(con: Any, name: str, columns: dict[str, list[Any]]) -> None:
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})
    con.register("_mapping_rows", frame)
    try:
        typed = ", ".join(f"cast({quote_ident(k)} as varchar) as {quote_ident(k)}" for k in columns)
        con.execute(f"create or replace temp table {name} as select {typed} from _mapping_rows")
    finally:
        con.unregister("_mapping_rows")


def check_table(
    con: Any,
    contract: Contract,
    cells: str,
    columns: Mapping[str, str],
    *,
    today: date,
    accepted: str = "accepted",
    issues: str = "issues",
) -> Checked:
    """Apply ``contract``'s rules to the staged table ``cells`` on DuckDB connection ``con``.

    ``cells`` has ``row_number`` and one text column per file column, each cell stripped of
    surrounding whitespace or null when empty (as the readers give them); ``columns`` maps each
    matched contract column to its cells column (an optional column the file lacks is
    absent). Creates tables ``accepted`` (typed rows) and ``issues`` (one per broken rule);
    a row with any issue is quarantined whole, so every row lands in exactly one of them.

    Cell rules run in Python once per *distinct* value (the parsers above); DuckDB spreads
    the verdicts to the rows with joins, so a million-row drop never becomes Python objects.
    """
    if isinstance(today, datetime):
        today = today.date()
    unknown = [c for c in columns if c not in contract.column_names]
    if unknown:
        raise ValueError(f"not {contract.dataset} columns: {unknown}")
    present = [spec for spec in contract.columns if spec.name in columns]
    named = "".join(f", {quote_ident(columns[s.name])} as {quote_ident(s.name)}" for s in present)
    con.execute(f"create or replace temp view _cells as select row_number{named} from {cells}")
    (received,) = con.execute("select count(*) from _cells").fetchone()

    # Distinct values: all of them where a parser decides; for free text only those that
    # can break a rule (a replacement character, or more bytes than characters allowed).
    texts: dict[str, list[str]] = {}
    for spec in present:
        column = quote_ident(spec.name)
        if spec.type == "text":
            risky = [f"contains({column}, '\ufffd')"]
            if spec.max_length is not None:
                risky.append(f"strlen({column}) > {int(spec.max_length)}")
            texts[spec.name] = _distinct(con, column, f"and ({' or '.join(risky)})")
        else:
            texts[spec.name] = _distinct(con, column)

    # The decimal separator is the file's, decided from all its decimal columns at once
    # (integer columns follow it: a stray "2.5" there must not unsettle the quantities).
    numbers = {
        spec.name: [_NUMBER.fullmatch(t) for t in texts[spec.name]]
        for spec in present
        if spec.type in NUMBER_TYPES
    }
    forms = {
        _number_form(m)
        for name, matches in numbers.items()
        if contract.column(name).type == "decimal"
        for m in matches
        if m is not None
    }
    ctx = _Context(today=today, separator=decimal_separator(sorted(forms)), numbers=numbers)

    selects: list[str] = []  # one issue block per column, rule by rule
    values: dict[str, str] = {}  # output column -> SQL expression over _cells c and maps
    joins: list[str] = []
    for order, spec in enumerate(contract.columns):
        column = quote_ident(spec.name)
        name = sql_literal(spec.name)
        required = sql_literal(f"{spec.name} is required but empty")
        if (
            spec.name not in columns
        ):  # an optional column may be absent; a required one fails every row
            if spec.required:
                selects.append(
                    f"select row_number, {order} as o, 0 as k, {name} as column_name, "
                    f"'required' as rule, {required} as reason from _cells"
                )
            continue
        mapping = f"_map_{order}"
        distinct = texts[spec.name]
        verdicts = _Verdicts(len(distinct))
        _check_text(spec, distinct, verdicts)
        table: dict[str, list[Any]] = {"text": distinct}
        if spec.type != "text":
            parsed = _PARSERS[spec.type](spec, distinct, verdicts, ctx)
            table["value"] = _transport(spec.type, parsed.values)
            for derived, derived_values in parsed.derived.items():
                table[derived] = _transport(spec.type, derived_values)
        table["rule"] = list(verdicts.rule)
        table["reason"] = list(verdicts.reason)
        _mapping_table(con, mapping, table)
        if spec.required:
            selects.append(
                f"select row_number, {order} as o, 0 as k, {name} as column_name, 'required' as rule, "
                f"{required} as reason from _cells where {column} is null"
            )
        selects.append(
            f"select c.row_number, {order} as o, 0 as k, {name} as column_name, m.rule, m.reason from _cells c "
            f"join {mapping} m on m.text = c.{column} where m.rule is not null"
        )
        if spec.unique:
            repeated = con.execute(
                f"select {column}, min(row_number) from _cells where {column} is not null "
                f"group by {column} having count(*) > 1"
            ).fetchall()
            _mapping_table(
                con,
                f"_repeats_{order}",
                {
                    "text": [text for text, _ in repeated],
                    "first": [first for _, first in repeated],
                    "reason": [
                        f"{spec.name} {quote_value(text)} repeats row {first} (must be unique within the file)"
                        for text, first in repeated
                    ],
                },
            )
            selects.append(
                f"select c.row_number, {order} as o, 1 as k, {name} as column_name, 'unique' as rule, r.reason from _cells c "
                f"join _repeats_{order} r on r.text = c.{column} "
                f"where c.row_number > cast(r.first as bigint)"
            )
        duckdb_type = DUCKDB_TYPES[spec.type]
        if spec.type == "text":
            values[spec.name] = f"c.{column}"
        else:
            joins.append(f"left join {mapping} m{order} on m{order}.text = c.{column}")
            values[spec.name] = _typed_sql(duckdb_type, f"m{order}.value")
            if spec.iso3_column:
                iso3 = quote_ident(spec.iso3_column)
                values[spec.iso3_column] = _typed_sql(duckdb_type, f"m{order}.{iso3}")

    if selects:
        con.execute(
            f"create or replace table {issues} as select row_number, column_name, rule, reason "
            f"from ({' union all '.join(selects)}) order by row_number, o, k"
        )
    else:
        con.execute(
            f"create or replace table {issues} (row_number bigint, column_name varchar, rule varchar, reason varchar)"
        )

    outputs = []
    for output, duckdb_type in output_schema(contract):
        expression = values.get(output)
        if expression is None:
            conversion = next((c for c in contract.conversions if c.name == output), None)
            if conversion is not None and conversion.source in values:
                factors = " ".join(
                    f"when {sql_literal(unit)} then {float(factor)!r}"
                    for unit, factor in conversion.factors.items()
                )
                unit = values.get(conversion.unit, "null")
                expression = (
                    f"cast({values[conversion.source]} as double) * (case {unit} {factors} end)"
                )
            else:
                expression = f"cast(null as {duckdb_type})"
        outputs.append(f"{expression} as {quote_ident(output)}")
    con.execute(
        f"create or replace table {accepted} as select c.row_number, {', '.join(outputs)} "
        f"from _cells c {' '.join(joins)} "
        f"where c.row_number not in (select row_number from {issues})"
    )
    (rows_accepted,) = con.execute(f"select count(*) from {accepted}").fetchone()
    return Checked(
        accepted=accepted,
        issues=issues,
        rows_received=int(received),
        rows_accepted=int(rows_accepted),
        rows_quarantined=int(received) - int(rows_accepted),
        decimal_separator=ctx.separator,
    )


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


# --------------------------------------------------------------------------- on a DataFrame


def validate(contract: Contract, rows: pd.DataFrame, *, today: date) -> Validation:
    """Apply ``contract``'s rules to ``rows`` (small tables: tests, the demo generator).

    ``rows`` holds one column per matched contract column (named by it; text or None),
    indexed by row number; an optional column the file lacks may be absent. ``today``
    bounds "not in the future". Every row ends up either in ``accepted`` or in
    ``quarantined`` (with at least one issue), never both. Runs `check_table` on an
    in-memory DuckDB.
    """
    import duckdb

    if rows.columns.has_duplicates or any(c not in contract.column_names for c in rows.columns):
        raise ValueError(
            f"rows must have distinct {contract.dataset} columns; got {list(rows.columns)}"
        )
    cells = pd.DataFrame(
        {f"c{i}": [_stripped(v) for v in rows[c]] for i, c in enumerate(rows.columns)},
        dtype=object,
    )
    cells.insert(0, "row_number", np.asarray(rows.index, dtype=np.int64))
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.register("_frame", cells)
        typed = ", ".join(
            f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in cells.columns[1:]
        )
        con.execute(
            f"create table cells as select row_number{', ' if typed else ''}{typed} from _frame"
        )
        con.unregister("_frame")
        checked = check_table(
            con,
            contract,
            "cells",
            {c: f"c{i}" for i, c in enumerate(rows.columns)},
            today=today,
        )
        accepted = con.execute(f"select * from {checked.accepted} order by row_number").df()
        issue_frame = con.execute(f"select * from {checked.issues}").df()
    accepted = _frame_types(contract, accepted.set_index("row_number"))
    issue_frame = issue_frame.rename(columns={"column_name": "column"})
    issue_frame["row_number"] = issue_frame["row_number"].astype("int64")
    quarantined = pd.Index(
        sorted(set(np.asarray(rows.index, dtype=np.int64)) - set(accepted.index)),
        name="row_number",
        dtype="int64",
    )
    return Validation(accepted, issue_frame, quarantined, checked.decimal_separator)


def _stripped(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def _frame_types(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """DuckDB's result in the accepted frame's types: lists as Python lists, integers
    nullable, dates as datetimes."""
    frame.index = pd.Index(frame.index.astype("int64"), name="row_number")
    for name, duckdb_type in output_schema(contract):
        column = frame[name]
        if duckdb_type == "VARCHAR[]":
            frame[name] = [
                None if v is None or (np.ndim(v) == 0 and pd.isna(v)) else list(v) for v in column
            ]
        elif duckdb_type == "BIGINT":
            frame[name] = column.astype("Int64")
        elif duckdb_type == "BOOLEAN":
            frame[name] = column.astype("boolean")
        elif duckdb_type == "DATE":
            frame[name] = pd.to_datetime(column).astype("datetime64[us]")
        elif duckdb_type == "DOUBLE":
            frame[name] = column.astype("float64")
        else:
            frame[name] = column.astype("str").where(column.notna(), None)
    return frame
