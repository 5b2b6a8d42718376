"""World Bank Worldwide Governance Indicators (WGI), through the World Bank API v2 (JSON).

One resource per indicator code in the registry (`assets/sources/wgi.yaml`), e.g.
`GOV_WGI_CC.EST`, fetched from `/v2/country/all/indicator/<code>?source=3&format=json`.
Each page is a two-element array `[envelope, records]`; the envelope says how many pages
there are. The API reports errors as HTTP 200 with a one-element `[{"message": [...]}]`
body, so `validate()` must read the body, not the status.

`parse()` keeps every row, aggregates included (the country harmoniser marks them and
staging drops them), and keeps missing values missing: a null is "not assessed", never 0.

The bundled offline snapshot is not a saved API response (none exists: see the
snapshot's PROVENANCE.md). It is the official WGI bulk file's figures put into the API's
response shape by this module's `build-bundle` command::

    python -m extra_pipeline.sources.wgi build-bundle wgidataset.xlsx assets/snapshots/wgi
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import math
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

import pandas as pd

from extra_pipeline.sources.base import (
    PayloadError,
    Resource,
    SourceConfig,
    SourceConnector,
    load_registry,
)

#: World Bank API source id of the WGI database.
WGI_SOURCE_ID = "3"
DEFAULT_PER_PAGE = 20000

#: The columns of `parse()`'s output, in order.
COLUMNS: tuple[str, ...] = (
    "indicator_code",
    "indicator_id",
    "indicator_label",
    "country_code",
    "country_name",
    "year",
    "value",
    "unit",
    "direction",
    "edition",
    "obs_status",
)

# The six dimensions: API code part -> (bulk-file `indicator` value, World Bank name).
_DIMENSIONS: dict[str, tuple[str, str]] = {
    "CC": ("cc", "Control of Corruption"),
    "GE": ("ge", "Government Effectiveness"),
    "PV": ("pv", "Political Stability and Absence of Violence/Terrorism"),
    "RL": ("rl", "Rule of Law"),
    "RQ": ("rq", "Regulatory Quality"),
    "VA": ("va", "Voice and Accountability"),
}


@dataclass(frozen=True)
class _Measure:
    slug: str  # the last part of the pipeline's indicator_id
    label: str  # the World Bank's name suffix
    unit: str
    bulk_column: str  # the column of the bulk file that holds it


# Only measures where "higher is better" holds; standard errors and source counts (also in
# source 3) would need another direction and are not used by the pipeline.
_MEASURES: dict[str, _Measure] = {
    "EST": _Measure("estimate", "Estimate", "estimate -2.5..2.5", "estimate"),
    "PER.RNK": _Measure("percentile_rank", "Percentile Rank", "percentile rank 0-100", "pctrank"),
}

_CODE_RE = re.compile(r"^GOV_WGI_(?P<dim>[A-Z]{2})\.(?P<measure>[A-Z.]+)$")
_DATE_RE = re.compile(r"^(\d{4})-\d{2}-\d{2}")


@dataclass(frozen=True)
class WgiIndicator:
    """What the pipeline knows about one WGI API indicator code."""

    code: str  # e.g. GOV_WGI_CC.EST
    indicator_id: str  # e.g. wgi.cc.estimate
    label: str  # e.g. Control of Corruption: Estimate
    unit: str
    bulk_indicator: str  # the bulk file's `indicator` value, e.g. cc
    bulk_column: str  # the bulk file's value column, e.g. estimate
    direction: str = "higher_is_better"  # every WGI estimate and rank: more is better governance


def indicator_for(code: str) -> WgiIndicator:
    """The metadata of a WGI API code; ValueError for a code the pipeline does not know."""
    match = _CODE_RE.match(code)
    if not match or match["dim"] not in _DIMENSIONS or match["measure"] not in _MEASURES:
        known = [f"GOV_WGI_{d}.{m}" for m in _MEASURES for d in _DIMENSIONS]
        raise ValueError(f"unknown WGI indicator code {code!r}; known codes: {', '.join(known)}")
    bulk_indicator, name = _DIMENSIONS[match["dim"]]
    measure = _MEASURES[match["measure"]]
    return WgiIndicator(
        code=code,
        indicator_id=f"wgi.{bulk_indicator}.{measure.slug}",
        label=f"{name}: {measure.label}",
        unit=measure.unit,
        bulk_indicator=bulk_indicator,
        bulk_column=measure.bulk_column,
    )


@dataclass(frozen=True)
class _Page:
    """A decoded, checked page: its envelope numbers and its records."""

    page: int
    pages: int
    per_page: int
    total: int
    lastupdated: str | None
    records: list[dict[str, Any]]


class WgiConnector(SourceConnector):
    """World Bank API v2, source 3: one resource per WGI indicator code."""

    source_id: ClassVar[str] = "wgi"
    country_column: ClassVar[str] = "country_code"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        codes = config.options.get("indicators")
        if not codes or isinstance(codes, str):
            raise ValueError(
                "assets/sources/wgi.yaml: needs `indicators`, a list of API indicator codes"
            )
        # Fail at load time, not mid-run, on a code we cannot label.
        self.indicators: dict[str, WgiIndicator] = {code: indicator_for(code) for code in codes}
        per_page = config.options.get("per_page", DEFAULT_PER_PAGE)
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise ValueError(
                f"assets/sources/wgi.yaml: `per_page` must be a positive integer, not {per_page!r}"
            )
        self.per_page = per_page

    def resources(self) -> list[Resource]:
        base = self.config.base_url
        return [
            Resource(
                name=code,
                url=f"{base}/v2/country/all/indicator/{code}"
                f"?source={WGI_SOURCE_ID}&format=json&per_page={self.per_page}&page=1",
            )
            for code in self.indicators
        ]

    def next_page_url(self, resource: Resource, payload: bytes, page: int) -> str | None:
        """The same URL with `page=page+1`, until the envelope's `pages` is reached."""
        checked = self._decode(resource, payload)
        # A server that ignores `page` would hand out page 1 again and again: duplicate rows.
        if checked.page != page:
            raise PayloadError(
                f"WGI {resource.name}: asked for page {page} of {resource.url}, "
                f"got page {checked.page}"
            )
        if page >= checked.pages:
            return None
        return _with_query(resource.url, page=str(page + 1))

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is a well-formed page of `resource`."""
        self._decode(resource, payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """One page as rows with `COLUMNS`; every record kept, nulls kept null."""
        checked = self._decode(resource, payload)
        meta = self.indicators.get(resource.name) or indicator_for(resource.name)
        edition = _year_of(checked.lastupdated) or self.config.edition
        rows = checked.records
        codes = [r.get("countryiso3code") or r["country"]["id"] for r in rows]
        frame = pd.DataFrame(
            {
                "indicator_code": pd.Series([meta.code] * len(rows), dtype="str"),
                "indicator_id": pd.Series([meta.indicator_id] * len(rows), dtype="str"),
                "indicator_label": pd.Series([meta.label] * len(rows), dtype="str"),
                "country_code": pd.Series(codes, dtype="str"),
                "country_name": pd.Series(
                    [r["country"].get("value") or "" for r in rows], dtype="str"
                ),
                "year": pd.Series([int(r["date"]) for r in rows], dtype="int64"),
                # None -> NaN: a missing figure stays missing, never 0.
                "value": pd.Series(
                    [math.nan if r["value"] is None else float(r["value"]) for r in rows],
                    dtype="float64",
                ),
                "unit": pd.Series([meta.unit] * len(rows), dtype="str"),
                "direction": pd.Series([meta.direction] * len(rows), dtype="str"),
                "edition": pd.Series([edition] * len(rows), dtype="str"),
                "obs_status": pd.Series(
                    [str(r.get("obs_status") or "") for r in rows], dtype="str"
                ),
            },
            columns=list(COLUMNS),
        )
        return frame

    # -- checking ------------------------------------------------------------------------

    def _decode(self, resource: Resource, payload: bytes) -> _Page:
        """Decode and check one page; PayloadError says what is wrong with it."""
        where = f"WGI {resource.name}"
        if not payload or not payload.strip():
            raise PayloadError(f"{where}: empty response body")
        try:
            body = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PayloadError(
                f"{where}: response is not valid JSON (truncated or malformed, "
                f"{len(payload):,} bytes): {error}"
            ) from None
        if not isinstance(body, list):
            raise PayloadError(
                f"{where}: expected a JSON array [envelope, records], got {type(body).__name__}"
            )
        _raise_api_error(where, body)
        if len(body) != 2:
            raise PayloadError(
                f"{where}: expected a JSON array [envelope, records] of 2 elements, "
                f"got {len(body)} element(s)"
            )
        if not isinstance(body[0], dict):
            raise PayloadError(
                f"{where}: the envelope (element 1) must be an object, got {type(body[0]).__name__}"
            )
        envelope, records = body
        page = _envelope_int(where, envelope, "page", minimum=1)
        pages = _envelope_int(where, envelope, "pages", minimum=0)
        per_page = _envelope_int(where, envelope, "per_page", minimum=1)
        total = _envelope_int(where, envelope, "total", minimum=0)
        source = envelope.get("sourceid")
        if source is not None and str(source) != WGI_SOURCE_ID:
            raise PayloadError(
                f"{where}: envelope sourceid is {source!r}, not {WGI_SOURCE_ID!r} (WGI)"
            )
        lastupdated = envelope.get("lastupdated")
        lastupdated = str(lastupdated) if lastupdated else None

        if records is None:
            records = []
        if not isinstance(records, list):
            raise PayloadError(
                f"{where}: records (element 2) must be an array or null, "
                f"got {type(records).__name__}"
            )
        if total == 0:
            if records:
                raise PayloadError(
                    f"{where}: envelope says total 0 but the page has {len(records)} records"
                )
            return _Page(page, pages, per_page, total, lastupdated, [])
        if page > pages:
            raise PayloadError(f"{where}: envelope says page {page} of {pages}")
        if not records:
            raise PayloadError(
                f"{where}: envelope says total {total} but page {page} has no records"
            )
        # Catches a page cut short that is still valid JSON.
        expected = per_page if page < pages else total - per_page * (pages - 1)
        if len(records) != expected:
            raise PayloadError(
                f"{where}: page {page} of {pages} has {len(records)} records; the envelope "
                f"(total {total}, per_page {per_page}) implies {expected}"
            )
        seen: set[tuple[str, str]] = set()
        for number, record in enumerate(records, start=1):
            key = _check_record(where, resource.name, number, record)
            if key in seen:
                raise PayloadError(
                    f"{where}: record {number} repeats country {key[0]} year {key[1]}"
                )
            seen.add(key)
        return _Page(page, pages, per_page, total, lastupdated, records)


def _raise_api_error(where: str, body: list[Any]) -> None:
    """The API's HTTP-200 error body: `[{"message": [{"id", "key", "value"}]}]`."""
    if not body or not isinstance(body[0], dict) or "message" not in body[0]:
        return
    messages = body[0]["message"]
    if not isinstance(messages, list):
        messages = [messages]
    parts = []
    for message in messages:
        if isinstance(message, dict):
            parts.append(
                f"id {message.get('id')!s}, key {message.get('key')!s}: {message.get('value')!s}"
            )
        else:
            parts.append(str(message))
    raise PayloadError(
        f"{where}: the World Bank API returned an error instead of data ({'; '.join(parts)}); "
        "check the indicator code and the query parameters"
    )


