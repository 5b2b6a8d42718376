"""The data dictionary: every published table and column, with its type, description, marking
and lineage, generated into `docs/data-dictionary.md`.

Where each part comes from:

- the tables, their columns and DuckDB types: the materialised schemas of a published copy
  (the RED one holds every table); each table's marking: that copy's `audit.published_tables`;
- a mart's description and lineage: its SQL model (`sql/marts/<name>.sql`), whose header
  comment says what a row is and describes every output column in a block of its own:

      -- Columns:
      --   iso3           ISO 3166 alpha-3 code of the country
      --   score          the threat score, 0-1 (null: too little evidence,
      --                  confidence D)

  a line `-- Columns:`, then per column `--`, two or more spaces, the name, two or more
  spaces and the text; a longer text goes on in lines indented past the name. The block ends
  at the first line of another form (a directive such as `-- incremental: drop_id`, or the
  SQL). The model's reads (`depends_on`) and, through them, the open sources and other raw
  inputs it rests on are its lineage;
- the audit tables' descriptions: `assets/reference/audit_columns.yaml`.

A published column without a description is an error naming every such `table.column`: the
dictionary never goes out with holes. Regenerate it with

    python -m extra_pipeline.dictionary --published <EXTRA_HOME>/published/red.duckdb \\
        --out docs/data-dictionary.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from extra_pipeline.markings import MarkingError, parse_marking
from extra_pipeline.models import SQL_DIR, SqlModel, _header_lines, discover_models
from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.warehouse import PUBLISHED_SCHEMAS, sql_string

AUDIT_COLUMNS_FILE = PROJECT_ROOT / "assets" / "reference" / "audit_columns.yaml"
DICTIONARY_FILE = PROJECT_ROOT / "docs" / "data-dictionary.md"
REGENERATE = (
    ".venv/bin/python -m extra_pipeline.dictionary "
    "--published .extra/published/red.duckdb --out docs/data-dictionary.md"
)

#: `-- Columns:`, the line that opens a header's column block
_BLOCK_START = re.compile(r"^--\s*Columns\s*:\s*$")
#: `--   name  text`: a column and the start of its description
_ENTRY = re.compile(r"^--(?P<indent> {2,})(?P<name>[A-Za-z_][A-Za-z0-9_]*) {2,}(?P<text>\S.*)$")
#: `--        text`: a description going on (indented past the name)
_CONTINUATION = re.compile(r"^--(?P<indent> +)(?P<text>\S.*)$")
#: what a raw input that is not an open source is, for the lineage
_REFERENCE_INPUTS = {
    "raw.country_reference": "the country reference, assets/reference/countries",
    "raw.market_reference": "the market taxonomy, assets/reference/markets.csv",
    "raw.source_registry": "the source registry, assets/sources/*.yaml",
    "raw.methodology": "the threat methodology, assets/methodology.yaml",
    "audit.drops": "the drop log",
    "audit.quarantine": "quarantined drop rows",
}


class DictionaryError(ValueError):
    """The dictionary cannot be made: a column without a description, a table nothing
    describes, a malformed column block. The message names the tables and columns."""


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str  # as DuckDB names it
    description: str


@dataclass(frozen=True)
class TableEntry:
    """One published table: what the dictionary says about it."""

    table: str  # schema.table
    marking: str  # TLP slug, as the copy records it
    description: str  # what a row is: the model's first paragraph, or the YAML's text
    defined_in: str  # the file its description comes from
    reads: tuple[str, ...]  # the tables it is built from (a model's depends_on)
    sources: tuple[tuple[str, str], ...]  # the open sources it rests on: (source_id, title)
    inputs: tuple[tuple[str, str], ...]  # other raw inputs it rests on: (table, what)
    columns: tuple[ColumnEntry, ...]
    row_marking: str | None = None  # the column with each row's marking, if any
    written_by: str = ""  # an audit table's writer


# --- the header's column block ----------------------------------------------------------------


def column_descriptions(model: SqlModel) -> dict[str, str]:
    """The `-- Columns:` block of a model's header comment: column name -> description
    (continuation lines joined with single spaces); empty when the header has no block.
    Raises `DictionaryError` for two blocks or a column described twice."""
    lines = _header_lines(model.sql)
    starts = [i for i, line in enumerate(lines) if _BLOCK_START.match(line)]
    if not starts:
        return {}
    if len(starts) > 1:
        raise DictionaryError(f"{model.relative_path}: more than one `-- Columns:` block")
    parts: dict[str, list[str]] = {}
    indent: int | None = None
    current: str | None = None
    for line in lines[starts[0] + 1 :]:
        entry = _ENTRY.match(line)
        if entry and (indent is None or len(entry["indent"]) == indent):
            indent, current = len(entry["indent"]), entry["name"]
            if current in parts:
                raise DictionaryError(
                    f"{model.relative_path}: column {current!r} is described twice in its "
                    "`-- Columns:` block"
                )
            parts[current] = [entry["text"].strip()]
            continue
        more = _CONTINUATION.match(line)
        if more and current is not None and indent is not None and len(more["indent"]) > indent:
            parts[current].append(more["text"].strip())
            continue
        break
    return {name: " ".join(text) for name, text in parts.items()}


def model_prose(model: SqlModel) -> str:
    """The first paragraph of the model's description (its header without directives),
    above its column block, as one line."""
    paragraph: list[str] = []
    for line in model.description.splitlines():
        if _BLOCK_START.match(f"-- {line}"):
            break
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    return " ".join(paragraph)


def missing_descriptions(
    columns: Mapping[str, Sequence[str]], descriptions: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """`table.column` of every column (`columns`: table -> its columns) without a
    non-empty description (`descriptions`: table -> column -> text), in order."""
    return [
        f"{table}.{column}"
        for table, names in columns.items()
        for column in names
        if not descriptions.get(table, {}).get(column, "").strip()
    ]


def require_descriptions(
    columns: Mapping[str, Sequence[str]],
    descriptions: Mapping[str, Mapping[str, str]],
    where: Mapping[str, str] | None = None,
) -> None:
    """Raise `DictionaryError` naming every column without a description, and every
    description of a column the table does not have (`where`: table -> the file to fix)."""
    where = where or {}
    problems = []
    missing = missing_descriptions(columns, descriptions)
    if missing:
        files = sorted({where.get(m.rsplit(".", 1)[0], "?") for m in missing})
        problems.append(
            f"{len(missing)} published column(s) without a description: {', '.join(missing)} "
            f"(describe them in {', '.join(files)}: a mart's in the `-- Columns:` block of "
            "its header, a line `--`, two or more spaces, the name, two or more spaces, the "
            "text; an audit table's in assets/reference/audit_columns.yaml)"
        )
    stale = [
        f"{table}.{column}"
        for table, described in descriptions.items()
        if table in columns
        for column in described
        if column not in columns[table]
    ]
    if stale:
        problems.append(f"description(s) of column(s) the table does not have: {', '.join(stale)}")
    if problems:
        raise DictionaryError("; ".join(problems))


# --- the dictionary -------------------------------------------------------------------------


def load_audit_descriptions(path: Path = AUDIT_COLUMNS_FILE) -> dict[str, dict]:
    """`assets/reference/audit_columns.yaml`: table -> {description, written_by, marking,
    columns}."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    tables = spec.get("tables")
    if not isinstance(tables, dict):
        raise DictionaryError(f"{_display(path)}: expected a `tables:` mapping")
    for table, entry in tables.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("columns"), dict):
            raise DictionaryError(f"{_display(path)}: {table} needs `description` and `columns`")
        if not str(entry.get("description") or "").strip():
            raise DictionaryError(f"{_display(path)}: {table} has no description")
    return tables


