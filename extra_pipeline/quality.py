"""Great Expectations 1.x, behind one thin resource.

Suites are JSON files in `expectations/`, one per dataset; `meta.table` names the warehouse
table the suite guards. The engine choice lives here alone: today GX's pandas engine on an
ephemeral context with a whole-DataFrame batch (sources are tens of thousands of rows).
GX is imported on first use, never when the definitions load: the import costs seconds.

A gate that cannot run its expectations must not pass: any expectation that raised inside
GX makes the whole validation an error, not a silent failure or success
(`test_quality.py` pins this so a GX upgrade that changes it fails loudly).
"""

from __future__ import annotations

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
    def expectation_count(self) -> int:
        return len(self.spec.get("expectations", []))


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

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_frame(suite: Suite, frame: pd.DataFrame) -> SuiteResult:
    """Run `suite` on `frame` with GX's pandas engine."""
    import great_expectations as gx

    with _GX_LOCK:
        context = _context()
        name = f"{suite.name}"
        with suppress(Exception):  # not there yet: GX raises its own not-found error types
            context.suites.delete(name)
        try:
            gx_suite = context.suites.add(gx.ExpectationSuite(**suite.spec))
        except Exception as error:
            raise QualityError(
                f"expectations/{suite.path.name}: GX cannot load the suite: {error}"
            ) from error
        if len(gx_suite.expectations) != suite.expectation_count:
            # GX logs and drops an expectation type it does not know; a gate must not shrink.
            known = {e.expectation_type for e in gx_suite.expectations}
            lost = sorted({e["type"] for e in suite.spec["expectations"]} - known)
            raise QualityError(
                f"expectations/{suite.path.name}: GX does not know {', '.join(lost) or 'an expectation'}"
            )
        source = context.data_sources.add_or_update_pandas(f"frames_{name}")
        asset = source.add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": _gx_friendly(frame)}
        )
        result = batch.validate(gx_suite)
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


class GreatExpectationsResource(dg.ConfigurableResource):
    """Runs the suites in `expectations/` (or another folder, for tests)."""

    expectations_dir: str = str(EXPECTATIONS_DIR)

    def suites(self) -> list[Suite]:
        return load_suites(Path(self.expectations_dir))

    def validate(self, suite: Suite, frame: pd.DataFrame) -> SuiteResult:
        return validate_frame(suite, frame)
