"""Great Expectations 1.x, behind one thin resource.

Suites are JSON files in `expectations/`, one per dataset; `meta.table` names the warehouse
table the suite guards. The engine choice lives here alone: GX's pandas engine on an ephemeral context with a
whole-DataFrame batch for source tables (tens of thousands of rows), and GX's SQL engine
on DuckDB for member-state drops (millions of rows, checked in place; see
`validate_table`).
GX is imported on first use, never when the definitions load: the import costs seconds.

A gate that cannot run its expectations must not pass: any expectation that raised inside
GX makes the whole validation an error, not a silent failure or success
(`test_quality.py` pins this so a GX upgrade that changes it fails loudly).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from extra_pipeline.settings import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
#: GX's BASIC results carry what `audit.check_results` keeps (observed value, counts) and
#: cost a quarter less than its default SUMMARY, which adds value counts nobody reads
RESULT_FORMAT = "BASIC"


class QualityError(RuntimeError):
    """A suite could not be evaluated (bad suite file, or GX raised inside an expectation)."""


@dataclass(frozen=True)
class Suite:
    """One suite file: its name, the table it guards, and its raw JSON."""

    name: str
    table: str
    path: Path
    spec: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return self.spec.get("meta") or {}

    @property
    def parameter_queries(self) -> dict[str, str]:
        """`meta.parameters`: name -> a SQL query on the warehouse whose single value the
        suite's `{"$PARAMETER": name}` stands for (e.g. the list of non-EU countries a
        table must cover), computed when the suite runs."""
        return dict(self.meta.get("parameters") or {})

    @property
    def expectation_count(self) -> int:
        return len(self.spec.get("expectations", []))

    @property
    def digest(self) -> str:
        """The suite file's content: a changed suite must check its table again."""
        text = json.dumps(self.spec, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def gx_spec(self) -> dict[str, Any]:
        """A copy of the spec for GX, which adds ids to what it is given."""
        return copy.deepcopy(self.spec)


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[Suite]:
    """Every suite in `directory`, sorted by name; each must name its table in `meta.table`."""
    suites = []
    for path in sorted(directory.glob("*.json")):
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise QualityError(f"expectations/{path.name}: not valid JSON ({error})") from None
        table = (spec.get("meta") or {}).get("table")
        if not table or "." not in table:
            raise QualityError(
                f"expectations/{path.name}: meta.table must name the table it guards (schema.table)"
            )
        if spec.get("name") != path.stem:
            raise QualityError(f"expectations/{path.name}: suite name must be {path.stem!r}")
        suites.append(Suite(name=path.stem, table=table, path=path, spec=spec))
    return suites


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, in the shape `audit.check_results` stores."""

    expectation: str
    column: str | None
    kwargs: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    element_count: int | None


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


# GX contexts are not thread-safe; one per process, used under a lock.
_GX_LOCK = threading.Lock()


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _register_duckdb_datasource()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_frame(
    suite: Suite, frame: pd.DataFrame, parameters: dict[str, Any] | None = None
) -> SuiteResult:
    """Run `suite` on `frame` with GX's pandas engine (tables the size of one source);
    `parameters` give the values of its `$PARAMETER`s."""
    given = parameters or {}
    missing = sorted(n for n in suite.parameter_queries if given.get(n) in (None, []))
    if missing:
        raise QualityError(
            f"suite {suite.name}: no value for parameter {', '.join(missing)} "
            "(its query in meta.parameters returned nothing)"
        )
    with _GX_LOCK:
        context = _context()
        gx_suite = _register_suite(context, suite)
        source = context.data_sources.add_or_update_pandas(f"frames_{suite.name}")
        asset = source.add_dataframe_asset(suite.name)
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": _gx_friendly(frame)}
        )
        result = batch.validate(
            gx_suite, expectation_parameters=parameters or None, result_format=RESULT_FORMAT
        )
    return _suite_result(suite, result)


def validate_table(suite: Suite, database: Path, table: str) -> SuiteResult:
    """Run `suite` on `table` of the DuckDB file `database` with GX's SQL engine: the
    expectations become SQL that DuckDB answers in place, so a million-row drop is checked
    without ever becoming a DataFrame. The file must not be open elsewhere in this process
    with another configuration; GX's connection is closed before this returns."""
    name = f"duckdb_{suite.name}"
    with _GX_LOCK:
        context = _context()
        gx_suite = _register_suite(context, suite)
        source = context.data_sources.add_or_update_extra_duckdb(
            name, connection_string=f"duckdb:///{database}"
        )
        try:
            asset = source.add_table_asset(suite.name, table_name=table)
            batch = asset.add_batch_definition_whole_table("whole").get_batch()
            result = batch.validate(gx_suite, result_format=RESULT_FORMAT)
        finally:
            _close(source)
            context.data_sources.delete(name)
    return _suite_result(suite, result)


def _register_suite(context: Any, suite: Suite) -> Any:
    """`suite` as a GX suite in the context, replacing an earlier copy; it must keep every
    expectation (GX logs and drops a type it does not know: a gate must not shrink)."""
    import great_expectations as gx

    with suppress(Exception):  # not there yet: GX raises its own not-found error types
        context.suites.delete(suite.name)
    try:
        gx_suite = context.suites.add(gx.ExpectationSuite(**suite.gx_spec()))
    except Exception as error:
        raise QualityError(
            f"expectations/{suite.path.name}: GX cannot load the suite: {error}"
        ) from error
    if len(gx_suite.expectations) != suite.expectation_count:
        known = {e.expectation_type for e in gx_suite.expectations}
        lost = sorted({e["type"] for e in suite.spec["expectations"]} - known)
        raise QualityError(
            f"expectations/{suite.path.name}: GX does not know {', '.join(lost) or 'an expectation'}"
        )
    return gx_suite


def _suite_result(suite: Suite, result: Any) -> SuiteResult:
    """GX's validation result in the shape the checks and `audit.check_results` use."""
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        message = _raised(item.exception_info)
        if message is not None:
            raise QualityError(
                f"suite {suite.name}: {config.type} could not be evaluated: {message}"
            )
        details = item.result or {}
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        observed = details.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=kwargs.get("column"),
                kwargs=json.dumps(kwargs, sort_keys=True, default=str),
                success=bool(item.success),
                observed_value=None if observed is None else json.dumps(observed, default=str),
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
            )
        )
    if len(outcomes) != suite.expectation_count:
        raise QualityError(
            f"suite {suite.name}: GX returned {len(outcomes)} results for {suite.expectation_count} expectations"
        )
    return SuiteResult(
        suite=suite.name, success=all(o.success for o in outcomes), outcomes=tuple(outcomes)
    )