def known_input_tables() -> list[str]:
    """The tables Python assets write, which models may read (as the definitions list them)."""
    from extra_pipeline.defs.reference import REFERENCE_TABLES
    from extra_pipeline.drops.contracts import load_contracts
    from extra_pipeline.drops.ingest import raw_table
    from extra_pipeline.sources.base import load_registry

    return sorted(
        {
            *REFERENCE_TABLES,
            *(f"raw.{source_id}" for source_id in load_registry()),
            *(raw_table(contract.dataset) for contract in load_contracts().values()),
            "audit.drops",
            "audit.quarantine",
        }
    )


def published_schema(published_copy: Path) -> tuple[dict[str, list[tuple[str, str]]], dict]:
    """Every `marts.*` and `audit.*` table of a published copy, with its columns and types
    in order, and the markings its `audit.published_tables` records."""
    if not Path(published_copy).is_file():
        raise DictionaryError(f"no published copy at {published_copy}")
    # a database of its own: a plain connect() could share one this process holds open
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {sql_string(str(published_copy))} as published (read_only)")
        rows = con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where database_name = 'published' and list_contains($1, schema_name) "
            "order by schema_name, table_name, column_index",
            [list(PUBLISHED_SCHEMAS)],
        ).fetchall()
        tables: dict[str, list[tuple[str, str]]] = {}
        for schema, table, column, type_ in rows:
            tables.setdefault(f"{schema}.{table}", []).append((column, type_))
        markings = {}
        if "audit.published_tables" in tables:
            markings = dict(
                con.execute(
                    "select table_name, marking from published.audit.published_tables"
                ).fetchall()
            )
    finally:
        con.close()
    return tables, markings


