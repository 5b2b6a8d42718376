"""FATF "black" and "grey" lists: the jurisdictions named after each FATF plenary.

The FATF publishes no data file. After each plenary (February, June, October) it posts two
public statements on fatf-gafi.org, as HTML pages:

- "High-risk jurisdictions subject to a call for action" (the "black list"),
  `.../High-risk-and-other-monitored-jurisdictions/Call-for-action-<month>-<year>.html`;
- "Jurisdictions under increased monitoring" (the "grey list"),
  `.../High-risk-and-other-monitored-jurisdictions/Increased-monitoring-<month>-<year>.html`.

The registry lists the plenaries to read (`plenaries:`, plenary `YYYY-MM` -> statement
date); one resource per list and plenary, named `<list>.<YYYY-MM>`. Add a line after each
plenary.

Two payload forms, told apart by their first byte, go through the same checks:

- **the statement page** (live). The site is built from Adobe AEM core components: the
  page heading says which statement and which date it is ("Jurisdictions under Increased
  Monitoring - 13 June 2025"), section headings are `h2.cmp-title__text`, and each
  jurisdiction is an `h3.cmp-title__text` (names as FATF writes them, sometimes in capitals
  on the call-for-action page). Jurisdictions after the increased-monitoring page's section
  "Jurisdictions no longer subject to increased monitoring" are *removed* ones, not listed.
  A page for another statement or another plenary, an error page, or a page on which no
  jurisdiction heading is found (the structure changed) is a `PayloadError`, never an
  empty list.
- **the curated CSV** (the bundled offline snapshot, one file per plenary, as in
  `../shared/data/fatf/`): `iso2, country_name, list, as_of_plenary`, read by header name.
  Namibia's alpha-2 is `NA`: nothing is read as a missing-value marker.

`parse()` returns one row per plenary, list and jurisdiction: `plenary` (`YYYY-MM`),
`statement_date` (the date FATF published the statement), `list` (`call_for_action` or
`increased_monitoring`), `country_name` as published (the harmoniser places it), `iso2`
(the curated CSV's code; null from a page) and `form` (`statement_page` or
`curated_csv`).

Stable ids built on this table (see `sql/staging/fatf.sql`,
`sql/intermediate/fatf_events.sql`):

- indicators `fatf.call_for_action` and `fatf.increased_monitoring`: 1 for a jurisdiction
  on that list as of the latest plenary of a year (year = plenary year, edition = that
  plenary, unit `listed (1/0)`). Only listed jurisdictions have rows: absence means "not
  listed at that plenary", and no 0 rows are invented for the rest of the world.
- events `fatf.listed`, `fatf.delisted`, `fatf.list_changed` (between the two lists),
  comparing consecutive plenaries in the data, and `fatf.listed_as_of` for the membership
  at the first plenary known, whose listing date the data cannot tell.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from typing import ClassVar, Final

import pandas as pd

from extra_pipeline.sources.base import PayloadError, Resource, SourceConfig, SourceConnector

#: list id -> (the page's name in the URL, words its heading must contain, readable name)
LISTS: Final[dict[str, tuple[str, str, str]]] = {
    "call_for_action": ("Call-for-action", "call for action", "call-for-action (black) list"),
    "increased_monitoring": (
        "Increased-monitoring",
        "increased monitoring",
        "increased-monitoring (grey) list",
    ),
}

#: The columns of `parse()`'s output, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "plenary",
    "statement_date",
    "list",
    "country_name",
    "iso2",
    "form",
)
CSV_HEADER: Final[tuple[str, ...]] = ("iso2", "country_name", "list", "as_of_plenary")

_PLENARY = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTHS: Final[tuple[str, ...]] = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
# "13 June 2025" in the page heading or the dateline ("Paris, 13 June 2025").
_PAGE_DATE = re.compile(r"\b(\d{1,2})\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b", re.IGNORECASE)
# The increased-monitoring page's closing section names jurisdictions that left the list.
_NO_LONGER = re.compile(r"\bno\s+longer\b", re.IGNORECASE)
_TITLE_CLASS = "cmp-title__text"
_ERROR_TITLES = re.compile(
    r"page not found|not found|error|access denied|just a moment|unavailable|forbidden",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Target:
    """What one resource is: a list at a plenary."""

    list: str
    plenary: str
    statement_date: date


class FatfConnector(SourceConnector):
    """FATF call-for-action and increased-monitoring lists, one resource per list and plenary.

    Emits one row per plenary, list and listed jurisdiction (names as FATF writes them);
    reads the statement pages live and the curated CSV offline, with the same checks.
    """

    source_id: ClassVar[str] = "fatf"
    country_column: ClassVar[str] = "country_name"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.plenaries = _plenaries(config.options.get("plenaries"))

    def resources(self) -> list[Resource]:
        """Both statement pages of every registry plenary, oldest plenary first."""
        base = self.config.base_url + self.config.options.get("path", "")
        resources = []
        for plenary in sorted(self.plenaries):
            year, month = plenary.split("-")
            for list_id, (page, _, _) in LISTS.items():
                url = f"{base}/{page}-{_MONTHS[int(month) - 1]}-{year}.html"
                resources.append(Resource(f"{list_id}.{plenary}", url))
        return resources

    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` unless `payload` names at least one jurisdiction of the
        resource's list and plenary (statement page or curated CSV)."""
        self._rows(resource, payload)

    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """The jurisdictions of the resource's list at its plenary (`COLUMNS`)."""
        target = self._target(resource)
        names, codes, form = self._rows(resource, payload)
        return pd.DataFrame(
            {
                "plenary": target.plenary,
                "statement_date": pd.Series([target.statement_date] * len(names), dtype=object),
                "list": target.list,
                "country_name": names,
                # dtype str: a page's all-null codes are still a text column in DuckDB
                "iso2": pd.Series(codes, dtype="str"),
                "form": form,
            },
            columns=list(COLUMNS),
        )

    # -- internals -----------------------------------------------------------------------

    def _target(self, resource: Resource) -> _Target:
        list_id, _, plenary = resource.name.partition(".")
        if list_id not in LISTS or plenary not in self.plenaries:
            raise ValueError(f"fatf: {resource.name!r} is not a resource of this connector")
        return _Target(list_id, plenary, self.plenaries[plenary])

    def _rows(self, resource: Resource, payload: bytes) -> tuple[list[str], list[str | None], str]:
        target = self._target(resource)
        where = f"fatf {resource.name}"
        text = _decode(where, payload)
        if text.lstrip().startswith("<"):
            names = read_statement_page(where, text, target)
            return names, [None] * len(names), "statement_page"
        rows = read_curated_csv(where, text)
        mine = [r for r in rows if (r["list"], r["as_of_plenary"]) == (target.list, target.plenary)]
        if not mine:
            found = sorted({f"{r['list']} {r['as_of_plenary']}" for r in rows})
            raise PayloadError(
                f"{where}: the curated CSV has no row for {target.list} at plenary "
                f"{target.plenary} (it holds: {', '.join(found)}); FATF lists are never "
                "empty: point the bundle's manifest at the CSV of that plenary"
            )
        return [r["country_name"] for r in mine], [r["iso2"] for r in mine], "curated_csv"