def _envelope_int(where: str, envelope: Mapping[str, Any], key: str, *, minimum: int) -> int:
    # The API has sent some envelope numbers as strings ("per_page": "50"): accept both.
    value = envelope.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(
            f"{where}: envelope field {key!r} is missing or not a number ({value!r})"
        )
    try:
        number = int(value)
    except ValueError:
        raise PayloadError(f"{where}: envelope field {key!r} is not a number ({value!r})") from None
    if number < minimum:
        raise PayloadError(f"{where}: envelope field {key!r} is {number}, below {minimum}")
    return number


def _check_record(where: str, code: str, number: int, record: Any) -> tuple[str, str]:
    """Check one record's shape; returns its (country, year) key."""
    at = f"{where}: record {number}"
    if not isinstance(record, dict):
        raise PayloadError(f"{at} is not an object ({type(record).__name__})")
    indicator = record.get("indicator")
    if not isinstance(indicator, dict) or "id" not in indicator:
        raise PayloadError(f"{at} has no indicator id")
    if indicator["id"] != code:
        raise PayloadError(f"{at} is for indicator {indicator['id']!r}, not {code!r}")
    country = record.get("country")
    if not isinstance(country, dict) or not isinstance(country.get("id"), str):
        raise PayloadError(f"{at} has no country id")
    iso3 = record.get("countryiso3code")
    if iso3 is not None and not isinstance(iso3, str):
        raise PayloadError(f"{at} has a countryiso3code that is not text ({iso3!r})")
    country_code = iso3 or country["id"]
    if not country_code:
        raise PayloadError(f"{at} has neither a countryiso3code nor a country id")
    date = record.get("date")
    # WGI is annual: "2023", never "2023Q1" or "2023M01" (cheaper than a regex per record).
    if not isinstance(date, str) or len(date) != 4 or not (date.isascii() and date.isdigit()):
        raise PayloadError(f"{at} ({country_code}) has date {date!r}, not a year")
    value = record.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise PayloadError(
            f"{at} ({country_code} {date}) has value {value!r}, not a number or null"
        )
    return country_code, date


