"""SQL models: each `sql/<layer>/<name>.sql` is one SELECT that becomes table `<layer>.<name>`.

Dependencies are read from the SQL with sqlglot, so the lineage in the Dagster UI is the
lineage in the SQL. A reference to a table nothing produces fails at load time, naming the
file and the table; the hash of the SQL text is the asset's code version, so Dagster
knows which tables a change to a model makes stale.

A model whose rows come in groups that never change once written (every member-state drop's
rows, say) declares its key in the header comment, on a line of its own:

    -- incremental: drop_id

The warehouse then keeps its table per key value instead of rebuilding it: rows of keys the
SELECT no longer yields are deleted, rows of new keys inserted (see
`WarehouseResource.run_model`), so a nightly run costs what is new, not what is old.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import sqlglot
from sqlglot import exp

from extra_pipeline.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
#: the layers, in build order
LAYERS = ("staging", "intermediate", "marts")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: a header line `-- incremental: <column>`
_INCREMENTAL = re.compile(r"^--\s*incremental\s*:\s*(?P<key>\S*)\s*$", re.IGNORECASE)


class ModelError(ValueError):
    """A SQL model that cannot be loaded; the message names the file."""


@dataclass(frozen=True)
class SqlModel:
    """One SQL file and what it depends on."""

    layer: str
    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]  # schema.table, sorted
    description: str
    #: the column by which the table is kept up to date incrementally (None: rebuilt whole)
    incremental_key: str | None = None

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()[:16]

    @property
    def relative_path(self) -> str:
        return f"sql/{self.layer}/{self.path.name}"


def load_model(path: Path, layer: str) -> SqlModel:
    """Parse one model file; raises `ModelError` for anything but a single SELECT."""
    name = path.stem
    where = f"{layer}/{path.name}"
    if not _NAME.match(name):
        raise ModelError(f"sql/{where}: model names are lower_snake_case (letters, digits, _)")
    sql = path.read_text(encoding="utf-8")
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as error:
        raise ModelError(f"sql/{where}: not valid DuckDB SQL: {error}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"sql/{where}: a model is exactly one SELECT statement")
    statement = statements[0]
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    depends_on = set()
    for table in statement.find_all(exp.Table):
        if not table.name:
            # a table function such as read_csv(): models read only warehouse tables
            raise ModelError(
                f"sql/{where}: reads {table.sql(dialect='duckdb')}; models read warehouse tables only"
            )
        if not table.db:
            if table.name in ctes:
                continue
            raise ModelError(
                f"sql/{where}: table {table.name!r} must be schema-qualified (e.g. staging.{table.name})"
            )
        depends_on.add(f"{table.db}.{table.name}")
    header = _header_lines(sql)
    return SqlModel(
        layer=layer,
        name=name,
        path=path,
        sql=sql,
        depends_on=tuple(sorted(depends_on)),
        description="\n".join(
            line[2:].strip() for line in header if not _INCREMENTAL.match(line)
        ).strip(),
        incremental_key=_incremental_key(header, statement, where),
    )


def _header_lines(sql: str) -> list[str]:
    """The leading `--` comment block: the model's description in the UI and the data
    dictionary, and its directives."""
    lines = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped)
        elif stripped or lines:
            break
    return lines


def _incremental_key(header: list[str], statement: exp.Query, where: str) -> str | None:
    """The column named by an `-- incremental: <column>` header line, checked against what
    the SELECT outputs."""
    keys = [m.group("key") for m in map(_INCREMENTAL.match, header) if m]
    if not keys:
        return None
    if len(keys) > 1:
        raise ModelError(f"sql/{where}: more than one `-- incremental:` line")
    key = keys[0]
    if not _NAME.match(key):
        raise ModelError(
            f"sql/{where}: `-- incremental: {key}` must name one output column (lower_snake_case)"
        )
    outputs = statement.named_selects
    if key not in outputs:
        hint = " (list the columns: `select *` hides them)" if "*" in outputs else ""
        raise ModelError(
            f"sql/{where}: incremental key {key!r} is not a column of the SELECT's output{hint}"
        )
    return key


def discover_models(sql_dir: Path = SQL_DIR, *, known_tables: Iterable[str] = ()) -> list[SqlModel]:
    """Every model under `sql_dir`, checked: each referenced table is produced by a model or
    is one of `known_tables` (the tables Python assets write). Ordered by layer, then name.
    """
    models = []
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            models.append(load_model(path, layer))
    unexpected = sorted(
        p.relative_to(sql_dir).as_posix()
        for p in sql_dir.rglob("*.sql")
        if p.parent.name not in LAYERS or p.parent.parent != sql_dir
    )
    if unexpected:
        raise ModelError(
            f"sql/{unexpected[0]}: models live in sql/<layer>/ with layer one of {', '.join(LAYERS)}"
        )
    produced = {m.table for m in models} | set(known_tables)
    for model in models:
        for table in model.depends_on:
            if table not in produced:
                raise ModelError(
                    f"{model.relative_path}: references table {table!r}, which no model or asset produces"
                )
            if table == model.table:
                raise ModelError(f"{model.relative_path}: reads its own table {table!r}")
    by_table = {m.table: m for m in models}
    sorter = TopologicalSorter(
        {m.table: [d for d in m.depends_on if d in by_table] for m in models}
    )
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = error.args[1]
        raise ModelError(
            f"{by_table[cycle[0]].relative_path}: models form a cycle: {' -> '.join(cycle)}"
        ) from None
    return models
