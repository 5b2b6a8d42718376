"""The guides run: every command, query and snippet in them, against the bundled data.

The three guides (`docs/guides/*.md`) and `docs/architecture.md` are read as a sequence of
fenced blocks. Each block is run or checked according to its language, in document order,
in a working folder of the document's own (so a command can use a file an earlier block
wrote), against one EXTRA_HOME built once for this module (`extra demo-data`, then
`extra run --offline`, as subprocesses):

- ```sh: every line is a comment or an `extra ...` (or `.venv/bin/extra ...`) command. Each
  command runs through the project's `extra` in a subprocess, with EXTRA_HOME set to the
  module's home (`$EXTRA_HOME` in a line is that folder) and EXTRA_SOURCES=offline (the
  tests have no internet). It must exit 0, or N when the line ends with `# exits N ...`.
- ```sql: one statement, run through `extra query SQL --level LEVEL --format json` (in
  process: the same command without its start-up cost). LEVEL comes from an HTML comment on
  the line before the fence, `<!-- level: amber -->` (CLEAR without one). It must succeed
  and return at least one row, unless the comment says `rows: any`.
- ```python: executed in a fresh namespace, in the working folder, with EXTRA_HOME set; it
  must not raise. Snippets find the home with `os.environ.get("EXTRA_HOME", ".extra")`.
- ```csv and ```json after `<!-- file: NAME -->`: written to NAME in the working folder (the
  example files a later command sends). Every json block must parse. A json block after
  `<!-- expect: report -->` must match the newest drop report: every key it names,
  recursively, with the value it gives; lists element by element; "..." matches anything.
- ```text, in docs/architecture.md only, after `<!-- generated: asset-groups -->` or
  `<!-- generated: definitions -->`: what `build_definitions()` says. Run this file
  (`.venv/bin/python tests/test_guides.py`) to rewrite those blocks from the definitions.
- ```console after `<!-- run: duckdb -->`: a DuckDB CLI session. Its `$ duckdb ...` line runs
  the CLI that the dev extra installs (`duckdb-cli`, a 1.x release: the published copies are
  written in a storage format DuckDB 1.3 and later read), in `$EXTRA_HOME` after `$ cd "$EXTRA_HOME"`,
  with its `D ` lines as input; it must exit 0 with nothing on stderr.
- ```r (R is not installed) is checked by extraction: each path the block builds with
  `file.path` (from `home`, its EXTRA_HOME, and the variables it assigns) names a file that
  exists, each `dbGetQuery` SQL runs on the published copy it opens, and each
  `manifest$key` it reads is a key of that manifest.
- Other ```console blocks are not run (`make ui` is a server; live sources need the
  internet). They are the only blocks left unrun.

The guides' tables of rule codes and of contract columns are held to
`assets/contracts/rule_help.yaml` and the contracts, and every `extra` command named in
their text must be one that a block runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCS = PROJECT_ROOT / "docs"
GUIDES = (
    DOCS / "guides" / "reporting-authorities.md",
    DOCS / "guides" / "analysts.md",
    DOCS / "guides" / "runbook.md",
)
ARCHITECTURE = DOCS / "architecture.md"
DOCUMENTS = (*GUIDES, ARCHITECTURE)
EXTRA = Path(sys.executable).with_name("extra")

RUN_KINDS = frozenset({"sh", "sql", "python"})
CHECKED_KINDS = frozenset({"csv", "json", "text", "r"})
UNRUN_KINDS = frozenset({"console"})
#: the DuckDB CLI (the `duckdb-cli` package of the dev extra)
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")

_FENCE = re.compile(r"^```(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(.*?)\s*-->$")
_EXITS = re.compile(r"#\s*exits\s+(\d+)\b")
_COMMAND = re.compile(r"^(?:\.venv/bin/)?extra\s")
_INLINE_COMMAND = re.compile(r"`((?:\.venv/bin/)?extra [^`]+)`")
#: the order the architecture page lists the groups in (others follow, by name)
GROUP_ORDER = (
    "sources",
    "reference",
    "drops",
    "staging",
    "intermediate",
    "marts",
    "publish",
    "products",
)


# --- reading the documents -------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced block: its document, the line of its opening fence, its language, its text,
    and the directives of the HTML comment just above it (`key: value; key: value`)."""

    doc: Path
    line: int
    kind: str
    text: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(PROJECT_ROOT)}:{self.line}"


