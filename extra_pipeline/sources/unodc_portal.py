"""UNODC data portal exports (dataunodc.un.org): trafficking in persons (GLOTIP), firearms
trafficking (IAFQ) and corruption and economic crime (CTS), long format.

The portal exports every dataset as one xlsx workbook with the same layout: one sheet, two
banner rows (`UNODC` and the export date, `dd/mm/yyyy`), the header on row 3, then one row
per observation with the columns Iso3_code, Country, Region, Subregion, Indicator,
Dimension, Category, Sex, Age, Year, Unit of measurement, VALUE (GLOTIP: `txtVALUE`, text)
and Source. One reader (`read_export`) serves the three sources; each connector only names
its dataset and its catalogue of indicators.

Reading rules (each trap is tested in `tests/test_unodc_portal.py`):

- The header row is found, not assumed: the first of the top `HEADER_SCAN_ROWS` rows that
  holds Indicator, a value column and Iso3_code or Country. Headers are matched case-
  and blank-blind. Region, Subregion, Source, Sex and Age may be absent (older exports); a missing Sex or
  Age column means the export has no such breakdown, so its rows count as totals. A
  missing Indicator, Dimension, Category, Year, Unit of measurement, value column, or both
  Iso3_code and Country, fails validation.
- The edition is the export date's year (`30/05/2023` -> `2023`); an export without the
  date banner falls back to the registry's `edition`.
- The workbook is read with calamine, which ignores drawings: the live IAFQ export has a
  broken drawing relationship (`xl/drawings/drawing1.xml` referenced but absent) that makes
  openpyxl refuse it, and that file must still be read, unmodified.
- Values: numbers as published; text numbers may carry thousands separators (`1,282`).
  A censored value `<N` (GLOTIP publishes counts under 5 as `<5`) becomes value N with
  `censored` true and `obs_status` the published text. `MISSING_MARKERS` (`..`, `-`, `n/a`
  ...) and blank cells become a null value (never 0), the marker kept in `obs_status`.
  Any other text fails validation, naming the sheet row.
- Countries: the harmonised column is `area`: Iso3_code as published, or the Country name
  where the code is blank (GLOTIP's `Sark`). UNODC's own non-ISO codes are declared in
  `assets/reference/country_aliases.yaml` and stay in raw only: sub-national units
  (`GBR_E_W` England and Wales, `GBR_S` Scotland, `GBR_NI` Northern Ireland, `IRQ_C`
  Central Iraq, `Sark`) are not their country and are never summed into it; GLOTIP's
  regional codes with a blank country (`CAR`, `CAS`, `EEU`, `MCA`, `MCN`, `SAF`, `SAM`)
  and `Aruba/Curacao` (two territories reported together) are aggregates.

Every row is kept in `raw.<source_id>`. A row whose (Indicator, Dimension, Category, Sex,
Age, Unit of measurement) is in the source's catalogue gets a stable `indicator_id`; the
others (finer breakdowns: citizenship, marking, location ...) keep a null `indicator_id`
and do not reach staging. Two catalogued rows for the same area and year fail validation,
so (indicator_id, iso3, year, edition) is unique in staging by construction.

Stable indicator ids (`<breakdown>` = Dimension | Category | Sex | Age as published):

`unodc_trafficking_persons` (GLOTIP; counts; all `neutral`: detections and criminal
justice counts measure enforcement as much as trafficking, as UNODC itself warns):

- `unodc.tip.detected_victims`: Detected trafficking victims, Total | Total | Total | Total
- `unodc.tip.detected_victims_children`: ... Total | Total | Total | 0 to 17 years
- `unodc.tip.detected_victims_sexual_exploitation`,
  `unodc.tip.detected_victims_forced_labour`: by form of exploitation | Sexual
  exploitation / Forced labour | Total | Total.
  Left out, because the export gives two different figures under one label for some
  countries and years: "Other forms of exploitation" (repeated per sub-form) and the
  Female / Male totals (Age Total; e.g. Bolivia and the Dominican Republic 2017-2020).
- `unodc.tip.persons_brought_into_formal_contact`, `unodc.tip.persons_prosecuted`,
  `unodc.tip.persons_convicted`: Total | Total | Total | Total
- `unodc.tip.offences`: Offences of trafficking in persons, Total | Total | Total | Total

`unodc_firearms` (IAFQ; counts; all `neutral`: seizures measure enforcement as much as
trafficking):

- `unodc.firearms.arms_seized`, `ammunition_seized`, `parts_seized` (parts and
  components), `seizure_cases` (Instances/cases of seizures): Total | Total | na | na
- `unodc.firearms.arms_found`, `arms_surrendered`: by type | Total | na | na (the only
  breakdown whose total is unique per country and year)
- `unodc.firearms.persons_arrested`, `persons_prosecuted`, `persons_convicted`,
  `persons_targeted` (Individuals ... for illicit trafficking in weapons; targeted by the
  criminal justice system): Total | Total | Total | Total

`unodc_economic_crime` (CTS; offences by type of offence, Total | Total sex and age), one
id per category as a count (`unit` offences) and as a rate (`_rate`, per 100,000
population): `unodc.economic_crime.<code>_offences[_rate]` with code corruption,
bribery, other_corruption, fraud, cyber_fraud, money_laundering, migrant_smuggling,
theft, motor_vehicle_theft, burglary, computer_access (unlawful access to a computer
system), computer_data_interception, computer_interference, and from "Acts against the
environment": environment_waste, environment_pollution, environment_resource_depletion,
wildlife_trade. Direction: offences mostly reported by victims (theft, burglary, fraud,
computer offences) are `higher_is_worse`; offences found mainly by enforcement
(corruption, bribery, money laundering, migrant smuggling, environmental offences) are
`neutral`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

import pandas as pd
from python_calamine import CalamineWorkbook

from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceConfig,
    SourceConnector,
    check_xlsx_container,
)

Direction = Literal["higher_is_worse", "neutral"]
Scale = Literal["absolute", "rate"]

#: how many top rows may hold the banner before the header
HEADER_SCAN_ROWS: Final = 12
#: text that means "no figure": a null value, the marker kept in `obs_status`
MISSING_MARKERS: Final = frozenset({"..", "...", "-", "–", "—", "n/a", "na", "n.a.", "n.a"})
RATE_UNIT: Final = "Rate per 100,000 population"
COUNTS_UNIT: Final = "Counts"


@dataclass(frozen=True)
class Indicator:
    """One catalogued breakdown of a portal dataset and the stable id it becomes."""

    id: str
    label: str
    indicator: str  # the export's Indicator, as published
    dimension: str = "Total"
    category: str = "Total"
    sex: str = "Total"
    age: str = "Total"
    unit_of_measurement: str = COUNTS_UNIT
    unit: str = "persons"  # what the figure counts (the staging contract's `unit`)
    direction: Direction = "neutral"

    @property
    def scale(self) -> Scale:
        return "rate" if self.unit_of_measurement == RATE_UNIT else "absolute"

    @property
    def key(self) -> tuple[str, ...]:
        """The normalised breakdown a row must have to get this id."""
        return tuple(
            _norm(part)
            for part in (
                self.indicator,
                self.dimension,
                self.category,
                self.sex,
                self.age,
                self.unit_of_measurement,
            )
        )


_VICTIMS = "Detected trafficking victims"
TIP_INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("unodc.tip.detected_victims", "Detected trafficking victims", _VICTIMS, unit="victims"),
    Indicator("unodc.tip.detected_victims_children", "Detected trafficking victims, children (0-17)", _VICTIMS, age="0 to 17 years", unit="victims"),
    Indicator("unodc.tip.detected_victims_sexual_exploitation", "Detected trafficking victims, sexual exploitation", _VICTIMS, dimension="by form of exploitation", category="Sexual exploitation", unit="victims"),
    Indicator("unodc.tip.detected_victims_forced_labour", "Detected trafficking victims, forced labour", _VICTIMS, dimension="by form of exploitation", category="Forced labour", unit="victims"),
    Indicator("unodc.tip.persons_brought_into_formal_contact", "Persons brought into formal contact for trafficking in persons", "Persons brought into formal contact"),
    Indicator("unodc.tip.persons_prosecuted", "Persons prosecuted for trafficking in persons", "Persons prosecuted"),
    Indicator("unodc.tip.persons_convicted", "Persons convicted of trafficking in persons", "Persons convicted"),
    Indicator("unodc.tip.offences", "Offences of trafficking in persons", "Offences of trafficking in persons", unit="offences"),
)  # fmt: skip


def _seized(
    code: str, label: str, indicator: str, unit: str, dimension: str = "Total"
) -> Indicator:
    return Indicator(f"unodc.firearms.{code}", label, indicator, dimension=dimension, sex="na", age="na", unit=unit)  # fmt: skip


def _weapons_persons(code: str, verb: str) -> Indicator:
    indicator = f"Individuals {verb} for illicit trafficking in weapons"
    return Indicator(f"unodc.firearms.{code}", indicator, indicator)


FIREARMS_INDICATORS: Final[tuple[Indicator, ...]] = (
    _seized("arms_seized", "Arms seized", "Arms seized", "firearms"),
    _seized("arms_found", "Arms found", "Arms found", "firearms", dimension="by type"),
    _seized("arms_surrendered", "Arms surrendered", "Arms surrendered", "firearms", dimension="by type"),
    _seized("ammunition_seized", "Ammunition seized", "Ammunition seized", "ammunition units"),
    _seized("parts_seized", "Parts and components seized", "Parts and components seized", "parts and components"),
    _seized("seizure_cases", "Instances/cases of seizures", "Instances/cases of seizures", "seizure cases"),
    _weapons_persons("persons_arrested", "arrested/suspected"),
    _weapons_persons("persons_prosecuted", "prosecuted"),
    _weapons_persons("persons_convicted", "convicted"),
    Indicator(
        "unodc.firearms.persons_targeted",
        "Individuals targeted by the criminal justice system for illicit trafficking in weapons",
        "Individuals targeted by criminal justice system due to illicit trafficking in weapons",
    ),
)  # fmt: skip

_W, _N = "higher_is_worse", "neutral"
# (code, Indicator, Category as published, direction)
_CTS_CATEGORIES: Final[tuple[tuple[str, str, str, Direction], ...]] = (
    ("corruption", "Offences", "Corruption", _N),
    ("bribery", "Offences", "Corruption: Bribery", _N),
    ("other_corruption", "Offences", "Corruption: Other acts of corruption", _N),
    ("fraud", "Offences", "Fraud", _W),
    ("cyber_fraud", "Offences", "Fraud: Cyber-related (Cy)", _W),
    ("money_laundering", "Offences", "Money laundering", _N),
    ("migrant_smuggling", "Offences", "Smuggling of migrants", _N),
    ("theft", "Offences", "Theft", _W),
    ("motor_vehicle_theft", "Offences", "Theft: of a motorized vehicle", _W),
    ("burglary", "Offences", "Burglary", _W),
    ("computer_access", "Offences", "Unlawful access to a computer system", _W),
    ("computer_data_interception", "Offences", "Unlawful interception or access of computer data", _W),
    ("computer_interference", "Offences", "Unlawful interference with a computer system or computer data", _W),
    ("environment_waste", "Acts against the environment", "Acts involving the movement of dumping of waste", _N),
    ("environment_pollution", "Acts against the environment", "Acts that cause environmental pollution or degradation", _N),
    ("environment_resource_depletion", "Acts against the environment", "Acts that result in the depletion of degradation of natural resources", _N),
    ("wildlife_trade", "Acts against the environment", "Trade or possession of protected or prohibited species of faune and flora", _N),
)  # fmt: skip
ECONOMIC_CRIME_INDICATORS: Final[tuple[Indicator, ...]] = tuple(
    Indicator(
        f"unodc.economic_crime.{code}_offences{suffix}",
        f"{category} ({'offences' if indicator == 'Offences' else indicator.lower()}){label}",
        indicator,
        dimension="by type of offence",
        category=category,
        unit_of_measurement=uom,
        unit=unit,
        direction=direction,
    )
    for code, indicator, category, direction in _CTS_CATEGORIES
    for suffix, label, uom, unit in (
        ("", "", COUNTS_UNIT, "offences"),
        ("_rate", ", per 100,000 population", RATE_UNIT, "per 100,000 population"),
    )
)

# Output column -> the portal's header; `value_text` is VALUE or txtVALUE.
_HEADERS: Final[dict[str, str]] = {
    "iso3_code": "Iso3_code",
    "country": "Country",
    "region": "Region",
    "subregion": "Subregion",
    "indicator": "Indicator",
    "dimension": "Dimension",
    "category": "Category",
    "sex": "Sex",
    "age": "Age",
    "year": "Year",
    "unit_of_measurement": "Unit of measurement",
    "value_text": "VALUE",
    "source": "Source",
}
_VALUE_HEADERS: Final = ("value", "txtvalue")
_REQUIRED: Final = ("indicator", "dimension", "category", "year", "unit_of_measurement")
_OPTIONAL: Final = ("region", "subregion", "source", "sex", "age")

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "edition",
    "export_date",
    "sheet_row",
    "iso3_code",
    "country",
    "area",
    "region",
    "subregion",
    "indicator",
    "dimension",
    "category",
    "sex",
    "age",
    "year",
    "unit_of_measurement",
    "value_text",
    "value",
    "censored",
    "obs_status",
    "source",
    "indicator_id",
    "indicator_label",
    "unit",
    "scale",
    "direction",
)

# The real exports unpack to 5-30 MB; anything far larger is not one (decompression bomb).
_MAX_UNPACKED_BYTES = 256 * 2**20
_CENSORED = re.compile(r"^<\s*(\d[\d,]*(?:\.\d+)?)$")
_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_EXPORT_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _norm(text: object) -> str:
    """Case- and blank-blind form of a header or breakdown label."""
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class Export:
    """One portal export as read: its sheet rows with the output column names."""

    sheet: str
    header_row: int  # 1-based spreadsheet row of the header
    export_date: str | None  # ISO date from the banner, when there is one
    frame: pd.DataFrame  # output column names; `sheet_row` is the spreadsheet row


class UnodcPortalConnector(SourceConnector):
    """A UNODC data portal dataset: one xlsx export, read by the shared portal reader."""

    country_column: ClassVar[str] = "area"
    #: the dataset's name in messages
    dataset: ClassVar[str]
    catalogue: ClassVar[tuple[Indicator, ...]]

    def resources(self) -> list[Resource]:
        """The dataset's xlsx export, at the registry's `base_url` + `path`."""
        return [Resource("export", self.config.base_url + self.config.options["path"])]

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        # validating an export is parsing it: the fetcher validates, then the asset parses
        # the same bytes, so the last result is kept rather than read twice
        self._parsed: tuple[bytes, pd.DataFrame] | None = None

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is this dataset's export (see the module
        docstring for every rule)."""
        self._parsed = (payload, self._parse(payload))

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """Every row of the export (`COLUMNS`), catalogued rows with their indicator id."""
        if self._parsed is not None and self._parsed[0] == payload:
            return self._parsed[1].copy()
        return self._parse(payload)

    def _parse(self, payload: bytes) -> pd.DataFrame:
        export = read_export(payload, self.dataset)
        frame = export.frame
        edition = export.export_date[:4] if export.export_date else self.config.edition
        frame.insert(0, "edition", edition)
        frame.insert(1, "export_date", export.export_date)
        frame = _with_values(frame, export.sheet)
        frame = _with_indicators(frame, self.catalogue, export.sheet, self.dataset)
        return frame.loc[:, list(COLUMNS)]


