"""What is up to date: data versions, and the plan of a nightly refresh.

Every write of a table records a **data version** in `audit.table_markings` (and reports
it to Dagster as the materialisation's `DataVersion`):

- a source's raw table: the sha256s of the snapshots it was parsed from, with the identity
  of the code and reference data that parsed and harmonised them (`source_version`);
- a reference table: the content of the files it is built from (`defs/reference.py`);
- a drop table (`raw.drop_<dataset>`, written one drop at a time by the partitioned drops
  asset): derived when read, from which drops `audit.drops` holds for the dataset and their
  status (`drops_version`): it changes exactly when a drop is recorded or superseded;
- a SQL model: its code version with the data versions of the tables it read
  (`model_version`).

So the version a table *will* have can be computed without building it, from the versions
of its inputs. `plan_refresh` does that for every asset of the nightly job, in dependency
order, and lists those whose table would change, each with its reason; `run_nightly` and
the nightly schedule launch only those, or nothing at all when nothing changed. In `live`
and `auto` modes a source cannot be known unchanged without asking its publisher, so it is
always planned (its conditional GET keeps that cheap) and what reads it is planned with it;
a model whose inputs turn out unchanged then finds its version recorded and does nothing.

This module is imported by the asset definitions: keep its imports light.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb

from extra_pipeline.warehouse import (
    SCHEMAS,
    TableVersion,
    list_tables,
    publish_fingerprint,
    recorded_versions,
    table_exists,
)

if TYPE_CHECKING:
    from extra_pipeline.settings import Settings
    from extra_pipeline.sources.base import SourceConfig, SourceConnector

#: the run tag that says how a run refreshes: `full` rebuilds every model from scratch
REFRESH_TAG = "extra/refresh"
FULL_REFRESH = "full"
PLANNED_REFRESH = "planned"
#: model asset metadata: the tables its SQL reads (the planner's table-level lineage)
READS_METADATA = "reads"
#: definitions metadata: the drop tables and their datasets (a `DropTables`)
DROP_TABLES_METADATA = "drop_tables"
#: asset metadata of a reference table built from files: {"table": ..., "version": ...}
REFERENCE_METADATA = "reference_version"
#: asset metadata of a product: {"levels": [the copies it reads], "code": its code version}
OUTPUT_METADATA = "output_version"
#: where a product records the version it was last built at (under EXTRA_HOME/outputs)
OUTPUT_VERSIONS_DIR = ".versions"


def digest(*parts: object) -> str:
    """A short, stable hash of `parts` (their repr): the form of every version here."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:16]


def file_digest(*paths: Path) -> str:
    """The content of files, by name and bytes."""
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:16]


def harmoniser_identity() -> str:
    """What country harmonisation depends on: its code, its reference files, CLDR (babel)."""
    from extra_pipeline import countries

    reference = countries.REFERENCE_DIR
    files = sorted(p for p in reference.iterdir() if p.is_file())
    files += [Path(countries.__file__), reference.parent / countries.ALIASES_FILENAME]
    return digest("harmoniser", file_digest(*files), metadata.version("babel"))


# --- sources -------------------------------------------------------------------------------

#: (resource name, page number, sha256) of every page a raw table is parsed from
Page = tuple[str, int, str]


def source_version(
    connector_class: type[SourceConnector], config: SourceConfig, pages: Iterable[Page]
) -> str:
    """A source's raw table: the snapshots it was parsed from, and what parsed them (the
    connector's module, the registry entry's marking, edition and options, harmonisation)."""
    module = sys.modules[connector_class.__module__]
    identity = digest(
        config.source_id,
        config.marking.slug,
        config.edition,
        sorted((str(k), repr(v)) for k, v in config.options.items()),
        file_digest(Path(str(module.__file__))),
        harmoniser_identity(),
    )
    return digest("source", identity, sorted(pages))


def output_version(published_dir: Path, levels: Sequence[str], code: str) -> str:
    """A product's version: its code and what the published copies it reads hold (each
    table's row count and data and code versions, as the copy records them)."""
    held: list[object] = []
    for level in levels:
        try:
            with _read_only(published_dir / f"{level}.duckdb") as con:
                held.append(
                    con.execute(
                        "select table_name, row_count, data_version, code_version "
                        "from audit.published_tables order by table_name"
                    ).fetchall()
                    if con is not None
                    else None
                )
        except duckdb.Error:  # unreadable: the publish is planned again, and this with it
            held.append("unreadable")
    return digest("output", code, list(levels), held)