def parse_directives(comment: str) -> dict[str, str]:
    directives = {}
    for part in comment.split(";"):
        key, sep, value = part.partition(":")
        if sep:
            directives[key.strip().lower()] = value.strip()
    return directives


def directive_before(lines: list[str], index: int) -> dict[str, str]:
    """The directives of the comment on the nearest non-blank line before `index`."""
    for previous in range(index - 1, -1, -1):
        text = lines[previous].strip()
        if text:
            match = _DIRECTIVE.match(text)
            return parse_directives(match.group(1)) if match else {}
    return {}


def read_blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        body = []
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"{doc.name}:{start + 1}: the fence is never closed"
        blocks.append(
            Block(
                doc=doc,
                line=start + 1,
                kind=match.group(1).lower(),
                text="\n".join(body) + ("\n" if body else ""),
                directives=directive_before(lines, start),
            )
        )
        index += 1
    return blocks


def prose(doc: Path) -> str:
    """The document without its fenced blocks."""
    kept, inside = [], False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line) or (inside and line.rstrip() == "```"):
            inside = not inside
            continue
        if not inside:
            kept.append(line)
    return "\n".join(kept)


def table_after(doc: Path, directive: str) -> list[list[str]]:
    """The body rows of the Markdown table right after `<!-- directive -->` (cells stripped,
    escaped pipes unescaped)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    marker = f"<!-- {directive} -->"
    assert marker in lines, f"{doc.name}: no {marker}"
    rows = []
    for line in lines[lines.index(marker) + 1 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    assert len(rows) > 2, f"{doc.name}: no table after {marker}"
    return rows[2:]  # the header and the separator


def shell_commands(block: Block) -> list[tuple[str, int]]:
    """The commands of a sh block with the exit status each must give."""
    commands = []
    for raw in block.text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert _COMMAND.match(line), (
            f"{block.where}: a sh block holds only `extra` commands the tests run; "
            f"put {line!r} in a console block"
        )
        expected = _EXITS.search(line)
        commands.append((line, int(expected.group(1)) if expected else 0))
    return commands


def subcommand(command: str) -> tuple[str, ...]:
    """`extra drops ingest FILE ...` -> ("drops", "ingest"); `extra run --full` -> ("run",)."""
    words = shlex.split(command, comments=True)[1:]
    return tuple(words[:2]) if words[:1] == ["drops"] else tuple(words[:1])


# --- the definitions, for docs/architecture.md ------------------------------------------------


def definitions_listing() -> dict[str, dict[str, list[str]]]:
    """What `build_definitions()` holds: asset keys by group; jobs, schedules and sensors."""
    from extra_pipeline.definitions import build_definitions
    from extra_pipeline.settings import Settings

    with tempfile.TemporaryDirectory() as home:
        defs = build_definitions(Settings(extra_home=Path(home), sources_mode="offline"))
        groups: dict[str, list[str]] = {}
        for spec in defs.resolve_all_asset_specs():
            groups.setdefault(spec.group_name, []).append(spec.key.to_user_string())
        jobs = [j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")]
        listing = {
            "asset-groups": {group: sorted(keys) for group, keys in groups.items()},
            "definitions": {
                "jobs": sorted(jobs),
                "schedules": sorted(s.name for s in defs.schedules or ()),
                "sensors": sorted(s.name for s in defs.sensors or ()),
            },
        }
    return listing


def render_listing(listing: dict[str, list[str]]) -> str:
    """`name: item, item, ...` lines, wrapped at 100 characters with indented continuations."""
    order = [g for g in GROUP_ORDER if g in listing] + sorted(set(listing) - set(GROUP_ORDER))
    lines = []
    for name in order:
        lines.append(
            textwrap.fill(
                f"{name}: " + ", ".join(listing[name]),
                width=100,
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines) + "\n"


def parse_listing(text: str) -> dict[str, list[str]]:
    """The inverse of `render_listing`."""
    joined: list[str] = []
    for line in text.splitlines():
        if line[:1].isspace() and joined:
            joined[-1] += " " + line.strip()
        elif line.strip():
            joined.append(line.strip())
    listing = {}
    for line in joined:
        name, _, items = line.partition(":")
        listing[name.strip()] = sorted(i.strip() for i in items.split(",") if i.strip())
    return listing


def regenerate_architecture(text: str, listing: dict[str, dict[str, list[str]]]) -> str:
    """`text` with every generated block rewritten from `listing`."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        out.append(lines[index])
        match = _DIRECTIVE.match(lines[index].strip())
        what = parse_directives(match.group(1)).get("generated") if match else None
        if what is None:
            index += 1
            continue
        index += 1
        while index < len(lines) and not lines[index].strip():
            out.append(lines[index])
            index += 1
        assert index < len(lines) and lines[index].startswith("```"), f"no block after {what}"
        out.append(lines[index])
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        out.append(render_listing(listing[what]))
    return "".join(out)


