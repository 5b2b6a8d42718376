"""UNODC drug seizures: World Drug Report statistical annex table 7.1, one xlsx workbook.

UNODC publishes the annex table "Drug seizures, <first year>-<last year>" with each World
Drug Report (WDR 2024: `7.1._Drug_seizures_2018-2022.xlsx`, reference years 2018-2022) at
the registry's `base_url` + `path`. The sheet (`Export`) has a title row above its header
and one row per reported quantity: Region, SubRegion, Country, DrugGroup, DrugSubGroup,
DrugName, Reference year, Kilograms, msCode (ISO3).

**Header row.** Found by its content, not by offset: the first of the top rows holding
every key header (UNODC adds or drops the title row between exports). Headers are matched
by name, case, blanks and punctuation ignored (`Reference year`, `ReferenceYear`,
`reference_year`), in any order. Key columns (`KEY_HEADERS`: Country, DrugGroup,
Reference year, Kilograms) must be there; the others (`OPTIONAL_HEADERS`: Region,
SubRegion, DrugSubGroup, DrugName, msCode) may be missing in an older export and are then
null. Other columns are ignored.

**Values.** `Kilograms` is a number or blank. In WDR 2024 72 cells are blank ("not
reported") and 1,494 are 0 (a reported nil): blank stays null, 0 stays 0. A text cell
(`n/a`, `<1`, ...) or a negative quantity fails validation, naming the row: the annex
publishes numbers only, so text means the layout or the meaning changed.

**Rows kept.** `parse()` keeps every sheet row (`source_row` is its spreadsheet row) with
its sub-group and drug name, so analysts can drill down in `raw.unodc_drug_seizures`. The
sheet is not unique on country, year and drug name: 615 rows repeat another row exactly
and some country-years report a "Reported total <group>" beside the detail rows. UNODC does
not say whether they overlap, so nothing is dropped or netted here; staging sums them as
published (see `sql/staging/unodc_drug_seizures.sql`, which also counts the rows summed).

**Indicator ids** (stable; one per drug group, kilograms summed over the group's rows for
a country-year in staging; unit `kg`, scale `absolute`, direction `neutral`: more seizures
may mean more trafficking or better enforcement). `DRUG_GROUPS` maps UNODC's group names
(normalised; curly quotes ignored) to them:

- `unodc.seizure.opioids_kg`: Opioids
- `unodc.seizure.cannabis_type_kg`: Cannabis-type drugs (excluding synthetic cannabinoids)
- `unodc.seizure.ats_kg`: Amphetamine-type stimulants (excluding "ecstasy")
- `unodc.seizure.ecstasy_type_kg`: "Ecstasy"-type substances
- `unodc.seizure.cocaine_type_kg`: Cocaine-type
- `unodc.seizure.sedatives_tranquillizers_kg`: Sedatives and tranquillizers
- `unodc.seizure.hallucinogens_kg`: Hallucinogens
- `unodc.seizure.nps_kg`: NPS (new psychoactive substances)
- `unodc.seizure.solvents_inhalants_kg`: Solvents and Inhalants
- `unodc.seizure.precursors_kg`: Precursors
- `unodc.seizure.other_drugs_kg`: Any other drugs/substances

A group the catalogue does not know fails validation: a new group must get an id, not
vanish.

**Countries.** `country` (the harmonised column) is `msCode` (ISO3) where given, else the
country name; both are also kept as published (`country_code`, `country_name`).

**Edition.** The file does not name its report. `edition` is the registry's (`WDR 2024`);
a WDR reports reference years up to two years before its own, so a payload whose latest
reference year is not the edition's year minus two fails validation (a new or older
report at the same address): update `edition` (and `path`) in the registry with it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import ClassVar, Final

import pandas as pd

from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceConnector,
    check_xlsx_container,
    column_letter,
    grid_rows,
)

UNIT: Final = "kg"
SCALE: Final = "absolute"
DIRECTION: Final = "neutral"


@dataclass(frozen=True)
class DrugGroup:
    """One UNODC drug group and the pipeline's stable indicator id for its kilograms."""

    id: str
    label: str  # UNODC's name, as in WDR 2024 with plain quotes


#: The catalogue, in the order of the list in the module docstring.
DRUG_GROUPS: Final[tuple[DrugGroup, ...]] = (
    DrugGroup("unodc.seizure.opioids_kg", "Opioids"),
    DrugGroup(
        "unodc.seizure.cannabis_type_kg", "Cannabis-type drugs (excluding synthetic cannabinoids)"
    ),
    DrugGroup("unodc.seizure.ats_kg", 'Amphetamine-type stimulants (excluding "ecstasy")'),
    DrugGroup("unodc.seizure.ecstasy_type_kg", '"Ecstasy"-type substances'),
    DrugGroup("unodc.seizure.cocaine_type_kg", "Cocaine-type"),
    DrugGroup("unodc.seizure.sedatives_tranquillizers_kg", "Sedatives and tranquillizers"),
    DrugGroup("unodc.seizure.hallucinogens_kg", "Hallucinogens"),
    DrugGroup("unodc.seizure.nps_kg", "NPS"),
    DrugGroup("unodc.seizure.solvents_inhalants_kg", "Solvents and Inhalants"),
    DrugGroup("unodc.seizure.precursors_kg", "Precursors"),
    DrugGroup("unodc.seizure.other_drugs_kg", "Any other drugs/substances"),
)