class UnodcTraffickingPersonsConnector(UnodcPortalConnector):
    """UNODC GLOTIP: detected victims, persons prosecuted and convicted, offences of
    trafficking in persons (counts; `<5` kept as a censored 5)."""

    source_id: ClassVar[str] = "unodc_trafficking_persons"
    dataset: ClassVar[str] = "GLOTIP (trafficking in persons)"
    catalogue: ClassVar[tuple[Indicator, ...]] = TIP_INDICATORS


class UnodcFirearmsConnector(UnodcPortalConnector):
    """UNODC IAFQ: arms, ammunition and parts seized, found and surrendered; persons
    arrested, prosecuted and convicted for illicit trafficking in weapons (counts)."""

    source_id: ClassVar[str] = "unodc_firearms"
    dataset: ClassVar[str] = "IAFQ (firearms trafficking)"
    catalogue: ClassVar[tuple[Indicator, ...]] = FIREARMS_INDICATORS


class UnodcEconomicCrimeConnector(UnodcPortalConnector):
    """UNODC CTS: police-recorded corruption, bribery, fraud, money laundering, migrant
    smuggling, theft, burglary, cyber and environmental offences (counts and rates)."""

    source_id: ClassVar[str] = "unodc_economic_crime"
    dataset: ClassVar[str] = "CTS (corruption and economic crime)"
    catalogue: ClassVar[tuple[Indicator, ...]] = ECONOMIC_CRIME_INDICATORS


