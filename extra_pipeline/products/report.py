"""The GLOCA annual report: the Global Organised Crime Assessment, one edition per marking
level (`assets/products.yaml`: a TLP:CLEAR public edition and a TLP:AMBER full edition).

Each edition is drawn only from the published copy of its level, so the public edition
never reads a table above TLP:CLEAR: it prints exposure only as the suppressed aggregates
the threat matrix carries, and says that network assessments are in the full edition.
Every figure in the text comes from a query in this module; `assets/templates/
gloca_report.html.j2` lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
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
)

TEMPLATE = "gloca_report.html.j2"
GOCI_SOURCE = "GI-TOC Global Organized Crime Index"


def build_report(published_dir: Path, out_dir: Path, level: Marking) -> tuple[RenderedProduct, str]:
    """Render the edition of `level` (HTML and PDF) into `out_dir` from its published copy;
    the files and a Markdown preview (the cover facts and the top threats) for the UI."""
    with edition(published_dir, level) as ed:
        context = report_context(ed)
    year = context["year"]
    rendered = render(TEMPLATE, context, out_dir, f"gloca-{year}", level=level)
    return rendered, preview(context)


def preview(context: dict[str, Any]) -> str:
    """The report in a few lines of Markdown: edition, facts, the five top threats."""
    facts = context["facts"]
    lines = [
        f"**{context['report']['title']} {context['year']}**, {context['edition']['name']} "
        f"({facts.level.label})",
        "",
        f"Data as of {facts.data_as_of}; methodology {facts.methodology}."
        + (" **Contains synthetic demonstration data.**" if facts.synthetic else ""),
        "",
        "| rank | country | market | score | grade |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['rank']} | {r['country']} | {r['market_label']} | {r['score']:.2f} | "
        f"{r['confidence']} |"
        for r in context["summary"]["top"][:5]
    ]
    return "\n".join(lines)


def report_context(ed: Edition) -> dict[str, Any]:
    """Everything the report prints, from the published copy of its level."""
    config = products_config()
    facts = ed.facts()
    year = ed.value("select max(year) from marts.threat_matrix")
    previous = ed.value("select max(year) from marts.threat_matrix where year < ?", [year])
    edition_config = config["report"]["editions"].get(ed.level.slug) or {
        "name": f"{ed.level.label} edition",
        "audience": "recipients cleared for " + ed.level.label,
        "note": "",
    }
    summary = _summary(ed, year, config["report"]["top_threats"])
    return {
        "config": config,
        "report": config["report"],
        "edition": edition_config,
        "facts": facts,
        "year": year,
        "previous_year": previous,
        "has_amber_data": ed.has("marts.network_priority"),
        "summary": summary,
        "overview": _overview(ed, year),
        "actors": _actors(ed, year),
        "vulnerabilities": _vulnerabilities(ed, year),
        "themes": [_theme(ed, year, theme) for theme in config["report"]["themes"]],
        "regions": _regions(ed, year),
        "annex": _annex(ed, year, facts.data_as_of),
    }


# --- sections -----------------------------------------------------------------------------


def _matrix_rows(ed: Edition, year: int, where: str = "true", params: Sequence[object] = (),
                 limit: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """Scored threat-matrix rows of `year` with names and labels, best first."""
    return ed.rows(
        "select t.rank, t.iso3, c.name as country, c.region, t.market, m.label as market_label, "
        "t.score, t.confidence, t.prevalence, t.prevalence_score, t.eu_exposure, "
        "t.vulnerability, t.trend, t.trend_direction, t.trend_change "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        "join marts.dim_market m using (market) "
        f"where t.year = ? and t.score is not null and ({where}) "
        "order by t.rank, t.iso3, t.market limit ?",
        [year, *params, limit],
    )


def _summary(ed: Edition, year: int, top_n: int) -> dict[str, Any]:
    counts = ed.rows(
        "select count(distinct iso3) filter (where score is not null) as countries_scored, "
        "count(distinct iso3) as countries, count(score) as pairs_scored, "
        "count(*) filter (where confidence = 'A') as grade_a, "
        "count(*) filter (where trend_direction = 'worsening') as worsening, "
        "count(*) filter (where trend_direction = 'improving') as improving, "
        "count(distinct iso3) filter (where trend_direction = 'worsening') as countries_worsening "
        "from marts.threat_matrix where year = ?",
        [year],
    )[0]
    warnings = ed.rows(
        "select rule, severity, count(*) as warnings from marts.early_warnings "
        "group by all order by rule, severity"
    )
    top = _matrix_rows(ed, year, limit=top_n)
    confident = _matrix_rows(ed, year, "t.confidence in ('A', 'B')", limit=top_n)
    exposed = ed.rows(
        "select t.iso3, c.name as country, m.label as market_label, t.eu_exposure, t.confidence "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        "join marts.dim_market m using (market) "
        "where t.year = ? and t.eu_exposure is not null and t.confidence in ('A', 'B') "
        "order by t.eu_exposure desc, t.iso3, t.market limit 5",
        [year],
    )
    return {
        **counts,
        "top": top,
        "top_confident": confident,
        "most_exposed": exposed,
        "warnings": warnings,
        "warnings_total": sum(w["warnings"] for w in warnings),
        "warnings_high": sum(w["warnings"] for w in warnings if w["severity"] == "high"),
    }


def _overview(ed: Edition, year: int) -> dict[str, Any]:
    by_country = ed.rows(
        "select iso3, max(score) as score from marts.threat_matrix "
        "where year = ? and score is not null group by iso3",
        [year],
    )
    eu = [r["iso3"] for r in ed.rows("select iso3 from marts.dim_country where is_eu_member")]
    world = charts.world_choropleth(
        {r["iso3"]: r["score"] for r in by_country},
        title=f"Highest threat score per country, {year}",
        unit="threat score (0-1), highest of the country's 15 markets",
        source=f"Source: EXTRA threat matrix {year} ({GOCI_SOURCE}, member-state reports, "
        "UNODC, World Bank WGI, TI CPI, FATF)",
        alt=f"World map of the highest threat score of each non-EU country in {year}; darker "
        "countries score higher. EU member states are not assessed.",
        excluded=eu,
    )
    cells = ed.rows(
        "select r.region, m.label as market_label, r.mean_score from marts.regional_overview r "
        "join marts.dim_market m using (market) where r.year = ? order by m.label, r.region",
        [year],
    )
    regions = sorted({c["region"] for c in cells})
    markets = sorted({c["market_label"] for c in cells})
    heat = charts.heatmap(
        markets,
        regions,
        {(c["market_label"], c["region"]): c["mean_score"] for c in cells},
        title=f"Mean threat score by market and region, {year}",
        unit="mean threat score of the region's scored countries (0-1)",
        source=f"Source: EXTRA regional overview {year}",
        alt=f"Heat map of the mean threat score of each criminal market in each world region "
        f"in {year}; darker cells score higher.",
    )
    markets_ranked = ed.rows(
        "select m.label as market_label, avg(t.score) as mean_score, max(t.score) as max_score, "
        "count(t.score) as countries_scored, "
        "count(*) filter (where t.trend_direction = 'worsening') as worsening "
        "from marts.threat_matrix t join marts.dim_market m using (market) "
        "where t.year = ? group by m.label order by mean_score desc nulls last, m.label",
        [year],
    )
    return {"world": world, "heatmap": heat, "markets": markets_ranked}


def _actors(ed: Edition, year: int) -> dict[str, Any]:
    actor_rows = ed.rows(
        "select i.label as actor, f.iso3, c.name as country, f.value as score, "
        "row_number() over (partition by f.indicator_id order by f.value desc, f.iso3) as place "
        "from marts.fct_indicator f join marts.dim_indicator i using (indicator_id) "
        "join marts.dim_country c using (iso3) "
        "where f.indicator_id like 'goci.actor.%' and f.year = ? and not c.is_eu_member "
        "qualify place <= 5 order by actor, place",
        [year],
    )
    actors: dict[str, list[dict[str, Any]]] = {}
    for row in actor_rows:
        actors.setdefault(row["actor"], []).append(row)
    fatf = ed.rows(
        "select f.iso3, c.name as country, "
        "case f.indicator_id when 'fatf.call_for_action' then 'call for action (black list)' "
        "else 'increased monitoring (grey list)' end as list, f.edition "
        "from marts.fct_indicator f join marts.dim_country c using (iso3) "
        "where f.source_id = 'fatf' and f.value = 1 "
        "and f.year = (select max(year) from marts.fct_indicator where source_id = 'fatf') "
        "order by f.indicator_id, c.name"
    )
    laundering = ed.rows(
        "select f.iso3, c.name as country, f.value as score "
        "from marts.fct_indicator f join marts.dim_country c using (iso3) "
        "where f.indicator_id = 'goci.resilience.anti_money_laundering' and f.year = ? "
        "and not c.is_eu_member order by f.value, c.name limit 10",
        [year],
    )
    networks = None
    if ed.has("marts.network_priority"):
        networks = {
            "top": ed.rows(
                "select priority_rank, reporting_state, network_ref, base_iso3, "
                "array_to_string(principal_markets, ', ') as markets, member_count_band, "
                "threat_level, tier, priority_score, hvt "
                "from marts.network_priority order by priority_rank, reporting_state, "
                "network_ref limit 10"
            ),
            "tiers": ed.rows(
                "select tier, count(*) as networks from marts.network_priority "
                "group by tier order by min(priority_rank)"
            ),
            "enablers": ed.rows(
                "select count(*) as networks, avg(legal_business_factor) as legal_business, "
                "avg(violence_factor) as violence, avg(corruption_factor) as corruption, "
                "avg((money_laundering_factor > 0)::int) as laundering "
                "from marts.network_priority"
            )[0],
        }
    return {"actors": actors, "fatf": fatf, "laundering": laundering, "networks": networks}


def _vulnerabilities(ed: Edition, year: int) -> dict[str, Any]:
    most = ed.rows(
        "select iso3, name as country, vulnerability, resilience, "
        "weakest_pillars[1].pillar as weakest_pillar, wgi_cc, wgi_rl, cpi_score, fatf_list "
        "from marts.country_profile where vulnerability is not null "
        "order by vulnerability desc, iso3 limit 15"
    )
    deteriorations = ed.rows(
        "select w.headline, w.severity, w.detected_at from marts.early_warnings w "
        "where w.rule = 'governance_deterioration' order by w.severity, w.detected_at desc, "
        "w.signal_id"
    )
    return {"most_vulnerable": most, "deteriorations": deteriorations}


def _theme(ed: Edition, year: int, theme: dict[str, Any]) -> dict[str, Any]:
    markets = list(theme["markets"])
    top = _matrix_rows(ed, year, "list_contains(?, t.market)", [markets], limit=8)
    bars = charts.bar_chart(
        [
            f"{r['country']} · {r['market_label']}" if len(markets) > 1 else r["country"]
            for r in top
        ],
        [r["score"] for r in top],
        title=f"{theme['title']}: highest threat scores, {year}",
        unit="threat score (0-1)",
        source=f"Source: EXTRA threat matrix {year}",
        alt=f"Bar chart of the eight highest threat scores for {theme['title'].lower()} in {year}.",
        vmax=1.0,
    )
    stats = ed.rows(
        "select count(score) as scored, count(*) filter (where trend_direction = 'worsening') "
        "as worsening, count(*) filter (where trend_direction = 'improving') as improving "
        "from marts.threat_matrix where year = ? and list_contains(?, market)",
        [year, markets],
    )[0]
    exposed = ed.rows(
        "select c.name as country, m.label as market_label, t.eu_exposure, t.confidence "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        "join marts.dim_market m using (market) "
        "where t.year = ? and list_contains(?, t.market) and t.eu_exposure is not null "
        "order by t.eu_exposure desc, c.name limit 5",
        [year, markets],
    )
    seizures = None
    if ed.has("marts.fct_seizure"):
        seizures = ed.rows(
            "select c.name as origin, count(*) as seizures, sum(s.quantity_kg) as kg, "
            "count(distinct s.reporting_state) as states "
            "from marts.fct_seizure s join marts.dim_country c on c.iso3 = s.origin_iso3 "
            "where list_contains(?, s.market) group by c.name "
            "order by seizures desc, c.name limit 5",
            [markets],
        )
    warnings = ed.rows(
        "select headline, severity, detected_at from marts.early_warnings "
        "where list_contains(?, market) order by detected_at desc, signal_id limit 5",
        [markets],
    )
    return {
        **theme,
        "top": top,
        "chart": bars,
        "stats": stats,
        "exposed": exposed,
        "seizures": seizures,
        "warnings": warnings,
    }


def _regions(ed: Edition, year: int) -> list[dict[str, Any]]:
    regions = ed.rows(
        "select c.region, count(distinct t.iso3) filter (where t.score is not null) as scored, "
        "avg(t.score) as mean_score, "
        "count(*) filter (where t.trend_direction = 'worsening') as worsening, "
        "count(*) filter (where t.trend_direction = 'improving') as improving "
        "from marts.threat_matrix t join marts.dim_country c using (iso3) "
        "where t.year = ? and c.region is not null group by c.region order by c.region",
        [year],
    )
    for region in regions:
        region["top"] = _matrix_rows(ed, year, "c.region = ?", [region["region"]], limit=5)
        region["warnings"] = ed.value(
            "select count(*) from marts.early_warnings w join marts.dim_country c using (iso3) "
            "where c.region = ?",
            [region["region"]],
        )
    return regions


def _annex(ed: Edition, year: int, as_of: object) -> dict[str, Any]:
    parameters = ed.rows(
        "select parameter, value_json, about from marts.methodology order by parameter"
    )
    sensitivity = ed.rows(
        "select scenario, varied_component, weight, base_weight, spearman, top_n, "
        "top_n_overlap, max_rank_shift from marts.sensitivity where year = ? "
        "order by varied_component, factor",
        [year],
    )
    sources = ed.rows(
        "select d.source_id, d.title, d.publisher, d.licence, d.max_age_days, "
        "any_value(s.edition order by s.retrieved_at desc) as edition, "
        "max(s.retrieved_at)::date as retrieved, bool_or(s.synthetic) as synthetic, "
        "bool_or(s.stale) as stale, any_value(s.mode order by s.retrieved_at desc) as mode, "
        "(?::date - max(s.retrieved_at)::date) as age_days "
        "from marts.dim_source d join audit.source_snapshots s using (source_id) "
        "group by all order by d.source_id",
        [as_of],
    )
    checks = ed.rows(
        "with latest as (select asset_key, check_name, max(checked_at) as at "
        "from audit.check_results group by all) "
        "select r.asset_key, r.check_name, bool_and(r.success) as passed, count(*) as expectations, "
        "count(*) filter (where not r.success) as failed "
        "from audit.check_results r join latest l on r.asset_key = l.asset_key "
        "and r.check_name = l.check_name and r.checked_at = l.at group by all "
        "order by passed, r.asset_key, r.check_name"
    )
    drops = ed.rows(
        "select member_state, count(*) as drops, sum(rows_received) as received, "
        "sum(rows_accepted) as accepted, sum(rows_quarantined) as quarantined, "
        "count(*) filter (where status = 'rejected') as rejected "
        "from audit.drops group by member_state order by member_state"
    )
    return {
        "parameters": parameters,
        "weights": [p for p in parameters if ".weights." in p["parameter"]],
        "sensitivity": sensitivity,
        "sources": sources,
        "checks": checks,
        "checks_failed": [c for c in checks if not c["passed"]],
        "drops": drops,
    }
