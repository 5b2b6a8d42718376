"""What every open-source connector shares: the registry entry, the bundled snapshot and
the fetch in each `EXTRA_SOURCES` mode.

A connector says *what* to fetch (its resources), how to follow pages, how to recognise a
payload that is not what the publisher serves, and how to parse one page. `SourceFetcher`
does the rest the same way for every source: conditional GET, validation before anything
is stored, content-addressed snapshots with provenance, and the `auto` fallback chain
(fresh fetch, else the newest stored fetch, else the bundled snapshot, loudly stale).
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import time
import uuid
import zipfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import yaml

from extra_pipeline.http import FetchResult, HttpClient, HttpError
from extra_pipeline.markings import Marking, parse_marking
from extra_pipeline.settings import PROJECT_ROOT, Settings, SourcesMode
from extra_pipeline.snapshots import Mode, Provenance, Snapshot, SnapshotStore, utc_now_iso

log = logging.getLogger(__name__)

ASSETS_DIR = PROJECT_ROOT / "assets"
#: one `<source_id>.yaml` per source (see its README.md)
REGISTRY_DIR = ASSETS_DIR / "sources"
BUNDLED_DIR = ASSETS_DIR / "snapshots"

#: A paginated source that keeps handing out "next" pages is a bug, not data.
MAX_PAGES = 500
#: How often a throttle reply (`Throttled`) is waited out before the fetch fails.
THROTTLE_ATTEMPTS = 3


class PayloadError(ValueError):
    """A payload that is not what the publisher serves: truncated, malformed or an error body."""


class Throttled(PayloadError):
    """The publisher's "slow down" reply, which some send with HTTP 200 (GDELT): not data.

    The fetcher waits `retry_after` seconds (at least the source's `min_interval_seconds`)
    and asks again, a few times, before it gives up as for any other bad payload.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceUnavailable(RuntimeError):
    """A source could not be had in the requested mode (and, in `auto`, from no fallback)."""


XLSX_MAGIC = b"PK\x03\x04"
#: a genuine publisher workbook unpacks to a few MB; far more is not it (decompression bomb)
MAX_UNPACKED_BYTES = 256 * 2**20


def check_xlsx_container(
    payload: bytes, what: str, *, max_unpacked: int = MAX_UNPACKED_BYTES
) -> None:
    """Fail fast, with a readable reason, on anything that is not an xlsx zip container:
    an empty body, an HTML error page served with HTTP 200, a truncated download, a zip that
    is not a workbook, or one that would unpack to more than `max_unpacked` bytes. `what`
    names the expected file in the message ("the GOCI workbook")."""
    if not payload:
        raise PayloadError(f"empty payload where {what} (xlsx) was expected")
    if not payload.startswith(XLSX_MAGIC):
        head = payload[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        kind = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else "not a zip"
        raise PayloadError(
            f"expected {what} (an xlsx zip archive) but got {kind} "
            f"({len(payload):,} bytes starting {payload[:60]!r}); check the registry path"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise PayloadError(
            f"{what} is truncated or corrupt ({len(payload):,} bytes): {error}"
        ) from error
    if "xl/workbook.xml" not in {member.filename for member in members}:
        raise PayloadError(f"a zip archive but not an xlsx workbook (no xl/workbook.xml): {what}?")
    unpacked = sum(member.file_size for member in members)
    if unpacked > max_unpacked:
        raise PayloadError(
            f"the workbook would unpack to {unpacked:,} bytes (limit {max_unpacked:,}): not {what}"
        )


def column_letter(column: object) -> str:
    """The spreadsheet letter of a 0-based grid column (0 -> A, 26 -> AA), for messages."""
    from openpyxl.utils.cell import get_column_letter

    return get_column_letter(int(column) + 1)  # type: ignore[call-overload]


def grid_rows(index: Iterable[object], limit: int = 5) -> str:
    """Spreadsheet row numbers of 0-based grid positions (position 0 is row 1), for messages."""
    positions = list(index)
    rows = [str(int(position) + 1) for position in positions[:limit]]  # type: ignore[call-overload]
    return ", ".join(rows) + (", ..." if len(positions) > limit else "")


@dataclass(frozen=True)
class SourceConfig:
    """One source's registry file (`assets/sources/<source_id>.yaml`), with the base URL
    resolved from the settings."""

    source_id: str
    title: str
    publisher: str
    licence: str
    base_url: str
    marking: Marking
    edition: str
    max_age_days: int
    bundled_dir: Path
    description: str = ""
    homepage: str = ""
    #: the module under `extra_pipeline/sources/` that holds the connector
    connector: str = ""
    #: the least time between two requests to the source (politeness, rate limits)
    min_interval_seconds: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def with_base_url(self, base_url: str | None) -> SourceConfig:
        """A copy pointing at another endpoint (tests, mirrors); None keeps this one."""
        if not base_url:
            return self
        return SourceConfig(**{**self.__dict__, "base_url": base_url.rstrip("/")})


_KNOWN_KEYS = {
    "title", "publisher", "licence", "base_url", "marking", "edition", "max_age_days",
    "bundled", "description", "homepage", "connector", "min_interval_seconds",
}  # fmt: skip
_SOURCE_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@cache
def _registry_entries(directory: Path) -> dict[str, dict[str, Any]]:
    entries = {}
    for path in sorted(directory.glob("*.yaml")):
        if not _SOURCE_ID.match(path.stem):
            raise ValueError(
                f"assets/sources/{path.name}: a source id is lower_snake_case (letters, digits, _)"
            )
        with path.open(encoding="utf-8") as handle:
            entry = yaml.safe_load(handle)
        if not isinstance(entry, dict):
            raise ValueError(f"assets/sources/{path.name}: expected a mapping of keys to values")
        entries[path.stem] = entry
    return entries


def load_registry(
    settings: Settings | None = None, directory: Path = REGISTRY_DIR
) -> dict[str, SourceConfig]:
    """Every registered source, with base URLs overridden from the settings where given."""
    base_urls = settings.base_urls if settings else {}
    registry: dict[str, SourceConfig] = {}
    for source_id, entry in _registry_entries(directory).items():
        missing = {"title", "publisher", "licence", "base_url"} - entry.keys()
        if missing:
            raise ValueError(f"assets/sources/{source_id}.yaml lacks {', '.join(sorted(missing))}")
        registry[source_id] = SourceConfig(
            source_id=source_id,
            title=entry["title"],
            publisher=entry["publisher"],
            licence=entry["licence"],
            base_url=(base_urls.get(source_id) or entry["base_url"]).rstrip("/"),
            # CLEAR unless the registry says otherwise (DESIGN: open sources are CLEAR).
            marking=parse_marking(entry.get("marking"), missing=Marking.CLEAR),
            edition=str(entry.get("edition", "")),
            max_age_days=int(entry.get("max_age_days", 365)),
            bundled_dir=BUNDLED_DIR / entry.get("bundled", source_id),
            description=" ".join(str(entry.get("description", "")).split()),
            homepage=entry.get("homepage", ""),
            connector=str(entry.get("connector") or source_id),
            min_interval_seconds=float(entry.get("min_interval_seconds") or 0.0),
            options={k: v for k, v in entry.items() if k not in _KNOWN_KEYS},
        )
    return registry


@dataclass(frozen=True)
class BundledManifest:
    """`assets/snapshots/<source>/manifest.yaml`: what the offline snapshot is and where it came from."""

    retrieved_at: str
    edition: str
    note: str
    synthetic: bool
    files: Mapping[str, tuple[Path, ...]]  # resource name -> page files, in order

    @classmethod
    def load(cls, folder: Path) -> BundledManifest:
        path = folder / "manifest.yaml"
        if not path.is_file():
            raise SourceUnavailable(
                f"no bundled snapshot: {path.relative_to(PROJECT_ROOT)} is missing"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        files = {
            name: tuple(folder / page for page in _as_list(spec["files"]))
            for name, spec in data["resources"].items()
        }
        return cls(
            retrieved_at=str(data["retrieved_at"]),
            edition=str(data.get("edition", "")),
            note=" ".join(str(data.get("note", "")).split()),
            synthetic=bool(data.get("synthetic", False)),
            files=files,
        )


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def read_bundled_file(path: Path) -> bytes:
    """The payload bytes of a bundled page (`.gz` files are stored compressed to keep the repo small)."""
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


@dataclass(frozen=True)
class Resource:
    """One thing a source publishes, fetched as one or more pages."""

    name: str
    url: str  # the first page, with its query string


@dataclass(frozen=True)
class Acquired:
    """A resource's pages as the pipeline will use them, with how they were obtained."""

    resource: Resource
    snapshots: tuple[Snapshot, ...]
    mode: Mode
    stale: bool
    note: str = ""
    #: set when the publisher could not be reached at all (connection error or timeout)
    unreachable: str | None = None

    @property
    def retrieved_at(self) -> str:
        return self.snapshots[0].provenance.retrieved_at


class SourceConnector(ABC):
    """One open source: its resources, paging, payload validation and parsing."""

    #: the source id (its registry file is `assets/sources/<source_id>.yaml`)
    source_id: ClassVar[str]
    #: the column of `parse()`'s output that names the country (harmonised to iso3)
    country_column: ClassVar[str]

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @abstractmethod
    def resources(self) -> list[Resource]:
        """What to fetch, first pages only."""

    def next_page_url(self, resource: Resource, payload: bytes, page: int) -> str | None:
        """The URL of page `page + 1` after `payload`, or None when `payload` was the last."""
        return None

    def narrow(self, resource: Resource, url: str, error: HttpError) -> list[str] | None:
        """Narrower requests that together cover `url`, when the publisher refused it as too
        big (Eurostat's 413 `EXTRACTION_TOO_BIG`, say); None re-raises `error`."""
        return None

    @abstractmethod
    def validate(self, resource: Resource, payload: bytes) -> None:
        """Raise `PayloadError` when `payload` is not a genuine page of `resource`
        (`Throttled` when it is the publisher's request to slow down)."""

    @abstractmethod
    def parse(self, resource: Resource, payload: bytes) -> pd.DataFrame:
        """One validated page as rows of the source's raw table (long format)."""

    def bundled_manifest(self) -> BundledManifest:
        return BundledManifest.load(self.config.bundled_dir)


@dataclass
class SourceFetcher:
    """Obtains every resource of a connector in the configured mode, recording provenance."""

    store: SnapshotStore
    client: HttpClient
    mode: SourcesMode
    on_progress: Callable[[str], None] = log.info
    #: waits go through these so tests can record them instead of sleeping
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _last_request: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def acquire(self, connector: SourceConnector) -> list[Acquired]:
        """Every resource of `connector`. In `auto` mode, once the publisher's host cannot be
        reached at all, the remaining resources fall back at once instead of each waiting
        out its own retries."""
        unreachable: str | None = None
        acquired = []
        for resource in connector.resources():
            item = self.acquire_resource(connector, resource, unreachable=unreachable)
            acquired.append(item)
            unreachable = unreachable or item.unreachable
        return acquired

    def acquire_resource(
        self, connector: SourceConnector, resource: Resource, *, unreachable: str | None = None
    ) -> Acquired:
        """One resource in the configured mode; `unreachable` skips the live attempt in `auto`."""
        source_id = connector.config.source_id
        if self.mode == "offline":
            return self._bundled(connector, resource, stale=False, note="offline mode")
        if unreachable and self.mode == "auto":
            reason = f"live fetch skipped: {unreachable}"
        else:
            try:
                return self._live(connector, resource)
            except (HttpError, PayloadError) as error:
                if self.mode == "live":
                    raise SourceUnavailable(f"{source_id} {resource.name}: {error}") from error
                reason = f"live fetch failed ({error})"
                if isinstance(error, HttpError) and error.kind in ("connection", "timeout"):
                    unreachable = f"{source_id} unreachable earlier in this run ({error.kind})"
        self.on_progress(f"{source_id} {resource.name}: {reason}; falling back")
        stored = self.store.latest_fetch(source_id, resource.name, modes=("live",))
        if stored:
            item = self._reuse(
                connector, resource, stored, note=f"{reason}; newest stored fetch used"
            )
        else:
            item = self._bundled(
                connector,
                resource,
                stale=True,
                note=f"{reason}; no stored fetch; bundled snapshot used",
            )
        return replace(item, unreachable=unreachable)

    def _live(self, connector: SourceConnector, resource: Resource) -> Acquired:
        config = connector.config
        pages: list[tuple[str, bytes, Snapshot | None, Any]] = []
        # (url, its page number in its chain of "next" pages); a request the publisher
        # refuses as too big is replaced, in place, by the narrower ones the connector names
        pending: deque[tuple[str, int]] = deque([(resource.url, 1)])
        while pending:
            if len(pages) + len(pending) > MAX_PAGES:
                raise PayloadError(f"more than {MAX_PAGES} pages from {resource.url}")
            url, page = pending.popleft()
            previous = self.store.latest_for_url(url)
            try:
                result = self._get(connector, resource, url, previous)
            except HttpError as error:
                narrower = connector.narrow(resource, url, error)
                if not narrower:
                    raise
                self.on_progress(
                    f"{config.source_id} {resource.name}: {error.detail} for {url}; "
                    f"asking again in {len(narrower)} narrower requests"
                )
                pending.extendleft((narrow, 1) for narrow in reversed(narrower))
                continue
            payload = previous.read() if (result.not_modified and previous) else result.content
            pages.append((url, payload, previous if result.not_modified else None, result))
            self.on_progress(
                f"{config.source_id} {resource.name}: page {len(pages)} ({len(payload):,} bytes)"
            )
            following = connector.next_page_url(resource, payload, page)
            if following is not None:
                pending.appendleft((following, page + 1))

        fetch_id = uuid.uuid4().hex
        now = utc_now_iso()
        snapshots = []
        for number, (page_url, payload, reused, result) in enumerate(pages, start=1):
            provenance = self._provenance(
                connector, resource, page_url, mode="live", retrieved_at=now, fetch_id=fetch_id,
                page=number, pages=len(pages),
                # a 304 may omit the validators: keep the stored ones for the next conditional GET
                etag=result.etag or (reused.provenance.etag if reused else None),
                last_modified=result.last_modified or (reused.provenance.last_modified if reused else None),
                note=f"304 Not Modified: payload of {reused.provenance.retrieved_at} reused" if reused else "",
            )  # fmt: skip
            snapshots.append(self.store.put(payload, provenance))
        return Acquired(resource, tuple(snapshots), mode="live", stale=False)

    def _get(
        self, connector: SourceConnector, resource: Resource, url: str, previous: Snapshot | None
    ) -> FetchResult:
        """One conditional GET, paced to the source's `min_interval_seconds`, its payload
        validated; a throttle reply is waited out and asked again, a few times at most."""
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            self._pace(connector)
            result = self.client.get(
                url,
                etag=previous.provenance.etag if previous else None,
                last_modified=previous.provenance.last_modified if previous else None,
            )
            if result.not_modified and previous is None:
                raise PayloadError(f"{url} answered 304 Not Modified but nothing is stored for it")
            payload = previous.read() if (result.not_modified and previous) else result.content
            try:
                # Validate every page before storing any: a bad page never becomes "the latest".
                connector.validate(resource, payload)
            except Throttled as throttled:
                if attempt == THROTTLE_ATTEMPTS:
                    raise PayloadError(
                        f"{throttled} (still throttled after {attempt} attempts)"
                    ) from throttled
                wait = max(throttled.retry_after or 0.0, connector.config.min_interval_seconds)
                self.on_progress(
                    f"{connector.config.source_id} {resource.name}: throttled ({throttled}); "
                    f"asking again in {wait:g} s"
                )
                self.sleep(wait)
                continue
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    def _pace(self, connector: SourceConnector) -> None:
        """Wait until the source's `min_interval_seconds` has passed since its last request."""
        source_id = connector.config.source_id
        interval = connector.config.min_interval_seconds
        last = self._last_request.get(source_id)
        if interval > 0 and last is not None:
            wait = interval - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_request[source_id] = self.clock()

    def _reuse(
        self, connector: SourceConnector, resource: Resource, stored: list[Snapshot], note: str
    ) -> Acquired:
        fetch_id = uuid.uuid4().hex
        snapshots = []
        for snapshot in stored:
            old = snapshot.provenance
            provenance = self._provenance(
                connector, resource, old.url, mode="stored", retrieved_at=old.retrieved_at,
                fetch_id=fetch_id, page=old.page, pages=old.pages, stale=True, note=note,
                edition=old.edition, etag=old.etag, last_modified=old.last_modified,
            )  # fmt: skip
            snapshots.append(self.store.put(snapshot.read(), provenance))
        return Acquired(resource, tuple(snapshots), mode="stored", stale=True, note=note)

    def _bundled(
        self, connector: SourceConnector, resource: Resource, *, stale: bool, note: str
    ) -> Acquired:
        manifest = connector.bundled_manifest()
        files = manifest.files.get(resource.name)
        if not files:
            raise SourceUnavailable(
                f"{connector.config.source_id}: the bundled snapshot has no resource {resource.name!r}"
            )
        fetch_id = uuid.uuid4().hex
        snapshots = []
        for number, path in enumerate(files, start=1):
            payload = read_bundled_file(path)
            connector.validate(resource, payload)
            provenance = self._provenance(
                connector, resource, resource.url, mode="bundled", retrieved_at=manifest.retrieved_at,
                fetch_id=fetch_id, page=number, pages=len(files), stale=stale,
                synthetic=manifest.synthetic, edition=manifest.edition or None,
                note="; ".join(part for part in (note, manifest.note) if part),
            )  # fmt: skip
            snapshots.append(self.store.put(payload, provenance))
        return Acquired(resource, tuple(snapshots), mode="bundled", stale=stale, note=note)

    @staticmethod
    def _provenance(
        connector: SourceConnector,
        resource: Resource,
        url: str,
        *,
        mode: Mode,
        retrieved_at: str,
        fetch_id: str,
        page: int,
        pages: int,
        stale: bool = False,
        synthetic: bool = False,
        edition: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        note: str = "",
    ) -> Provenance:
        config = connector.config
        return Provenance(
            source_id=config.source_id,
            resource=resource.name,
            url=url,
            sha256="",  # filled in by the store from the bytes
            bytes=0,
            retrieved_at=retrieved_at,
            used_at=utc_now_iso(),
            publisher=config.publisher,
            licence=config.licence,
            edition=edition or config.edition,
            mode=mode,
            synthetic=synthetic,
            stale=stale,
            fetch_id=fetch_id,
            page=page,
            pages=pages,
            etag=etag,
            last_modified=last_modified,
            note=note,
        )


def age_days(retrieved_at: str, now: datetime | None = None) -> float:
    """How old a payload is, in days, from its ISO 8601 `retrieved_at`."""
    moment = datetime.fromisoformat(retrieved_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - moment).total_seconds() / 86400
