"""Transparency International Corruption Perceptions Index (CPI): one xlsx workbook per edition.

TI publishes each edition as a workbook (`CPI2023_GlobalResultsTrends.xlsx` for CPI 2023,
released 30 January 2024) at the registry's `base_url` + `path`. Its sheets are renamed
every year (`CPI 2023`, `CPI Timeseries 2012 - 2023`, `CPI 2023 Changes`, ...); each has a
few banner rows (title, embargo line, blank) above its header row.

**Which sheet.** The connector reads the wide time-series sheet (`CPI Timeseries 2012 -
<edition>`), found by name (it contains "timeseries" or "time series"), because it is the
one every edition carries: public code reading the 2018, 2019, 2020, 2023, 2024 and 2025
workbooks all reads that sheet. The 2023 workbook also holds a long sheet `CPI Historical
(internal)`; as its name says it is TI's working sheet, it is not part of the other
editions' public files, and its scores, ranks, source counts and standard errors equal the
time-series sheet's cell for cell (7,647 figures compared). It adds only Puerto Rico
(scored 2012-2014, absent from the time series), ranks for 2012-2016 and the per-source
scores, none of which the time series carries.

**Header row.** Found by its content, not by offset: the first of the top rows holding an
`ISO3` cell and a `CPI score <year>` cell (TI has used two, three and four banner rows).

**Headers.** Each header is normalised (case and blanks ignored) and looked up in one
table, `KEY_HEADERS` for the key columns and `MEASURE_HEADERS` for `<measure> <year>`
columns (`CPI score 2023`, `CPI Score 2012`, `Rank 2023`, `Sources 2023`, `Standard error
2023`). An unknown header fails validation, naming it: add its spelling to the table. A
measure column an edition does not carry is not an error (the 2023 time series has no
`Rank` before 2017, older exports may lack standard errors): that measure simply has no
rows for that year. A year needs its `CPI score` column.

**Indicator ids** (stable; one row per country, score year and indicator):

- `cpi.score`: CPI score, 0 (highly corrupt) to 100 (very clean); higher is better.
- `cpi.rank`: the country's rank among the countries scored that year (1 = cleanest);
  higher is worse.
- `cpi.standard_error`: the standard error of the score, in score points; neutral.
- `cpi.sources`: the number of data sources the score is built from; neutral.

`edition` is the CPI edition of the workbook (the latest score year, `2023`), `year` the
score year (2012 on: earlier CPI scores are on another scale and are not in the file).
A country-year is emitted only when TI scored the country that year (a blank score with
no other figure is "not in that year's index", not a null row); a blank figure of a scored
country-year would be a null value, never 0. Values are kept as TI publishes them (the
licence does not allow altering them).

Countries are TI's ISO3 codes (`country_code`, harmonised; TI writes `KSV` for Kosovo,
which the harmoniser maps to `XKX`), with TI's name and TI's own region code (AME, AP,
ECA, MENA, SSA, WE/EU).
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
    column_letter,
    grid_rows,
)

Direction = Literal["higher_is_worse", "higher_is_better", "neutral"]


@dataclass(frozen=True)
class Indicator:
    """One CPI indicator as the pipeline knows it."""

    id: str
    label: str
    unit: str
    scale: str  # how to read it (sql/staging/README.md): index, rank, absolute
    direction: Direction
    low: float  # the least value a genuine workbook holds
    high: float | None  # the greatest (None: no upper bound checked)


#: The catalogue: every indicator `parse()` emits, in output order.
INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("cpi.score", "CPI score", "score 0-100", "index", "higher_is_better", 0, 100),
    Indicator("cpi.rank", "CPI rank", "rank", "rank", "higher_is_worse", 1, None),
    Indicator(
        "cpi.standard_error",
        "CPI score standard error",
        "score points",
        "absolute",
        "neutral",
        0,
        100,
    ),
    Indicator("cpi.sources", "Number of CPI data sources", "sources", "absolute", "neutral", 1, 50),
)
INDICATORS_BY_ID: Final[dict[str, Indicator]] = {i.id: i for i in INDICATORS}
SCORE: Final = "cpi.score"


def normalise_header(header: object) -> str:
    """A header in the form the tables below are keyed by: blanks collapsed, case folded."""
    return " ".join(str(header).split()).casefold()


#: Key columns: normalised header -> output column. Add a spelling when TI renames one.
KEY_HEADERS: Final[dict[str, str]] = {
    "country / territory": "country_name",
    "country/territory": "country_name",
    "country": "country_name",
    "iso3": "country_code",
    "region": "region",
}
#: `<measure> <year>` columns: normalised measure part -> indicator id.
MEASURE_HEADERS: Final[dict[str, str]] = {
    "cpi score": "cpi.score",
    "rank": "cpi.rank",
    "sources": "cpi.sources",
    "number of sources": "cpi.sources",
    "standard error": "cpi.standard_error",
}
_KEYS: Final[tuple[str, ...]] = ("country_name", "country_code", "region")
# Output key column -> TI's header, to name in messages.
_KEY_LABELS: Final[dict[str, str]] = {
    "country_name": "Country / Territory",
    "country_code": "ISO3",
    "region": "Region",
}

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "edition",
    "year",
    "country_name",
    "country_code",
    "region",
    "indicator_id",
    "indicator_label",
    "value",
    "unit",
    "scale",
    "direction",
)

_SHEET = re.compile(r"time\s*-?\s*series", re.IGNORECASE)
_YEAR_HEADER = re.compile(r"^(?P<measure>.+?)\s*(?P<year>(?:19|20)\d{2})$")
_SHEET_LAST_YEAR = re.compile(r"((?:19|20)\d{2})\s*$")
_ISO3 = re.compile(r"^[A-Z]{3}$")
#: How far down the header row may sit (it is on row 4 of the 2023 workbook).
HEADER_SEARCH_ROWS: Final = 25
# The genuine workbook unpacks to about 2.5 MB; a far larger one is not TI's file and must
# not be unpacked (decompression bomb).
_MAX_UNPACKED_BYTES = 64 * 2**20


@dataclass(frozen=True)
class TimeSeries:
    """The time-series sheet, read and checked: its edition and the long figures."""

    sheet: str
    edition: str
    header_row: int  # 1-based spreadsheet row of the header
    frame: pd.DataFrame  # COLUMNS


class CpiConnector(SourceConnector):
    """Transparency International CPI: scores, ranks, standard errors and source counts
    for every country and year since 2012, from the edition's workbook."""

    source_id: ClassVar[str] = "cpi"
    country_column: ClassVar[str] = "country_code"

    def resources(self) -> list[Resource]:
        """The edition's workbook, at the registry's `base_url` + `path`."""
        return [Resource("workbook", self.config.base_url + self.config.options["path"])]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is a CPI workbook with a readable time series."""
        read_timeseries(payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """Every scored country-year as long rows (`COLUMNS`), one per indicator."""
        return read_timeseries(payload).frame


def read_timeseries(payload: bytes) -> TimeSeries:
    """The workbook's time-series sheet as long rows.

    Raises `PayloadError`, naming the sheet, cell or header, when the payload is not an xlsx
    workbook (an HTML page or a truncated download served with HTTP 200), has no single
    time-series sheet, no header row, an unknown or duplicated header, a non-numeric or
    out-of-range figure, a row without a valid ISO3 code, or a country listed twice.
    """
    check_xlsx_container(payload, "the CPI workbook", max_unpacked=_MAX_UNPACKED_BYTES)
    try:
        with pd.ExcelFile(io.BytesIO(payload), engine="calamine") as book:
            candidates = [name for name in book.sheet_names if _SHEET.search(name)]
            if len(candidates) != 1:
                raise PayloadError(
                    f"expected one CPI time-series sheet (a name containing 'Timeseries'), "
                    f"found {candidates or 'none'} among {book.sheet_names}; if TI renamed it, "
                    "adapt _SHEET in extra_pipeline/sources/cpi.py"
                )
            sheet = candidates[0]
            # Everything as published: only blank cells are missing (no "NA" guessing).
            grid = book.parse(sheet, header=None, keep_default_na=False, na_values=[""])
    except PayloadError:
        raise
    except Exception as error:  # calamine's errors have no common base class
        raise PayloadError(f"the CPI workbook cannot be read: {error}") from error
    return _timeseries(sheet.strip(), grid)


def _find_header_row(sheet: str, grid: pd.DataFrame) -> int:
    """The grid position of the header row: the first top row with `ISO3` and a score header."""
    for position in range(min(HEADER_SEARCH_ROWS, len(grid))):
        cells = [normalise_header(v) for v in grid.iloc[position] if pd.notna(v)]
        if "iso3" in cells and any((_measure_of(c) or ("",))[0] == SCORE for c in cells):
            return position
    raise PayloadError(
        f"sheet {sheet!r}: no header row (a row with 'ISO3' and 'CPI score <year>') in its "
        f"first {HEADER_SEARCH_ROWS} rows; the layout changed, check the workbook"
    )


def _measure_of(header: str) -> tuple[str, int] | None:
    """(indicator id, year) of a normalised `<measure> <year>` header, None if unknown."""
    match = _YEAR_HEADER.match(header)
    if not match or match["measure"] not in MEASURE_HEADERS:
        return None
    return MEASURE_HEADERS[match["measure"]], int(match["year"])


def _timeseries(sheet: str, grid: pd.DataFrame) -> TimeSeries:
    """The sheet's headers mapped, its figures checked and stacked into long rows."""
    top = _find_header_row(sheet, grid)
    header_row = top + 1
    body = grid.iloc[top + 1 :]

    keys: dict[str, int] = {}  # output key column -> grid column
    measures: dict[tuple[str, int], int] = {}  # (indicator id, year) -> grid column
    unknown: list[str] = []
    for column, header in grid.iloc[top].items():
        if pd.isna(header) or not str(header).strip():
            # A header-less column is layout unless it holds something.
            if body[column].notna().any():
                raise PayloadError(
                    f"sheet {sheet!r}, column {column_letter(column)}: figures under no header"
                )
            continue
        name = normalise_header(header)
        target: str | tuple[str, int] | None = KEY_HEADERS.get(name) or _measure_of(name)
        if target is None:
            unknown.append(str(header))
        elif target in keys or target in measures:
            raise PayloadError(f"sheet {sheet!r}: more than one column maps to {target}")
        elif isinstance(target, str):
            keys[target] = int(column)
        else:
            measures[target] = int(column)
    if unknown:
        raise PayloadError(
            f"sheet {sheet!r}, row {header_row}: unknown header(s) {unknown}; add the spelling "
            "to KEY_HEADERS or MEASURE_HEADERS in extra_pipeline/sources/cpi.py"
        )
    absent = [_KEY_LABELS[key] for key in _KEYS if key not in keys]
    if absent:
        raise PayloadError(f"sheet {sheet!r}, row {header_row}: missing column(s) {absent}")
    years = sorted({year for _, year in measures})
    scoreless = [year for year in years if (SCORE, year) not in measures]
    if scoreless:
        raise PayloadError(
            f"sheet {sheet!r}: figures for {scoreless} but no 'CPI score <year>' column"
        )
    edition = str(years[-1])
    named = _SHEET_LAST_YEAR.search(sheet)
    if named and named[1] != edition:
        raise PayloadError(
            f"sheet {sheet!r} is named for {named[1]} but its latest score column is {edition}"
        )

    frames = []
    for (indicator_id, year), column in sorted(
        measures.items(), key=lambda item: (item[0][1], list(INDICATORS_BY_ID).index(item[0][0]))
    ):
        values = _numbers(sheet, body, column, header_row, INDICATORS_BY_ID[indicator_id])
        frames.append(
            pd.DataFrame({"year": year, "indicator_id": indicator_id, "value": values})
            .rename_axis("position")
            .reset_index()
        )
    long = pd.concat(frames, ignore_index=True)

    # A row counts when it holds any figure; blank rows and footnotes below are layout.
    has_figure = long.groupby("position")["value"].apply(lambda v: v.notna().any())
    rows = body.loc[has_figure[has_figure].index, list(keys.values())]
    rows.columns = list(keys)
    for key in keys:
        rows[key] = rows[key].astype("str").str.strip().where(rows[key].notna())
    bad_code = rows.index[~rows["country_code"].fillna("").str.fullmatch(_ISO3.pattern)]
    if len(bad_code):
        first = bad_code[0]
        code = rows.at[first, "country_code"]
        shown = repr(code) if pd.notna(code) else "a blank code"
        raise PayloadError(
            f"sheet {sheet!r}, row(s) {grid_rows(bad_code)}: figures without a valid ISO3 code "
            f"(e.g. {shown} for {rows.at[first, 'country_name']!r})"
        )
    repeated = rows.loc[rows["country_code"].duplicated(), "country_code"]
    if len(repeated):
        raise PayloadError(f"sheet {sheet!r}: country listed twice: {sorted(set(repeated))}")

    # Only country-years TI scored: every other figure of a year hangs on its score.
    scored = long.loc[(long["indicator_id"] == SCORE) & long["value"].notna()]
    scored_keys = set(zip(scored["position"], scored["year"], strict=True))
    in_index = pd.Series(
        [
            (position, year) in scored_keys
            for position, year in zip(long["position"], long["year"], strict=True)
        ],
        index=long.index,
    )
    orphans = long.loc[~in_index & long["value"].notna()]
    if len(orphans):
        first = orphans.iloc[0]
        raise PayloadError(
            f"sheet {sheet!r}, row {int(first['position']) + 1}: a {first['indicator_id']} "
            f"figure for {int(first['year'])} but no CPI score that year"
        )
    long = long.loc[in_index].join(rows, on="position")
    long = long.sort_values(["position", "year"], ascending=[True, False], kind="stable")
    long["edition"] = edition
    long["year"] = long["year"].astype("int64")
    catalogue = long["indicator_id"].map(INDICATORS_BY_ID)
    for column in ("unit", "scale", "direction"):
        long[column] = catalogue.map(lambda indicator, c=column: getattr(indicator, c))
    long["indicator_label"] = catalogue.map(lambda indicator: indicator.label)
    long["value"] = long["value"].astype("float64")
    frame = long.loc[:, list(COLUMNS)].reset_index(drop=True)
    return TimeSeries(sheet=sheet, edition=edition, header_row=header_row, frame=frame)


def _numbers(
    sheet: str, body: pd.DataFrame, column: int, header_row: int, indicator: Indicator
) -> pd.Series:
    """One measure column as floats; text or an out-of-range figure is a `PayloadError`."""
    raw = body[column]
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    where = f"sheet {sheet!r}, column {column_letter(column)} ({indicator.label})"
    text = raw.index[numbers.isna() & raw.notna()]
    if len(text):
        raise PayloadError(
            f"{where}: non-numeric value(s) at row(s) {grid_rows(text)}, "
            f"e.g. {raw.at[text[0]]!r}; TI publishes numbers only"
        )
    high = indicator.high if indicator.high is not None else float("inf")
    outside = numbers.index[(numbers < indicator.low) | (numbers > high)]
    if len(outside):
        raise PayloadError(
            f"{where}: value(s) outside {indicator.low}..{indicator.high or 'any'} at row(s) "
            f"{grid_rows(outside)}, e.g. {numbers.at[outside[0]]!r}"
        )
    return numbers