# --- the structure of the documents (no home needed) ------------------------------------------


def test_every_block_is_run_or_checked_except_some_console_blocks() -> None:
    kinds = set()
    for doc in DOCUMENTS:
        blocks = read_blocks(doc)
        assert blocks, f"{doc.name} has no blocks"
        for block in blocks:
            kinds.add(block.kind)
            assert block.kind in RUN_KINDS | CHECKED_KINDS | UNRUN_KINDS, (
                f"{block.where}: a ```{block.kind or '(no language)'} block is neither run nor "
                "checked; only console blocks may be left unrun"
            )
            if block.kind == "console" and "run" in block.directives:
                assert block.directives["run"] == "duckdb", block.where
                duckdb_session(block)  # raises on a malformed session
            if block.kind == "csv":
                assert "file" in block.directives, (
                    f"{block.where}: a csv block needs <!-- file: -->"
                )
            if block.kind == "text":
                assert doc == ARCHITECTURE and "generated" in block.directives, (
                    f"{block.where}: text blocks are the generated listings of architecture.md"
                )
            if block.kind == "sh":
                assert shell_commands(block), f"{block.where}: an empty sh block"
            if block.kind == "sql":
                assert block.text.strip().rstrip(";").count(";") == 0, (
                    f"{block.where}: one statement per sql block"
                )
                assert set(block.directives) <= {"level", "rows"}, block.where
    # what is left unrun is console blocks, and nothing else
    assert kinds - RUN_KINDS - CHECKED_KINDS == {"console"}
    assert kinds >= RUN_KINDS
    sessions = [
        block
        for doc in DOCUMENTS
        for block in read_blocks(doc)
        if block.kind == "console" and block.directives.get("run") == "duckdb"
    ]
    assert sessions, "the DuckDB CLI session of the analysts' guide is run"


def test_every_extra_command_named_in_the_text_is_run_by_a_block() -> None:
    run = {
        subcommand(command)
        for doc in DOCUMENTS
        for block in read_blocks(doc)
        if block.kind == "sh"
        for command, _ in shell_commands(block)
    }
    for doc in DOCUMENTS:
        for command in _INLINE_COMMAND.findall(prose(doc)):
            assert subcommand(command) in run, (
                f"{doc.name}: `{command}` is named but no sh block runs `extra "
                f"{' '.join(subcommand(command))}`"
            )


def test_relative_links_point_to_files() -> None:
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", prose(doc)):
            path = (doc.parent / target).resolve()
            assert path.exists(), f"{doc.name}: broken link {target}"


def test_the_submission_guide_gives_every_rule_its_help_text() -> None:
    helps = yaml.safe_load(
        (PROJECT_ROOT / "assets" / "contracts" / "rule_help.yaml").read_text(encoding="utf-8")
    )
    for section in ("rules", "rejections"):
        rows = table_after(GUIDES[0], f"rule-help: {section}")
        listed = {row[0].strip("`"): row[1] for row in rows}
        assert sorted(listed) == sorted(helps[section]), section
        for code, text in helps[section].items():
            assert text in listed[code], f"{section} {code}: the guide's text is not the report's"


def test_the_submission_guide_lists_every_contract_column() -> None:
    from extra_pipeline.drops.contracts import load_contracts

    for dataset, contract in load_contracts().items():
        rows = table_after(GUIDES[0], f"columns: {dataset}")
        listed = [(row[0].strip("`"), row[1]) for row in rows]
        expected = [(c.name, "yes" if c.required else "no") for c in contract.columns]
        assert listed == expected, dataset


def test_the_architecture_lists_the_definitions() -> None:
    listing = definitions_listing()
    generated = {
        block.directives["generated"]: parse_listing(block.text)
        for block in read_blocks(ARCHITECTURE)
        if block.kind == "text"
    }
    assert set(generated) == set(listing), "docs/architecture.md: generated blocks"
    for what, expected in listing.items():
        assert generated[what] == expected, (
            f"docs/architecture.md ({what}) differs from build_definitions(); rewrite it with "
            f"`.venv/bin/python tests/test_guides.py`. It should read:\n" + render_listing(expected)
        )


