"""Blocking asset checks: a failed check stops everything downstream in the run.

- every Great Expectations suite in `expectations/` on its table;
- the small-cell suppression rule of a model published below its inputs' marking
  (`-- suppress:`), against the thresholds of the methodology file;
- the row markings of a model published row by row (`-- row marking:`).

Every outcome lands in `audit.check_results`.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from extra_pipeline.markings import Marking
from extra_pipeline.methodology import Methodology
from extra_pipeline.models import SqlModel
from extra_pipeline.quality import ExpectationOutcome, GreatExpectationsResource, Suite, SuiteResult
from extra_pipeline.refresh import digest
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource, qualified, quote_ident

SUITE_CHECK = "expectations"
SUPPRESSION_CHECK = "small_cell_suppression"
ROW_MARKING_CHECK = "row_markings"
#: the methodology parameters the suppression check holds figures to
MIN_STATES = "suppression.min_reporting_states"
MIN_RECORDS = "suppression.min_records"


#: check metadata: the digest of the suite it runs (the planner re-checks on a change)
SUITE_DIGEST = "suite_digest"


def build_suite_check(suite: Suite) -> dg.AssetChecksDefinition:
    """A blocking check that runs `suite` on its table and records every outcome in `audit.check_results`."""
    key = dg.AssetKey(suite.table.split("."))

    @dg.asset_check(
        asset=key,
        name=SUITE_CHECK,
        blocking=True,
        pool=WRITER_POOL,
        description=f"Great Expectations suite expectations/{suite.path.name} ({suite.expectation_count} expectations).",
        metadata={SUITE_DIGEST: suite.digest},
    )
    def suite_check(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        great_expectations: GreatExpectationsResource,
    ) -> dg.AssetCheckResult:
        with warehouse.session():
            result = great_expectations.validate(
                suite,
                warehouse.read_table(suite.table),
                parameters=warehouse.query_parameters(suite.parameter_queries),
            )
            warehouse.append_rows(
                "audit.check_results",
                check_rows(SUITE_CHECK, suite.name, suite.digest, key, result, context.run.run_id),
            )
        failed = [
            {"expectation": o.expectation, "column": o.column, "kwargs": o.kwargs,
             "observed": o.observed_value, "unexpected_count": o.unexpected_count}
            for o in result.failed
        ]  # fmt: skip
        return dg.AssetCheckResult(
            passed=result.success,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{len(failed)} of {len(result.outcomes)} expectations failed"
                if failed
                else f"all {len(result.outcomes)} expectations passed"
            ),
            metadata={
                "suite": suite.name,
                "expectations": len(result.outcomes),
                "failed": dg.MetadataValue.json(failed),
            },
        )

    return suite_check


def check_rows(
    check_name: str,
    suite_name: str,
    suite_digest: str,
    key: dg.AssetKey,
    result: SuiteResult,
    run_id: str,
) -> pd.DataFrame:
    """One `audit.check_results` row per expectation of `result`."""
    now = datetime.now(UTC)
    return pd.DataFrame(
        [
            {
                "check_name": check_name,
                "asset_key": key.to_user_string(),
                "suite": suite_name,
                "expectation": o.expectation,
                "column_name": o.column,
                "kwargs": o.kwargs,
                "success": o.success,
                "observed_value": o.observed_value,
                "unexpected_count": o.unexpected_count,
                "element_count": o.element_count,
                "run_id": run_id,
                "checked_at": now,
                "suite_digest": suite_digest,
            }
            for o in result.outcomes
        ]
    )


def build_model_checks(model: SqlModel, methodology: Methodology) -> list[dg.AssetChecksDefinition]:
    """The blocking checks a model's declarations call for (none for most models)."""
    checks = []
    if model.suppressions:
        checks.append(_suppression_check(model, methodology))
    if model.row_marking:
        checks.append(_row_marking_check(model))
    return checks


