"""Content-addressed raw snapshot store with one provenance record per payload use.

Layout under the root (the pipeline passes ``EXTRA_HOME/snapshots``)::

    blobs/sha256/<first2>/<sha256>                                  the raw bytes, once
    records/<source_id>/<YYYYMMDDTHHMMSSffffffZ>-<sha12>-<uuid8>.json  one per use

Blobs are immutable and deduplicated by content; records are append-only. Nothing is
ever deleted or rewritten, so the store doubles as the audit trail of what every run
used, and as the fallback when a live fetch fails. Reads are defensive: a corrupt record
is skipped with a warning and a blob whose bytes no longer match its name counts as
missing, so a damaged store degrades to "no snapshot" instead of crashing a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "Mode",
    "Provenance",
    "Snapshot",
    "SnapshotError",
    "SnapshotStore",
    "sha256_bytes",
    "utc_now_iso",
]

logger = logging.getLogger(__name__)

Mode = Literal["live", "stored", "bundled"]
MODES: frozenset[str] = frozenset(get_args(Mode))

RECORD_SCHEMA = "extra.snapshot-record/1"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# source ids become a directory name: keep them boring.
_SOURCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EPOCH = datetime.min.replace(tzinfo=UTC)


class SnapshotError(Exception):
    """A snapshot operation that cannot be done (for example a record for a missing blob)."""


def sha256_bytes(payload: bytes) -> str:
    """Hex sha256 of ``payload``: the blob's name and its integrity check."""
    return hashlib.sha256(payload).hexdigest()


def utc_now_iso() -> str:
    """Now, in the ISO 8601 UTC form provenance uses (microseconds, ``Z``)."""
    return _format_iso(datetime.now(UTC))


def _format_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive ones are taken as UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Provenance:
    """Where a raw payload came from and how a run used it: one per record file.

    ``sha256`` and ``bytes`` are filled by the store from the payload itself, and
    ``used_at`` by the store when it writes the record, so callers may leave them empty.
    """

    source_id: str
    resource: str  # logical resource of the source, e.g. "GOV_WGI_CC.EST" or "workbook"
    url: str  # where it came from (for bundled: the URL it stands for)
    sha256: str
    bytes: int
    retrieved_at: str  # ISO 8601 UTC; for stored/bundled: when originally retrieved
    used_at: str  # ISO 8601 UTC, when this record was written
    publisher: str
    licence: str
    edition: str
    mode: Mode
    synthetic: bool = False
    stale: bool = False  # served from a fallback instead of a fresh fetch
    fetch_id: str = ""  # groups the pages of one fetch of one resource
    page: int = 1
    pages: int = 1
    etag: str | None = None
    last_modified: str | None = None
    note: str = ""  # e.g. why a fallback was used, or how a bundled snapshot was built

    def __post_init__(self) -> None:
        if not _SOURCE_ID_RE.match(self.source_id or ""):
            raise ValueError(
                f"invalid source_id {self.source_id!r}: use letters, digits, '.', '_' or '-'"
            )
        if not self.resource:
            raise ValueError("provenance needs a resource")
        if self.mode not in MODES:
            raise ValueError(f"invalid mode {self.mode!r}: expected one of {sorted(MODES)}")
        if not 1 <= self.page <= self.pages:
            raise ValueError(f"invalid page {self.page} of {self.pages}")
        try:
            _parse_iso(self.retrieved_at)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"retrieved_at is not an ISO 8601 time: {self.retrieved_at!r}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the record file's content, minus its schema tag)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """Inverse of to_dict; unknown keys are ignored, wrong types raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError("a provenance record must be a JSON object")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                if f.default is dataclasses.MISSING:
                    raise ValueError(f"missing field {f.name!r}")
                continue
            value = data[f.name]
            expected = _FIELD_TYPES[f.name]
            ok = isinstance(value, expected) and not (
                isinstance(value, bool) and bool not in expected
            )
            if not ok:
                raise ValueError(f"field {f.name!r} has the wrong type ({type(value).__name__})")
            kwargs[f.name] = value
        return cls(**kwargs)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "source_id": (str,),
    "resource": (str,),
    "url": (str,),
    "sha256": (str,),
    "bytes": (int,),
    "retrieved_at": (str,),
    "used_at": (str,),
    "publisher": (str,),
    "licence": (str,),
    "edition": (str,),
    "mode": (str,),
    "synthetic": (bool,),
    "stale": (bool,),
    "fetch_id": (str,),
    "page": (int,),
    "pages": (int,),
    "etag": (str, type(None)),
    "last_modified": (str, type(None)),
    "note": (str,),
}