def _close(source: Any) -> None:
    """Release every connection GX holds on the DuckDB file, so the caller can reopen it."""
    engine = source.execution_engine
    if engine is not None:
        if engine._connection is not None:  # our persistent connection (see _DuckDBEngine)
            engine._connection.close()
            engine._connection = None
        engine.engine.dispose()
    if source._engine is not None:
        source._engine.dispose()


def _raised(info: dict[str, Any] | None) -> str | None:
    """The message of an exception GX caught while evaluating, in either of its shapes:
    flat (`raised_exception` at the top) or nested per metric (GX 1.24)."""
    if not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info["raised_exception"] else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _gx_friendly(frame: pd.DataFrame) -> pd.DataFrame:
    """GX checks `datetime64[us]` row by row in Python; nanosecond precision is ~3x faster."""
    converted = {
        column: frame[column].astype("datetime64[ns]")
        for column in frame.columns
        if pd.api.types.is_datetime64_any_dtype(frame[column])
        and not isinstance(frame[column].dtype, pd.DatetimeTZDtype)
    }
    return frame.assign(**converted) if converted else frame


@cache
def _register_duckdb_datasource() -> None:
    """Teach GX a `extra_duckdb` data source whose SQL engine keeps one connection open.

    GX's SQL engine opens a connection per query and reads the result after closing it;
    only for a fixed list of dialects (SQLite, SQL Server...) does it keep one open, and
    DuckDB is not on it, so results vanish with the connection. Subclassing the engine's
    `get_connection` (GX's own extension point for data sources) keeps one connection for
    the validation's lifetime; `validate_table` closes it.
    """
    from collections.abc import Iterator
    from contextlib import contextmanager
    from typing import Literal

    from great_expectations.datasource.fluent.sql_datasource import SQLDatasource
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    class _DuckDBEngine(SqlAlchemyExecutionEngine):
        @contextmanager
        def get_connection(self) -> Iterator[Any]:
            if self._connection is None:
                self._connection = self.engine.connect()
            yield self._connection

    class ExtraDuckDBDatasource(SQLDatasource):
        type: Literal["extra_duckdb"] = "extra_duckdb"

        @property
        def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
            return _DuckDBEngine


class GreatExpectationsResource(dg.ConfigurableResource):
    """Runs the suites in `expectations/` (or another folder, for tests)."""

    expectations_dir: str = str(EXPECTATIONS_DIR)

    def suites(self) -> list[Suite]:
        return load_suites(Path(self.expectations_dir))

    def validate(
        self, suite: Suite, frame: pd.DataFrame, parameters: dict[str, Any] | None = None
    ) -> SuiteResult:
        return validate_frame(suite, frame, parameters)

    def validate_table(self, suite: Suite, database: Path, table: str) -> SuiteResult:
        return validate_table(suite, database, table)
