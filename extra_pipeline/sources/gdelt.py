"""GDELT DOC 2.0 API: daily news volume on organised-crime themes, per country of publication.

One resource per country and theme in the registry (`assets/sources/gdelt.yaml`), named
`<ISO3>.<theme>` (e.g. `COL.drug_trade`), fetched as::

    /api/v2/doc/doc?query=<theme query> sourcecountry:<FIPS>&mode=TimelineVolRaw
        &format=json&timespan=<registry timespan>

**The answer** (TimelineVolRaw, JSON) is one object::

    {"query_details": {"title": "...", "date_resolution": "day"},
     "timeline": [{"series": "Article Count",
                   "data": [{"date": "20250101T000000Z", "value": 12, "norm": 104331}, ...]}]}

`value` is the number of matching articles in the interval, `norm` the number of all
articles GDELT monitored in it (the denominator of TimelineVol's percentage). Public
clients name the series "Article Count" for TimelineVolRaw ("Volume Intensity" is
TimelineVol's); both names are accepted, any other series (a tone or language timeline:
the wrong mode) is refused. With a timespan of weeks GDELT answers one point per day at
midnight UTC; a sub-daily point means the window was too short and is refused.

**Errors come as plain text**, often with HTTP 200: "Please limit requests to one every 5
seconds ..." is the throttle (`Throttled`: the fetcher waits and asks again; the same text
with HTTP 429 is retried by the HTTP client itself), anything else ("Invalid query...",
"Your search contained a keyword that was too short...") is a `PayloadError` quoting the
text. An HTML page (a proxy or maintenance page) is refused too.

**No data vs zero.** A query matching nothing answers `{}` or an empty timeline: no rows
(GDELT gives no `norm` then, and a share cannot be made up). A point with `value` 0 is a
real zero and kept. A day missing inside a timeline stays missing (never filled with 0):
the surge rule (`sql/intermediate/gdelt_events.sql`) counts only observed days.

**Country filter: `sourcecountry:<FIPS 10-4>`**, the country the outlet publishes from,
not a country name in the text. Domestic press is the earliest and most local signal of a
seizure wave or a trafficking case, while a name query is ambiguous ("Turkey" the bird,
"Chinese" vs "China") and dominated by diplomacy and sport abroad.
GDELT's codes are FIPS 10-4, not ISO (Germany GM, Morocco MO, Nigeria NI, China CH, which is
ISO's Switzerland): they are read from the shipped datahub table
`assets/reference/countries/country-codes_datasets.csv` (column `FIPS`), never derived from
ISO alpha-2. A table value that is not two letters (Serbia is `RIKV` there, Serbia RI and
Kosovo KV merged) fails at load time unless the registry's `fips_overrides` decides it.

**Stable ids.** Resource `<ISO3>.<theme>`; raw rows keyed by (`country_code`, `theme`,
`date`); events `gdelt:<iso3>:<theme>:<YYYY-MM-DD>` of type `gdelt.news_surge`. GDELT
feeds no country-year indicator (it is not one).

**The bundled snapshot is synthetic** (no saved GDELT answer exists here): made by this
module's `build-bundle` command, deterministic, with planted surges (`PLANTED_SURGES`)::

    python -m extra_pipeline.sources.gdelt build-bundle assets/snapshots/gdelt
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import pandas as pd

from extra_pipeline.sources.base import (
    ASSETS_DIR,
    PayloadError,
    Resource,
    SourceConfig,
    SourceConnector,
    Throttled,
    load_registry,
)

#: the shipped table that holds FIPS 10-4 codes by ISO alpha-3 (see its PROVENANCE.md)
COUNTRY_CODES_CSV = ASSETS_DIR / "reference" / "countries" / "country-codes_datasets.csv"
API_PATH = "/api/v2/doc/doc"
MODE = "TimelineVolRaw"
DEFAULT_TIMESPAN = "180d"
#: TimelineVolRaw's series name, and TimelineVol's (some clients report it for both)
SERIES_NAMES = frozenset({"Article Count", "Volume Intensity"})

#: The columns of `parse()`'s output, in order.
COLUMNS: tuple[str, ...] = (
    "country_code",  # ISO alpha-3 from the registry (the harmoniser's input)
    "fips",  # the FIPS 10-4 code GDELT was asked for
    "theme",  # the registry's theme slug, e.g. drug_trade
    "theme_label",
    "query",  # the full GDELT query sent
    "date",  # YYYY-MM-DD (UTC day)
    "articles",  # value: matching articles that day
    "all_articles",  # norm: all articles GDELT monitored that day
    "series",  # the series name as GDELT sent it
)

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_ISO3 = re.compile(r"^[A-Z]{3}$")
_FIPS = re.compile(r"^[A-Z]{2}$")
_TIMESPAN = re.compile(r"^\d+(min|h|hours|d|days|w|weeks|m|months)$")
_POINT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{6})Z$")
_THROTTLE_WAIT = re.compile(r"limit requests to one every\s+(\d+(?:\.\d+)?)\s*sec", re.I)
_THROTTLE = re.compile(r"limit requests|rate limit|too many requests", re.I)


@dataclass(frozen=True)
class GdeltTheme:
    """One theme of the registry: a GDELT query (GKG theme or keywords) and a readable name."""

    slug: str  # e.g. drug_trade
    query: str  # e.g. theme:DRUG_TRADE
    label: str  # e.g. drug trade


@dataclass(frozen=True)
class GdeltSeries:
    """One resource: one country of publication and one theme."""

    iso3: str
    fips: str
    theme: GdeltTheme

    @property
    def name(self) -> str:
        return f"{self.iso3}.{self.theme.slug}"

    @property
    def query(self) -> str:
        return f"{self.theme.query} sourcecountry:{self.fips}"


# -- ISO alpha-3 -> FIPS 10-4 ------------------------------------------------------------


def fips_table(path: Path = COUNTRY_CODES_CSV) -> dict[str, str]:
    """ISO alpha-3 -> the table's `FIPS` cell, as written (stripped; may be empty or odd)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    for column in ("ISO3166-1-Alpha-3", "FIPS"):
        if column not in frame:
            raise ValueError(f"{path.name}: column {column!r} is missing")
    # The table pads empty cells with a no-break space: strip() removes it too.
    return {
        iso3.strip(): fips.strip()
        for iso3, fips in zip(frame["ISO3166-1-Alpha-3"], frame["FIPS"], strict=True)
        if iso3.strip()
    }