def build_dictionary(
    published_copy: Path,
    *,
    sql_dir: Path = SQL_DIR,
    audit_file: Path = AUDIT_COLUMNS_FILE,
    known_tables: Iterable[str] | None = None,
) -> list[TableEntry]:
    """Every `marts.*` and `audit.*` table of `published_copy` (the RED copy holds them all),
    described: marts from their SQL models under `sql_dir`, audit tables from `audit_file`.
    Marts first, then audit tables, each by name. Raises `DictionaryError` naming every
    `table.column` without a description (and every table nothing describes)."""
    from extra_pipeline.sources.base import load_registry

    tables, markings = published_schema(published_copy)
    known = known_input_tables() if known_tables is None else list(known_tables)
    models = {m.table: m for m in discover_models(sql_dir, known_tables=known)}
    audit = load_audit_descriptions(audit_file)
    titles = {source_id: config.title for source_id, config in load_registry().items()}
    contracts = _contract_inputs()

    undescribed = sorted(
        t for t in tables if t not in (models if t.startswith("marts.") else audit)
    )
    if undescribed:
        raise DictionaryError(
            f"published table(s) nothing describes: {', '.join(undescribed)} (a mart needs "
            f"its model in sql/marts/, an audit table its entry in {_display(audit_file)})"
        )
    descriptions: dict[str, Mapping[str, str]] = {}
    where: dict[str, str] = {}
    for table in tables:
        if table.startswith("marts."):
            descriptions[table] = column_descriptions(models[table])
            where[table] = models[table].relative_path
        else:
            descriptions[table] = {
                str(c): str(d or "").strip() for c, d in audit[table]["columns"].items()
            }
            where[table] = _display(audit_file)
    require_descriptions(
        {t: [c for c, _ in columns] for t, columns in tables.items()}, descriptions, where
    )

    entries = []
    order = sorted(tables, key=lambda t: (PUBLISHED_SCHEMAS.index(t.split(".")[0]), t))
    for table in order:
        columns = tuple(
            ColumnEntry(name, type_, _one_line(descriptions[table][name]))
            for name, type_ in tables[table]
        )
        marking = markings.get(table) or (audit.get(table, {}).get("marking"))
        if not marking:
            raise DictionaryError(
                f"{table}: no marking recorded in audit.published_tables (nor in "
                f"{_display(audit_file)})"
            )
        try:
            slug = parse_marking(marking).slug
        except MarkingError as error:
            raise DictionaryError(f"{table}: {error}") from None
        if table.startswith("marts."):
            model = models[table]
            origins = _origins(model, models)
            entries.append(
                TableEntry(
                    table=table,
                    marking=slug,
                    description=model_prose(model),
                    defined_in=model.relative_path,
                    reads=model.depends_on,
                    sources=tuple(
                        (t.split(".", 1)[1], titles[t.split(".", 1)[1]])
                        for t in origins
                        if t.startswith("raw.") and t.split(".", 1)[1] in titles
                    ),
                    inputs=tuple(
                        (t, _REFERENCE_INPUTS.get(t) or contracts.get(t, ""))
                        for t in origins
                        if not (t.startswith("raw.") and t.split(".", 1)[1] in titles)
                    ),
                    columns=columns,
                    row_marking=model.row_marking,
                )
            )
        else:
            entries.append(
                TableEntry(
                    table=table,
                    marking=slug,
                    description=_one_line(audit[table]["description"]),
                    defined_in=_display(audit_file),
                    reads=(),
                    sources=(),
                    inputs=(),
                    columns=columns,
                    written_by=_one_line(audit[table].get("written_by") or ""),
                )
            )
    return entries