@dataclass(frozen=True)
class Snapshot:
    """A stored payload and the provenance record that describes this use of it."""

    provenance: Provenance
    path: Path  # the blob

    def read(self) -> bytes:
        """The payload, verified against its sha256 (raises SnapshotError if damaged)."""
        try:
            payload = self.path.read_bytes()
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot blob {self.path}: {exc}") from exc
        if sha256_bytes(payload) != self.provenance.sha256:
            raise SnapshotError(
                f"snapshot blob {self.path} does not match its sha256 "
                f"{self.provenance.sha256}; the file was modified or damaged"
            )
        return payload


class SnapshotStore:
    """The raw layer's store: write blobs and records, find the snapshot to reuse."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blob_dir = self.root / "blobs" / "sha256"
        self._record_dir = self.root / "records"
        # Records are immutable once written, so parsed ones are cached by path
        # (None = unreadable, already warned about). Blob checks are cached by stat.
        self._record_cache: dict[Path, Provenance | None] = {}
        self._blob_ok_cache: dict[Path, tuple[tuple[int, int, int, int], bool]] = {}
        self._last_write = _EPOCH

    # -- writing ---------------------------------------------------------------------------

    def put(self, payload: bytes, provenance: Provenance) -> Snapshot:
        """Store ``payload`` (once per content) and write a record of this use.

        ``provenance.sha256``/``bytes`` are recomputed from the payload and ``used_at`` is
        set to now; the returned snapshot carries the record as written.
        """
        digest = sha256_bytes(payload)
        path = self.blob_path(digest)
        if not self._blob_ok(path, digest):
            if path.exists():
                logger.warning(
                    "snapshot blob %s did not match its sha256; writing a good copy", path
                )
                self._blob_ok_cache.pop(path, None)
            _atomic_write(path, payload)
        provenance = dataclasses.replace(provenance, sha256=digest, bytes=len(payload))
        return self._write_record(provenance, path)

    def record(self, provenance: Provenance) -> Snapshot:
        """Write a record for a blob already stored (a 304 reuse, a fallback use, ...)."""
        digest = (provenance.sha256 or "").lower()
        if not _SHA256_RE.match(digest):
            raise SnapshotError(f"invalid sha256 {provenance.sha256!r} in provenance")
        path = self.blob_path(digest)
        if not self._blob_ok(path, digest):
            raise SnapshotError(
                f"no intact snapshot blob {digest} under {self._blob_dir}; store the payload "
                "with put() instead"
            )
        provenance = dataclasses.replace(provenance, sha256=digest, bytes=path.stat().st_size)
        return self._write_record(provenance, path)

    def _write_record(self, provenance: Provenance, blob: Path) -> Snapshot:
        # used_at orders records; keep it strictly increasing even within one microsecond.
        now = max(datetime.now(UTC), self._last_write + timedelta(microseconds=1))
        self._last_write = now
        provenance = dataclasses.replace(provenance, used_at=_format_iso(now))
        name = (
            f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{provenance.sha256[:12]}-"
            f"{uuid.uuid4().hex[:8]}.json"
        )
        path = self._record_dir / provenance.source_id / name
        body = {"schema": RECORD_SCHEMA, **provenance.to_dict()}
        text = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        _atomic_write(path, text.encode("utf-8"))
        self._record_cache[path] = provenance
        return Snapshot(provenance=provenance, path=blob)

    # -- reading ---------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it exists)."""
        if not _SHA256_RE.match(sha256):
            raise ValueError(f"invalid sha256 {sha256!r}")
        return self._blob_dir / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        """True if an intact blob with this sha256 is stored."""
        return _SHA256_RE.match(sha256 or "") is not None and self._blob_ok(
            self.blob_path(sha256), sha256
        )

    def records(self, source_id: str | None = None) -> list[Provenance]:
        """All readable records (of one source, or all), oldest first by used_at."""
        return [prov for _, prov in self._iter_records(source_id)]

    def latest_for_url(self, url: str) -> Snapshot | None:
        """The newest record for ``url`` (by retrieved_at, then used_at) with an intact blob.

        This is what a conditional GET compares against (its etag/last_modified).
        """
        candidates = [(path, prov) for path, prov in self._iter_records(None) if prov.url == url]
        candidates.sort(key=lambda item: _recency(item[0], item[1]), reverse=True)
        for _, prov in candidates:
            snapshot = self._snapshot_if_intact(prov)
            if snapshot is not None:
                return snapshot
        return None

    def latest_fetch(
        self,
        source_id: str,
        resource: str,
        *,
        modes: Collection[Mode] = ("live",),
    ) -> list[Snapshot] | None:
        """The newest complete fetch of a resource, its pages in order; None if there is none.

        Complete means every page 1..pages of one fetch_id has a record with an intact
        blob, so a run that died half-way through a paginated fetch is never reused.
        """
        wanted = set(modes)
        groups: dict[str, list[tuple[Path, Provenance]]] = {}
        for path, prov in self._iter_records(source_id):
            if prov.resource != resource or prov.mode not in wanted:
                continue
            # A record without a fetch_id is a fetch on its own.
            key = prov.fetch_id or f"record:{path.name}"
            groups.setdefault(key, []).append((path, prov))

        def group_recency(members: list[tuple[Path, Provenance]]) -> tuple[Any, ...]:
            return max(_recency(path, prov) for path, prov in members)

        for members in sorted(groups.values(), key=group_recency, reverse=True):
            pages = self._complete_pages(members)
            if pages is not None:
                return pages
        return None

    def _complete_pages(self, members: list[tuple[Path, Provenance]]) -> list[Snapshot] | None:
        counts = {prov.pages for _, prov in members}
        if len(counts) != 1:
            logger.warning(
                "snapshot fetch %s has records that disagree on the page count; ignoring it",
                members[0][1].fetch_id,
            )
            return None
        total = counts.pop()
        # Newest intact record per page wins (a page may have been recorded twice).
        by_page: dict[int, Snapshot] = {}
        for _path, prov in sorted(members, key=lambda m: _recency(m[0], m[1]), reverse=True):
            if prov.page in by_page:
                continue
            snapshot = self._snapshot_if_intact(prov)
            if snapshot is not None:
                by_page[prov.page] = snapshot
        if set(by_page) != set(range(1, total + 1)):
            return None
        return [by_page[page] for page in range(1, total + 1)]

    def _snapshot_if_intact(self, prov: Provenance) -> Snapshot | None:
        if not _SHA256_RE.match(prov.sha256):
            return None
        path = self.blob_path(prov.sha256)
        return Snapshot(provenance=prov, path=path) if self._blob_ok(path, prov.sha256) else None

    def _iter_records(self, source_id: str | None) -> Iterator[tuple[Path, Provenance]]:
        """Readable records with their file, oldest first; bad files are skipped, warned once."""
        if source_id is not None:
            if not _SOURCE_ID_RE.match(source_id):
                raise ValueError(f"invalid source_id {source_id!r}")
            dirs = [self._record_dir / source_id]
        else:
            try:
                dirs = sorted(p for p in self._record_dir.iterdir() if p.is_dir())
            except FileNotFoundError:
                dirs = []
        found: list[tuple[Path, Provenance]] = []
        for directory in dirs:
            try:
                names = sorted(os.listdir(directory))
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("cannot list snapshot records in %s: %s", directory, exc)
                continue
            for name in names:
                if name.startswith(".") or not name.endswith(".json"):
                    continue  # temp files of an interrupted write, stray files
                path = directory / name
                prov = self._load_record(path, expected_source=directory.name)
                if prov is not None:
                    found.append((path, prov))
        found.sort(key=lambda item: (_when(item[1].used_at), item[0].name))
        yield from found

    def _load_record(self, path: Path, *, expected_source: str) -> Provenance | None:
        if path in self._record_cache:
            return self._record_cache[path]
        prov: Provenance | None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            data.pop("schema", None)
            prov = Provenance.from_dict(data)
            if prov.source_id != expected_source:
                raise ValueError(
                    f"source_id {prov.source_id!r} does not match its folder {expected_source!r}"
                )
            _parse_iso(prov.used_at)
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            logger.warning("skipping unreadable snapshot record %s: %s", path, exc)
            prov = None
        self._record_cache[path] = prov
        return prov

    def _blob_ok(self, path: Path, sha256: str) -> bool:
        """True if the blob exists and its bytes hash to its name (cached per file state)."""
        try:
            st = path.stat()
        except OSError:
            return False
        state = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        cached = self._blob_ok_cache.get(path)
        if cached is not None and cached[0] == state:
            return cached[1]
        try:
            with path.open("rb") as fh:
                ok = hashlib.file_digest(fh, "sha256").hexdigest() == sha256
        except OSError as exc:
            logger.warning("cannot read snapshot blob %s: %s", path, exc)
            return False
        if not ok:
            logger.warning(
                "snapshot blob %s does not match its sha256; treating it as missing", path
            )
        self._blob_ok_cache[path] = (state, ok)
        return ok


def _when(value: str) -> datetime:
    try:
        return _parse_iso(value)
    except (TypeError, ValueError):
        return _EPOCH


def _recency(path: Path, prov: Provenance) -> tuple[datetime, datetime, str]:
    return (_when(prov.retrieved_at), _when(prov.used_at), path.name)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and os.replace, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
