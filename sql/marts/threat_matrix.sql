-- The threat matrix: one row per non-EU country, GI-TOC criminal market and edition year
-- (every non-EU country of marts.dim_country, the 15 markets), scored under the
-- methodology's weights (intermediate.threat_scenarios, scenario `base`).
-- score (0-1) is the weighted mean of the components present, each 0-1 and kept:
-- prevalence (GI-TOC market score, also as published in prevalence_score, 1-10),
-- eu_exposure (member-state seizures and networks, UNODC flows; small cells suppressed),
-- vulnerability (resilience, WGI, CPI, FATF) and trend (change since the previous edition,
-- 0.5 = unchanged; trend_change in GI-TOC points, trend_direction worsening, stable or
-- improving). A missing component is null and left out, never counted as zero; *_evidence
-- counts the figures behind each component; coverage is the share of the weights present,
-- and confidence grades it (threat_score.confidence_grades: A all four components ... D too
-- little evidence: no score). rank orders the scored rows of a year (1 = highest),
-- market_rank within the market; is_latest_year marks the most recent edition.
with grades as (
    select getvariable('threat_score.confidence_grades') as grades
)

select
    s.iso3,
    s.market,
    s.year,
    s.score,
    s.rank,
    s.market_rank,
    case
        when s.score is null then g.grades[-1].grade
        else [x.grade for x in g.grades if s.coverage >= x.min_coverage - 1e-9][1]
    end as confidence,
    s.coverage,
    s.prevalence,
    s.prevalence_score,
    s.eu_exposure,
    s.vulnerability,
    s.trend,
    s.trend_change,
    s.trend_direction,
    case when s.prevalence is not null then 1 else 0 end as prevalence_evidence,
    s.exposure_evidence,
    s.vulnerability_evidence,
    -- a trend rests on two GI-TOC editions
    case when s.trend is not null then 2 else 0 end as trend_evidence,
    s.year = max(s.year) over () as is_latest_year
from intermediate.threat_scenarios as s
cross join grades as g
where s.scenario = 'base'
order by s.year, s.iso3, s.market
