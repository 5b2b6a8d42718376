"""The threat methodology: every weight and threshold the analytic models use, in one file.

`assets/methodology.yaml` holds them as a tree of named parameters, each with its value and
what it is for; a leaf is a mapping with a `value` (and an `about`), named by its path, e.g.
`threat_score.weights.prevalence`. The file carries a version that every product cites.

SQL models read a parameter as a DuckDB variable, `getvariable('threat_score.weights.prevalence')`,
which the warehouse binds before running the model. The names a model uses are read from its
SQL with sqlglot (an unknown name fails loading, naming the file), and their values are part
of the model's code version: changing one weight re-materialises exactly the models that use
it, and the UI shows them as changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml
from sqlglot import exp

from extra_pipeline.settings import PROJECT_ROOT

METHODOLOGY_FILE = PROJECT_ROOT / "assets" / "methodology.yaml"
_PART = re.compile(r"^[a-z][a-z0-9_]*$")
#: the DuckDB function a model reads a parameter with
VARIABLE_FUNCTION = "getvariable"


class MethodologyError(ValueError):
    """The methodology file, or a model's use of it, is wrong; the message says where."""


@dataclass(frozen=True)
class Parameter:
    """One weight, threshold or crosswalk: its dotted name, value and what it is for."""

    name: str
    value: Any
    about: str

    @property
    def section(self) -> str:
        """The first part of the name (`threat_score`, `early_warning`...)."""
        return self.name.split(".", 1)[0]

    def value_json(self) -> str:
        return json.dumps(self.value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Methodology:
    """The parsed methodology file."""

    version: str
    title: str
    effective: str
    path: Path
    parameters: Mapping[str, Parameter]
    changes: tuple[Mapping[str, str], ...] = field(default=())

    @property
    def digest(self) -> str:
        """Every parameter's value: what the models' results depend on (not the prose)."""
        values = {name: p.value for name, p in sorted(self.parameters.items())}
        return hashlib.sha256(
            json.dumps(values, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()[:16]

    @property
    def citation(self) -> str:
        """How products cite it, e.g. `GLOCA threat methodology v2026.1 (2026-12-04)`."""
        return f"{self.title} v{self.version} ({self.effective})"

    def values(self, names: Iterable[str]) -> dict[str, Any]:
        """The values of `names` (each must exist)."""
        return {name: self.parameters[name].value for name in sorted(set(names))}

    def value(self, name: str) -> Any:
        return self.parameters[name].value


def load_methodology(path: Path = METHODOLOGY_FILE) -> Methodology:
    """Read and check the methodology file: named leaves with values and descriptions, and
    every group called `weights` summing to 1. Read once per version of the file."""
    try:
        stat = path.stat()
    except OSError as error:
        raise MethodologyError(f"{path.name}: cannot be read ({error})") from None
    return _load(path.resolve(), stat.st_mtime_ns, stat.st_size)


@cache
def _load(path: Path, _mtime_ns: int, _size: int) -> Methodology:
    where = path.name
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise MethodologyError(f"{where}: cannot be read ({error})") from None
    if not isinstance(spec, dict):
        raise MethodologyError(f"{where}: expected a mapping with version and parameters")
    for key in ("version", "title", "effective", "parameters"):
        if not spec.get(key):
            raise MethodologyError(f"{where}: `{key}` is required")
    parameters: dict[str, Parameter] = {}
    _collect(spec["parameters"], (), parameters, where)
    effective = spec["effective"]
    return Methodology(
        version=str(spec["version"]),
        title=str(spec["title"]),
        effective=effective.isoformat() if isinstance(effective, date) else str(effective),
        path=path,
        parameters=parameters,
        changes=tuple(spec.get("changes") or ()),
    )


def _collect(node: Any, path: tuple[str, ...], out: dict[str, Parameter], where: str) -> None:
    name = ".".join(path)
    if not isinstance(node, dict) or not node:
        raise MethodologyError(f"{where}: {name or 'parameters'} must be a non-empty mapping")
    if "value" in node:
        about = node.get("about")
        if not isinstance(about, str) or not about.strip():
            raise MethodologyError(f"{where}: {name} needs an `about` saying what it is for")
        extra = sorted(set(node) - {"value", "about"})
        if extra:
            raise MethodologyError(f"{where}: {name} has unknown keys {', '.join(extra)}")
        _check_value(node["value"], name, where)
        out[name] = Parameter(name=name, value=node["value"], about=" ".join(about.split()))
        return
    for key, child in node.items():
        if not isinstance(key, str) or not _PART.match(key):
            raise MethodologyError(
                f"{where}: {'.'.join((*path, str(key)))}: names are lower_snake_case parts"
            )
        _collect(child, (*path, key), out, where)
    if path and path[-1] == "weights":
        values = [
            child.get("value") if isinstance(child, dict) else None for child in node.values()
        ]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise MethodologyError(f"{where}: every weight in {name} must be a number")
        if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
            raise MethodologyError(
                f"{where}: the weights in {name} must be non-negative and sum to 1 "
                f"(they sum to {sum(values):g})"
            )


def _check_value(value: Any, name: str, where: str) -> None:
    scalar = (str, int, float, bool)
    if isinstance(value, scalar):
        return
    if isinstance(value, list) and value:
        if all(isinstance(v, scalar) for v in value):
            return
        if all(isinstance(v, dict) and v for v in value):
            keys = [tuple(v) for v in value]
            if len(set(keys)) == 1 and all(
                isinstance(x, scalar) or x is None for v in value for x in v.values()
            ):
                return
    raise MethodologyError(
        f"{where}: {name}: a value is a number, text, true/false, a list of those, or a list "
        "of records with the same fields"
    )


def parameters_used(statement: exp.Expression, where: str) -> tuple[str, ...]:
    """The parameter names a parsed model reads with `getvariable('<name>')`, sorted."""
    names = set()
    for call in statement.find_all(exp.Anonymous):
        if call.name.lower() != VARIABLE_FUNCTION:
            continue
        args = call.expressions
        if len(args) != 1 or not isinstance(args[0], exp.Literal) or not args[0].is_string:
            raise MethodologyError(
                f"{where}: {call.sql(dialect='duckdb')}: name the parameter as one text literal"
            )
        names.add(args[0].this)
    return tuple(sorted(names))


def check_parameters(used: Iterable[str], methodology: Methodology, where: str) -> None:
    """Every name in `used` must be a parameter of `methodology`."""
    for name in used:
        if name not in methodology.parameters:
            raise MethodologyError(
                f"{where}: uses parameter {name!r}, which {methodology.path.name} does not define"
            )


def bind_parameters(con: duckdb.DuckDBPyConnection, values: Mapping[str, Any]) -> None:
    """Set each parameter as a DuckDB variable on `con`, for `getvariable()` in the SQL."""
    for name, value in values.items():
        con.execute(f'set variable "{name}" = ?', [value])
