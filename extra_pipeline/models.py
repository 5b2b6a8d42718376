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
Finding which keys the SELECT yields means running it for its key column; where that
aggregates the whole history, name the input the keys come from instead:

    -- incremental: drop_id from staging.seizures

(the SELECT must yield rows only for key values found there: a value gone from it is gone.)

Other header directives, each on a line of its own:

    -- marking: clear
    -- suppress: seizures, seizure_kg by seizure_states, seizure_records
    -- public: iso3, market, year
    -- row marking: marking

- `marking:` declares the table's TLP marking. Above what its inputs give, it is a floor
  (`amber` for a table that must never be published lower). Below them, it declassifies:
  only with a `suppress:` rule, and only from inputs up to TLP:AMBER (see
  `extra_pipeline.defs.models.effective_marking`).
- `suppress:` names the figures that rest on member-state data and the two columns saying
  what each row's figures rest on (reporting states, records). A blocking check holds every
  row to the small-cell thresholds of the methodology file: a figure (or a support count)
  that is not null rests on at least that many states and records.
- `public:` names every other column of such a model: what its author vouches is public
  (keys, open figures, results computed from published figures only). A column in neither
  list fails loading, so a new column cannot slip past the check unnoticed.
- `row marking:` names a column holding each row's TLP marking (slug): the published copy
  of a level below the table's own holds only the rows at or below it.

A model reads a methodology parameter with `getvariable('<name>')` (see
`extra_pipeline.methodology`); the values it reads are part of its code version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from extra_pipeline.markings import Marking, MarkingError, parse_marking
from extra_pipeline.methodology import (
    Methodology,
    MethodologyError,
    check_parameters,
    load_methodology,
    parameters_used,
)
from extra_pipeline.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
#: the layers, in build order
LAYERS = ("staging", "intermediate", "marts")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: a header line `-- incremental: <column>`
_INCREMENTAL = re.compile(
    r"^--\s*incremental\s*:\s*(?P<key>\S*)(?:\s+from\s+(?P<source>\S+))?\s*$", re.IGNORECASE
)
#: the other directives: lower case, so prose such as "-- Marking: the table is..." is prose
_DIRECTIVE = re.compile(
    r"^--\s*(?P<name>marking|row marking|suppress|public)\s*:\s*(?P<value>.*?)\s*$"
)
_SUPPRESS = re.compile(r"^(?P<figures>.+?)\s+by\s+(?P<states>\w+)\s*,\s*(?P<records>\w+)$")


class ModelError(ValueError):
    """A SQL model that cannot be loaded; the message names the file."""


@dataclass(frozen=True)
class Suppression:
    """`-- suppress: <figures> by <states>, <records>`: the figures of a row must be null
    unless the row rests on enough reporting states and records."""

    figures: tuple[str, ...]
    states_column: str
    records_column: str


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
    #: the input whose key values are the model's (`-- incremental: <key> from <table>`)
    incremental_source: str | None = None
    #: the methodology parameters the SQL reads, with their values (bound before it runs)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    #: `-- marking:` (None: the highest of its inputs)
    declared_marking: Marking | None = None
    #: `-- suppress:` rules: the small-cell check holds the table to them
    suppressions: tuple[Suppression, ...] = ()
    #: `-- row marking:` the column with each row's marking (None: one marking per table)
    row_marking: str | None = None

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def code_version(self) -> str:
        """The SQL text and the values of the parameters it reads."""
        values = json.dumps(dict(self.parameters), sort_keys=True, ensure_ascii=False)
        text = self.sql if not self.parameters else f"{self.sql}\0{values}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def relative_path(self) -> str:
        return f"sql/{self.layer}/{self.path.name}"