def _with_query(url: str, **changes: str) -> str:
    """`url` with the given query parameters replaced, the others kept in order."""
    parts = urlsplit(url)
    query = [
        (key, changes.pop(key) if key in changes else value)
        for key, value in parse_qsl(parts.query)
    ]
    query.extend(changes.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _year_of(date: str | None) -> str | None:
    match = _DATE_RE.match(date or "")
    return match.group(1) if match else None


# -- the bundled snapshot ----------------------------------------------------------------

_BULK_COLUMNS = ("code", "countryname", "year", "indicator")
_BULK_MISSING = {"", ".."}  # how the bulk file writes "not assessed"


def build_bundled_snapshot(
    xlsx: Path,
    out_dir: Path,
    *,
    indicators: Sequence[str] | None = None,
    lastupdated: str | None = None,
) -> list[Path]:
    """Write the WGI bulk file's figures as one API-shaped page per indicator code.

    Each file `<CODE>.json.gz` is a single page (`[envelope, records]`) with every
    economy and year of the bulk file, missing values as null, sorted by country code and
    then year descending (as the API does), compact JSON, gzip with mtime 0: rebuilding
    from the same workbook gives the same bytes. `indicators` defaults to the registry's
    list; `lastupdated` (YYYY-MM-DD) to the workbook's own modified date.
    """
    config = _wgi_config()
    codes = list(indicators) if indicators is not None else list(config.options["indicators"])
    if lastupdated is None:
        lastupdated = workbook_modified_date(xlsx)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", lastupdated):
        raise ValueError(f"lastupdated must be YYYY-MM-DD, not {lastupdated!r}")
    bulk = _read_bulk(xlsx)
    # Check every built page with the connector itself: the bundle must pass what a live page must.
    connector = WgiConnector(
        dataclasses.replace(config, options={**config.options, "indicators": codes})
    )
    resources = {resource.name: resource for resource in connector.resources()}

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for code in codes:
        payload = _bulk_page(bulk, connector.indicators[code], lastupdated)
        connector.validate(resources[code], payload)
        path = out_dir / f"{code}.json.gz"
        path.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
        written.append(path)
    return written


def workbook_modified_date(xlsx: Path) -> str:
    """The `dcterms:modified` date (YYYY-MM-DD) of an .xlsx file's core properties."""
    try:
        with zipfile.ZipFile(xlsx) as archive:
            core = archive.read("docProps/core.xml")
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{xlsx.name}: cannot read the workbook's core properties ({error})"
        ) from None
    node = ElementTree.fromstring(core).find("{http://purl.org/dc/terms/}modified")
    date = (node.text or "")[:10] if node is not None else ""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError(f"{xlsx.name}: no modified date in the workbook; pass --lastupdated")
    return date


