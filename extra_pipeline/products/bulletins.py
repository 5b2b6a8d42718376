"""Risk bulletins: two to four pages per world region and per criminal market for one month
(the asset's monthly partition), in each edition of `assets/products.yaml` (`bulletins.levels`).

A bulletin says what changed in the month (the early warnings it brought), which warnings are
still active (evidence within `active_warning_days`), the top threats in its scope, and an
outlook read from the warnings and trends. Like every product it reads only the published
copy of its own level.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from extra_pipeline.markings import Marking
from extra_pipeline.products import charts
from extra_pipeline.products.rendering import (
    Edition,
    RenderedProduct,
    edition,
    products_config,
    render,
    slug,
)

TEMPLATE = "risk_bulletin.html.j2"


@dataclass(frozen=True)
class Scope:
    """What one bulletin covers: a region (UN M49) or a market (GI-TOC)."""

    kind: str  # region or market
    key: str  # region name or market id
    label: str

    @property
    def stem(self) -> str:
        return f"{self.kind}-{slug(self.key)}"


def month_bounds(period: str) -> tuple[date, date]:
    """`2025-06` -> (2025-06-01, 2025-06-30)."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def scopes(ed: Edition) -> list[Scope]:
    """Every region with scored countries, then every market, in print order."""
    regions = ed.rows(
        "select distinct c.region from marts.threat_matrix t join marts.dim_country c "
        "using (iso3) where c.region is not null order by 1"
    )
    markets = ed.rows("select market, label from marts.dim_market order by label")
    return [Scope("region", r["region"], r["region"]) for r in regions] + [
        Scope("market", m["market"], m["label"]) for m in markets
    ]


def build_bulletins(
    published_dir: Path, out_dir: Path, level: Marking, period: str
) -> list[RenderedProduct]:
    """Render every bulletin of `period` (`YYYY-MM`) at `level` into `out_dir/<period>/`."""
    with edition(published_dir, level) as ed:
        contexts = [(s, bulletin_context(ed, s, period)) for s in scopes(ed)]
    return [
        render(TEMPLATE, context, out_dir / period, scope.stem, level=level)
        for scope, context in contexts
    ]


def bulletin_context(ed: Edition, scope: Scope, period: str) -> dict[str, Any]:
    """What one bulletin prints."""
    config = products_config()
    settings = config["bulletins"]
    start, end = month_bounds(period)
    active_from = end - timedelta(days=settings["active_warning_days"])
    year = ed.value("select max(year) from marts.threat_matrix")
    in_scope = "c.region = ?" if scope.kind == "region" else "t.market = ?"
    warnings_in_scope = "c.region = ?" if scope.kind == "region" else "w.market = ?"
    warnings = ed.rows(
        "select w.signal_id, w.rule, w.detected_at, w.iso3, c.name as country, w.market, "
        "w.severity, w.headline, w.value, w.threshold, w.source "
        "from marts.early_warnings w join marts.dim_country c using (iso3) "
        f"where {warnings_in_scope} and w.detected_at between ? and ? "
        "order by w.detected_at desc, w.signal_id",
        [scope.key, active_from, end],
    )
    new = [w for w in warnings if start <= w["detected_at"] <= end]
    top = ed.rows(
        "select t.rank, c.name as country, c.region, m.label as market_label, t.score, "
        "t.confidence, t.eu_exposure, t.trend_direction "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        "join marts.dim_market m using (market) "
        f"where t.year = ? and t.score is not null and {in_scope} "
        "order by t.rank, t.iso3, t.market limit ?",
        [year, scope.key, settings["top_threats"]],
    )
    trends = ed.rows(
        "select count(*) filter (where t.trend_direction = 'worsening') as worsening, "
        "count(*) filter (where t.trend_direction = 'improving') as improving, "
        "count(t.score) as scored, avg(t.score) as mean_score "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        f"where t.year = ? and {in_scope}",
        [year, scope.key],
    )[0]
    chart = charts.bar_chart(
        [f"{r['country']} · {r['market_label']}" for r in top],
        [r["score"] for r in top],
        title=f"Top threats: {scope.label}, {year}",
        unit="threat score (0-1)",
        source=f"Source: EXTRA threat matrix {year}",
        alt=f"Bar chart of the {len(top)} highest threat scores for {scope.label} in {year}.",
        vmax=1.0,
    )
    return {
        "config": config,
        "facts": ed.facts(),
        "scope": scope,
        "period": period,
        "period_label": start.strftime("%B %Y"),
        "year": year,
        "active_days": settings["active_warning_days"],
        "new_warnings": new,
        "active_warnings": warnings,
        "top": top,
        "trends": trends,
        "chart": chart,
        "outlook": outlook(warnings, trends),
    }


def outlook(warnings: list[dict[str, Any]], trends: dict[str, Any]) -> list[str]:
    """The outlook, read from the active warnings and the trend of the scope's scores."""
    lines = []
    high = [w for w in warnings if w["severity"] == "high"]
    if high:
        lines.append(
            f"Heightened attention: {len(high)} high-severity warning"
            f"{'s' if len(high) != 1 else ''} active "
            f"({', '.join(sorted({w['country'] for w in high}))})."
        )
    elif warnings:
        lines.append(f"Watch: {len(warnings)} medium-severity warnings active.")
    else:
        lines.append("No early warning active in the period.")
    worsening, improving = trends["worsening"] or 0, trends["improving"] or 0
    if worsening > improving:
        lines.append(
            f"Deteriorating: {worsening} market scores worsened since the previous GI-TOC "
            f"edition against {improving} that improved."
        )
    elif improving > worsening:
        lines.append(
            f"Improving: {improving} market scores improved since the previous GI-TOC edition "
            f"against {worsening} that worsened."
        )
    else:
        lines.append(
            "Stable: as many market scores worsened as improved since the previous edition."
        )
    return lines