def bundled_pages(connector: SourceConnector) -> list[Page]:
    """The pages the bundled snapshot gives a connector, as `acquire()` in `offline` mode
    would store them (the sha256 of each payload, decompressed); an incomplete bundle
    raises `SourceUnavailable`, as the fetch itself would."""
    from extra_pipeline.snapshots import sha256_bytes
    from extra_pipeline.sources.base import SourceUnavailable, read_bundled_file

    manifest = connector.bundled_manifest()
    pages = []
    for resource in connector.resources():
        files = manifest.files.get(resource.name)
        if not files:
            raise SourceUnavailable(f"the bundled snapshot has no resource {resource.name!r}")
        for number, path in enumerate(files, start=1):
            pages.append((resource.name, number, sha256_bytes(read_bundled_file(path))))
    return pages


# --- drops and models ----------------------------------------------------------------------


def drops_version(con: duckdb.DuckDBPyConnection, datasets: Sequence[str] | None) -> str:
    """The drops of `datasets` (all with None) and their status: what decides which rows of
    a drop table models read. Changes exactly when a drop is recorded or superseded."""
    rows = con.execute(
        "select dataset, drop_id, status, superseded_by from audit.drops "
        "where ?::varchar[] is null or list_contains(?::varchar[], dataset) order by drop_id",
        [datasets, datasets],
    ).fetchall()
    return digest("drops", sorted(datasets) if datasets is not None else None, rows)


@dataclass(frozen=True)
class DropTables:
    """The tables the partitioned drops asset writes, a drop at a time, without a version of
    their own: their versions are read off `audit.drops` (`drops_version`).

    A drop table's version covers its dataset's drops; `audit.drops` (or the quarantine)
    read beside drop tables covers those tables' datasets only, so a criminal-networks drop
    leaves the seizures models alone; read on its own, it covers every drop.
    """

    datasets: Mapping[str, str]  # raw.drop_<dataset> -> dataset
    audit: frozenset[str] = frozenset({"audit.drops", "audit.quarantine"})

    def __contains__(self, table: object) -> bool:
        return table in self.datasets or table in self.audit

    def versions(self, con: duckdb.DuckDBPyConnection, reads: Iterable[str]) -> dict[str, str]:
        """The version of each drop-written table among `reads`, as seen by their reader."""
        read = [t for t in reads if t in self]
        scope = sorted({self.datasets[t] for t in read if t in self.datasets}) or None
        if not table_exists(con, "audit.drops"):
            return dict.fromkeys(read, digest("drops", scope, []))
        return {
            t: drops_version(con, [self.datasets[t]] if t in self.datasets else scope) for t in read
        }


def model_version(code_version: str, inputs: Mapping[str, str | None]) -> str | None:
    """A model's table: its SQL and the versions of what it reads (None if one is unknown)."""
    if any(version is None for version in inputs.values()):
        return None
    return digest("model", code_version, sorted(inputs.items()))


def input_versions(
    con: duckdb.DuckDBPyConnection, reads: Iterable[str], drop_tables: DropTables
) -> dict[str, str | None]:
    """The current data version of every table a model reads (None where none is recorded)."""
    reads = list(reads)
    recorded = recorded_versions(con, reads)
    versions: dict[str, str | None] = {
        t: recorded[t].data_version if t in recorded else None for t in reads
    }
    versions.update(drop_tables.versions(con, reads))
    return versions


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshPlan:
    """Which assets of the nightly job a refresh must run, and why; in run order."""

    stale: Mapping[dg.AssetKey, str]
    fresh: tuple[dg.AssetKey, ...]
    sources_mode: str
    #: when the published copies were last built (None: never, or before versions)
    last_published: datetime | None = None

    @property
    def up_to_date(self) -> bool:
        return not self.stale

    @property
    def selection(self) -> list[dg.AssetKey]:
        return list(self.stale)

    def reasons(self) -> dict[str, str]:
        """The stale assets' reasons, by asset key as the UI writes it (`raw/goci`)."""
        return {key.to_user_string(): reason for key, reason in self.stale.items()}

    def describe(self) -> str:
        """One line for an operator or a schedule tick."""
        if self.up_to_date:
            published = self.last_published.astimezone(UTC) if self.last_published else None
            since = f" since {published:%Y-%m-%d %H:%M} UTC" if published else ""
            return f"nothing changed{since}: all {len(self.fresh)} assets are up to date"
        total = len(self.stale) + len(self.fresh)
        return f"{len(self.stale)} of {total} assets to refresh: " + "; ".join(
            f"{key}: {reason}" for key, reason in self.reasons().items()
        )


