"""Drop contracts: what a member-state file for one dataset must hold, as data.

Each dataset has one YAML contract under ``assets/contracts/`` (the format is described in
that folder's ``README.md``). This module loads and checks them, normalises header
spellings and maps a file's headers onto a contract's columns. The row rules that apply
a contract to the cells are in :mod:`extra_pipeline.drops.rules`.

Headers are untrusted text: they are only ever compared, after normalisation, with the
spellings the contract declares. A header that matches nothing is kept aside as an
"extra" (by position, with its original text) and never becomes an identifier.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast, get_args

import pandas as pd
import yaml

from extra_pipeline.drops.model import DropRejected
from extra_pipeline.markings import Marking, MarkingError, parse_marking
from extra_pipeline.settings import PROJECT_ROOT

#: Where the shipped contracts live.
CONTRACTS_DIR: Path = PROJECT_ROOT / "assets" / "contracts"

ColumnType = Literal[
    "text",
    "date",
    "decimal",
    "integer",
    "boolean",
    "market",
    "market_list",
    "country",
    "country_list",
    "enum",
    "text_list",
]
COLUMN_TYPES: frozenset[str] = frozenset(get_args(ColumnType))
LIST_TYPES: frozenset[str] = frozenset({"market_list", "country_list", "text_list"})
COUNTRY_TYPES: frozenset[str] = frozenset({"country", "country_list"})
NUMBER_TYPES: frozenset[str] = frozenset({"decimal", "integer"})

#: The suffix of the derived column holding a country column's ISO 3166 alpha-3 code(s).
ISO3_SUFFIX = "_iso3"
#: A date bound that means "the day the drop is validated".
TODAY = "today"

# Column names become SQL identifiers of the raw tables: keep them boring.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Letters that NFKD does not decompose into base letter + accent.
_FOLD = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "þ": "th", "æ": "ae", "œ": "oe"}
)
_TOKEN = re.compile(r"[^\W_]+")  # runs of letters and digits

_CONTRACT_KEYS = frozenset(
    {"dataset", "version", "description", "marking", "columns", "conversions"}
)
_COLUMN_KEYS = frozenset(
    {
        "name",
        "type",
        "required",
        "unique",
        "max_length",
        "minimum",
        "maximum",
        "values",
        "description",
        "example",
        "aliases",
    }
)
_CONVERSION_KEYS = frozenset({"name", "from", "unit", "factors", "description"})


class ContractError(ValueError):
    """A contract file is not valid; the message names the file and the column."""


# --------------------------------------------------------------------------- normalisation


def normalise_value(text: str) -> str:
    """The matching key of a cell value (enum, market, boolean): case and accents ignored,
    every run of spaces, punctuation, hyphens or underscores becomes one space.

    ``"Très élevé"`` -> ``"tres eleve"``, ``"very_high"`` -> ``"very high"``,
    ``"1–10"`` -> ``"1 10"``. Words stay apart, so ``"1-10"`` is not ``"110"``.
    """
    # NFKD before casefold splits ligatures and compatibility forms; after it, the
    # casefolded text may hold new composed letters, so decompose again.
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_FOLD)
    return " ".join(_TOKEN.findall(text))


def normalise_header(text: str) -> str:
    """The matching key of a header: case, accents, spaces, hyphens, underscores and
    punctuation (apostrophes, dots, ...) ignored.

    ``"Pays d'origine"``, ``"PAYS_D_ORIGINE"`` and ``"pays-dorigine"`` all give
    ``"paysdorigine"``. Idempotent: ``normalise_header(normalise_header(x)) ==
    normalise_header(x)``.
    """
    return normalise_value(text).replace(" ", "")


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract."""

    name: str
    type: ColumnType
    required: bool = False
    #: no two rows of one drop may hold the same value (every repeat is quarantined)
    unique: bool = False
    #: the most characters a cell may hold (the whole cell, lists included)
    max_length: int | None = None
    #: numbers: a bound; dates: a `date` or "today"
    minimum: float | date | str | None = None
    maximum: float | date | str | None = None
    #: enums: canonical value -> other accepted spellings (translations, abbreviations)
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    description: str = ""
    example: str | None = None
    #: other header spellings, by language code (en, fr, de, ...)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def is_list(self) -> bool:
        return self.type in LIST_TYPES

    @property
    def iso3_column(self) -> str | None:
        """The derived ISO3 column of a country column, else None."""
        return self.name + ISO3_SUFFIX if self.type in COUNTRY_TYPES else None

    @property
    def header_spellings(self) -> tuple[str, ...]:
        """Every accepted header spelling, one per normalised form: the name, then the aliases."""
        seen: dict[str, str] = {normalise_header(self.name): self.name}
        for spellings in self.aliases.values():
            for spelling in spellings:
                seen.setdefault(normalise_header(spelling), spelling)
        return tuple(seen.values())

    def value_index(self) -> dict[str, str]:
        """Enums: normalised spelling -> canonical value (`ContractError` if a spelling is
        listed under two values)."""
        index: dict[str, str] = {}
        for canonical, spellings in self.values.items():
            for spelling in (canonical, *spellings):
                key = normalise_value(spelling)
                if not key:
                    raise ContractError(f"column {self.name!r}: value {spelling!r} has no letters")
                other = index.setdefault(key, canonical)
                if other != canonical:
                    raise ContractError(
                        f"column {self.name!r}: {spelling!r} is listed for both {other!r} "
                        f"and {canonical!r}"
                    )
        return index