def _origins(model: SqlModel, models: Mapping[str, SqlModel]) -> list[str]:
    """The tables no model produces that `model` rests on, directly or through other
    models, by name."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = list(model.depends_on)
    while stack:
        table = stack.pop()
        if table in seen:
            continue
        seen.add(table)
        if table in models:
            stack.extend(models[table].depends_on)
        else:
            found.add(table)
    return sorted(found)


def _contract_inputs() -> dict[str, str]:
    from extra_pipeline.drops.contracts import load_contracts
    from extra_pipeline.drops.ingest import raw_table

    return {
        raw_table(
            c.dataset
        ): f"member-state drops of {c.dataset}, assets/contracts/{c.dataset}.yaml"
        for c in load_contracts().values()
    }


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _display(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


# --- Markdown ---------------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(`[^`]*`)")
#: Markdown would read these as markup: `<...>` as HTML, `[..](..)` as links, `*`/`_` as
#: emphasis (an underscore inside a word is safe), `|` as a table cell's end
_SPECIAL = re.compile(r"[\\|*\[\]<>]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_text(text: str) -> str:
    """`text` as Markdown inline text: code spans kept, markup characters escaped."""
    parts = _CODE_SPAN.split(text)
    return "".join(
        part.replace("|", "\\|") if part.startswith("`") else _escape(part) for part in parts
    )


def _escape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        char = match.group(0)
        return {"<": "&lt;", ">": "&gt;"}.get(char, "\\" + char)

    return _SPECIAL.sub(replace, text)


def _anchor(table: str) -> str:
    """The heading's anchor as GitHub and most renderers make it."""
    return re.sub(r"[^a-z0-9_ -]", "", table.lower()).replace(" ", "-")