def read_export(payload: bytes, dataset: str = "UNODC portal") -> Export:
    """The export's rows under its header, wherever the header sits in the top rows.

    Raises `PayloadError` when the payload is not an xlsx workbook (HTML error page,
    truncated download), no sheet has the portal header, or a required column is missing.
    """
    check_xlsx_container(payload, f"the {dataset} export", max_unpacked=_MAX_UNPACKED_BYTES)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(payload))
        sheets = [(name, book.get_sheet_by_name(name).to_python()) for name in book.sheet_names]
    except Exception as error:  # calamine's errors have no common base class
        raise PayloadError(f"the {dataset} workbook cannot be read: {error}") from error
    for sheet, rows in sheets:
        for position, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            names = [_norm(cell) for cell in row]
            area = {"iso3_code", "country"} & set(names)
            if "indicator" in names and area and set(names) & set(_VALUE_HEADERS):
                return _export(sheet, rows, position, names, dataset)
    raise PayloadError(
        f"the {dataset} workbook has no UNODC portal header (Iso3_code, Indicator, VALUE) in the "
        f"top {HEADER_SCAN_ROWS} rows of any sheet ({', '.join(name for name, _ in sheets)}): "
        "not a data portal export, or the layout changed"
    )


def _export(
    sheet: str, rows: list[list[Any]], position: int, names: list[str], dataset: str
) -> Export:
    where = f"{dataset} sheet {sheet!r}, header on row {position + 1}"
    by_name = {_norm(header): column for column, header in _HEADERS.items()}
    by_name["txtvalue"] = "value_text"
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        column = by_name.get(name)
        if column is None:
            continue  # a column the reader does not use (a future addition) is ignored
        if column in columns:
            raise PayloadError(f"{where}: more than one {_HEADERS[column]!r} column")
        columns[column] = index
    missing = [_HEADERS[c] for c in _REQUIRED if c not in columns]
    if "iso3_code" not in columns and "country" not in columns:
        missing.append("Iso3_code or Country")
    if missing:
        raise PayloadError(
            f"{where}: missing column(s) {missing}; the export layout changed: update "
            "extra_pipeline/sources/unodc_portal.py"
        )
    body = rows[position + 1 :]
    data = {
        column: [row[columns[column]] if column in columns and columns[column] < len(row) else None for row in body]
        for column in _HEADERS
    }  # fmt: skip
    frame = pd.DataFrame(data, dtype=object)
    frame.insert(0, "sheet_row", range(position + 2, position + 2 + len(body)))
    text = [c for c in _HEADERS if c not in ("year", "value_text")]
    for column in text:
        frame[column] = per_distinct(frame[column], _text)
    # Rows with nothing in them are layout (trailing blank rows), not observations.
    blank = frame[text].isna().all(axis=1)
    for column in ("year", "value_text"):
        blank &= per_distinct(frame[column], _is_blank).astype(bool)
    frame = frame.loc[~blank].reset_index(drop=True)
    if frame.empty:
        raise PayloadError(f"{where}: no data rows under the header")
    return Export(sheet, position + 1, _export_date(rows[:position]), frame)