@dataclass(frozen=True)
class Conversion:
    """A derived number: ``source`` times the factor of the row's ``unit`` value (null when
    the unit has no factor), e.g. ``quantity_kg`` from ``quantity`` and ``unit``."""

    name: str
    source: str
    unit: str
    factors: Mapping[str, float] = field(default_factory=dict, hash=False)
    description: str = ""


@dataclass(frozen=True)
class Contract:
    """One dataset's contract. Construction checks it is consistent (`ContractError`)."""

    dataset: str
    version: int
    description: str
    marking: Marking
    columns: tuple[ColumnSpec, ...]
    conversions: tuple[Conversion, ...] = ()
    #: normalised header spelling -> column name (computed)
    header_index: Mapping[str, str] = field(
        init=False, default_factory=dict, hash=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.dataset):
            raise ContractError(f"dataset {self.dataset!r} must be a lowercase identifier")
        if not self.columns:
            raise ContractError("a contract needs at least one column")
        names: set[str] = set()
        for spec in self.columns:
            outputs = [spec.name] + ([spec.iso3_column] if spec.iso3_column else [])
            for name in outputs:
                if name in names:
                    raise ContractError(f"column {name!r} is defined twice")
                names.add(name)
        for conversion in self.conversions:
            _check_conversion(self, conversion, names)
            names.add(conversion.name)
        for spec in self.columns:
            spec.value_index()  # refuses a spelling listed under two values
        object.__setattr__(self, "header_index", _header_index(self.columns))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.columns if spec.required)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.dataset} has no column {name!r}")


def _header_index(columns: Sequence[ColumnSpec]) -> dict[str, str]:
    """Normalised spelling -> column; a spelling shared by two columns is a contract error
    (it would make every file that uses it ambiguous)."""
    index: dict[str, str] = {}
    for spec in columns:
        for spelling in spec.header_spellings:
            key = normalise_header(spelling)
            if not key:
                raise ContractError(f"column {spec.name!r}: alias {spelling!r} has no letters")
            other = index.setdefault(key, spec.name)
            if other != spec.name:
                raise ContractError(
                    f"columns {other!r} and {spec.name!r} both accept the header "
                    f"{spelling!r} (normalised {key!r})"
                )
    return index


def _check_conversion(contract: Contract, conversion: Conversion, names: set[str]) -> None:
    where = f"conversion {conversion.name!r}"
    if not _IDENTIFIER.fullmatch(conversion.name) or conversion.name in names:
        raise ContractError(f"{where}: the name must be a new lowercase identifier")
    by_name = {spec.name: spec for spec in contract.columns}
    source, unit = by_name.get(conversion.source), by_name.get(conversion.unit)
    if source is None or source.type not in NUMBER_TYPES:
        raise ContractError(f"{where}: 'from' must name a decimal or integer column")
    if unit is None or unit.type != "enum":
        raise ContractError(f"{where}: 'unit' must name an enum column")
    unknown = set(conversion.factors) - set(unit.values)
    if unknown:
        raise ContractError(
            f"{where}: factors for {sorted(unknown)} which are not values of {unit.name!r}"
        )


