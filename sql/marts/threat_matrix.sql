-- The threat matrix: one row per non-EU country, GI-TOC criminal market and edition year
-- (every non-EU country of marts.dim_country x the 15 markets x each edition), scored under
-- the methodology's weights (intermediate.threat_scenarios, scenario `base`). Rankings mix
-- confidence grades: read the grade beside the rank.
--
-- score (0-1) is the weighted mean of the components present, each 0-1 and kept
-- (threat_score.weights, the present weights rescaled): a missing component is null and left
-- out, never counted as zero. A row is scored only with its prevalence and at least
-- threat_score.min_coverage of the weights present.
--
-- Columns:
--   iso3                    the non-EU country (ISO3, marts.dim_country)
--   market                  GI-TOC market code (marts.dim_market)
--   year                    GI-TOC edition year
--   score                   threat score, 0-1 (1 = most threatening); null when too little
--                           evidence (confidence D)
--   rank                    rank of the score among the year's scored rows (1 = highest; ties
--                           share a rank); null when unscored
--   market_rank             rank of the score within the market and year; null when unscored
--   confidence              grade of the evidence (threat_score.confidence_grades): A all four
--                           components; B, C at least their min_coverage of the weights (0.8,
--                           0.6 in methodology 2026.1); D no score
--   coverage                share (0-1) of the methodology's weights whose component is
--                           present
--   prevalence              prevalence component: the GI-TOC market score rescaled,
--                           (score - 1) / 9; null when GI-TOC did not assess the market there
--   prevalence_score        the GI-TOC market score as published (1-10); null when not
--                           assessed
--   eu_exposure             EU-exposure component (0-1, intermediate.eu_exposure): seizures
--                           entering the EU, member-state networks, UNODC flows; null when no
--                           publishable evidence (small cells suppressed)
--   vulnerability           vulnerability component of the country and year (0-1,
--                           intermediate.vulnerability); null when no measure
--   trend                   trend component: 0.5 + trend_change / (2 x
--                           threat_score.trend_full_scale_points), within 0-1 (0.5 unchanged);
--                           null without a previous edition's score
--   trend_change            change of the GI-TOC market score since the previous edition, in
--                           index points (positive = worse); null without a previous edition's
--                           score
--   trend_direction         worsening, stable or improving: the change read against the stable
--                           band (trend.stable_band); null without a previous edition
--   prevalence_evidence     1 when the GI-TOC market score is present, else 0
--   exposure_evidence       the published seizures, networks and UNODC flow figures behind
--                           eu_exposure (suppressed figures count 0)
--   vulnerability_evidence  how many of the five vulnerability measures are present (0-5)
--   trend_evidence          2 when there is a trend (two GI-TOC editions), else 0
--   is_latest_year          true for the most recent edition year in the matrix
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
