"""The one country harmoniser: any country code or name a source uses -> ISO 3166 alpha-3.

Every connector and the member-state drop ingestion resolve countries here, so that one
reference table, one set of aliases and one set of matching rules apply everywhere.

The index is built from files shipped in the repository (no network):

- ``assets/reference/countries/`` holds the ISO 3166 / UN M49 table (lukes), the
  datahub ``country-codes`` table (UN, UNTERM and CLDR names in EN/FR/ES) and the EU/EEA
  membership list (see its ``PROVENANCE.md``);
- CLDR territory names in :data:`LANGUAGES`, through ``babel``;
- ``assets/reference/country_aliases.yaml``: the declared extras (Kosovo, the Taiwan region,
  non-ISO codes, source-specific names, historic entities, parts of countries and aggregates).

A value resolves to one of five kinds: a ``country`` (with its ``iso3``), an ``aggregate``
(World Bank groups, UN M49 regions, Eurostat EU/euro-area totals, ...), a ``historic``
entity (e.g. the Netherlands Antilles), a ``subnational`` part of a country that reports
separately (UNODC's England and Wales), or ``unmatched`` with a reason. Only a country
has an ``iso3``: a part is never counted as its country. A name that the
generated sources give to two different entities is never guessed: it is ``unmatched``
with reason ``ambiguous: ...`` until the aliases file decides it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import babel
import numpy as np
import pandas as pd
import yaml

REFERENCE_DIR: Path = Path(__file__).resolve().parents[1] / "assets" / "reference" / "countries"
ALIASES_FILENAME = "country_aliases.yaml"  # lives next to the reference directory
LUKES_FILE = "iso3166_all_lukes.csv"
COUNTRY_CODES_FILE = "country-codes_datasets.csv"
EEA_FILE = "eea_ctries_2021-01-01.csv"

# The languages drops and sources arrive in (CLDR locale identifiers).
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "nl", "pt", "pl")

# Names in the datahub country-codes table, by language.
_COUNTRY_CODES_NAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "en": (
        "official_name_en",
        "UNTERM English Short",
        "UNTERM English Formal",
        "CLDR display name",
        "ISO4217-currency_country_name",
    ),
    "fr": ("official_name_fr", "UNTERM French Short", "UNTERM French Formal"),
    "es": ("official_name_es", "UNTERM Spanish Short", "UNTERM Spanish Formal"),
}

# CLDR territories that are groupings rather than countries (besides the numeric UN M49
# regions): European Union, euro area, United Nations, Outlying Oceania.
_CLDR_AGGREGATES = ("EU", "EZ", "UN", "QO")

# UNTERM appends the article in brackets ("Congo (the)", "Bahamas (les)") and footnote
# stars ("Holy See (the) *"); neither is part of the name anyone writes.
_UNTERM_SUFFIX = re.compile(r"\s*\((?:the|l'|l’|le|la|les|el|los|las)\)\s*$|\s*\*+\s*$")

# Letters that NFKD does not decompose into base letter + accent.
_FOLD = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "þ": "th", "æ": "ae", "œ": "oe"}
)
_NON_WORD = re.compile(r"[\W_]+")

Kind = Literal["country", "aggregate", "historic", "subnational", "unmatched"]
# What a code or name points at: ("country", iso3), ("aggregate", key) or ("historic", code).
_Target = tuple[str, str]


@dataclass(frozen=True)
class CountryMatch:
    """The result of matching one value against the country reference."""

    query: str | None
    kind: Kind
    iso3: str | None  # set only when kind == "country"
    matched_by: str  # e.g. "iso3", "iso2", "numeric", "alias", "name:fr", "" for unmatched
    reason: str = ""  # for unmatched: "empty", "unknown", "ambiguous: COD, COG"


def normalise_name(text: str) -> str:
    """Normalise a country name for matching.

    Casefold, strip accents, '&' -> 'and', punctuation and hyphens -> spaces, collapse
    whitespace, the token 'st' -> 'saint', and drop a leading (or inverted trailing, as
    in "Gambia, The") 'the'.
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_FOLD)
    tokens = _NON_WORD.sub(" ", text.replace("&", " and ")).split()
    # Only the whole token: "St. Lucia" / "St Kitts" -> saint, never "Sts." or "Estonia".
    tokens = ["saint" if token == "st" else token for token in tokens]
    if tokens and tokens[0] == "the":
        tokens = tokens[1:]
    if tokens and tokens[-1] == "the":
        tokens = tokens[:-1]
    return " ".join(tokens)


