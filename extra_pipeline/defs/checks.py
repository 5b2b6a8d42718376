"""Great Expectations suites as blocking asset checks: a failed suite stops everything downstream."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from extra_pipeline.quality import GreatExpectationsResource, Suite, SuiteResult
from extra_pipeline.warehouse import WRITER_POOL, WarehouseResource

SUITE_CHECK = "expectations"


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
            result = great_expectations.validate(suite, warehouse.read_table(suite.table))
            warehouse.append_rows(
                "audit.check_results", check_rows(suite, key, result, context.run.run_id)
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


def check_rows(suite: Suite, key: dg.AssetKey, result: SuiteResult, run_id: str) -> pd.DataFrame:
    now = datetime.now(UTC)
    return pd.DataFrame(
        [
            {
                "check_name": SUITE_CHECK,
                "asset_key": key.to_user_string(),
                "suite": suite.name,
                "expectation": o.expectation,
                "column_name": o.column,
                "kwargs": o.kwargs,
                "success": o.success,
                "observed_value": o.observed_value,
                "unexpected_count": o.unexpected_count,
                "element_count": o.element_count,
                "run_id": run_id,
                "checked_at": now,
                "suite_digest": suite.digest,
            }
            for o in result.outcomes
        ]
    )
