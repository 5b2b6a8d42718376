"""SQL models: each `sql/<layer>/<name>.sql` is one SELECT that becomes table `<layer>.<name>`.

Dependencies are read from the SQL with sqlglot, so the lineage in the Dagster UI is the
lineage in the SQL. A reference to a table nothing produces fails at load time, naming the
file and the table; the hash of the SQL text is the asset's code version, so Dagster
knows which tables a change to a model makes stale.
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
    return SqlModel(
        layer=layer,
        name=name,
        path=path,
        sql=sql,
        depends_on=tuple(sorted(depends_on)),
        description=_header_comment(sql),
    )


def _header_comment(sql: str) -> str:
    """The leading `--` comment block: the model's description in the UI and the data dictionary."""
    lines = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped[2:].strip())
        elif stripped or lines:
            break
    return "\n".join(lines).strip()


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