# --- running the documents against a home -----------------------------------------------------


def guide_env(home: Path) -> dict[str, str]:
    """The environment the guides' commands run in: the module's home, offline sources."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EXTRA_") and key != "DAGSTER_HOME"
    }
    env.update(EXTRA_HOME=str(home), EXTRA_SOURCES="offline")
    return env


def run_extra(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXTRA), *args],
        cwd=cwd,
        env=guide_env(home),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.fixture(scope="module")
def extra_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the demonstration drops ingested and the nightly job run, offline."""
    assert EXTRA.is_file(), f"no {EXTRA}: install the project (make run)"
    home = tmp_path_factory.mktemp("guides_home")
    for args in (["demo-data"], ["run", "--offline"]):
        result = run_extra(args, home, home)
        assert result.returncode == 0, f"extra {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return home


def run_shell(block: Block, home: Path, cwd: Path) -> None:
    for line, expected in shell_commands(block):
        args = shlex.split(
            line.replace("${EXTRA_HOME}", str(home)).replace("$EXTRA_HOME", str(home)),
            comments=True,
        )
        result = run_extra(args[1:], home, cwd)
        assert result.returncode == expected, (
            f"{block.where}: `{line}` exited {result.returncode}, not {expected}\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )


def run_sql(block: Block) -> None:
    from extra_pipeline.cli import main

    level = block.directives.get("level", "clear")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["query", block.text, "--level", level, "--format", "json"])
    assert status == 0, f"{block.where}: extra query failed: {err.getvalue()}"
    rows = json.loads(out.getvalue())
    if block.directives.get("rows") != "any":
        assert rows, (
            f"{block.where}: no rows on the {level} copy (say `rows: any` if none is right)"
        )


def run_python(block: Block) -> None:
    code = compile(block.text, block.where, "exec")
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, {"__name__": "__guide__"})


def duckdb_session(block: Block) -> tuple[bool, list[str], str]:
    """A console block of a DuckDB CLI session: whether it first changes to `$EXTRA_HOME`,
    the CLI's arguments, and its input (the `D ` lines)."""
    in_home, args, statements = False, None, []
    for raw in block.text.splitlines():
        line = raw.strip()
        if line in ('$ cd "$EXTRA_HOME"', "$ cd $EXTRA_HOME"):
            in_home = True
        elif line.startswith("$ duckdb "):
            assert args is None, f"{block.where}: one `duckdb` command per session"
            args = shlex.split(line[len("$ duckdb ") :])
        elif line.startswith("D "):
            statements.append(line[2:])
        elif line:
            pytest.fail(f"{block.where}: {line!r} is not part of a DuckDB CLI session")
    assert args is not None and statements, f"{block.where}: no `$ duckdb` command or input"
    return in_home, args, "\n".join(statements) + "\n"


