"""UNODC intentional homicide rate, through Our World in Data's grapher CSV.

Our World in Data (OWID) republishes UNODC's Intentional Homicide Victims (2025 release,
with UN WPP 2024 population) as the chart `homicide-rate-unodc`, downloadable as CSV at the
registry's `base_url` + `path` (`/grapher/homicide-rate-unodc.csv`). Two shapes exist, and
both are accepted:

- **full** (what the endpoint serves): `Entity, Code, Year, <value>`, one row per entity
  and year; regions and groups (`World`, `Africa (UN)`, ...) are rows too.
- **filtered** (the chart's "download visible data", the bundled snapshot): `Entity, Code,
  Year, <value>, World regions according to OWID, time, time`, one row per country with
  its latest value. `Code` and `Year` are blank on most rows; the year of the value is in
  the **last** `time` column (the first `time` belongs to the region column). Two headers
  are both `time`, so the file is read with the csv module, by position, not as a mapping.

**Header row.** Found by its content (the first of the top lines holding `Entity`), so a
preamble line above it is not an error. Columns are matched by name, case and blanks
ignored, in any order. `Entity` and the value column are required; the value column is the
one header starting "Homicide rate" (OWID's long name, "Homicide rate per 100,000
population - sex: Total - age: Total") or OWID's short name (`VALUE_SHORT_NAME`); two such
columns are an error (which one?). The year comes from the last `time` column when there
is one (a `Year` that disagrees with it is an error), else from `Year`. Other columns are
ignored.

**Values.** A blank value is null ("no figure": the filtered file lists 35 countries
without one), never 0. A value that is not a number (`n/a`, `<0.1`, ...) or is negative
fails validation, naming the line and column: OWID publishes plain numbers, so text means
the format changed. A row cut short, a blank or non-year year (what a truncated download
leaves), a repeated entity-year or fewer than `MIN_ENTITIES` entities with a value also
fail: the file is not OWID's whole chart.

**Indicator id** (stable): `unodc.homicide.rate`, intentional homicides per 100,000
inhabitants (unit `per 100,000 inhabitants`, scale `rate`, higher is worse); `year` is the
year of the value.

**Countries.** Harmonised on `Entity` (OWID's name; `Code` is blank in the filtered file and
is OWID's own code, `OWID_WRL` ..., for aggregates). OWID's aggregates are recognised as
aggregates through `assets/reference/country_aliases.yaml`, so staging leaves them out.

**Edition.** The CSV does not carry it: `edition` is the registry's (`UNODC 2025 via OWID`).
OWID's `.metadata.json` beside the chart (kept in the bundled snapshot folder as
documentation) gives the underlying release and its update dates.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from typing import ClassVar, Final

import pandas as pd

from extra_pipeline.sources.base import PayloadError, Resource, SourceConnector

INDICATOR_ID: Final = "unodc.homicide.rate"
INDICATOR_LABEL: Final = "Intentional homicide rate per 100,000 inhabitants"
#: OWID's short name of the value column (the CSV with `useColumnShortNames=true`).
VALUE_SHORT_NAME: Final = (
    "value__category_total__sex_total__age_total__unit_of_measurement_rate_per_100_000_population"
)
#: Fewer entities with a value than this is not the whole chart (140 in the filtered file).
MIN_ENTITIES: Final = 100
#: How far down the header line may sit.
HEADER_SEARCH_LINES: Final = 10

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "edition",
    "source_line",
    "entity",
    "owid_code",
    "owid_region",
    "year",
    "indicator_id",
    "indicator_label",
    "value",
)

_REGION_HEADERS: Final = ("world regions according to owid", "owid_region")
_HTML = re.compile(rb"^\s*(<!doctype html|<html|<\?xml|<head|<body)", re.IGNORECASE)
_YEAR = re.compile(r"^\d{4}$")


def normalise_header(header: str) -> str:
    """A header as matched here: blanks collapsed, case folded."""
    return " ".join(header.split()).casefold()


@dataclass(frozen=True)
class _Layout:
    """Where each column the connector reads sits (0-based positions)."""

    header_line: int
    entity: int
    value: int
    value_header: str
    year: int | None
    time: int | None  # the last `time` column: the year of the value in the filtered form
    code: int | None
    region: int | None


class UnodcHomicideConnector(SourceConnector):
    """UNODC intentional homicide rate per 100,000, from OWID's grapher CSV (full or filtered)."""

    source_id: ClassVar[str] = "unodc_homicide"
    country_column: ClassVar[str] = "entity"

    def resources(self) -> list[Resource]:
        """The chart's CSV, at the registry's `base_url` + `path`."""
        return [Resource("csv", self.config.base_url + self.config.options["path"])]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is the whole homicide-rate chart CSV."""
        read_rates(payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """One row per entity and year (`COLUMNS`); a blank value stays null."""
        frame = read_rates(payload)
        frame.insert(0, "edition", self.config.edition)
        return frame.loc[:, list(COLUMNS)]


def read_rates(payload: bytes) -> pd.DataFrame:
    """The CSV's rows, checked, with the output column names (no `edition` yet).

    Raises `PayloadError`, naming the line and column, for an HTML page or other non-CSV
    body served with HTTP 200, a missing header or value column, a row cut short, a
    non-numeric or negative value, a missing or malformed year, a repeated entity-year,
    or too few entities.
    """
    if not payload or not payload.strip():
        raise PayloadError("empty payload where the OWID homicide-rate CSV was expected")
    if _HTML.match(payload[:512].lstrip(b"\xef\xbb\xbf")):
        raise PayloadError(
            f"expected the OWID homicide-rate CSV but got an HTML/XML page ({len(payload):,} "
            f"bytes starting {payload[:60]!r}); check the registry path"
        )
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PayloadError(f"the homicide-rate CSV is not UTF-8 text: {error}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise PayloadError(f"the homicide-rate CSV is malformed: {error}") from None
    layout = _layout(lines)
    width = len(lines[layout.header_line][1])

    records = []
    seen: dict[tuple[str, int], int] = {}
    for line, row in lines[layout.header_line + 1 :]:
        if not any(cell.strip() for cell in row):
            continue  # a blank line is layout
        if len(row) != width:
            raise PayloadError(
                f"line {line}: {len(row)} fields where the header has {width} "
                "(a truncated or malformed download)"
            )
        entity = row[layout.entity].strip()
        if not entity:
            raise PayloadError(f"line {line}, column 'Entity': blank")
        year = _year_of(line, row, layout)
        key = (entity, year)
        if key in seen:
            raise PayloadError(f"line {line}: {entity} {year} repeats line {seen[key]}")
        seen[key] = line
        records.append(
            {
                "source_line": line,
                "entity": entity,
                "owid_code": _cell(row, layout.code),
                "owid_region": _cell(row, layout.region),
                "year": year,
                "value": _value_of(line, row, layout),
            }
        )
    frame = pd.DataFrame.from_records(
        records, columns=["source_line", "entity", "owid_code", "owid_region", "year", "value"]
    )
    frame = frame.astype(
        {"source_line": "int64", "entity": "str", "year": "int64", "value": "float64"}
    )
    with_value = frame.loc[frame["value"].notna(), "entity"].nunique()
    if with_value < MIN_ENTITIES:
        raise PayloadError(
            f"only {with_value} entities with a homicide rate (at least {MIN_ENTITIES} "
            "expected): a truncated download or another chart"
        )
    frame["indicator_id"] = INDICATOR_ID
    frame["indicator_label"] = INDICATOR_LABEL
    return frame


def _layout(lines: list[tuple[int, list[str]]]) -> _Layout:
    """Find the header line by content and the position of each column read."""
    index = next(
        (i for i, (_, row) in enumerate(lines[:HEADER_SEARCH_LINES])
         if "entity" in (normalise_header(cell) for cell in row)),
        None,
    )  # fmt: skip
    if index is None:
        raise PayloadError(
            f"no header line with 'Entity' in the first {HEADER_SEARCH_LINES} lines: not an "
            "OWID grapher CSV"
        )
    line, row = lines[index]
    headers = [normalise_header(cell) for cell in row]

    def position(*names: str) -> int | None:
        found = [i for i, header in enumerate(headers) if header in names]
        if len(found) > 1:
            raise PayloadError(f"line {line}: more than one {names[0]!r} column")
        return found[0] if found else None

    values = [
        i
        for i, header in enumerate(headers)
        if header.startswith("homicide rate") or header == VALUE_SHORT_NAME
    ]
    if not values:
        raise PayloadError(
            f"line {line}: no homicide-rate column (a header starting 'Homicide rate' or "
            f"{VALUE_SHORT_NAME!r}) among {row}; if OWID renamed it, adapt "
            "extra_pipeline/sources/unodc_homicide.py"
        )
    if len(values) > 1:
        raise PayloadError(
            f"line {line}: more than one homicide-rate column {[row[i] for i in values]}; "
            "the chart changed, choose the total rate in extra_pipeline/sources/unodc_homicide.py"
        )
    times = [i for i, header in enumerate(headers) if header == "time"]
    year = position("year")
    if year is None and not times:
        raise PayloadError(f"line {line}: no 'Year' and no 'time' column: no year for the values")
    return _Layout(
        header_line=index,
        entity=headers.index("entity"),
        value=values[0],
        value_header=row[values[0]],
        year=year,
        time=times[-1] if times else None,
        code=position("code"),
        region=position(*_REGION_HEADERS),
    )


def _cell(row: list[str], position: int | None) -> str | None:
    if position is None:
        return None
    return row[position].strip() or None


def _year_of(line: int, row: list[str], layout: _Layout) -> int:
    """The year of the value: the last `time` column if any, else `Year`."""
    column, name = (layout.time, "time") if layout.time is not None else (layout.year, "Year")
    assert column is not None  # _layout guarantees one of them
    text = row[column].strip()
    if not _YEAR.match(text):
        raise PayloadError(
            f"line {line}, column {column + 1} ({name!r}): {text!r} is not a year "
            "(a truncated download?)"
        )
    year = int(text)
    if layout.time is not None and layout.year is not None:
        stated = row[layout.year].strip()
        if stated and stated != text:
            raise PayloadError(
                f"line {line}: 'Year' says {stated} but the last 'time' column says {text}; "
                "OWID changed the filtered layout"
            )
    return year


def _value_of(line: int, row: list[str], layout: _Layout) -> float | None:
    """The rate as a float, None for a blank cell; text or a negative rate is an error."""
    text = row[layout.value].strip()
    if not text:
        return None
    where = f"line {line}, column {layout.value + 1} ({layout.value_header!r})"
    try:
        value = float(text)
    except ValueError:
        raise PayloadError(
            f"{where}: {text!r} is not a number; OWID publishes plain numbers, so the format "
            "changed: check the file before adapting extra_pipeline/sources/unodc_homicide.py"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise PayloadError(f"{where}: {text!r} is not a rate (negative or not finite)")
    return value