def _suppression_check(model: SqlModel, methodology: Methodology) -> dg.AssetChecksDefinition:
    """No figure of the table rests on fewer reporting states or records than the thresholds:
    where a row's figures are not all null, its support columns reach both."""
    min_states, min_records = methodology.value(MIN_STATES), methodology.value(MIN_RECORDS)
    rules = [
        {
            "figures": list(rule.figures),
            "states": rule.states_column,
            "records": rule.records_column,
            "min_states": min_states,
            "min_records": min_records,
        }
        for rule in model.suppressions
    ]
    # a support count is a figure too: "2 states reported" must not be published either
    sql = [
        f"select count(*) from {qualified(model.table)} where "
        f"({' or '.join(f'{quote_ident(f)} is not null' for f in _published(rule))}) "
        f"and not (coalesce({quote_ident(rule['states'])}, 0) >= {int(min_states)} "
        f"and coalesce({quote_ident(rule['records'])}, 0) >= {int(min_records)})"
        for rule in rules
    ]

    def outcomes(con: duckdb.DuckDBPyConnection) -> list[ExpectationOutcome]:
        results = []
        for rule, query in zip(rules, sql, strict=True):
            (exposed,) = con.execute(query).fetchone()
            figures = ",".join(rule["figures"])
            results.append(
                _outcome("figures_rest_on_enough_states_and_records", figures, rule, exposed)
            )
        return results

    return _sql_check(
        model, SUPPRESSION_CHECK, outcomes, digest(SUPPRESSION_CHECK, rules),
        f"Small-cell suppression: no published figure rests on fewer than {min_states} "
        f"reporting states or {min_records} records ({methodology.path.name}).",
    )  # fmt: skip


def _published(rule: dict[str, Any]) -> list[str]:
    """Every column a suppression rule covers: its figures and its two support counts."""
    return list(dict.fromkeys([*rule["figures"], rule["states"], rule["records"]]))


def _row_marking_check(model: SqlModel) -> dg.AssetChecksDefinition:
    """Every row carries a TLP marking (slug) that the publisher can filter by."""
    column = model.row_marking or ""
    slugs = [m.slug for m in Marking]
    query = (
        f"select count(*) from {qualified(model.table)} "
        f"where not list_contains(?, coalesce({quote_ident(column)}, ''))"
    )

    def outcomes(con: duckdb.DuckDBPyConnection) -> list[ExpectationOutcome]:
        (bad,) = con.execute(query, [slugs]).fetchone()
        return [_outcome("row_marking_is_a_tlp_slug", column, {"allowed": slugs}, bad)]

    return _sql_check(
        model, ROW_MARKING_CHECK, outcomes, digest(ROW_MARKING_CHECK, column, slugs),
        f"Every row's `{column}` is a TLP marking ({', '.join(slugs)}): the published copies "
        "hold only the rows at or below their level.",
    )  # fmt: skip


def _outcome(name: str, column: str, kwargs: object, failing_rows: int) -> ExpectationOutcome:
    return ExpectationOutcome(
        expectation=name,
        column=column,
        kwargs=json.dumps(kwargs, sort_keys=True),
        success=failing_rows == 0,
        observed_value=json.dumps({"failing_rows": int(failing_rows)}),
        unexpected_count=int(failing_rows),
        element_count=None,
    )


Outcomes = Callable[[duckdb.DuckDBPyConnection], list[ExpectationOutcome]]


def _sql_check(
    model: SqlModel, name: str, outcomes: Outcomes, rule_digest: str, description: str
) -> dg.AssetChecksDefinition:
    """A blocking check running SQL on the model's table; recorded like a suite."""
    key = dg.AssetKey(model.table.split("."))

    @dg.asset_check(
        asset=key,
        name=name,
        blocking=True,
        pool=WRITER_POOL,
        description=description,
        metadata={SUITE_DIGEST: rule_digest},
    )
    def sql_check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        with warehouse.session():
            with warehouse.connect() as con:
                found = outcomes(con)
            result = SuiteResult(name, all(o.success for o in found), tuple(found))
            warehouse.append_rows(
                "audit.check_results",
                check_rows(name, name, rule_digest, key, result, context.run.run_id),
            )
        failing = sum(o.unexpected_count or 0 for o in found)
        return dg.AssetCheckResult(
            passed=result.success,
            severity=dg.AssetCheckSeverity.ERROR,
            description="passed" if result.success else f"{failing:,} rows break the rule",
            metadata={"failing_rows": failing, "rules": len(found)},
        )

    return sql_check