@dataclass
class _State:
    """What the working file says, read once: recorded versions, tables, checks, publications."""

    recorded: dict[str, TableVersion] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)
    #: (asset key, check name) -> (passed, checked_at, suite digest) of its latest evaluation
    checks: dict[tuple[str, str], tuple[bool, datetime, str | None]] = field(default_factory=dict)
    #: level slug -> the working file's fingerprint its published copy was built at
    publications: dict[str, str] = field(default_factory=dict)
    last_published: datetime | None = None
    fingerprint: str | None = None

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> _State:
        state = cls(recorded=recorded_versions(con), tables=set(list_tables(con, SCHEMAS)))
        if "audit.check_results" in state.tables:
            # a warehouse from before suite digests gains the column on its next write
            (has_digest,) = con.execute(
                "select count(*) from duckdb_columns() where schema_name = 'audit' "
                "and table_name = 'check_results' and column_name = 'suite_digest'"
            ).fetchone()
            digest_column = "max(suite_digest)" if has_digest else "null"
            rows = con.execute(
                "with latest as (select *, rank() over (partition by asset_key, check_name "
                "order by checked_at desc) as n from audit.check_results) "
                f"select asset_key, check_name, bool_and(success), max(checked_at), "
                f"{digest_column} from latest where n = 1 group by all"
            ).fetchall()
            state.checks = {
                (key, name): (passed, at, suite) for key, name, passed, at, suite in rows
            }
        if "audit.publications" in state.tables:
            rows = con.execute("select level, fingerprint, built_at from audit.publications")
            for level, fingerprint, built_at in rows.fetchall():
                state.publications[level] = fingerprint
                state.last_published = max(built_at, state.last_published or built_at)
            state.fingerprint = publish_fingerprint(con)
        return state


@contextmanager
def _read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The working file, read-only (None if there is none yet)."""
    if not path.is_file():
        yield None
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def _readable(path: Path) -> bool:
    """Whether a published copy opens and lists its tables (a truncated file does not)."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("select count(*) from audit.published_tables").fetchone()
    except duckdb.Error:
        return False
    return True


def plan_refresh(settings: Settings, defs: Any = None, *, products: bool = True) -> RefreshPlan:
    """Which assets of the nightly job are stale, and why, launching nothing.

    `defs` is the `Definitions` (or the repository a schedule sees); built from the
    settings when not given. Reads the working file read-only; if it cannot be opened (a
    writer in another process holds it), every asset is planned. `products=False` leaves
    out the products that follow the published copies (notes, exports).
    """
    from extra_pipeline.definitions import NIGHTLY_JOB, build_definitions

    defs = defs if defs is not None else build_definitions(settings)
    if isinstance(defs, dg.RepositoryDefinition):
        job = defs.get_job(NIGHTLY_JOB)
    else:
        job = defs.resolve_job_def(NIGHTLY_JOB)
    graph = job.asset_layer.asset_graph
    drop_tables = DropTables(dict(defs.metadata[DROP_TABLES_METADATA].value))
    planner = _Planner(settings, graph, drop_tables)
    selected = {
        k
        for k in job.asset_layer.selected_asset_keys
        if products or OUTPUT_METADATA not in graph.get(k).metadata
    }
    # dependency order, then the published copies (they hold everything), then the
    # products made from them
    keys = sorted(
        (k for k in graph.toposorted_asset_keys if k in selected),
        key=lambda k: (
            2 if OUTPUT_METADATA in graph.get(k).metadata else int(k == planner.publish_key)
        ),
    )
    try:
        with _read_only(settings.warehouse_path) as con:
            planner.state = _State.read(con) if con is not None else _State()
            for key in keys:
                planner.plan(key, con)
    except (duckdb.IOException, duckdb.ConnectionException) as error:  # held by a writer
        first_line = str(error).splitlines()[0]
        reason = f"the working file could not be read ({first_line}): planned in full"
        return RefreshPlan(dict.fromkeys(keys, reason), (), settings.sources_mode)
    planner.publish_last(keys)
    return RefreshPlan(
        {k: planner.stale[k] for k in keys if k in planner.stale},
        tuple(k for k in keys if k not in planner.stale),
        settings.sources_mode,
        planner.state.last_published,
    )