def _code_key(text: str) -> str | None:
    """The lookup key if ``text`` is shaped like a code (2/3 letters, 1-3 digits), else None."""
    text = text.strip()
    if text.isascii() and text.isalpha() and len(text) in (2, 3):
        return text.upper()
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return text.zfill(3)  # numeric codes often lose leading zeros in spreadsheets
    return None


def _as_query(value: object) -> str | None:
    """The text form of a cell value; None for missing values (None, NaN, pd.NA)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # numeric codes read as floats (e.g. 276.0)
    return str(value)


def _read_csv(path: Path) -> pd.DataFrame:
    # keep_default_na=False: Namibia's alpha-2 is "NA", and empty cells stay "".
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _label(target: _Target) -> str:
    kind, key = target
    return key if kind == "country" else f"{kind} {key}"


class _Index:
    """Mutable builder state: codes and names -> targets, with collision bookkeeping."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[_Target, str]] = {}
        self.names: dict[str, dict[_Target, str]] = {}
        self.aliases: dict[str, tuple[_Target, str]] = {}

    def add_code(self, code: str, target: _Target, matched_by: str) -> None:
        key = _code_key(code)
        if key is None:
            raise ValueError(f"country reference: {code!r} is not shaped like a code")
        known = self.codes.get(key)
        if known is not None and known[0] != target:
            # A code meaning two things is a data error in the reference or the YAML.
            raise ValueError(
                f"country reference: code {key!r} maps to both {_label(known[0])} "
                f"and {_label(target)}"
            )
        self.codes.setdefault(key, (target, matched_by))

    def add_name(self, name: str, target: _Target, matched_by: str) -> None:
        key = normalise_name(name)
        if key:
            # The first source to give a name wins the matched_by label.
            self.names.setdefault(key, {}).setdefault(target, matched_by)

    def add_alias(self, name: str, target: _Target) -> None:
        key = normalise_name(name)
        known = self.aliases.get(key)
        if known is None:
            self.aliases[key] = (target, "alias")
        elif known[0] != target and {known[0][0], target[0]} != {"aggregate"}:
            # Two aggregates may share a name (WB "Euro area" EMU, Eurostat EA); a name
            # meaning two countries cannot.
            raise ValueError(f"{ALIASES_FILENAME}: alias {name!r} points at two entities")