def render_markdown(entries: Sequence[TableEntry]) -> str:
    """`docs/data-dictionary.md`: an introduction, a table of contents and, per table, its
    marking, what a row is, its lineage and its columns. The same entries give the same text."""
    lines = [
        "# Data dictionary",
        "",
        "Every table and column of the published copies (`published/<level>.duckdb`): the "
        "`marts.*` tables analysts and products read and the `audit.*` tables that say where "
        "the data came from. Per table: its TLP marking, what a row is, what it is built from "
        "and each column's DuckDB type and meaning. A copy below a table's marking does not "
        "hold the table, except a table marked row by row, whose rows at or below the copy's "
        "level it holds; `audit.*` rows are filtered to what each copy may show.",
        "",
        "This file is generated; do not edit it by hand. It comes from the published RED copy "
        "(tables, column types, the markings in `audit.published_tables`), the header "
        "comments of the SQL models (`sql/marts/<name>.sql`: the table's description and its "
        "`-- Columns:` block) and `assets/reference/audit_columns.yaml` (the audit tables). "
        "To change a description, edit the header or the YAML file, then regenerate from an "
        "offline run's RED copy:",
        "",
        "```sh",
        ".venv/bin/extra run --offline   # a RED copy from the bundled data, if there is none",
        REGENERATE,
        "```",
        "",
        "`tests/test_dictionary.py` fails when a published column has no description, or "
        "when this file differs from what the generator makes from an offline run.",
        "",
        "Lineage is what the SQL reads: **Reads** lists the tables a model selects from, "
        "**Open sources** and **Other inputs** the raw tables those rest on, directly or "
        "through other models (a table read whole counts even where the model keeps only "
        "some of its rows). Markings are TLP 2.0: CLEAR, GREEN, AMBER, AMBER+STRICT, RED.",
        "",
        "## Tables",
        "",
        "| table | marking | what a row is |",
        "| --- | --- | --- |",
    ]
    for entry in entries:
        lines.append(
            f"| [`{entry.table}`](#{_anchor(entry.table)}) | {_marking_label(entry)} | "
            f"{markdown_text(_grain(entry.description))} |"
        )
    for entry in entries:
        lines += ["", f"## {entry.table}", ""]
        marking = _marking_label(entry)
        if entry.row_marking:
            marking += (
                f", row by row: each row's marking is in `{entry.row_marking}`, and a copy "
                "below the table's marking holds the rows at or below its level"
            )
        lines += [f"- **Marking:** {marking}", f"- **Described in:** `{entry.defined_in}`"]
        if entry.reads:
            lines.append(f"- **Reads:** {', '.join(f'`{t}`' for t in entry.reads)}")
        if entry.sources:
            lines.append(
                "- **Open sources:** "
                + "; ".join(f"`{sid}`: {markdown_text(title)}" for sid, title in entry.sources)
            )
        if entry.inputs:
            lines.append(
                "- **Other inputs:** "
                + "; ".join(
                    f"`{table}`: {markdown_text(what)}" if what else f"`{table}`"
                    for table, what in entry.inputs
                )
            )
        if entry.written_by:
            lines.append(f"- **Written by:** {markdown_text(entry.written_by)}")
        lines += ["", markdown_text(entry.description), ""]
        lines += ["| column | type | description |", "| --- | --- | --- |"]
        for column in entry.columns:
            type_ = column.type.replace("|", "\\|")
            lines.append(f"| `{column.name}` | `{type_}` | {markdown_text(column.description)} |")
    return "\n".join(lines) + "\n"


def _marking_label(entry: TableEntry) -> str:
    return parse_marking(entry.marking).label


def _grain(text: str) -> str:
    """What a row is, for the contents: the description's "one row per ..." clause (up to
    the colon, semicolon or full stop that ends it outside brackets), else its first clause."""
    found = re.search(r"\bone row per\b", text, flags=re.IGNORECASE)
    start = found.start() if found else 0
    depth = 0
    for position in range(start, len(text)):
        char = text[position]
        depth += {"(": 1, ")": -1}.get(char, 0)
        ends_clause = text[position + 1 : position + 2] in ("", " ")
        if depth == 0 and char in ":;." and ends_clause and not _abbreviation(text, position):
            text = text[:position]
            break
    clause = text[start:].strip()
    return clause[:1].upper() + clause[1:]


def _abbreviation(text: str, position: int) -> bool:
    return text[max(0, position - 3) : position + 1] in ("e.g.", "i.e.")


# --- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extra_pipeline.dictionary",
        description="Generate the data dictionary (docs/data-dictionary.md) from a published "
        "copy, the SQL models' headers and assets/reference/audit_columns.yaml.",
    )
    parser.add_argument(
        "--published", type=Path, required=True, help="the published RED copy (red.duckdb)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write it (default: standard output)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when --out differs from what would be generated",
    )
    args = parser.parse_args(argv)
    try:
        text = render_markdown(build_dictionary(args.published))
    except DictionaryError as error:
        print(f"data dictionary: {error}", file=sys.stderr)
        return 2
    if args.check:
        if args.out is None:
            parser.error("--check needs --out")
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} is out of date: regenerate it with\n  {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