def fips_code(
    iso3: str, table: Mapping[str, str], overrides: Mapping[str, str] | None = None
) -> str:
    """The FIPS 10-4 code GDELT's `sourcecountry:` takes for `iso3`.

    From the table, or from `overrides` (the registry's `fips_overrides`, for the cells the
    table gets wrong); ValueError when neither gives exactly two capital letters.
    """
    where = "assets/sources/gdelt.yaml"
    if overrides and iso3 in overrides:
        code = str(overrides[iso3]).strip()
        if not _FIPS.match(code):
            raise ValueError(f"{where}: fips_overrides {iso3}: {code!r} is not a 2-letter code")
        return code
    if iso3 not in table:
        raise ValueError(
            f"{where}: country {iso3!r} is not an ISO 3166 alpha-3 code of {COUNTRY_CODES_CSV.name}"
        )
    code = table[iso3]
    if not _FIPS.match(code):
        raise ValueError(
            f"{where}: {COUNTRY_CODES_CSV.name} gives {iso3} the FIPS value {code!r}, not a "
            f"2-letter FIPS 10-4 code; add `fips_overrides: {{{iso3}: <code>}}` to the "
            "registry with the reason (do not derive it from ISO alpha-2)"
        )
    return code


# -- the connector ----------------------------------------------------------------------