def run_duckdb_cli(block: Block, home: Path, cwd: Path) -> None:
    assert DUCKDB_CLI.is_file(), f"no {DUCKDB_CLI}: install the dev extra (make test)"
    in_home, args, statements = duckdb_session(block)
    result = subprocess.run(
        [str(DUCKDB_CLI), *args],
        input=statements,
        cwd=home if in_home else cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip() and result.stdout.strip(), (
        f"{block.where}: the DuckDB CLI exited {result.returncode}:\n"
        f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
    )


_R_QUERY = re.compile(r'dbGetQuery\(\s*con\s*,\s*"(.*?)"\s*\)', re.S)
_R_FILE_PATH = re.compile(r"file\.path\(([^()]*)\)")
_R_ASSIGNED_PATH = re.compile(r"^\s*(\w+)\s*<-\s*file\.path\(([^()]*)\)\s*$", re.M)
_R_MANIFEST = re.compile(r"manifest\$(\w+)")


def r_paths(block: Block, home: Path) -> tuple[dict[str, Path], list[Path]]:
    """The paths an R block builds with `file.path`: its variables holding one (`home` is the
    home, as `Sys.getenv("EXTRA_HOME", ...)` gives it), and every path it names, in order."""

    def resolve(arguments: str) -> Path:
        parts = []
        for argument in (a.strip() for a in arguments.split(",")):
            if argument.startswith('"') and argument.endswith('"'):
                parts.append(argument[1:-1])
            elif argument in variables:
                parts.append(str(variables[argument]))
            else:
                pytest.fail(f"{block.where}: file.path({arguments}): {argument} is unknown")
        return Path(*parts)

    variables: dict[str, Path] = {"home": home}
    for name, arguments in _R_ASSIGNED_PATH.findall(block.text):
        variables[name] = resolve(arguments)
    return variables, [resolve(arguments) for arguments in _R_FILE_PATH.findall(block.text)]


def check_r(block: Block, home: Path) -> None:
    """What an R block relies on, without R: each path it builds to a file exists, its SQL
    runs on the published copy it opens, and the manifest keys it reads are there."""
    import duckdb

    assert 'Sys.getenv("EXTRA_HOME"' in block.text, f"{block.where}: home from EXTRA_HOME"
    _, paths = r_paths(block, home)
    files = [path for path in paths if path.suffix]
    for path in files:
        assert path.is_file(), f"{block.where}: no file {path.relative_to(home)} in the home"
    copies = [path for path in files if path.parent == home / "published"]
    queries = _R_QUERY.findall(block.text)
    assert len(copies) == 1 and queries, f"{block.where}: one published copy, and a query"
    with duckdb.connect(str(copies[0]), read_only=True) as con:
        for sql in queries:
            assert con.execute(sql).fetchall(), f"{block.where}: no rows from {sql.strip()!r}"
    keys = _R_MANIFEST.findall(block.text)
    if keys:
        manifests = [path for path in files if path.name.startswith("manifest.")]
        assert manifests, f"{block.where}: reads a manifest it does not name"
        manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
        for key in keys:
            assert key in manifest, f"{block.where}: the manifest has no {key!r}"


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` does not say what `expected` does ("..." matches anything)."""
    if expected == "...":
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '/'}: {actual!r} is not an object"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}/{key}: missing")
            else:
                found += mismatches(value, actual[key], f"{path}/{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} is not a list of {len(expected)}"]
        return [
            m for i, item in enumerate(expected) for m in mismatches(item, actual[i], f"{path}/{i}")
        ]
    return [] if expected == actual else [f"{path}: {actual!r}, not {expected!r}"]


def check_json(block: Block, home: Path, cwd: Path) -> None:
    try:
        document = json.loads(block.text)
    except json.JSONDecodeError as error:
        pytest.fail(f"{block.where}: not JSON: {error}")
    if block.directives.get("expect") == "report":
        reports = sorted(
            (home / "drops" / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime_ns
        )
        assert reports, f"{block.where}: no drop report yet"
        report = json.loads(reports[-1].read_text(encoding="utf-8"))
        found = mismatches(document, report)
        assert not found, f"{block.where}: the report {reports[-1].name} differs: {found}"
    elif "expect" in block.directives:
        pytest.fail(f"{block.where}: unknown expectation {block.directives['expect']!r}")


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda doc: doc.stem)
def test_the_document_runs(
    doc: Path, extra_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("EXTRA_") or k == "DAGSTER_HOME"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("EXTRA_HOME", str(extra_home))
    monkeypatch.setenv("EXTRA_SOURCES", "offline")
    monkeypatch.chdir(tmp_path)
    done = set()
    for block in read_blocks(doc):
        if "file" in block.directives:
            target = tmp_path / block.directives["file"].replace("$EXTRA_HOME", str(extra_home))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        if block.kind == "sh":
            run_shell(block, extra_home, tmp_path)
        elif block.kind == "sql":
            run_sql(block)
        elif block.kind == "python":
            run_python(block)
        elif block.kind == "json":
            check_json(block, extra_home, tmp_path)
        elif block.kind == "r":
            check_r(block, extra_home)
        elif block.kind == "console" and block.directives.get("run") == "duckdb":
            run_duckdb_cli(block, extra_home, tmp_path)
        done.add(block.kind)
    assert done, f"{doc.name}: nothing to run"


if __name__ == "__main__":
    # Rewrite the generated listings of docs/architecture.md from the definitions.
    ARCHITECTURE.write_text(
        regenerate_architecture(ARCHITECTURE.read_text(encoding="utf-8"), definitions_listing()),
        encoding="utf-8",
    )
    print(f"rewrote the generated blocks of {ARCHITECTURE.relative_to(PROJECT_ROOT)}")
