"""OpenSanctions crime-related target lists: `targets.simple.csv` of each registry dataset.

OpenSanctions publishes every dataset as a flat CSV of its target entities at
`https://data.opensanctions.org/datasets/latest/<dataset>/targets.simple.csv` (one
resource per dataset named in the registry's `datasets:`, e.g. `ransomwhere`, the
ransomwhe.re ransomware payment addresses, or `crime`, the collection of warrants and
criminal entities). Data licence: CC BY-NC 4.0 (non-commercial; commercial use needs an
OpenSanctions licence).

The format, as read here:

- one row per entity; the columns vary by export and are read BY HEADER NAME. `id`,
  `schema` (the FollowTheMoney type: Person, Organization, CryptoWallet, ...) and `name`
  are required: without one of them the file is not a target list (`PayloadError`). The
  others are optional: a missing one is a null column (`OPTIONAL`); columns this module
  does not know are ignored. Personal contact data (`birth_date`, `addresses`, `phones`,
  `emails`) is deliberately not kept: listings need who and where, not how to reach them.
- multi-valued cells are `;`-joined (aliases, countries, identifiers, sanctions, the
  dataset titles in `dataset`); they are kept as published.
- `countries` holds lower-case ISO 3166 alpha-2 codes (`ru`, `us`), OpenSanctions' `xk`,
  and ISO 3166-3 codes of former countries (`suhh`, `cshh`, `yucs`, ...). `parse()`
  explodes it: one row per entity and country, `country_code` as published (the harmoniser
  adds `iso3`); an entity without a country is one row with a null `country_code`, so a
  null `iso3` there means "no country", not "unmatched".
- a truncated download (no final line break, a quoted cell cut off, a short row), an HTML
  page served with HTTP 200, a header-only file and a repeated entity id are
  `PayloadError`s.

Marking: persons' data is TLP:AMBER. The registry marks the whole source AMBER (the crime
datasets hold Person entities), and each row carries its own `marking` (`amber` for schema
Person, `clear` otherwise), so a later per-row publication can release the rest.

Listing ids: `listing_id` in `marts.fct_listing` is the OpenSanctions entity `id` (stable
across releases), with the `dataset` it was read from.
"""

from __future__ import annotations

import csv
import io
import re
from typing import ClassVar, Final

import pandas as pd

from extra_pipeline.markings import Marking
from extra_pipeline.sources.base import PayloadError, Resource, SourceConfig, SourceConnector

#: Columns a target list must have.
REQUIRED: Final[tuple[str, ...]] = ("id", "schema", "name")
#: Output column <- the export's header, for the optional columns kept.
OPTIONAL: Final[dict[str, str]] = {
    "aliases": "aliases",
    "countries": "countries",
    "identifiers": "identifiers",
    "sanctions": "sanctions",
    "dataset_titles": "dataset",  # the titles of the datasets the entity is in, ;-joined
    "first_seen": "first_seen",
    "last_seen": "last_seen",
    "last_change": "last_change",
}
#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "dataset",
    "id",
    "schema",
    "name",
    "aliases",
    "countries",
    "country_code",
    "identifiers",
    "sanctions",
    "dataset_titles",
    "first_seen",
    "last_seen",
    "last_change",
    "marking",
)
#: Schemas whose rows are personal data (TLP:AMBER row marking).
PERSONAL_SCHEMAS: Final[frozenset[str]] = frozenset({"Person"})
SEPARATOR: Final = ";"

_DATASET = re.compile(r"^[a-z0-9_]+$")
_SCHEMA = re.compile(r"^[A-Z][A-Za-z]+$")
# OpenSanctions timestamps: 2023-04-20T15:28:17 (seconds, sometimes fractions); dates too.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_TIME_COLUMNS: Final[tuple[str, ...]] = ("first_seen", "last_seen", "last_change")