def _text(cell: object) -> str | None:
    """A text cell stripped; blank -> None (a missing Sex/Age column stays None too)."""
    if _is_blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def per_distinct(column: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """`function` of every cell, computed once per distinct cell: an export's text columns
    repeat a few labels over tens of thousands of rows. Cells of different types that
    compare equal (1 and 1.0) are kept apart."""
    results: dict[tuple[type, Any], Any] = {}
    out = []
    for cell in column:
        key = (type(cell), cell)
        try:
            out.append(results[key])
        except KeyError:
            out.append(results.setdefault(key, function(cell)))
        except TypeError:  # an unhashable cell
            out.append(function(cell))
    return pd.Series(out, index=column.index, dtype=object)


def _is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _export_date(banner: list[list[Any]]) -> str | None:
    """The export date of the banner rows (`30/05/2023`, day first), as an ISO date."""
    for row in banner:
        for cell in row:
            if isinstance(cell, datetime):
                return cell.date().isoformat()
            match = _EXPORT_DATE.match(str(cell).strip())
            if match:
                day, month, year = (int(part) for part in match.groups())
                try:
                    return datetime(year, month, day).date().isoformat()
                except ValueError:
                    continue
    return None


def _with_values(frame: pd.DataFrame, sheet: str) -> pd.DataFrame:
    """Typed year, value, censored and obs_status; `value_text` keeps the cell as published."""
    years = pd.to_numeric(per_distinct(frame["year"], _text), errors="coerce")
    bad = frame.index[years.isna() | (years % 1 != 0) | ~years.between(1900, 2100)]
    if len(bad):
        raise PayloadError(
            f"sheet {sheet!r}, column 'Year': not a year at row(s) {_rows(frame, bad)}, "
            f"e.g. {frame.at[bad[0], 'year']!r}"
        )
    parsed = [_value(cell) for cell in frame["value_text"]]
    unknown = [i for i, item in zip(frame.index, parsed, strict=True) if item is None]
    if unknown:
        raise PayloadError(
            f"sheet {sheet!r}, value column: text that is neither a number, a censored "
            f"'<N' nor a missing marker at row(s) {_rows(frame, unknown)}, e.g. "
            f"{frame.at[unknown[0], 'value_text']!r}; if UNODC introduced a new marker, "
            "add it to MISSING_MARKERS in extra_pipeline/sources/unodc_portal.py"
        )
    area = frame["iso3_code"].where(frame["iso3_code"].notna(), frame["country"])
    nowhere = frame.index[area.isna()]
    if len(nowhere):
        raise PayloadError(
            f"sheet {sheet!r}: row(s) {_rows(frame, nowhere)} have neither Iso3_code nor Country"
        )
    return frame.assign(
        year=years.astype("int64"),
        value_text=per_distinct(frame["value_text"], _text),
        value=pd.Series([item[0] for item in parsed], index=frame.index, dtype="float64"),
        censored=pd.Series([item[1] for item in parsed], index=frame.index, dtype="bool"),
        obs_status=pd.Series([item[2] for item in parsed], index=frame.index, dtype=object),
        area=area,
    )


def _value(cell: object) -> tuple[float | None, bool, str | None] | None:
    """(value, censored, obs_status) of one cell; None when the text is not understood."""
    if _is_blank(cell):
        return (None, False, None)
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
        return (float(cell), False, None)
    text = str(cell).strip()
    if _NUMBER.match(text):
        return (float(text.replace(",", "")), False, None)
    censored = _CENSORED.match(text)
    if censored:
        return (float(censored[1].replace(",", "")), True, text)
    if text.casefold() in MISSING_MARKERS:
        return (None, False, text)
    return None


def _with_indicators(
    frame: pd.DataFrame, catalogue: tuple[Indicator, ...], sheet: str, dataset: str
) -> pd.DataFrame:
    """`indicator_id`, label, unit, scale and direction for catalogued rows (null for the rest)."""
    by_key = {indicator.key: indicator for indicator in catalogue}
    # A missing Sex or Age column means no such breakdown: its rows are totals.
    sex = frame["sex"].fillna("Total")
    age = frame["age"].fillna("Total")
    keys = zip(
        *(per_distinct(frame[c], _norm) for c in ("indicator", "dimension", "category")),
        per_distinct(sex, _norm),
        per_distinct(age, _norm),
        per_distinct(frame["unit_of_measurement"], _norm),
        strict=True,
    )
    found = [by_key.get(key) for key in keys]
    if not any(found):
        raise PayloadError(
            f"{dataset} sheet {sheet!r}: none of the {len(frame):,} rows is one of the "
            f"catalogued indicators (e.g. {catalogue[0].indicator!r}): not the {dataset} "
            "export, or UNODC renamed its indicators"
        )
    out = frame.assign(
        indicator_id=[i.id if i else None for i in found],
        indicator_label=[i.label if i else None for i in found],
        unit=[i.unit if i else None for i in found],
        scale=[i.scale if i else None for i in found],
        direction=[i.direction if i else None for i in found],
    )
    catalogued = out[out["indicator_id"].notna()]
    twice = catalogued[catalogued.duplicated(["indicator_id", "area", "year"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise PayloadError(
            f"{dataset} sheet {sheet!r}: {len(twice)} rows give more than one figure for one "
            f"indicator, area and year, e.g. {first['indicator_id']} {first['area']} "
            f"{first['year']} at rows {_rows(twice, twice.index[:2])}; narrow the catalogue "
            "breakdown in extra_pipeline/sources/unodc_portal.py"
        )
    return out


def _rows(frame: pd.DataFrame, index: Any, limit: int = 5) -> str:
    """Spreadsheet row numbers of frame positions."""
    rows = [str(frame.at[i, "sheet_row"]) for i in list(index)[:limit]]
    return ", ".join(rows) + (", ..." if len(index) > limit else "")