class GdeltConnector(SourceConnector):
    """GDELT DOC 2.0 API, TimelineVolRaw: one resource per country of publication and theme."""

    source_id: ClassVar[str] = "gdelt"
    country_column: ClassVar[str] = "country_code"

    def __init__(self, config: SourceConfig, *, codes: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        where = "assets/sources/gdelt.yaml"
        options = config.options
        countries = options.get("countries")
        if not countries or isinstance(countries, str):
            raise ValueError(f"{where}: needs `countries`, a list of ISO 3166 alpha-3 codes")
        bad = [c for c in countries if not isinstance(c, str) or not _ISO3.match(c)]
        if bad:
            raise ValueError(f"{where}: countries must be ISO alpha-3 codes, not {bad!r}")
        if len(set(countries)) != len(countries):
            raise ValueError(f"{where}: a country is listed twice in `countries`")
        self.themes = _themes(options.get("themes"))
        timespan = str(options.get("timespan", DEFAULT_TIMESPAN))
        if not _TIMESPAN.match(timespan):
            raise ValueError(
                f"{where}: timespan {timespan!r} is not a GDELT timespan such as 180d or 12w"
            )
        self.timespan = timespan
        overrides = options.get("fips_overrides") or {}
        table = codes if codes is not None else fips_table()
        self.series: dict[str, GdeltSeries] = {}
        for iso3 in countries:
            fips = fips_code(iso3, table, overrides)
            for theme in self.themes:
                item = GdeltSeries(iso3, fips, theme)
                self.series[item.name] = item

    def resources(self) -> list[Resource]:
        return [Resource(name=name, url=self.url_for(item)) for name, item in self.series.items()]

    def url_for(self, item: GdeltSeries) -> str:
        """The TimelineVolRaw request of one country and theme."""
        query = urlencode(
            {"query": item.query, "mode": MODE, "format": "json", "timespan": self.timespan}
        )
        return f"{self.config.base_url}{API_PATH}?{query}"

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `Throttled` for GDELT's "slow down" text, `PayloadError` for anything else
        that is not a well-formed daily TimelineVolRaw answer."""
        self._decode(resource, payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """One answer as rows with `COLUMNS`, one per day GDELT reported (none for `{}`)."""
        item = self._item(resource)
        series, points = self._decode(resource, payload)
        count = len(points)
        frame = pd.DataFrame(
            {
                "country_code": pd.Series([item.iso3] * count, dtype="str"),
                "fips": pd.Series([item.fips] * count, dtype="str"),
                "theme": pd.Series([item.theme.slug] * count, dtype="str"),
                "theme_label": pd.Series([item.theme.label] * count, dtype="str"),
                "query": pd.Series([item.query] * count, dtype="str"),
                "date": pd.Series([p[0] for p in points], dtype="str"),
                "articles": pd.Series([p[1] for p in points], dtype="int64"),
                "all_articles": pd.Series([p[2] for p in points], dtype="int64"),
                "series": pd.Series([series] * count, dtype="str"),
            },
            columns=list(COLUMNS),
        )
        return frame

    # -- checking ------------------------------------------------------------------------

    def _item(self, resource: Resource) -> GdeltSeries:
        try:
            return self.series[resource.name]
        except KeyError:
            raise PayloadError(
                f"GDELT: resource {resource.name!r} is not in the registry's countries x themes"
            ) from None

    def _raise_text_reply(self, resource: Resource, text: str) -> None:
        """GDELT's replies that are not JSON: the throttle (plain text, or inside an HTML
        page), an HTML page, or a plain-text refusal of the query."""
        where = f"GDELT {resource.name}"
        if _THROTTLE.search(text[:2000]):
            wait = _THROTTLE_WAIT.search(text)
            raise Throttled(
                f"{where}: GDELT asks us to slow down: {_snippet(_strip_tags(text))}",
                retry_after=float(wait.group(1)) if wait else None,
            )
        if text.startswith("<"):
            raise PayloadError(
                f"{where}: GDELT answered an HTML page, not JSON "
                f"({_snippet(_strip_tags(text))}); check the base URL and try again later"
            )
        raise PayloadError(
            f"{where}: GDELT refused the query {self._item(resource).query!r}: "
            f"{_snippet(text)}; fix the theme's query in assets/sources/gdelt.yaml"
        )

    def _decode(self, resource: Resource, payload: bytes) -> tuple[str, list[tuple[str, int, int]]]:
        """The series name and its (date, value, norm) points; raises on anything else."""
        where = f"GDELT {resource.name}"
        text = payload.decode("utf-8", errors="replace").strip() if payload else ""
        if not text:
            raise PayloadError(f"{where}: empty response body")
        if not text.startswith(("{", "[")):
            self._raise_text_reply(resource, text)
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise PayloadError(
                f"{where}: response is not valid JSON (truncated or malformed, "
                f"{len(payload):,} bytes): {error}"
            ) from None
        if not isinstance(body, dict):
            raise PayloadError(f"{where}: expected a JSON object, got {type(body).__name__}")
        details = body.get("query_details")
        if isinstance(details, dict):
            resolution = details.get("date_resolution")
            if resolution is not None and resolution != "day":
                raise PayloadError(
                    f"{where}: date_resolution is {resolution!r}, not 'day'; "
                    "the registry's timespan must cover several weeks"
                )
        timeline = body.get("timeline", [])
        if not isinstance(timeline, list):
            raise PayloadError(
                f"{where}: 'timeline' must be an array, got {type(timeline).__name__}"
            )
        if not timeline:
            return "", []  # nothing matched: no rows, not zeros (see the module docstring)
        if len(timeline) != 1:
            raise PayloadError(
                f"{where}: TimelineVolRaw has one series, got {len(timeline)}; "
                f"check mode={MODE} in the request"
            )
        series = timeline[0]
        if not isinstance(series, dict) or not isinstance(series.get("data"), list):
            raise PayloadError(f"{where}: the series has no 'data' array")
        name = series.get("series")
        if name not in SERIES_NAMES:
            raise PayloadError(
                f"{where}: series {name!r} is not a TimelineVolRaw series "
                f"({', '.join(sorted(SERIES_NAMES))}); check mode={MODE} in the request"
            )
        points = [_check_point(where, n, p) for n, p in enumerate(series["data"], start=1)]
        for (before, *_), (after, *_) in pairwise(points):
            if after <= before:
                raise PayloadError(
                    f"{where}: dates out of order or repeated ({before} then {after})"
                )
        return str(name), points


def _check_point(where: str, number: int, point: Any) -> tuple[str, int, int]:
    at = f"{where}: point {number}"
    if not isinstance(point, dict):
        raise PayloadError(f"{at} is not an object ({type(point).__name__})")
    stamp = point.get("date")
    match = _POINT_DATE.match(stamp) if isinstance(stamp, str) else None
    if not match:
        raise PayloadError(f"{at} has date {stamp!r}, not YYYYMMDDTHHMMSSZ")
    if match.group(4) != "000000":
        raise PayloadError(
            f"{at} is at {stamp}: the timeline is not daily; "
            "the registry's timespan must cover several weeks"
        )
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise PayloadError(f"{at} has date {stamp!r}, not a calendar date") from None
    value = _count(at, point, "value")
    norm = _count(at, point, "norm")
    if value > norm:
        raise PayloadError(
            f"{at} ({day}) counts {value} matching articles of only {norm} monitored"
        )
    return day.isoformat(), value, norm


def _count(at: str, point: Mapping[str, Any], key: str) -> int:
    number = point.get(key)
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise PayloadError(f"{at} has {key} {number!r}, not a count of articles")
    return number


def _themes(spec: Any) -> tuple[GdeltTheme, ...]:
    where = "assets/sources/gdelt.yaml"
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"{where}: needs `themes`, a mapping of slug -> {{query, label}}")
    themes = []
    for slug, item in spec.items():
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise ValueError(f"{where}: theme {slug!r} is not lower_snake_case")
        if not isinstance(item, dict) or not item.get("query") or not item.get("label"):
            raise ValueError(f"{where}: theme {slug} needs a `query` and a `label`")
        query = str(item["query"]).strip()
        if "sourcecountry" in query.lower():
            raise ValueError(
                f"{where}: theme {slug}: leave `sourcecountry:` out, the connector adds it"
            )
        themes.append(GdeltTheme(slug, query, str(item["label"]).strip()))
    return tuple(themes)


def _snippet(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# -- the bundled (synthetic) snapshot ----------------------------------------------------

#: The bundle's last day and length: ~half a year of daily points.
BUNDLE_END = date(2025, 6, 30)
BUNDLE_DAYS = 180
BUNDLE_SEED = "extra-gdelt-bundle-v1"


@dataclass(frozen=True)
class PlantedSurge:
    """A made-up surge written into the synthetic bundle: `factor` x the usual volume."""

    iso3: str
    theme: str
    day: date
    factor: float


#: What the surge rule must find in the bundle (and nothing else).
PLANTED_SURGES: tuple[PlantedSurge, ...] = (
    PlantedSurge("COL", "drug_trade", date(2025, 5, 14), 5.0),
    PlantedSurge("MAR", "cocaine", date(2025, 4, 2), 6.0),
    PlantedSurge("MAR", "cocaine", date(2025, 4, 3), 4.0),
    PlantedSurge("NGA", "human_trafficking", date(2025, 6, 10), 4.5),
    PlantedSurge("ALB", "drug_trade", date(2025, 3, 18), 5.5),
)
#: A spike of large ratio in a series too small to count: a fixed 7 articles, below the
#: surge rule's floor of 10, on a day whose usual volume is about 2.
PLANTED_NEAR_MISS = PlantedSurge("AFG", "human_trafficking", date(2025, 5, 20), 4.0)
PLANTED_NEAR_MISS_ARTICLES = 7
#: A day left out of one series, as when GDELT has a gap: it must stay missing.
MISSING_DAY = ("TUR", "drug_trade", date(2025, 4, 15))

# Usual share (matching / monitored) per theme and a per-country scale: plausible orders
# of magnitude, not measurements.
_BASE_SHARE = {"drug_trade": 0.004, "human_trafficking": 0.0012, "cocaine": 0.0016}
_COUNTRY_SCALE = {
    "COL": 2.5, "ECU": 2.0, "MEX": 2.2, "MAR": 0.9, "TUR": 0.8,
    "ALB": 1.2, "SRB": 0.9, "NGA": 1.1, "AFG": 0.5, "CHN": 0.3,
}  # fmt: skip
# Articles monitored per day from a country's outlets (weekday level).
_COUNTRY_VOLUME = {
    "COL": 9000, "ECU": 3500, "MEX": 16000, "MAR": 4000, "TUR": 12000,
    "ALB": 2500, "SRB": 5000, "NGA": 8000, "AFG": 900, "CHN": 7000,
}  # fmt: skip
# Monday..Sunday: less news at weekends, crime news a little less still.
_WEEKLY_ALL = (1.0, 1.04, 1.03, 1.02, 0.97, 0.72, 0.66)
_WEEKLY_TOPIC = (1.02, 1.03, 1.0, 1.0, 0.98, 0.93, 0.9)


def synthetic_timeline(
    item: GdeltSeries, *, end: date = BUNDLE_END, days: int = BUNDLE_DAYS
) -> dict[str, Any]:
    """One made-up TimelineVolRaw answer: daily `norm` and `value` with a weekly rhythm,
    Poisson-like noise and the planted surges; the same inputs give the same answer."""
    seed = hashlib.sha256(f"{BUNDLE_SEED}:{item.name}".encode()).hexdigest()
    rng = random.Random(seed)
    scale = _COUNTRY_SCALE.get(item.iso3, 1.0)
    share = _BASE_SHARE.get(item.theme.slug, 0.002) * scale
    volume = _COUNTRY_VOLUME.get(item.iso3, 5000)
    if (item.iso3, item.theme.slug) == (PLANTED_NEAR_MISS.iso3, PLANTED_NEAR_MISS.theme):
        share = 0.002  # about 2 articles a day: a tiny series
    surges = {
        s.day: s.factor for s in PLANTED_SURGES if (s.iso3, s.theme) == (item.iso3, item.theme.slug)
    }
    near_miss = (PLANTED_NEAR_MISS.iso3, PLANTED_NEAR_MISS.theme, PLANTED_NEAR_MISS.day)
    data = []
    for offset in range(days - 1, -1, -1):
        day = end - timedelta(days=offset)
        if (item.iso3, item.theme.slug, day) == MISSING_DAY:
            continue
        weekday = day.weekday()
        norm = _noisy(rng, volume * _WEEKLY_ALL[weekday] * rng.uniform(0.95, 1.05))
        expected = norm * share * _WEEKLY_TOPIC[weekday] * surges.get(day, 1.0)
        value = min(_noisy(rng, expected), norm)
        if (item.iso3, item.theme.slug, day) == near_miss:
            value = PLANTED_NEAR_MISS_ARTICLES  # fixed: must stay below the rule's floor
        data.append({"date": f"{day:%Y%m%d}T000000Z", "value": value, "norm": norm})
    return {
        "query_details": {"title": item.query, "date_resolution": "day"},
        "timeline": [{"series": "Article Count", "data": data}],
    }


def _noisy(rng: random.Random, mean: float) -> int:
    """A count around `mean`: Poisson for small means, its normal approximation above."""
    if mean <= 0:
        return 0
    if mean < 30:
        # Knuth's method: exact and cheap for small means.
        limit, k, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return k
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def build_bundled_snapshot(out_dir: Path) -> list[Path]:
    """Write one synthetic answer per registry resource as `<ISO3>.<theme>.json.gz`
    (compact JSON, gzip mtime 0: rebuilding gives the same bytes), each checked by the
    connector as a live answer would be."""
    connector = GdeltConnector(load_registry()[GdeltConnector.source_id])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for resource in connector.resources():
        body = synthetic_timeline(connector.series[resource.name])
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        connector.validate(resource, payload)
        path = out_dir / f"{resource.name}.json.gz"
        path.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m extra_pipeline.sources.gdelt build-bundle OUT_DIR`."""
    parser = argparse.ArgumentParser(
        prog="python -m extra_pipeline.sources.gdelt",
        description="Tools for the GDELT DOC 2.0 news-volume source.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build-bundle",
        help="write the synthetic offline snapshot (one .json.gz per country and theme)",
    )
    build.add_argument("out_dir", type=Path, help="where to write the .json.gz files")
    args = parser.parse_args(argv)
    try:
        paths = build_bundled_snapshot(args.out_dir)
    except (ValueError, PayloadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        data = path.read_bytes()
        print(f"{path.name}  {len(data):>7,} bytes  sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