def _wgi_config() -> SourceConfig:
    return load_registry()[WgiConnector.source_id]


def _read_bulk(xlsx: Path) -> pd.DataFrame:
    """The bulk file's rows, checked: one row per economy, indicator and year."""
    try:
        frame = pd.read_excel(xlsx, engine="calamine", dtype=object)
    except Exception as error:  # calamine has its own error types; the CLI reports one line
        raise ValueError(f"{xlsx.name}: cannot read it as a workbook ({error})") from error
    missing = [
        c for c in (*_BULK_COLUMNS, *{m.bulk_column for m in _MEASURES.values()}) if c not in frame
    ]
    if missing:
        raise ValueError(f"{xlsx.name}: not a WGI bulk file, columns missing: {', '.join(missing)}")
    frame["code"] = frame["code"].astype(str).str.strip()
    frame["countryname"] = frame["countryname"].astype(str).str.strip()
    frame["indicator"] = frame["indicator"].astype(str).str.strip().str.lower()
    frame["year"] = [int(float(y)) for y in frame["year"]]
    duplicated = frame.duplicated(["code", "indicator", "year"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ValueError(
            f"{xlsx.name}: {first['code']} {first['indicator']} {first['year']} "
            "appears more than once"
        )
    return frame


def _bulk_number(value: Any, where: str) -> float | None:
    """A bulk-file cell as a float, or None for the file's missing markers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        if value.strip() in _BULK_MISSING:
            return None
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a number")
    return float(value)


def _bulk_page(bulk: pd.DataFrame, meta: WgiIndicator, lastupdated: str) -> bytes:
    """One indicator of the bulk file as an API page: compact UTF-8 JSON."""
    rows = bulk[bulk["indicator"] == meta.bulk_indicator]
    if rows.empty:
        raise ValueError(f"the bulk file has no rows for indicator {meta.bulk_indicator!r}")
    # The API's order: country, then the latest year first.
    rows = rows.sort_values(["code", "year"], ascending=[True, False], kind="stable")
    records = [
        {
            "indicator": {"id": meta.code, "value": meta.label},
            "country": {"id": code, "value": name},
            # WGI's own codes as the file has them (ROM, ZAR, KSV, ...): the harmoniser maps them.
            "countryiso3code": code,
            "date": str(year),
            "value": _bulk_number(value, f"{code} {meta.bulk_indicator} {year} {meta.bulk_column}"),
            "unit": "",
            "obs_status": "",
            "decimal": 0,
        }
        for code, name, year, value in zip(
            rows["code"], rows["countryname"], rows["year"], rows[meta.bulk_column], strict=True
        )
    ]
    envelope = {
        "page": 1,
        "pages": 1,
        "per_page": len(records),
        "total": len(records),
        "sourceid": WGI_SOURCE_ID,
        "lastupdated": lastupdated,
    }
    return json.dumps([envelope, records], separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m extra_pipeline.sources.wgi build-bundle XLSX OUT_DIR`."""
    parser = argparse.ArgumentParser(
        prog="python -m extra_pipeline.sources.wgi",
        description="Tools for the World Bank WGI source.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build-bundle",
        help="build the bundled offline snapshot from the official WGI bulk file",
        description="Turn the WGI bulk file (wgidataset.xlsx) into one World Bank API v2 "
        "page per registry indicator code, as <CODE>.json.gz files in OUT_DIR.",
    )
    build.add_argument("xlsx", type=Path, help="the WGI bulk file, wgidataset.xlsx")
    build.add_argument("out_dir", type=Path, help="where to write the .json.gz files")
    build.add_argument(
        "--lastupdated",
        help="the envelope's lastupdated date, YYYY-MM-DD (default: the workbook's modified date)",
    )
    args = parser.parse_args(argv)

    if not args.xlsx.is_file():
        print(
            f"error: {args.xlsx} is not a file; pass the WGI bulk file wgidataset.xlsx",
            file=sys.stderr,
        )
        return 2
    try:
        paths = build_bundled_snapshot(args.xlsx, args.out_dir, lastupdated=args.lastupdated)
    except (ValueError, PayloadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"source {args.xlsx.name} sha256 {_sha256(args.xlsx.read_bytes())}")
    for path in paths:
        data = path.read_bytes()
        print(f"{path.name}  {len(data):>9,} bytes  sha256 {_sha256(data)}")
    return 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
