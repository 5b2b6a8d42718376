"""Eurostat crime statistics through the dissemination API ("API Statistics", JSON-stat 2.0).

One resource per dataset entry of the registry (`assets/sources/eurostat.yaml`,
`datasets:`), fetched from::

    <base_url>/statistics/1.0/data/<CODE>?format=JSON&lang=EN&<dim>=<code>&<dim>=<code>...

with the entry's `filters` as repeated query parameters (`sinceTimePeriod` /
`untilTimePeriod` restrict the years).

The response is a JSON-stat 2.0 `dataset`: `id` (the dimension order, e.g. freq, iccs,
unit, geo, time) and `size` (categories per dimension) define a row-major cube; a cell's
flat index is sum(position_d * stride_d), the last dimension varying fastest. Each
dimension's `category.index` maps a code to its position (an object, or an array of codes:
both are legal JSON-stat), `category.label` to its label. `value` holds the figures, either
as an object keyed by flat index (sparse: what Eurostat sends) or as a dense array with
nulls; `status` (present only when some cell carries a flag: `p` provisional, `e`
estimated, `b` break in series, `c` confidential, `:` not available, ...) is keyed the same
way, or is one string for every cell. A cell with neither a value nor a status is absent
and yields no row; a cell with only a status yields a row whose value is null (never 0).

Errors: the API answers a bad query with HTTP 4xx/5xx and a body
`{"error": {"status": 400, "id": 140, "label": "..."}}` (an array of such objects is read
too, and either may come with HTTP 200): `validate()` rejects a 200 error body, and
`narrow()` turns an HTTP error that carries such a body into a `PayloadError` naming the
API's label. A query
above the extraction limit (5,000,000 cells) is refused with HTTP 413 and
`EXTRACTION_TOO_BIG`: `narrow()` then splits it into narrower requests, pages of the same
resource: first by time (an explicit `time` list, else the `sinceTimePeriod` range), then
by an explicit `geo` list, then by the longest other filter list. A query that cannot be
split (one year, no geo list) fails with the API's label and what to filter.

Stable indicator ids, one per combination of the categories of every dimension except
`freq`, `geo` and `time`, in the response's dimension order, lower-cased and
lower_snake_case (`P_HTHAB` -> `p_hthab`)::

    eurostat.<dataset>.<category>[.<category>...]

For `crim_off_cat` (dimensions iccs, unit): `eurostat.crim_off_cat.<iccs>.<unit>`, e.g.
`eurostat.crim_off_cat.iccs0101.nr` (intentional homicide, offences recorded by the
police) and `eurostat.crim_off_cat.iccs0101.p_hthab` (the same per 100,000 inhabitants),
for iccs0101, iccs0102, iccs020111, iccs0301, iccs03011, iccs03012, iccs0502 and units
nr, p_hthab. The label is the category labels, the unit in brackets: "Intentional
homicide (per 100,000 inhabitants)". Each `unit` code's unit text and scale come from the
dataset's `units:` in the registry; a unit code not declared there fails validation, so a
new measure is noticed rather than mislabelled.

Geo codes are kept as Eurostat writes them (`EL` Greece, `UK`, `XK` Kosovo, `EU27_2020`,
`EA19`, ...): the country harmoniser maps them and recognises the aggregates.
`edition` is the response's `updated` date (`2025-08-12`), `year` its `time` code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from extra_pipeline.http import HttpError
from extra_pipeline.sources.base import PayloadError, Resource, SourceConfig, SourceConnector

#: The columns of `parse()`'s output, in order.
COLUMNS: tuple[str, ...] = (
    "dataset",
    "series_key",
    "indicator_id",
    "indicator_label",
    "geo",
    "geo_label",
    "year",
    "value",
    "obs_status",
    "unit",
    "scale",
    "direction",
    "edition",
)

REGISTRY = "assets/sources/eurostat.yaml"
#: Dimensions that are not part of an indicator id.
_NOT_SERIES = ("freq", "geo", "time")
#: Query parameters that are not dimension filters.
_NOT_FILTERS = frozenset(
    {"format", "lang", "sinceTimePeriod", "untilTimePeriod", "lastTimePeriod", "geoLevel"}
)
_SCALES = frozenset({"absolute", "rate", "share", "index", "rank"})
_DIRECTIONS = frozenset({"higher_is_worse", "higher_is_better", "neutral"})
_YEAR = re.compile(r"^\d{4}$")
_UPDATED = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOO_BIG = "EXTRACTION_TOO_BIG"


def slug(code: str) -> str:
    """A category or dataset code as an indicator-id part: lower case, `[a-z0-9_]` only."""
    text = re.sub(r"[^a-z0-9]+", "_", code.lower()).strip("_")
    if not text:
        raise ValueError(f"Eurostat code {code!r} has no letters or digits to build an id from")
    return text


@dataclass(frozen=True)
class UnitSpec:
    """What a Eurostat `unit` code measures, as the registry declares it."""

    unit: str  # e.g. "per 100,000 inhabitants"
    scale: str  # absolute | rate | share | index | rank


@dataclass(frozen=True)
class DatasetSpec:
    """One `datasets:` entry of the registry: a dataset code, its filters and its units."""

    code: str  # lower case, as in the URL: crim_off_cat
    filters: tuple[tuple[str, str], ...]  # (parameter, value) pairs, in registry order
    units: Mapping[str, UnitSpec]
    direction: str

    def allowed(self, dimension: str) -> frozenset[str] | None:
        """The codes the query asks for in `dimension`, or None when it is not filtered."""
        codes = frozenset(value for key, value in self.filters if key == dimension)
        return codes or None

    def since(self) -> int | None:
        values = [int(v) for k, v in self.filters if k == "sinceTimePeriod"]
        return values[0] if values else None


def _dataset_spec(entry: Any, number: int) -> DatasetSpec:
    """One registry `datasets:` entry, checked; ValueError naming the entry otherwise."""
    where = f"{REGISTRY}: datasets[{number}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str):
        raise ValueError(f"{where} needs a `code` (the Eurostat dataset code, e.g. crim_off_cat)")
    code = entry["code"].strip().lower()
    if not _CODE.match(code):
        raise ValueError(f"{where}: {entry['code']!r} is not a Eurostat dataset code")
    filters: list[tuple[str, str]] = []
    for key, values in (entry.get("filters") or {}).items():
        values = values if isinstance(values, list) else [values]
        if not values or any(isinstance(v, bool | dict | list) or v is None for v in values):
            raise ValueError(f"{where} ({code}): filter {key!r} needs one code or a list of codes")
        if key in ("sinceTimePeriod", "untilTimePeriod") and (
            len(values) != 1 or not _YEAR.match(str(values[0]))
        ):
            raise ValueError(f"{where} ({code}): {key} must be one year, e.g. 2008")
        filters.extend((str(key), str(value)) for value in values)
    units: dict[str, UnitSpec] = {}
    for unit_code, spec in (entry.get("units") or {}).items():
        if (
            not isinstance(spec, Mapping)
            or not spec.get("unit")
            or spec.get("scale") not in _SCALES
        ):
            raise ValueError(
                f"{where} ({code}): units.{unit_code} needs `unit` (text) and `scale` "
                f"(one of {', '.join(sorted(_SCALES))})"
            )
        units[str(unit_code)] = UnitSpec(str(spec["unit"]), str(spec["scale"]))
    if not units:
        raise ValueError(f"{where} ({code}): `units` must declare every unit code it returns")
    direction = entry.get("direction", "higher_is_worse")
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"{where} ({code}): direction {direction!r} is not one of {sorted(_DIRECTIONS)}"
        )
    return DatasetSpec(code, tuple(filters), units, direction)


@dataclass(frozen=True)
class _Dimension:
    name: str
    codes: tuple[str, ...]  # by position
    labels: tuple[str, ...]


@dataclass(frozen=True)
class _Cube:
    """A decoded, checked JSON-stat dataset: dimensions and the cells that hold something."""

    dimensions: tuple[_Dimension, ...]
    cells: dict[int, tuple[float | None, str]]  # flat index -> (value, status)
    edition: str | None


class EurostatConnector(SourceConnector):
    """Eurostat dissemination API, JSON-stat 2.0: one resource per registry dataset."""

    source_id: ClassVar[str] = "eurostat"
    country_column: ClassVar[str] = "geo"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        entries = config.options.get("datasets")
        if not entries or not isinstance(entries, list):
            raise ValueError(
                f"{REGISTRY}: needs `datasets`, a list of {{code, filters, units}} entries"
            )
        specs = [_dataset_spec(entry, number) for number, entry in enumerate(entries)]
        self.datasets: dict[str, DatasetSpec] = {}
        for spec in specs:
            if spec.code in self.datasets:
                raise ValueError(f"{REGISTRY}: dataset {spec.code} is listed twice")
            self.datasets[spec.code] = spec
        self.lang = str(config.options.get("lang", "EN")).upper()

    def resources(self) -> list[Resource]:
        base = self.config.base_url
        return [
            Resource(
                name=spec.code,
                url=f"{base}/statistics/1.0/data/{spec.code}?"
                + urlencode([("format", "JSON"), ("lang", self.lang), *spec.filters]),
            )
            for spec in self.datasets.values()
        ]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is a well-formed JSON-stat answer for `resource`."""
        self._decode(resource, payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """Every cell with a value or a status flag as one row with `COLUMNS`."""
        cube = self._decode(resource, payload)
        spec = self._spec(resource)
        edition = cube.edition or self.config.edition
        names = [d.name for d in cube.dimensions]
        sizes = [len(d.codes) for d in cube.dimensions]
        strides = _strides(sizes)
        series_dims = [i for i, name in enumerate(names) if name not in ("geo", "time")]
        id_dims = [i for i in series_dims if names[i] != "freq"]
        unit_at, geo_at, time_at = names.index("unit"), names.index("geo"), names.index("time")
        prefix = f"eurostat.{slug(spec.code)}"

        columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        series_cache: dict[tuple[int, ...], tuple[str, str, str, UnitSpec]] = {}
        for flat in sorted(cube.cells):
            value, status = cube.cells[flat]
            position = [(flat // strides[i]) % sizes[i] for i in range(len(sizes))]
            key = tuple(position[i] for i in series_dims)
            if key not in series_cache:
                dims = cube.dimensions
                series_key = ".".join(dims[i].codes[position[i]] for i in series_dims)
                indicator_id = ".".join(
                    [prefix, *(slug(dims[i].codes[position[i]]) for i in id_dims)]
                )
                unit = spec.units[dims[unit_at].codes[position[unit_at]]]
                parts = [dims[i].labels[position[i]] for i in id_dims if i != unit_at]
                label = f"{', '.join(parts) or spec.code} ({unit.unit})"
                series_cache[key] = (series_key, indicator_id, label, unit)
            series_key, indicator_id, label, unit = series_cache[key]
            geo = cube.dimensions[geo_at]
            columns["dataset"].append(spec.code)
            columns["series_key"].append(series_key)
            columns["indicator_id"].append(indicator_id)
            columns["indicator_label"].append(label)
            columns["geo"].append(geo.codes[position[geo_at]])
            columns["geo_label"].append(geo.labels[position[geo_at]])
            columns["year"].append(int(cube.dimensions[time_at].codes[position[time_at]]))
            columns["value"].append(math.nan if value is None else float(value))
            columns["obs_status"].append(status)
            columns["unit"].append(unit.unit)
            columns["scale"].append(unit.scale)
            columns["direction"].append(spec.direction)
            columns["edition"].append(edition)
        dtypes = {"year": "int64", "value": "float64"}
        return pd.DataFrame(
            {
                name: pd.Series(values, dtype=dtypes.get(name, "str"))
                for name, values in columns.items()
            },
            columns=list(COLUMNS),
        )

    def narrow(self, resource: Resource, url: str, error: HttpError) -> list[str] | None:
        """Split a query refused with 413 `EXTRACTION_TOO_BIG` into two narrower ones; turn
        any other refusal that carries Eurostat's JSON error body into a `PayloadError` with
        the API's label; None (the HTTP error stands) when there is no such body."""
        label = _error_label(error.body)
        if error.status == 413 and _TOO_BIG.encode() in (error.body or b""):
            parts = self._split(resource, url)
            if parts:
                return parts
            raise PayloadError(
                f"Eurostat {resource.name}: the API refused {url} as too big "
                f"({label or _TOO_BIG}) and it cannot be split further (one year, no geo "
                f"list): add filters (geo, or another dimension) to the {resource.name} "
                f"entry of {REGISTRY}"
            )
        if label:
            raise PayloadError(
                f"Eurostat {resource.name}: the API answered HTTP {error.status} to {url}: "
                f"{label}; check the dataset code and filters in {REGISTRY}"
            )
        return None

    # -- narrowing -----------------------------------------------------------------------

    def _split(self, resource: Resource, url: str) -> list[str] | None:
        """Two URLs that together ask for what `url` asks for, or None when nothing splits."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)

        def rebuild(pairs: Sequence[tuple[str, str]]) -> str:
            return urlunsplit(parts._replace(query=urlencode(list(pairs))))

        def halves(dimension: str) -> list[str] | None:
            values = [v for k, v in query if k == dimension]
            if len(values) < 2:
                return None
            middle = len(values) // 2
            others = [(k, v) for k, v in query if k != dimension]
            return [
                rebuild([*others, *((dimension, v) for v in chunk)])
                for chunk in (values[:middle], values[middle:])
            ]

        found = halves("time") or self._split_years(query, rebuild) or halves("geo")
        if found:
            return found
        lists = {k for k, _ in query if k not in _NOT_FILTERS | {"time", "geo"}}
        for dimension in sorted(lists, key=lambda k: -sum(1 for key, _ in query if key == k)):
            found = halves(dimension)
            if found:
                return found
        return None

    @staticmethod
    def _split_years(query: list[tuple[str, str]], rebuild: Any) -> list[str] | None:
        """Split a `sinceTimePeriod`..`untilTimePeriod` range (open-ended: up to this year,
        the last half staying open so later years are still asked for) in two."""
        since = [v for k, v in query if k == "sinceTimePeriod"]
        if not since or not _YEAR.match(since[0]) or any(k == "time" for k, _ in query):
            return None
        until = [v for k, v in query if k == "untilTimePeriod"]
        first = int(since[0])
        last = int(until[0]) if until and _YEAR.match(until[0]) else datetime.now(UTC).year
        if last <= first:
            return None
        middle = (first + last) // 2
        others = [(k, v) for k, v in query if k not in ("sinceTimePeriod", "untilTimePeriod")]
        upper = [("sinceTimePeriod", str(middle + 1))] + (
            [("untilTimePeriod", until[0])] if until else []
        )
        return [
            rebuild([*others, ("sinceTimePeriod", str(first)), ("untilTimePeriod", str(middle))]),
            rebuild([*others, *upper]),
        ]

    # -- checking ------------------------------------------------------------------------

    def _spec(self, resource: Resource) -> DatasetSpec:
        spec = self.datasets.get(resource.name)
        if spec is None:
            raise PayloadError(f"Eurostat: {resource.name!r} is not a dataset of {REGISTRY}")
        return spec

    def _decode(self, resource: Resource, payload: bytes) -> _Cube:
        """Decode and check one response; PayloadError says what is wrong with it."""
        spec = self._spec(resource)
        where = f"Eurostat {resource.name}"
        if not payload or not payload.strip():
            raise PayloadError(f"{where}: empty response body")
        try:
            body = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PayloadError(
                f"{where}: response is not valid JSON (truncated, or an HTML error page; "
                f"{len(payload):,} bytes): {error}"
            ) from None
        if not isinstance(body, dict):
            raise PayloadError(f"{where}: expected a JSON-stat object, got {type(body).__name__}")
        label = _label_of(body)
        if label is not None:
            raise PayloadError(
                f"{where}: the API returned an error instead of data ({label}); "
                f"check the dataset code and filters in {REGISTRY}"
            )
        if body.get("class") != "dataset" or str(body.get("version")) != "2.0":
            raise PayloadError(
                f"{where}: not a JSON-stat 2.0 dataset (class {body.get('class')!r}, "
                f"version {body.get('version')!r}); ask for format=JSON"
            )
        extension = body.get("extension")
        served = extension.get("id") if isinstance(extension, dict) else None
        if served is not None and str(served).lower() != spec.code:
            raise PayloadError(f"{where}: the response is dataset {served!r}, not {spec.code!r}")

        dimensions = _dimensions(where, body)
        names = [d.name for d in dimensions]
        for required in ("geo", "time", "unit"):
            if required not in names:
                raise PayloadError(
                    f"{where}: no {required!r} dimension (dimensions: {', '.join(names)})"
                )
        for dimension in dimensions:
            _check_categories(where, spec, dimension)
        total = math.prod(len(d.codes) for d in dimensions)
        values = _cells(where, "value", body.get("value"), total, numeric=True)
        statuses = _cells(where, "status", body.get("status"), total, numeric=False)
        cells = {
            flat: (values.get(flat), str(statuses.get(flat) or ""))
            for flat in sorted(set(values) | set(statuses))
            if values.get(flat) is not None or statuses.get(flat) not in (None, "")
        }

        updated = body.get("updated")
        edition = None
        if updated is not None:
            match = _UPDATED.match(str(updated))
            if not match:
                raise PayloadError(f"{where}: `updated` {updated!r} is not an ISO 8601 date")
            edition = match[1]
        return _Cube(tuple(dimensions), cells, edition)


def _strides(sizes: Sequence[int]) -> list[int]:
    """Row-major strides: the last dimension varies fastest."""
    strides = [1] * len(sizes)
    for i in range(len(sizes) - 2, -1, -1):
        strides[i] = strides[i + 1] * sizes[i + 1]
    return strides


def _error_label(payload: bytes | None) -> str | None:
    """The API's error as one line ("HTTP 413, id 413: EXTRACTION_TOO_BIG: ..."), when
    `payload` is Eurostat's JSON error body (`error` an object or an array of them)."""
    if not payload:
        return None
    try:
        body = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return _label_of(body)


def _label_of(body: Any) -> str | None:
    """The one-line error of a decoded body, None when it is not an error body."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    errors = body["error"] if isinstance(body["error"], list) else [body["error"]]
    parts = []
    for error in errors:
        if isinstance(error, dict):
            head = ", ".join(
                f"{name} {error[key]}" for key, name in (("status", "HTTP"), ("id", "id"))
                if error.get(key) is not None
            )  # fmt: skip
            text = str(error.get("label") or error.get("message") or "no label")
            parts.append(f"{head}: {text}" if head else text)
        else:
            parts.append(str(error))
    return "; ".join(parts) or "empty error"


def _dimensions(where: str, body: Mapping[str, Any]) -> list[_Dimension]:
    ids, sizes, described = body.get("id"), body.get("size"), body.get("dimension")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise PayloadError(f"{where}: `id` must be a non-empty array of dimension names")
    if len(set(ids)) != len(ids):
        raise PayloadError(f"{where}: `id` repeats a dimension ({ids})")
    if (
        not isinstance(sizes, list)
        or len(sizes) != len(ids)
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in sizes)
    ):
        raise PayloadError(
            f"{where}: `size` must be {len(ids)} non-negative integers, one per `id` entry "
            f"(got {sizes!r})"
        )
    if not isinstance(described, dict):
        raise PayloadError(f"{where}: no `dimension` object")
    dimensions = []
    for name, size in zip(ids, sizes, strict=True):
        dimension = described.get(name)
        category = dimension.get("category") if isinstance(dimension, dict) else None
        if not isinstance(category, dict):
            raise PayloadError(f"{where}: dimension {name!r} has no `category` object")
        labels = category.get("label") or {}
        if not isinstance(labels, dict):
            raise PayloadError(f"{where}: dimension {name!r}: `category.label` is not an object")
        index = category.get("index")
        if index is None and size == 1 and len(labels) == 1:
            codes = list(labels)  # JSON-stat lets a one-category dimension omit its index
        elif isinstance(index, list):
            codes = [str(code) for code in index]
        elif isinstance(index, dict):
            positions = (
                sorted(index.values())
                if all(isinstance(p, int) and not isinstance(p, bool) for p in index.values())
                else None
            )
            if positions != list(range(len(index))):
                raise PayloadError(
                    f"{where}: dimension {name!r}: `category.index` positions are not "
                    f"0..{len(index) - 1}"
                )
            codes = sorted(index, key=index.__getitem__)
        else:
            raise PayloadError(f"{where}: dimension {name!r} has no `category.index`")
        if len(codes) != size or len(set(codes)) != len(codes):
            raise PayloadError(
                f"{where}: dimension {name!r} has {len(set(codes))} distinct categories "
                f"but `size` says {size}"
            )
        dimensions.append(
            _Dimension(name, tuple(codes), tuple(str(labels.get(c) or c) for c in codes))
        )
    return dimensions


def _check_categories(where: str, spec: DatasetSpec, dimension: _Dimension) -> None:
    """Categories the query did not ask for (a filter the API ignored), a unit the registry
    does not describe, a period that is not a year: all fail."""
    allowed = spec.allowed(dimension.name)
    if allowed is not None:
        extra = sorted(set(dimension.codes) - allowed)
        if extra:
            raise PayloadError(
                f"{where}: dimension {dimension.name!r} has categories the query did not ask "
                f"for: {', '.join(extra)} (a filter was ignored?)"
            )
    if dimension.name == "unit":
        unknown = sorted(set(dimension.codes) - set(spec.units))
        if unknown:
            raise PayloadError(
                f"{where}: unit code(s) {', '.join(unknown)} are not declared under "
                f"`units` of {spec.code} in {REGISTRY}; declare their unit text and scale"
            )
    elif dimension.name == "time":
        odd = [code for code in dimension.codes if not _YEAR.match(code)]
        if odd:
            raise PayloadError(
                f"{where}: time period(s) {', '.join(odd[:5])} are not years; the pipeline "
                "reads annual data only (filter freq=A)"
            )
        since = spec.since()
        early = [code for code in dimension.codes if since is not None and int(code) < since]
        if early:
            raise PayloadError(
                f"{where}: years {', '.join(early[:5])} are before sinceTimePeriod {since} "
                "(a filter was ignored?)"
            )
    elif dimension.name == "freq" and len(dimension.codes) != 1:
        raise PayloadError(
            f"{where}: several frequencies ({', '.join(dimension.codes)}); filter freq=A"
        )
    if dimension.name not in _NOT_SERIES:
        slugs = [slug(code) for code in dimension.codes]
        if len(set(slugs)) != len(slugs):
            raise PayloadError(
                f"{where}: dimension {dimension.name!r} has codes that give the same id part "
                f"({', '.join(dimension.codes)})"
            )


def _cells(where: str, key: str, cells: Any, total: int, *, numeric: bool) -> dict[int, Any]:
    """`value` or `status` as {flat index: entry}, whether sparse (object), dense (array) or,
    for status, one string for every cell; null entries are left out."""
    if cells is None:
        if numeric:
            raise PayloadError(f"{where}: no `value`")
        return {}
    if isinstance(cells, str) and not numeric:
        return dict.fromkeys(range(total), cells)
    if isinstance(cells, list):
        if len(cells) != total:
            raise PayloadError(
                f"{where}: `{key}` is an array of {len(cells)} entries, but the dimension "
                f"sizes make {total} cells"
            )
        items = [(flat, entry) for flat, entry in enumerate(cells) if entry is not None]
    elif isinstance(cells, dict):
        items = []
        for text, entry in cells.items():
            if not (isinstance(text, str) and text.isascii() and text.isdigit()):
                raise PayloadError(f"{where}: `{key}` key {text!r} is not a cell index")
            flat = int(text)
            if flat >= total:
                raise PayloadError(
                    f"{where}: `{key}` key {flat} is outside the {total} cells of the cube"
                )
            if entry is not None:
                items.append((flat, entry))
    else:
        raise PayloadError(f"{where}: `{key}` must be an object or an array")
    for flat, entry in items:
        bad = (
            isinstance(entry, bool)
            or not isinstance(entry, int | float)
            or not math.isfinite(entry)
            if numeric
            else not isinstance(entry, str)
        )
        if bad:
            kind = "a number" if numeric else "a text flag"
            raise PayloadError(f"{where}: `{key}` of cell {flat} is {entry!r}, not {kind}")
    return dict(items)