def normalise(text: object) -> str:
    """A header or group name as the tables here are keyed by: case, blanks, quotes and
    punctuation ignored ("Reference year" = "reference_year", curly = straight quotes)."""
    return re.sub(r"[\W_]+", "", str(text).casefold())


#: Normalised UNODC group name -> drug group. Add a spelling when UNODC renames a group.
GROUPS_BY_NAME: Final[dict[str, DrugGroup]] = {normalise(g.label): g for g in DRUG_GROUPS}

#: Output column -> the header spellings that mean it (normalised).
KEY_HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "country_name": ("country",),
    "drug_group": ("druggroup",),
    "year": ("referenceyear", "year"),
    "kilograms": ("kilograms", "kg"),
}
OPTIONAL_HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "region": ("region",),
    "subregion": ("subregion",),
    "drug_subgroup": ("drugsubgroup",),
    "drug_name": ("drugname",),
    "country_code": ("mscode", "iso3", "iso3code"),
}
_HEADER_OF: Final[dict[str, str]] = {
    "country_name": "Country",
    "drug_group": "DrugGroup",
    "year": "Reference year",
    "kilograms": "Kilograms",
}
_COLUMN_OF: Final[dict[str, str]] = {
    spelling: column
    for table in (KEY_HEADERS, OPTIONAL_HEADERS)
    for column, spellings in table.items()
    for spelling in spellings
}

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "edition",
    "source_row",
    "region",
    "subregion",
    "country_name",
    "country_code",
    "country",
    "indicator_id",
    "indicator_label",
    "drug_group",
    "drug_subgroup",
    "drug_name",
    "year",
    "kilograms",
)

#: How far down the header row may sit (row 2 in WDR 2024).
HEADER_SEARCH_ROWS: Final = 20
_EDITION = re.compile(r"\bWDR\s*((?:19|20)\d{2})\b", re.IGNORECASE)
# The WDR 2024 table unpacks to about 4 MB; a far larger one is not the annex table and
# must not be unpacked (decompression bomb).
_MAX_UNPACKED_BYTES = 128 * 2**20


