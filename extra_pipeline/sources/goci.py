"""GI-TOC Global Organized Crime Index (GOCI): the official workbook, every edition, long format.

GI-TOC publishes one xlsx workbook (`ocindex.net/assets/downloads/global_oc_index.xlsx`)
with one sheet per edition (`2021_dataset`, `2023_dataset`, `2025_dataset`) and one row
per UN member state (193). Scores run from 1 to 10; for the criminality pillars higher is
worse, for resilience higher is better.

The sheets do not agree on their headers ("Criminality avg." / "Criminality avg,",
"Resilience avg." / "Resilience", ...) nor on their column order, and the 2021 edition
lacks six indicators. Every header therefore goes through one mapping (`HEADER_MAP`, built
from the `INDICATORS` catalogue and `normalise_header`) to a stable indicator id. A header
the mapping does not know fails validation: a new edition that renames a column must be
noticed, not silently dropped.

Stable indicator ids (the SQL layer, the market taxonomy and the reports key on these,
never on GI-TOC's headers):

- `goci.criminality`: overall criminality score (average of markets and actors)
- `goci.criminal_markets`: average of the 15 criminal markets
- `goci.market.<code>`, one per criminal market: human_trafficking, human_smuggling,
  extortion_racketeering, arms_trafficking, counterfeit_goods, excise_goods,
  flora_crimes, fauna_crimes, non_renewable_resource_crimes, heroin_trade,
  cocaine_trade, cannabis_trade, synthetic_drug_trade, cyber_dependent_crimes,
  financial_crimes (the pipeline's market taxonomy, see `assets/reference/markets.csv`)
- `goci.criminal_actors`: average of the 5 actor types
- `goci.actor.<code>`: mafia_style_groups, criminal_networks, state_embedded_actors,
  foreign_actors, private_sector_actors
- `goci.resilience`: average of the 12 resilience indicators
- `goci.resilience.<code>`: political_leadership, government_transparency,
  international_cooperation, national_policies, judicial_system, law_enforcement,
  territorial_integrity, anti_money_laundering, economic_regulatory_capacity,
  victim_witness_support, prevention, non_state_actors

`parse()` returns every edition with the same indicator set. An indicator an edition did
not assess (`NOT_ASSESSED`: in 2021 private-sector actors, cyber-dependent crimes,
financial crimes, counterfeit goods, excisable goods and extortion) is a row whose value
is NaN: "not assessed", never 0.

Country names are kept as GI-TOC spells them (only surrounding blanks are stripped; the
2023 sheet writes "Congo, Dem, Rep," for "Congo, Dem. Rep."): the country harmoniser
matches them, so provenance stays faithful to the workbook.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

import pandas as pd

from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceConnector,
    check_xlsx_container,
)

Pillar = Literal["criminality", "criminal_markets", "criminal_actors", "resilience"]
Direction = Literal["higher_is_worse", "higher_is_better"]

UNIT: Final = "score 1-10"


@dataclass(frozen=True)
class Indicator:
    """One GOCI indicator as the pipeline knows it (`pd.DataFrame(INDICATORS)` is a table)."""

    id: str
    label: str  # GI-TOC's name, as in the 2025 sheet without the "avg." suffix
    pillar: Pillar
    direction: Direction
    unit: str = UNIT


# (code, GI-TOC label) per pillar, in the 2025 sheet's order.
MARKETS: Final[tuple[tuple[str, str], ...]] = (
    ("human_trafficking", "Human trafficking"),
    ("human_smuggling", "Human smuggling"),
    ("extortion_racketeering", "Extortion and protection racketeering"),
    ("arms_trafficking", "Arms trafficking"),
    ("counterfeit_goods", "Trade in counterfeit goods"),
    ("excise_goods", "Illicit trade in excisable goods"),
    ("flora_crimes", "Flora crimes"),
    ("fauna_crimes", "Fauna crimes"),
    ("non_renewable_resource_crimes", "Non-renewable resource crimes"),
    ("heroin_trade", "Heroin trade"),
    ("cocaine_trade", "Cocaine trade"),
    ("cannabis_trade", "Cannabis trade"),
    ("synthetic_drug_trade", "Synthetic drug trade"),
    ("cyber_dependent_crimes", "Cyber-dependent crimes"),
    ("financial_crimes", "Financial crimes"),
)
ACTORS: Final[tuple[tuple[str, str], ...]] = (
    ("mafia_style_groups", "Mafia-style groups"),
    ("criminal_networks", "Criminal networks"),
    ("state_embedded_actors", "State-embedded actors"),
    ("foreign_actors", "Foreign actors"),
    ("private_sector_actors", "Private sector actors"),
)
RESILIENCE: Final[tuple[tuple[str, str], ...]] = (
    ("political_leadership", "Political leadership and governance"),
    ("government_transparency", "Government transparency and accountability"),
    ("international_cooperation", "International cooperation"),
    ("national_policies", "National policies and laws"),
    ("judicial_system", "Judicial system and detention"),
    ("law_enforcement", "Law enforcement"),
    ("territorial_integrity", "Territorial integrity"),
    ("anti_money_laundering", "Anti-money laundering"),
    ("economic_regulatory_capacity", "Economic regulatory capacity"),
    ("victim_witness_support", "Victim and witness support"),
    ("prevention", "Prevention"),
    ("non_state_actors", "Non-state actors"),
)

#: The market taxonomy's codes (`assets/reference/markets.csv` has one row per code).
MARKET_CODES: Final[tuple[str, ...]] = tuple(code for code, _ in MARKETS)

_WORSE: Final = "higher_is_worse"
_BETTER: Final = "higher_is_better"

#: The catalogue: every indicator `parse()` emits, in output order.
INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("goci.criminality", "Criminality", "criminality", _WORSE),
    Indicator("goci.criminal_markets", "Criminal markets", "criminal_markets", _WORSE),
    *(Indicator(f"goci.market.{c}", label, "criminal_markets", _WORSE) for c, label in MARKETS),
    Indicator("goci.criminal_actors", "Criminal actors", "criminal_actors", _WORSE),
    *(Indicator(f"goci.actor.{c}", label, "criminal_actors", _WORSE) for c, label in ACTORS),
    Indicator("goci.resilience", "Resilience", "resilience", _BETTER),
    *(Indicator(f"goci.resilience.{c}", label, "resilience", _BETTER) for c, label in RESILIENCE),
)
INDICATORS_BY_ID: Final[dict[str, Indicator]] = {i.id: i for i in INDICATORS}

#: Indicators an edition did not assess: their rows are NaN, and their columns may be absent.
NOT_ASSESSED: Final[dict[str, frozenset[str]]] = {
    "2021": frozenset(
        {
            "goci.actor.private_sector_actors",
            "goci.market.cyber_dependent_crimes",
            "goci.market.financial_crimes",
            "goci.market.counterfeit_goods",
            "goci.market.excise_goods",
            "goci.market.extortion_racketeering",
        }
    ),
}

#: Editions the workbook must hold; a further `<year>_dataset` sheet is read too, and must
#: carry every indicator (add it to `NOT_ASSESSED` if GI-TOC drops one).
REQUIRED_EDITIONS: Final[tuple[str, ...]] = ("2021", "2023", "2025")
_EDITION_SHEET = re.compile(r"^(\d{4})_dataset$")

# Output key column -> GI-TOC's header.
_KEY_HEADERS: Final[dict[str, str]] = {
    "continent": "Continent",
    "region": "Region",  # GI-TOC's own regions, not UN M49
    "country_name": "Country",
}
_KEYS: Final[tuple[str, ...]] = tuple(_KEY_HEADERS)

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "edition",
    *_KEYS,
    "indicator_id",
    "indicator_label",
    "pillar",
    "value",
)

_AVG_SUFFIX = re.compile(r"\s+avg[.,]?$")


def normalise_header(header: object) -> str:
    """A sheet header in the form `HEADER_MAP` is keyed by.

    Case and blanks are ignored, and the pillar averages' suffix is dropped, because GI-TOC
    writes "Criminality avg." in 2025, "Criminality avg," in 2021 and plain "Resilience"
    in 2021 for the same thing.
    """
    return _AVG_SUFFIX.sub("", " ".join(str(header).split()).casefold())


# Other names GI-TOC has given an indicator's column (normalised header -> indicator id).
# Add one when a new edition renames a column; case, blanks and the "avg." suffix need none.
_RENAMED_HEADERS: Final[dict[str, str]] = {}

#: The one mapping from normalised sheet header to output column: the key columns, every
#: indicator's label, and its former names. Anything else in a sheet is an unknown header.
HEADER_MAP: Final[dict[str, str]] = {
    **{
        normalise_header(header): column
        for column, header in (*_KEY_HEADERS.items(), *((i.id, i.label) for i in INDICATORS))
    },
    **_RENAMED_HEADERS,
}
# Output column -> the header to name in messages.
_HEADER_OF: Final[dict[str, str]] = {**_KEY_HEADERS, **{i.id: i.label for i in INDICATORS}}

# The genuine workbook unpacks to about 1 MB; a far larger one is not GI-TOC's file and
# must not be unpacked (decompression bomb).
_MAX_UNPACKED_BYTES = 64 * 2**20


class GociConnector(SourceConnector):
    """GI-TOC Global Organized Crime Index: one xlsx workbook holding every edition.

    Emits one row per edition, country and indicator (criminality, the 15 criminal
    markets, the 5 criminal actor types, resilience and its 12 indicators; scores 1-10).
    Indicators an edition did not assess are NaN, never 0.
    """

    source_id: ClassVar[str] = "goci"
    country_column: ClassVar[str] = "country_name"

    def resources(self) -> list[Resource]:
        """The workbook, at the registry's `base_url` + `path`."""
        return [Resource("workbook", self.config.base_url + self.config.options["path"])]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is the workbook with every edition's headers."""
        read_editions(payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """Every edition as long rows (`COLUMNS`); absent indicators are NaN rows."""
        ids = [indicator.id for indicator in INDICATORS]
        frames = []
        for edition, wide in read_editions(payload).items():
            # Missing indicators become NaN columns, so every edition has the same set.
            wide = wide.reindex(columns=[*_KEYS, *ids])
            long = wide.melt(
                id_vars=list(_KEYS),
                value_vars=ids,
                var_name="indicator_id",
                value_name="value",
                ignore_index=False,
            )
            # melt stacks indicator by indicator; a stable sort on the sheet row puts each
            # country's indicators together, in catalogue order.
            frames.append(long.sort_index(kind="stable").assign(edition=edition))
        out = pd.concat(frames, ignore_index=True)
        out["indicator_label"] = out["indicator_id"].map(lambda i: INDICATORS_BY_ID[i].label)
        out["pillar"] = out["indicator_id"].map(lambda i: INDICATORS_BY_ID[i].pillar)
        out["value"] = out["value"].astype("float64")
        return out.loc[:, list(COLUMNS)]


def read_editions(payload: bytes) -> dict[str, pd.DataFrame]:
    """Each edition's sheet as a wide frame with `HEADER_MAP`'s column names.

    Raises `PayloadError`, naming the sheet, column or row, when the payload is not an xlsx
    workbook (HTML error page, truncated download), lacks an edition, or a sheet has an
    unknown, duplicated or missing header, a non-numeric score, or a row without a country.
    """
    check_xlsx_container(payload, "the GOCI workbook", max_unpacked=_MAX_UNPACKED_BYTES)
    try:
        with pd.ExcelFile(io.BytesIO(payload), engine="calamine") as book:
            # Only blank cells are missing: pandas' default NA strings ("n/a", "NA", ...)
            # would turn a marker GI-TOC might introduce into a silent NaN.
            sheets = {
                match[1]: book.parse(sheet, keep_default_na=False, na_values=[""])
                for sheet in book.sheet_names
                if (match := _EDITION_SHEET.match(sheet.strip()))
            }
    except Exception as error:  # calamine's errors have no common base class
        raise PayloadError(f"the workbook cannot be read: {error}") from error
    missing = [f"{edition}_dataset" for edition in REQUIRED_EDITIONS if edition not in sheets]
    if missing:
        raise PayloadError(
            f"the workbook lacks the sheet(s) {', '.join(missing)} "
            f"(has: {', '.join(f'{e}_dataset' for e in sorted(sheets)) or 'no edition sheet'})"
        )
    return {edition: _edition_frame(edition, raw) for edition, raw in sorted(sheets.items())}


def _edition_frame(edition: str, raw: pd.DataFrame) -> pd.DataFrame:
    """One sheet with its headers mapped, scores numeric and key columns clean."""
    sheet = f"{edition}_dataset"
    # A header-less column with nothing in it is layout, not data.
    raw = raw.loc[:, [not (str(c).startswith("Unnamed:") and raw[c].isna().all()) for c in raw]]
    raw = raw.dropna(how="all")

    unknown = [str(c) for c in raw.columns if normalise_header(c) not in HEADER_MAP]
    if unknown:
        raise PayloadError(
            f"sheet {sheet}: unknown header(s) {unknown}; in extra_pipeline/sources/goci.py "
            "add a renamed column to _RENAMED_HEADERS or a new indicator to INDICATORS"
        )
    renamed = [HEADER_MAP[normalise_header(c)] for c in raw.columns]
    duplicated = sorted({name for name in renamed if renamed.count(name) > 1})
    if duplicated:
        raise PayloadError(f"sheet {sheet}: more than one column maps to {duplicated}")
    expected = [*_KEYS, *(i.id for i in INDICATORS if i.id not in NOT_ASSESSED.get(edition, ()))]
    absent = [_HEADER_OF[column] for column in expected if column not in renamed]
    if absent:
        raise PayloadError(f"sheet {sheet}: missing column(s) {absent}")
    frame = raw.set_axis(renamed, axis=1)
    if frame.empty:
        raise PayloadError(f"sheet {sheet}: no country rows")

    for column in _KEYS:
        frame[column] = frame[column].astype("str").str.strip().where(frame[column].notna())
    nameless = frame.index[frame["country_name"].isna() | (frame["country_name"] == "")]
    if len(nameless):
        raise PayloadError(f"sheet {sheet}: row(s) {_rows(nameless)} have scores but no country")
    repeated = frame.loc[frame["country_name"].duplicated(), "country_name"]
    if len(repeated):
        raise PayloadError(f"sheet {sheet}: country listed twice: {sorted(set(repeated))}")

    for column in (c for c in frame.columns if c not in _KEYS):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = frame.index[numbers.isna() & frame[column].notna()]
        if len(bad):
            raise PayloadError(
                f"sheet {sheet}, column {_HEADER_OF[column]!r}: non-numeric "
                f"score(s) at row(s) {_rows(bad)}, e.g. {frame.at[bad[0], column]!r}"
            )
        frame[column] = numbers.astype("float64")
    return frame.reset_index(drop=True)


def _rows(index: pd.Index, limit: int = 5) -> str:
    """Spreadsheet row numbers for frame positions (row 1 is the header)."""
    rows = [str(position + 2) for position in index[:limit]]
    return ", ".join(rows) + (", ..." if len(index) > limit else "")
