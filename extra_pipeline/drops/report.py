"""The drop report the sending authority reads: HTML (what happened, why, how to fix) and
JSON (the same, with every quarantine issue, for their tools)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from extra_pipeline.drops.model import DropOutcome
from extra_pipeline.markings import parse_marking
from extra_pipeline.products.rendering import template_environment
from extra_pipeline.settings import PROJECT_ROOT

RULE_HELP = PROJECT_ROOT / "assets" / "contracts" / "rule_help.yaml"
#: the HTML lists this many issues; the JSON report has them all
HTML_ISSUE_LIMIT = 500


@cache
def rule_help() -> dict[str, dict[str, str]]:
    """Rule and rejection codes with what they mean and how to fix them."""
    return yaml.safe_load(RULE_HELP.read_text(encoding="utf-8"))


def write_report(
    outcome: DropOutcome, quarantine: pd.DataFrame | None, reports_dir: Path
) -> tuple[Path, Path]:
    """Write `<drop_id>.<marking>.html` and `.json` under `reports_dir`; return both paths."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    marking = parse_marking(outcome.marking)
    issues = quarantine if quarantine is not None else pd.DataFrame()
    helps = rule_help()
    by_rule = [
        (rule, count, helps["rules"].get(rule, ""))
        for rule, count in sorted(outcome.issues_by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    records = _records(issues)
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    stem = f"{outcome.drop_id}.{marking.slug}"
    html_path = reports_dir / f"{stem}.html"
    json_path = reports_dir / f"{stem}.json"
    html = (
        template_environment()
        .get_template("drop_report.html.j2")
        .render(
            outcome=outcome,
            marking_label=marking.label,
            marking_colour=marking.colour,
            rejection_help=helps["rejections"].get(outcome.rejection_code or "", ""),
            by_rule=by_rule,
            issues=records[:HTML_ISSUE_LIMIT],
            shown=min(len(records), HTML_ISSUE_LIMIT),
            total_issues=len(records),
            generated_at=generated_at,
        )
    )
    html_path.write_text(html, encoding="utf-8")
    document = {
        "marking": marking.label,
        "generated_at": generated_at,
        "drop": {
            k: v
            for k, v in asdict(outcome).items()
            if k not in ("report_html", "report_json", "phase_seconds")
        },
        "issues": records,
    }
    json_path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return html_path, json_path


def _records(issues: pd.DataFrame) -> list[dict[str, Any]]:
    if issues.empty:
        return []
    columns = ["row_number", "column_name", "rule", "reason", "raw_values"]
    frame = issues[columns].astype(object).where(issues[columns].notna(), None)
    return [dict(zip(columns, row, strict=True)) for row in frame.itertuples(index=False)]