_NOT_BUILT = "not built yet"
_CHANGED = "its inputs changed since it was last built"


class _Planner:
    """Walks the nightly job's assets in dependency order, deciding each from its inputs."""

    def __init__(self, settings: Settings, graph: Any, drop_tables: DropTables) -> None:
        from extra_pipeline.defs.publish import PUBLISH_KEY
        from extra_pipeline.defs.reference import REFERENCE_VERSIONS
        from extra_pipeline.sources import connector_classes
        from extra_pipeline.sources.base import load_registry

        self.settings = settings
        self.graph = graph
        self.state = _State()
        self.stale: dict[dg.AssetKey, str] = {}
        #: table -> the data version it will have once the plan has run (None: unknown)
        self.expected: dict[str, str | None] = {}
        #: asset key -> the table it writes
        self.tables: dict[dg.AssetKey, str] = {}
        self.registry = load_registry(settings)
        self.connectors = connector_classes(self.registry)
        self.references = REFERENCE_VERSIONS
        self.publish_key = PUBLISH_KEY
        self.drop_tables = drop_tables

    def plan(self, key: dg.AssetKey, con: duckdb.DuckDBPyConnection | None) -> None:
        node = self.graph.get(key)
        source_id = key.path[1] if len(key.path) == 2 and key.path[0] == "raw" else None
        table: str | None = None
        if source_id in self.connectors and source_id in self.registry:
            table, reason = self._source(source_id)
        elif key in self.references or REFERENCE_METADATA in node.metadata:
            if key in self.references:
                table, version_of = self.references[key]
                version = version_of()
            else:
                reference = node.metadata[REFERENCE_METADATA].value
                table, version = reference["table"], reference["version"]
            reason = self._compare(table, version)
            if reason == _CHANGED:
                reason = "its reference files changed since it was last loaded"
        elif READS_METADATA in node.metadata and node.code_version:
            table, reason = self._model(key, node, con)
        elif key == self.publish_key:
            reason = self._publish()
        elif OUTPUT_METADATA in node.metadata:
            reason = self._output(key, node.metadata[OUTPUT_METADATA].value)
        else:
            reason = "keeps no data version: refreshed every time"
        if table is not None:
            self.tables[key] = table
            reason = reason or self._checks(key, table)
        if reason is not None:
            self.stale[key] = reason

    def publish_last(self, keys: list[dg.AssetKey]) -> None:
        """Plan what lies between a planned asset and the publish, so that the publish runs
        after it and its checks (and not at all if one fails), as a full run would: such
        an asset is planned with an unchanged version (its check is run again, or its table
        was missing), and what reads it finds nothing to do."""
        if self.publish_key not in self.stale:
            return
        ancestors = self.graph.get_ancestor_asset_keys(self.publish_key)
        for key in keys:
            if key in self.stale or key not in ancestors:
                continue
            waits_for = sorted(
                p.to_user_string() for p in self.graph.get(key).parent_keys if p in self.stale
            )
            if waits_for:
                self.stale[key] = (
                    f"unchanged; runs so that the publish waits for {', '.join(waits_for)}"
                )

    def _compare(self, table: str, version: str | None) -> str | None:
        """Note the version `table` will have; why it must be written, if it must."""
        self.expected[table] = version
        recorded = self.state.recorded.get(table)
        if table not in self.state.tables or recorded is None:
            return _NOT_BUILT
        if version is None or recorded.data_version != version:
            return _CHANGED
        return None

    def _source(self, source_id: str) -> tuple[str, str | None]:
        from extra_pipeline.sources.base import SourceUnavailable

        table = f"raw.{source_id}"
        mode = self.settings.sources_mode
        if mode != "offline":
            self.expected[table] = None
            return table, f"{mode} mode: fetched to find out whether it changed (conditional GET)"
        config = self.registry[source_id]
        connector_class = self.connectors[source_id]
        try:
            pages = bundled_pages(connector_class(config))
        except (SourceUnavailable, OSError) as error:
            self.expected[table] = None
            return table, f"bundled snapshot unreadable ({error})"
        reason = self._compare(table, source_version(connector_class, config, pages))
        if reason == _CHANGED:
            reason = "its bundled snapshot or parser changed since it was last loaded"
        return table, reason

    def _model(
        self, key: dg.AssetKey, node: Any, con: duckdb.DuckDBPyConnection | None
    ) -> tuple[str, str | None]:
        table = ".".join(key.path)
        reads = [str(t) for t in node.metadata[READS_METADATA].value]
        inputs: dict[str, str | None] = {}
        for read in reads:
            recorded = self.state.recorded.get(read)
            inputs[read] = self.expected.get(read, recorded.data_version if recorded else None)
        if con is not None:
            inputs.update(self.drop_tables.versions(con, reads))
        reason = self._compare(table, model_version(node.code_version, inputs))
        if reason != _CHANGED:
            return table, reason
        recorded = self.state.recorded[table]
        if recorded.code_version != node.code_version:
            return table, (
                "its SQL, marking or suite, or an upstream model's SQL, changed since it was "
                "last built: rebuilt whole"
            )
        planned = {self.tables[k] for k in self.stale if k in self.tables}
        upstream = sorted(t for t in reads if t in planned)
        if upstream:
            return table, f"reads {', '.join(upstream)}, refreshed first"
        drops = sorted(t for t in reads if t in self.drop_tables)
        if drops:
            return (
                table,
                f"drops recorded or superseded since it was last built ({', '.join(drops)})",
            )
        return table, reason

    def _publish(self) -> str | None:
        from extra_pipeline.markings import Marking

        if self.stale:
            return "tables change in this refresh"
        missing = [m.slug for m in Marking if not self.settings.published_path(m.slug).is_file()]
        if missing:
            return f"published copy missing: {', '.join(missing)}"
        unreadable = [
            m.slug for m in Marking if not _readable(self.settings.published_path(m.slug))
        ]
        if unreadable:
            return f"published copy unreadable: {', '.join(unreadable)}"
        if any(self.state.publications.get(m.slug) != self.state.fingerprint for m in Marking):
            return "the working file changed since the last publish"
        return None

    def _output(self, key: dg.AssetKey, spec: Mapping[str, Any]) -> str | None:
        """A product is rebuilt when the copies it reads change (in this refresh, or since
        it was built) or its own code did."""
        if self.publish_key in self.stale:
            return "reads the published copies, which change in this refresh"
        record = (
            self.settings.extra_home / "outputs" / OUTPUT_VERSIONS_DIR
            / f"{'__'.join(key.path)}.json"
        )  # fmt: skip
        try:
            built = json.loads(record.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            return _NOT_BUILT
        current = output_version(self.settings.published_dir, spec["levels"], spec["code"])
        return None if built == current else "its published copies or its code changed"

    def _checks(self, key: dg.AssetKey, table: str) -> str | None:
        """A table whose blocking check failed (or has not run on its last write) is written
        and checked again: planning around it would let unchecked data flow downstream."""
        recorded = self.state.recorded.get(table)
        written_at = recorded.updated_at if recorded else None
        for check_key in self.graph.asset_check_keys:
            if check_key.asset_key != key or not self.graph.get(check_key).blocking:
                continue
            outcome = self.state.checks.get((key.to_user_string(), check_key.name))
            if outcome is None:
                return f"its {check_key.name} check has not run"
            passed, checked_at, suite = outcome
            if not passed:
                return f"its {check_key.name} check failed last time"
            current = self.graph.get(check_key).metadata.get("suite_digest")
            current = getattr(current, "value", current)  # a metadata value, or the text
            if current is not None and suite != current:
                return f"its {check_key.name} suite changed since it was last checked"
            if written_at is not None and checked_at < written_at:
                return f"its {check_key.name} check has not run since it was last written"
        return None


def drop_tables_of(contracts: Mapping[str, Any]) -> DropTables:
    """The drop tables of the drop contracts (`raw.drop_<dataset>`)."""
    from extra_pipeline.drops.ingest import raw_table

    return DropTables({raw_table(c.dataset): c.dataset for c in contracts.values()})