class CountryHarmoniser:
    """Resolve country codes and names (in many languages) to ISO 3166 alpha-3."""

    def __init__(
        self,
        table: pd.DataFrame,
        codes: Mapping[str, tuple[_Target, str]],
        names: Mapping[str, dict[_Target, str]],
        aliases: Mapping[str, tuple[_Target, str]],
        code_patterns: Iterable[re.Pattern[str]],
        name_patterns: Iterable[re.Pattern[str]],
    ) -> None:
        """Use :meth:`from_reference` or :func:`default_harmoniser` rather than this."""
        self._table = table
        self._codes = dict(codes)
        self._names = dict(names)
        self._aliases = dict(aliases)
        self._code_patterns = tuple(code_patterns)
        self._name_patterns = tuple(name_patterns)

    @classmethod
    def from_reference(cls, reference_dir: Path | None = None) -> CountryHarmoniser:
        """Build the harmoniser from a reference directory (default: the shipped one).

        ``reference_dir`` holds the three reference CSVs; the aliases file
        ``country_aliases.yaml`` is read from its parent directory.
        """
        reference_dir = Path(reference_dir) if reference_dir is not None else REFERENCE_DIR
        aliases = yaml.safe_load((reference_dir.parent / ALIASES_FILENAME).read_text("utf-8"))
        lukes = _read_csv(reference_dir / LUKES_FILE)
        country_codes = _read_csv(reference_dir / COUNTRY_CODES_FILE)
        eea = _read_csv(reference_dir / EEA_FILE)

        table = _build_table(lukes, eea, aliases)
        index = _Index()
        _index_countries(index, table, country_codes, lukes)
        _index_regions(index, lukes)
        _index_declared(index, aliases)
        agg = aliases.get("aggregates") or {}
        return cls(
            table=table,
            codes=index.codes,
            names=index.names,
            aliases=index.aliases,
            code_patterns=[re.compile(p) for p in agg.get("code_patterns") or []],
            name_patterns=[re.compile(p) for p in agg.get("name_patterns") or []],
        )

    def match(self, value: object) -> CountryMatch:
        """Match one value (code, numeric code or name); None/NaN/'' -> unmatched 'empty'."""
        query = _as_query(value)
        if query is None or not query.strip():
            return CountryMatch(query, "unmatched", None, "", "empty")

        code = _code_key(query)
        if code is not None and code in self._codes:
            return self._result(query, *self._codes[code])
        raw = query.strip().upper()
        if any(pattern.fullmatch(raw) for pattern in self._code_patterns):
            return CountryMatch(query, "aggregate", None, "pattern")

        key = normalise_name(query)
        if key in self._aliases:  # explicit aliases win over generated names
            return self._result(query, *self._aliases[key])
        candidates = self._names.get(key, {})
        kinds = {kind for kind, _ in candidates}
        if len(candidates) == 1 or kinds == {"aggregate"}:
            target, matched_by = next(iter(candidates.items()))
            return self._result(query, target, matched_by)
        if len(candidates) > 1:
            labels = ", ".join(sorted(_label(target) for target in candidates))
            return CountryMatch(query, "unmatched", None, "", f"ambiguous: {labels}")
        if any(pattern.search(key) for pattern in self._name_patterns):
            return CountryMatch(query, "aggregate", None, "pattern")
        return CountryMatch(query, "unmatched", None, "", "unknown")

    @staticmethod
    def _result(query: str, target: _Target, matched_by: str) -> CountryMatch:
        kind, key = target
        iso3 = key if kind == "country" else None
        return CountryMatch(query, cast(Kind, kind), iso3, matched_by)

    def harmonise(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """Return a copy with columns `iso3` and `country_match` (the kind) added.

        Never drops rows; keeps the index. Vectorised over unique values: each distinct
        value is matched once. Existing columns named ``iso3`` or ``country_match`` are
        replaced.
        """
        if column not in frame.columns:
            raise KeyError(f"column {column!r} not in frame (columns: {list(frame.columns)})")
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        matches = [self.match(value) for value in uniques]
        # The extra last element serves the missing values (factorize code -1).
        iso3 = np.array([m.iso3 for m in matches] + [None], dtype=object)
        kind = np.array([m.kind for m in matches] + ["unmatched"], dtype=object)
        out = frame.copy()
        out["iso3"] = pd.Series(iso3[codes], index=frame.index, dtype=object)
        out["country_match"] = pd.Series(kind[codes], index=frame.index, dtype=object)
        return out

    def unmatched(self, values: Iterable[object]) -> list[CountryMatch]:
        """The distinct values that did not resolve (kind == 'unmatched'), sorted by query."""
        distinct = pd.unique(pd.Series(list(values), dtype=object))
        found = {m for m in map(self.match, distinct) if m.kind == "unmatched"}
        return sorted(found, key=lambda m: (m.query is None, m.query or ""))

    def reference_table(self) -> pd.DataFrame:
        """One row per country, sorted by iso3 (a copy).

        Columns: iso3, iso2, numeric (3-digit text), name (ISO English short name), region,
        subregion, intermediate_region (UN M49), is_eu_member, is_eea_member. Missing
        text is None.
        """
        return self._table.copy()


def _build_table(
    lukes: pd.DataFrame, eea: pd.DataFrame, aliases: Mapping[str, Any]
) -> pd.DataFrame:
    """The reference table: lukes ISO/M49 rows, EU/EEA flags, YAML overrides and extras."""
    table = pd.DataFrame(
        {
            "iso3": lukes["alpha-3"],
            "iso2": lukes["alpha-2"],
            "numeric": lukes["country-code"],
            "name": lukes["name"],
            "region": lukes["region"],
            "subregion": lukes["sub-region"],
            "intermediate_region": lukes["intermediate-region"],
        }
    )
    flags = eea.set_index("iso3c")
    table["is_eu_member"] = table["iso3"].map(flags["eu27"].eq("TRUE")).fillna(False).astype(bool)
    table["is_eea_member"] = table["iso3"].map(flags["eea"].eq("TRUE")).fillna(False).astype(bool)

    for iso3, override in (aliases.get("region_overrides") or {}).items():
        rows = table["iso3"] == iso3
        if not rows.any():
            raise ValueError(f"{ALIASES_FILENAME}: region_overrides names unknown {iso3!r}")
        for column, value in override.items():
            if column not in table.columns:
                raise ValueError(f"{ALIASES_FILENAME}: region_overrides has no column {column!r}")
            table.loc[rows, column] = value

    extras = pd.DataFrame(aliases.get("extra_countries") or [], columns=table.columns)
    extras[["is_eu_member", "is_eea_member"]] = extras[["is_eu_member", "is_eea_member"]].astype(
        bool
    )
    table = pd.concat([table, extras], ignore_index=True)
    if table["iso3"].duplicated().any():
        raise ValueError(f"{ALIASES_FILENAME}: an extra country repeats an ISO code")
    # Missing text is None (NULL in the warehouse), not "".
    text_columns = ["iso3", "iso2", "numeric", "name", "region", "subregion", "intermediate_region"]
    table[text_columns] = table[text_columns].astype(object).replace({"": None, np.nan: None})
    return table.sort_values("iso3", ignore_index=True)


def _index_countries(
    index: _Index, table: pd.DataFrame, country_codes: pd.DataFrame, lukes: pd.DataFrame
) -> None:
    """Codes and names of every country: ISO codes, reference-CSV names, CLDR names."""
    for row in table.itertuples(index=False):
        target = ("country", row.iso3)
        index.add_code(row.iso3, target, "iso3")
        if row.iso2:
            index.add_code(row.iso2, target, "iso2")
        if row.numeric:
            index.add_code(row.numeric, target, "numeric")
        index.add_name(row.name, target, "name:en")

    known = set(lukes["alpha-3"])
    for record in country_codes.to_dict("records"):
        iso3 = record["ISO3166-1-Alpha-3"]
        if iso3 not in known:
            continue
        for lang, columns in _COUNTRY_CODES_NAME_COLUMNS.items():
            for column in columns:
                name = _UNTERM_SUFFIX.sub("", record[column])
                index.add_name(name, ("country", iso3), f"name:{lang}")

    iso2_to_iso3 = dict(zip(table["iso2"], table["iso3"], strict=True))
    for lang in LANGUAGES:
        for code, name in babel.Locale.parse(lang).territories.items():
            if code in iso2_to_iso3:
                index.add_name(name, ("country", iso2_to_iso3[code]), f"name:{lang}")
            elif code in _CLDR_AGGREGATES:
                index.add_code(code, ("aggregate", code), "cldr")
                index.add_name(name, ("aggregate", code), f"name:{lang}")
            elif code.isdigit():  # UN M49 region, e.g. 001 World, 150 Europe, 419
                index.add_code(code, ("aggregate", code), "numeric")
                index.add_name(name, ("aggregate", code), f"name:{lang}")
            # Other CLDR territories (Canary Islands, Ceuta & Melilla, Ascension, ...) are
            # parts of countries or pseudo-codes: not indexed.


def _index_regions(index: _Index, lukes: pd.DataFrame) -> None:
    """UN M49 region, sub-region and intermediate-region names and codes from lukes."""
    for name_column, code_column in (
        ("region", "region-code"),
        ("sub-region", "sub-region-code"),
        ("intermediate-region", "intermediate-region-code"),
    ):
        pairs = lukes[[name_column, code_column]].drop_duplicates()
        for name, code in pairs.itertuples(index=False):
            if name:
                index.add_code(code, ("aggregate", code), "numeric")
                index.add_name(name, ("aggregate", code), "name:en")


def _index_declared(index: _Index, aliases: Mapping[str, Any]) -> None:
    """Entries declared in the aliases YAML: code aliases, names, historic entities, parts
    of countries, aggregates."""
    countries = {target[1] for target, _ in index.codes.values() if target[0] == "country"}

    def country(iso3: str, where: str) -> _Target:
        if iso3 not in countries:
            raise ValueError(f"{ALIASES_FILENAME}: {where} points at unknown country {iso3!r}")
        return ("country", iso3)

    for code, iso3 in (aliases.get("code_aliases") or {}).items():
        index.add_code(str(code), country(iso3, f"code alias {code!r}"), "alias")
    for name, iso3 in (aliases.get("name_aliases") or {}).items():
        index.add_alias(str(name), country(iso3, f"name alias {name!r}"))

    for entity in aliases.get("historic") or []:
        target = ("historic", entity["code"])
        for code in [entity["code"], *entity.get("other_codes", [])]:
            index.add_code(str(code), target, "alias")
        for name in entity.get("names", []):
            index.add_alias(name, target)

    for part in aliases.get("subnational") or []:
        parent = country(part["parent"], f"subnational {part['label']!r}")
        target = ("subnational", f"{parent[1]}:{part['label']}")
        for value in part["values"]:
            index.add_alias(str(value), target)

    agg = aliases.get("aggregates") or {}
    for code, name in (agg.get("codes") or {}).items():
        index.add_code(str(code), ("aggregate", str(code)), "alias")
        index.add_alias(name, ("aggregate", str(code)))
    for name in agg.get("names") or []:
        index.add_alias(name, ("aggregate", normalise_name(name)))


@functools.cache
def default_harmoniser() -> CountryHarmoniser:
    """The harmoniser over the shipped reference data, built once per process."""
    return CountryHarmoniser.from_reference()