def _plenaries(value: object) -> dict[str, date]:
    """The registry's `plenaries:` mapping, checked: `YYYY-MM` -> the statement date."""
    if not isinstance(value, dict) or not value:
        raise ValueError(
            "assets/sources/fatf.yaml: `plenaries:` must map each plenary (YYYY-MM) to the "
            "date of its public statements (YYYY-MM-DD)"
        )
    plenaries = {}
    for plenary, when in value.items():
        plenary = str(plenary)
        match = _PLENARY.match(plenary)
        try:
            day = when if isinstance(when, date) else date.fromisoformat(str(when))
        except ValueError:
            day = None
        if not match or day is None or (day.year, day.month) != tuple(map(int, match.groups())):
            raise ValueError(
                f"assets/sources/fatf.yaml: plenary {plenary!r} -> {when!r}: expected "
                "'YYYY-MM': 'YYYY-MM-DD' with the date in that month"
            )
        plenaries[plenary] = day
    return plenaries


def _decode(where: str, payload: bytes) -> str:
    if not payload.strip():
        raise PayloadError(f"{where}: empty payload")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{where}: not UTF-8 text ({error})") from None


# -- the statement page -------------------------------------------------------------------


class _StatementParser(HTMLParser):
    """Collects the page title, the h1 text and every `cmp-title__text` heading in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.text = ""  # all visible text, for the dateline
        self.headings: list[tuple[str, str]] = []  # (tag, text) of cmp-title headings
        self._open: list[tuple[str, bool]] = []  # (tag, is a cmp-title heading)
        self._buffer: list[str] = []
        self._skip = 0  # inside <script>/<style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("title", "h1", "h2", "h3", "h4"):
            classes = (dict(attrs).get("class") or "").split()
            self._open.append((tag, _TITLE_CLASS in classes))
            self._buffer = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if self._open and self._open[-1][0] == tag:
            _, is_title = self._open.pop()
            content = " ".join("".join(self._buffer).split())
            if tag == "title":
                self.title = content
            elif tag == "h1" and not self.h1:
                self.h1 = content
            elif is_title and tag in ("h2", "h3"):
                self.headings.append((tag, content))

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text += data
        if self._open:
            self._buffer.append(data)


def read_statement_page(where: str, html: str, target: _Target) -> list[str]:
    """The jurisdictions a FATF statement page lists (in page order), checked against the
    list and plenary it should be for."""
    parser = _StatementParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception as error:  # html.parser is lenient; anything raised is a broken page
        raise PayloadError(f"{where}: the HTML cannot be read ({error})") from error
    heading = parser.h1 or parser.title
    _, words, label = LISTS[target.list]
    if not re.search(words.replace(" ", r"\s+"), heading, re.IGNORECASE):
        kind = "an error page" if _ERROR_TITLES.search(heading) else "another page"
        raise PayloadError(
            f"{where}: expected the FATF statement on the {label} but got {kind} "
            f"(heading {heading[:120]!r}); check the URL in assets/sources/fatf.yaml"
        )
    dated = _PAGE_DATE.search(heading) or _PAGE_DATE.search(parser.text)
    if dated is None:
        raise PayloadError(f"{where}: the statement page states no date (heading {heading!r})")
    year, month = int(dated[3]), _MONTHS.index(dated[2].lower()) + 1
    if f"{year:04d}-{month:02d}" != target.plenary:
        raise PayloadError(
            f"{where}: the page is the statement of {dated[2].title()} {year}, not of plenary "
            f"{target.plenary}: FATF may have redirected an old URL; check the registry's plenaries"
        )
    names: list[str] = []
    for tag, text in parser.headings:
        if tag == "h2":
            if _NO_LONGER.search(text):
                break  # the rest of the page names jurisdictions that left the list
            continue
        if text:
            names.append(text)
    if not names:
        raise PayloadError(
            f"{where}: no jurisdiction list found on the {label} page (no "
            f"h3.{_TITLE_CLASS} heading before any 'no longer ...' section): the page "
            "structure has changed; update read_statement_page in extra_pipeline/sources/fatf.py"
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise PayloadError(f"{where}: the page names {duplicated} more than once")
    return names


# -- the curated CSV -----------------------------------------------------------------------


def read_curated_csv(where: str, text: str) -> list[dict[str, str]]:
    """The curated CSV's rows (every cell a stripped string), checked: header, list ids,
    plenary form, two-letter codes, one row per plenary and code."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise PayloadError(f"{where}: malformed CSV ({error}); truncated download?") from None
    if not rows:
        raise PayloadError(f"{where}: empty CSV")
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in CSV_HEADER if c not in header]
    if missing:
        raise PayloadError(
            f"{where}: not the curated FATF list CSV: column(s) {missing} missing "
            f"(header {header[:8]}); expected {', '.join(CSV_HEADER)}"
        )
    if not text.endswith("\n"):
        raise PayloadError(f"{where}: the CSV does not end with a line break: truncated?")
    out = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise PayloadError(
                f"{where}: line {number} has {len(row)} fields, the header {len(header)}"
            )
        record = {column: cell.strip() for column, cell in zip(header, row, strict=True)}
        at = f"{where}: line {number}"
        if record["list"] not in LISTS:
            raise PayloadError(f"{at}: list {record['list']!r} is not one of {', '.join(LISTS)}")
        if not _PLENARY.match(record["as_of_plenary"]):
            raise PayloadError(f"{at}: as_of_plenary {record['as_of_plenary']!r} is not YYYY-MM")
        if not re.fullmatch(r"[A-Z]{2}", record["iso2"]):
            raise PayloadError(f"{at}: iso2 {record['iso2']!r} is not a two-letter code")
        if not record["country_name"]:
            raise PayloadError(f"{at}: country_name is empty")
        key = (record["as_of_plenary"], record["iso2"])
        if key in seen:
            raise PayloadError(f"{at}: {key[1]} appears twice at plenary {key[0]}")
        seen.add(key)
        out.append(record)
    if not out:
        raise PayloadError(f"{where}: the CSV has a header but no rows")
    return out