# --------------------------------------------------------------------------- loading


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """Every contract in ``directory`` (default: the shipped ``assets/contracts``), by dataset.

    A ``*.yaml`` file with a top-level ``dataset`` or ``columns`` key is a contract; other
    YAML files there (such as ``rule_help.yaml``) are not. Raises `ContractError` naming
    the file (and column) for anything invalid.
    """
    directory = Path(directory) if directory is not None else CONTRACTS_DIR
    contracts: dict[str, Contract] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ContractError(f"{path.name}: not valid YAML: {error}") from None
        if not isinstance(document, dict) or not ({"dataset", "columns"} & set(document)):
            continue
        try:
            contract = parse_contract(document)
        except ContractError as error:
            raise ContractError(f"{path.name}: {error}") from None
        if contract.dataset != path.stem:
            raise ContractError(
                f"{path.name}: dataset {contract.dataset!r} must match the file name"
            )
        contracts[contract.dataset] = contract
    return contracts


def parse_contract(document: Mapping[str, Any]) -> Contract:
    """Build a `Contract` from a parsed YAML document (`ContractError` if invalid)."""
    _no_unknown_keys(document, _CONTRACT_KEYS, "the contract")
    dataset = _text(document.get("dataset"), "dataset")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ContractError("'version' must be a positive integer")
    try:
        # A contract that forgets its marking over-protects, as everywhere (RED).
        marking = parse_marking(document.get("marking"))
    except MarkingError as error:
        raise ContractError(f"'marking': {error}") from None
    columns = document.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ContractError("'columns' must be a non-empty list")
    conversions = document.get("conversions") or []
    if not isinstance(conversions, list):
        raise ContractError("'conversions' must be a list")
    return Contract(
        dataset=dataset,
        version=version,
        description=_text(document.get("description", ""), "description", empty=True),
        marking=marking,
        columns=tuple(_parse_column(raw, i) for i, raw in enumerate(columns, 1)),
        conversions=tuple(_parse_conversion(raw) for raw in conversions),
    )