def load_model(path: Path, layer: str, methodology: Methodology | None = None) -> SqlModel:
    """Parse one model file; raises `ModelError` for anything but a single SELECT, and for a
    parameter `methodology` (the shipped file by default) does not define."""
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
    directives = _directives(header, statement, where)
    key, key_source = _incremental_key(header, statement, where)
    if key_source is not None and key_source not in depends_on:
        raise ModelError(
            f"sql/{where}: `-- incremental: {key} from {key_source}` names a table the model "
            "does not read"
        )
    try:
        used = parameters_used(statement, f"sql/{where}")
        if used:
            methodology = methodology or load_methodology()
            check_parameters(used, methodology, f"sql/{where}")
    except MethodologyError as error:
        raise ModelError(str(error)) from None
    return SqlModel(
        layer=layer,
        name=name,
        path=path,
        sql=sql,
        depends_on=tuple(sorted(depends_on)),
        description="\n".join(
            line[2:].strip()
            for line in header
            if not _INCREMENTAL.match(line) and not _DIRECTIVE.match(line)
        ).strip(),
        incremental_key=key,
        incremental_source=key_source,
        parameters=methodology.values(used) if used and methodology else {},
        **directives,
    )


def _directives(header: list[str], statement: exp.Query, where: str) -> dict[str, Any]:
    """The `marking:`, `suppress:` and `row marking:` header lines, checked against the
    SELECT's output columns."""
    outputs = set(statement.named_selects)

    def column(name: str, directive: str) -> str:
        if name not in outputs:
            raise ModelError(
                f"sql/{where}: `{directive}` names {name!r}, which is not a column of the "
                "SELECT's output"
            )
        return name

    found: dict[str, Any] = {"declared_marking": None, "suppressions": (), "row_marking": None}
    public: list[str] = []
    for line in header:
        match = _DIRECTIVE.match(line)
        if not match:
            continue
        directive, value = match.group("name"), match.group("value")
        text = f"-- {directive}: {value}"
        if directive == "marking":
            if found["declared_marking"] is not None:
                raise ModelError(f"sql/{where}: more than one `-- marking:` line")
            try:
                found["declared_marking"] = parse_marking(value)
            except MarkingError as error:
                raise ModelError(f"sql/{where}: `{text}`: {error}") from None
        elif directive == "row marking":
            found["row_marking"] = column(value, text)
        elif directive == "public":
            public += [column(c.strip(), text) for c in value.split(",") if c.strip()]
        else:
            rule = _SUPPRESS.match(value)
            if not rule:
                raise ModelError(
                    f"sql/{where}: `{text}`: write `-- suppress: <figure>, ... by "
                    "<states column>, <records column>`"
                )
            figures = tuple(
                column(f.strip(), text) for f in rule.group("figures").split(",") if f.strip()
            )
            found["suppressions"] = (
                *found["suppressions"],
                Suppression(
                    figures, column(rule.group("states"), text), column(rule.group("records"), text)
                ),
            )
    if found["suppressions"] and found["declared_marking"] is None:
        raise ModelError(
            f"sql/{where}: `-- suppress:` is for a table published below its inputs: "
            "declare the marking it is published at (`-- marking: clear`)"
        )
    if public and not found["suppressions"]:
        raise ModelError(f"sql/{where}: `-- public:` goes with `-- suppress:` rules")
    if found["suppressions"]:
        covered = set(public)
        for rule in found["suppressions"]:
            covered.update(rule.figures, (rule.states_column, rule.records_column))
        unlisted = [c for c in statement.named_selects if c not in covered]
        if "*" in statement.named_selects or unlisted:
            raise ModelError(
                f"sql/{where}: column {', '.join(unlisted) or '*'} is neither suppressed nor "
                "declared public (`-- public: <column>, ...`): say which it is"
            )
    return found


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


def _incremental_key(
    header: list[str], statement: exp.Query, where: str
) -> tuple[str | None, str | None]:
    """The column named by an `-- incremental: <column> [from <table>]` header line, checked
    against what the SELECT outputs, and the table named, if any."""
    found = [m for m in map(_INCREMENTAL.match, header) if m]
    if not found:
        return None, None
    if len(found) > 1:
        raise ModelError(f"sql/{where}: more than one `-- incremental:` line")
    key, key_source = found[0].group("key"), found[0].group("source")
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
    return key, key_source


def discover_models(
    sql_dir: Path = SQL_DIR,
    *,
    known_tables: Iterable[str] = (),
    methodology: Methodology | None = None,
) -> list[SqlModel]:
    """Every model under `sql_dir`, checked: each referenced table is produced by a model or
    is one of `known_tables` (the tables Python assets write), each parameter is defined by
    `methodology` (the shipped file by default). Ordered by layer, then name.
    """
    models = []
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            models.append(load_model(path, layer, methodology))
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