class OpenSanctionsConnector(SourceConnector):
    """OpenSanctions `targets.simple.csv`, one resource per registry dataset.

    Emits one row per entity and country it is linked to (one row with a null country for
    entities without one), with a per-row TLP marking (persons AMBER).
    """

    source_id: ClassVar[str] = "opensanctions"
    country_column: ClassVar[str] = "country_code"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        datasets = config.options.get("datasets")
        if not isinstance(datasets, list) or not datasets:
            raise ValueError(
                "assets/sources/opensanctions.yaml: `datasets:` must list at least one "
                "OpenSanctions dataset name (e.g. ransomwhere)"
            )
        bad = [d for d in datasets if not isinstance(d, str) or not _DATASET.match(d)]
        if bad:
            raise ValueError(
                f"assets/sources/opensanctions.yaml: {bad} are not dataset names "
                "(lower-case letters, digits, _)"
            )
        self.datasets: list[str] = list(datasets)

    def resources(self) -> list[Resource]:
        """`targets.simple.csv` of every registry dataset."""
        return [
            Resource(name, f"{self.config.base_url}/datasets/latest/{name}/targets.simple.csv")
            for name in self.datasets
        ]

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` is a complete target list CSV."""
        read_targets(resource.name, payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """One row per entity and country (`COLUMNS`), multi-valued cells as published."""
        records = read_targets(resource.name, payload)
        rows = []
        for record in records:
            codes = split_values(record["countries"])
            marking = (
                Marking.AMBER if record["schema"] in PERSONAL_SCHEMAS else Marking.CLEAR
            ).slug
            for code in codes or [None]:
                rows.append(
                    {**record, "dataset": resource.name, "country_code": code, "marking": marking}
                )
        # dtype str: an optional column that is null throughout stays a text column
        return pd.DataFrame(rows, columns=list(COLUMNS)).astype("str")


def split_values(cell: str | None) -> list[str]:
    """A `;`-joined cell as its distinct values, in order; empty parts dropped."""
    if not cell:
        return []
    values = [part.strip() for part in cell.split(SEPARATOR)]
    return list(dict.fromkeys(v for v in values if v))


def read_targets(dataset: str, payload: bytes) -> list[dict[str, str | None]]:
    """The entities of one `targets.simple.csv`, each with the required and known optional
    columns (None for an optional column the export lacks or an empty cell).

    Raises `PayloadError`, naming the dataset and line, for anything that is not a complete
    target list.
    """
    where = f"opensanctions {dataset} targets.simple.csv"
    if not payload.strip():
        raise PayloadError(f"{where}: empty payload")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{where}: not UTF-8 ({error})") from None
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype", "<html", "<?xml", "<")):
        raise PayloadError(
            f"{where}: got an HTML/XML page, not the CSV (starts {text.lstrip()[:60]!r}); "
            "the dataset name may be wrong or the site may be down"
        )
    if not text.endswith(("\n", "\r")):
        raise PayloadError(
            f"{where}: the file does not end with a line break: truncated download "
            f"({len(payload):,} bytes)"
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise PayloadError(
            f"{where}: malformed CSV near line {reader.line_num} ({error}): truncated?"
        ) from None
    header = [cell.strip() for cell in rows[0]]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise PayloadError(f"{where}: header repeats column(s) {duplicated}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PayloadError(
            f"{where}: required column(s) {missing} missing (header: {', '.join(header[:20])}); "
            "OpenSanctions may have changed the export: check the targets.simple.csv format"
        )
    index = {name: position for position, name in enumerate(header)}
    records: list[dict[str, str | None]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise PayloadError(
                f"{where}: line {number} has {len(row)} fields, the header {len(header)}: "
                "truncated or malformed"
            )
        record: dict[str, str | None] = {c: row[index[c]].strip() for c in REQUIRED}
        for column, source in OPTIONAL.items():
            value = row[index[source]].strip() if source in index else ""
            record[column] = value or None
        at = f"{where}: line {number}"
        if not record["id"]:
            raise PayloadError(f"{at}: empty id")
        if not _SCHEMA.match(record["schema"] or ""):
            raise PayloadError(f"{at} ({record['id']}): schema {record['schema']!r} is not a type")
        if record["id"] in seen:
            raise PayloadError(f"{at}: entity {record['id']} appears twice")
        seen.add(record["id"])  # type: ignore[arg-type]
        for column in _TIME_COLUMNS:
            value = record[column]
            if value is not None and not _TIMESTAMP.match(value):
                raise PayloadError(
                    f"{at} ({record['id']}): {column} {value!r} is not an ISO date/time"
                )
        records.append(record)
    if not records:
        raise PayloadError(f"{where}: a header but no entities: a dataset export is never empty")
    return records