class UnodcDrugSeizuresConnector(SourceConnector):
    """UNODC World Drug Report annex table 7.1: kilograms seized per country, reference
    year, drug group, sub-group and drug, one row per reported quantity."""

    source_id: ClassVar[str] = "unodc_drug_seizures"
    country_column: ClassVar[str] = "country"

    def resources(self) -> list[Resource]:
        """The annex workbook, at the registry's `base_url` + `path`."""
        return [Resource("workbook", self.config.base_url + self.config.options["path"])]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is the annex table of the registry's edition."""
        self._read(payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """Every sheet row as one raw row (`COLUMNS`); blank kilograms stay null."""
        return self._read(payload)

    def _read(self, payload: bytes) -> pd.DataFrame:
        frame = read_seizures(payload)
        frame.insert(0, "edition", self.config.edition)
        check_edition(self.config.edition, frame)
        return frame.loc[:, list(COLUMNS)]


def check_edition(edition: str, frame: pd.DataFrame) -> None:
    """A WDR <N> edition holds reference years up to N-2; anything else is another report."""
    match = _EDITION.search(edition)
    if not match:
        raise ValueError(
            f"assets/sources/unodc_drug_seizures.yaml: edition {edition!r} must name the "
            "report, e.g. 'WDR 2024'"
        )
    expected = int(match[1]) - 2
    latest = int(frame["year"].max())
    if latest != expected:
        raise PayloadError(
            f"the seizures table's latest reference year is {latest}, but {edition} reports "
            f"up to {expected}: another World Drug Report is at this address; update "
            "`edition` (and `path`) in assets/sources/unodc_drug_seizures.yaml"
        )


def read_seizures(payload: bytes) -> pd.DataFrame:
    """The annex table's rows, checked, with the output column names (no `edition` yet).

    Raises `PayloadError`, naming sheet, row and column, when the payload is not an xlsx
    workbook (an HTML page or a truncated download served with HTTP 200), no sheet has a
    header row with the key columns, or a row has a non-numeric or negative quantity, a
    non-integer year, no country or an unknown drug group.
    """
    check_xlsx_container(payload, "the UNODC seizures workbook", max_unpacked=_MAX_UNPACKED_BYTES)
    try:
        with pd.ExcelFile(io.BytesIO(payload), engine="calamine") as book:
            for sheet in book.sheet_names:
                # Everything as published: only blank cells are missing (no "NA" guessing).
                grid = book.parse(sheet, header=None, keep_default_na=False, na_values=[""])
                top = _find_header_row(grid)
                if top is not None:
                    break
            else:
                raise PayloadError(
                    f"no sheet of {book.sheet_names} has a header row with "
                    f"{list(_HEADER_OF.values())} in its first {HEADER_SEARCH_ROWS} rows; "
                    "check the workbook (a renamed key column?)"
                )
    except PayloadError:
        raise
    except Exception as error:  # calamine's errors have no common base class
        raise PayloadError(f"the seizures workbook cannot be read: {error}") from error
    return _rows_of(sheet.strip(), grid, top)


def _find_header_row(grid: pd.DataFrame) -> int | None:
    """The grid position of the first top row that holds every key header, or None."""
    for position in range(min(HEADER_SEARCH_ROWS, len(grid))):
        found = {_COLUMN_OF.get(normalise(v)) for v in grid.iloc[position] if pd.notna(v)}
        if set(KEY_HEADERS) <= found:
            return position
    return None


def _rows_of(sheet: str, grid: pd.DataFrame, top: int) -> pd.DataFrame:
    """The rows under the header, mapped, typed and checked."""
    header_row = top + 1
    columns: dict[str, int] = {}
    for position, header in grid.iloc[top].items():
        column = _COLUMN_OF.get(normalise(header)) if pd.notna(header) else None
        if column is None:
            continue  # a column the pipeline does not read
        if column in columns:
            raise PayloadError(
                f"sheet {sheet!r}, row {header_row}: two columns mean {column!r} "
                f"(columns {column_letter(columns[column])} and {column_letter(position)})"
            )
        columns[column] = int(position)  # type: ignore[call-overload]

    body = grid.iloc[top + 1 :]
    frame = pd.DataFrame(index=body.index)
    for column in (*KEY_HEADERS, *OPTIONAL_HEADERS):
        frame[column] = body[columns[column]] if column in columns else None
    frame = frame.loc[frame.notna().any(axis=1)]  # blank rows below the table are layout
    if frame.empty:
        raise PayloadError(f"sheet {sheet!r}: a header on row {header_row} but no rows under it")
    frame.insert(0, "source_row", (frame.index + 1).astype("int64"))

    def where(column: str) -> str:
        return f"sheet {sheet!r}, column {column_letter(columns[column])} ({_HEADER_OF[column]})"

    for column in ("region", "subregion", "country_name", "drug_group", "drug_subgroup",
                   "drug_name", "country_code"):  # fmt: skip
        text = frame[column].astype("str").str.strip()
        frame[column] = text.where(frame[column].notna() & (text != ""))
    for column in ("country_name", "drug_group"):
        blank = frame.index[frame[column].isna()]
        if len(blank):
            raise PayloadError(f"{where(column)}: blank at row(s) {grid_rows(blank)}")

    kilograms = pd.to_numeric(frame["kilograms"], errors="coerce").astype("float64")
    text = frame.index[kilograms.isna() & frame["kilograms"].notna()]
    if len(text):
        raise PayloadError(
            f"{where('kilograms')}: non-numeric quantity at row(s) {grid_rows(text)}, e.g. "
            f"{frame.at[text[0], 'kilograms']!r}; the annex publishes numbers or blanks only, "
            "so the table's layout or meaning changed: check the workbook before adapting "
            "extra_pipeline/sources/unodc_drug_seizures.py"
        )
    negative = frame.index[kilograms < 0]
    if len(negative):
        raise PayloadError(
            f"{where('kilograms')}: negative quantity at row(s) {grid_rows(negative)}, e.g. "
            f"{kilograms.at[negative[0]]!r}"
        )
    frame["kilograms"] = kilograms

    years = pd.to_numeric(frame["year"], errors="coerce")
    bad = frame.index[years.isna() | (years % 1 != 0) | ~years.between(1900, 2100)]
    if len(bad):
        raise PayloadError(
            f"{where('year')}: not a year at row(s) {grid_rows(bad)}, e.g. {frame.at[bad[0], 'year']!r}"
        )
    frame["year"] = years.astype("int64")

    groups = frame["drug_group"].map(lambda name: GROUPS_BY_NAME.get(normalise(name)))
    unknown = sorted(set(frame.loc[groups.isna(), "drug_group"]))
    if unknown:
        raise PayloadError(
            f"{where('drug_group')}: unknown drug group(s) {unknown}; give each an indicator id "
            "in DRUG_GROUPS (or a spelling in GROUPS_BY_NAME) in "
            "extra_pipeline/sources/unodc_drug_seizures.py"
        )
    frame["indicator_id"] = groups.map(lambda group: group.id)
    frame["indicator_label"] = groups.map(lambda group: f"Drug seizures: {group.label} (kg)")
    # msCode where UNODC gives one, else the name: the harmoniser resolves either.
    frame["country"] = frame["country_code"].fillna(frame["country_name"])
    return frame.reset_index(drop=True)