def _parse_column(raw: Any, number: int) -> ColumnSpec:
    if not isinstance(raw, dict):
        raise ContractError(f"column #{number} must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ContractError(
            f"column #{number}: 'name' {name!r} must be a lowercase identifier "
            "(letters, digits, underscores; at most 63 characters)"
        )
    where = f"column {name!r}"
    _no_unknown_keys(raw, _COLUMN_KEYS, where)
    type_ = raw.get("type")
    if type_ not in COLUMN_TYPES:
        raise ContractError(
            f"{where}: type {type_!r} is not one of {', '.join(sorted(COLUMN_TYPES))}"
        )
    flags = {key: raw.get(key, False) for key in ("required", "unique")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ContractError(f"{where}: {key!r} must be true or false")
    max_length = raw.get("max_length")
    if max_length is not None and (
        not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
    ):
        raise ContractError(f"{where}: 'max_length' must be a positive integer")
    bounds = {
        key: _parse_bound(raw.get(key), type_, f"{where}: {key!r}")
        for key in ("minimum", "maximum")
    }
    values = raw.get("values")
    if (values is None) == (type_ == "enum"):
        raise ContractError(f"{where}: 'values' is required for an enum and only for an enum")
    example = raw.get("example")
    return ColumnSpec(
        name=name,
        type=cast(ColumnType, type_),
        required=flags["required"],
        unique=flags["unique"],
        max_length=max_length,
        minimum=bounds["minimum"],
        maximum=bounds["maximum"],
        values=_spellings(values or {}, f"{where}: 'values'"),
        description=_text(raw.get("description", ""), f"{where}: 'description'", empty=True),
        example=None if example is None else str(example),
        aliases=_spellings(raw.get("aliases") or {}, f"{where}: 'aliases'"),
    )


def _parse_bound(value: Any, type_: str, where: str) -> float | date | str | None:
    if value is None:
        return None
    if type_ == "date":
        if value == TODAY or (isinstance(value, date) and not hasattr(value, "hour")):
            return value
        raise ContractError(f"{where} must be a date (YYYY-MM-DD, unquoted) or {TODAY!r}")
    if type_ in NUMBER_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ContractError(f"{where} must be a number")
    raise ContractError(f"{where} applies only to numbers and dates")


def _parse_conversion(raw: Any) -> Conversion:
    if not isinstance(raw, dict):
        raise ContractError("each conversion must be a mapping")
    name = _text(raw.get("name"), "conversion 'name'")
    where = f"conversion {name!r}"
    _no_unknown_keys(raw, _CONVERSION_KEYS, where)
    factors = raw.get("factors")
    if not isinstance(factors, dict) or not factors:
        raise ContractError(f"{where}: 'factors' must map unit values to numbers")
    for unit, factor in factors.items():
        if not isinstance(factor, int | float) or isinstance(factor, bool) or factor <= 0:
            raise ContractError(f"{where}: the factor of {unit!r} must be a positive number")
    return Conversion(
        name=name,
        source=_text(raw.get("from"), f"{where}: 'from'"),
        unit=_text(raw.get("unit"), f"{where}: 'unit'"),
        factors={str(unit): float(factor) for unit, factor in factors.items()},
        description=_text(raw.get("description", ""), f"{where}: 'description'", empty=True),
    )


def _spellings(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """A mapping key -> list of strings (a single string is a one-item list).

    YAML 1.1 reads unquoted ``no``, ``yes``, ``on`` as booleans and ``1`` as a number:
    anything that is not a string is refused, so such a slip cannot pass unnoticed.
    """
    if not isinstance(raw, dict):
        raise ContractError(f"{where} must be a mapping")
    out: dict[str, tuple[str, ...]] = {}
    for key, items in raw.items():
        if not isinstance(key, str):
            raise ContractError(f"{where}: key {key!r} must be quoted text")
        items = [items] if isinstance(items, str) else (items or [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise ContractError(
                f"{where}: {key!r} must be a list of non-empty strings (quote yes/no/on/off and numbers)"
            )
        out[key] = tuple(items)
    return out


def _text(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ContractError(f"{where} must be {'' if empty else 'non-empty '}text")
    return value.strip()


def _no_unknown_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = set(map(str, raw)) - known
    if unknown:
        raise ContractError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )


# --------------------------------------------------------------------------- header matching


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's headers map onto a contract. Positions are 0-based file columns
    (the reader's ``c{position}``); messages count from 1."""

    dataset: str
    #: file position -> contract column
    mapping: dict[int, str] = field(hash=False)
    #: file position -> original header, for columns the contract does not know: kept
    #: aside as data, never used as an identifier
    extras: dict[int, str] = field(hash=False)

    def select(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The reader's positional frame as one column per matched contract column."""
        positions = list(self.mapping)
        frame = rows.iloc[:, positions].copy()
        frame.columns = pd.Index([self.mapping[p] for p in positions], dtype=object)
        return frame


def _match(
    contract: Contract, headers: Sequence[str]
) -> tuple[dict[str, list[int]], dict[int, str]]:
    """Contract column -> every position whose header names it; unmatched positions."""
    found: dict[str, list[int]] = {}
    extras: dict[int, str] = {}
    for position, header in enumerate(headers):
        text = "" if header is None else str(header)
        column = contract.header_index.get(normalise_header(text))
        if column is None:
            extras[position] = text
        else:
            found.setdefault(column, []).append(position)
    return found, extras


def match_headers(contract: Contract, headers: Sequence[str]) -> HeaderMatch:
    """Map a file's headers onto ``contract``.

    Raises ``DropRejected("ambiguous_headers")`` when two headers name the same column,
    and ``DropRejected("missing_columns")`` when a required column has no header.
    """
    found, extras = _match(contract, headers)
    clashes = {column: positions for column, positions in found.items() if len(positions) > 1}
    if clashes:
        described = "; ".join(
            f"{column}: "
            + " and ".join(f"column {p + 1} {quote_value(headers[p])}" for p in positions)
            for column, positions in clashes.items()
        )
        raise DropRejected(
            "ambiguous_headers",
            f"two headers name the same {contract.dataset} column, so the file is ambiguous "
            f"({described}); remove or rename one of each",
        )
    missing = [name for name in contract.required_columns if name not in found]
    if missing:
        described = "; ".join(
            f"{name} (accepted headers: "
            + ", ".join(quote_value(s) for s in contract.column(name).header_spellings)
            + ")"
            for name in missing
        )
        raise DropRejected(
            "missing_columns",
            f"the file has no column for required {contract.dataset} field(s) "
            f"{', '.join(missing)}: add them with one of these headers: {described}",
        )
    mapping = {positions[0]: column for column, positions in found.items()}
    return HeaderMatch(contract.dataset, dict(sorted(mapping.items())), extras)


def detect_dataset(contracts: Mapping[str, Contract], headers: Sequence[str]) -> str | None:
    """The one contract whose required columns all have a header; None if none or several."""
    fits = [
        name
        for name, contract in contracts.items()
        if set(contract.required_columns) <= set(_match(contract, headers)[0])
    ]
    return fits[0] if len(fits) == 1 else None


def quote_value(text: str, limit: int = 60) -> str:
    """A header or cell value for a message: quoted, shortened, control characters escaped
    (the text is untrusted; reports escape it again for HTML)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)
