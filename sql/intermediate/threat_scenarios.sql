-- Threat scores of every non-EU country, market and GI-TOC edition year, under the
-- methodology's weights (scenario `base`) and with each weight moved up and down by
-- sensitivity.perturbation, one at a time (scenarios `<component>+` and `<component>-`):
-- the one place the score is computed; marts.threat_matrix shows the base, and
-- marts.sensitivity compares the others with it.
-- The components, each 0-1 (1 = most threatening):
--   prevalence     GI-TOC market score, (score - 1) / 9 (intermediate.prevalence);
--   eu_exposure    intermediate.eu_exposure;
--   vulnerability  intermediate.vulnerability (per country);
--   trend          the market score's change since the previous edition:
--                  0.5 + change / (2 x threat_score.trend_full_scale_points), within 0-1.
-- Each row carries its components (and prevalence_score, GI-TOC's 1-10, trend_change in its
-- points and trend_direction, the *_evidence counts) for the matrix to show.
-- score = the weighted mean of the components present (threat_score.weights, the present
-- weights rescaled): a missing component is left out, never zero. A row is scored only
-- when its prevalence is present and the present weights reach threat_score.min_coverage;
-- coverage is that share, under the methodology's weights in every scenario (so each
-- scenario scores the same rows as the base). rank orders the scored rows of a scenario
-- and year (1 = highest score; ties share a rank); market_rank does so within the market;
-- mean_rank is the rank with ties averaged (for rank correlations).
with components as (
    select
        e.iso3,
        e.market,
        e.year,
        p.prevalence,
        p.score as prevalence_score,
        e.eu_exposure,
        e.evidence as exposure_evidence,
        v.vulnerability,
        v.evidence as vulnerability_evidence,
        -- clamped only when there is a change (DuckDB's greatest/least skip nulls)
        case
            when t.change is not null then greatest(0, least(1,
                0.5 + t.change / (2 * getvariable('threat_score.trend_full_scale_points'))
            ))
        end as trend,
        t.change as trend_change,
        t.trend as trend_direction
    from intermediate.eu_exposure as e
    inner join marts.dim_market as m on e.market = m.market
    left join intermediate.prevalence as p
        on e.iso3 = p.iso3 and e.market = p.market and e.year = p.year
    left join intermediate.vulnerability as v on e.iso3 = v.iso3 and e.year = v.year
    left join intermediate.trend as t
        on e.iso3 = t.iso3 and t.indicator_id = m.goci_indicator_id and e.year = t.year
),

weights as (
    select
        getvariable('threat_score.weights.prevalence') as prevalence,
        getvariable('threat_score.weights.eu_exposure') as eu_exposure,
        getvariable('threat_score.weights.vulnerability') as vulnerability,
        getvariable('threat_score.weights.trend') as trend
),

scenarios as (
    -- the base and each weight moved up and down, one at a time
    select 'base' as scenario, null::varchar as varied_component, 1.0 as factor
    union all
    select
        c.component || s.sign,
        c.component,
        1 + s.direction * getvariable('sensitivity.perturbation')
    from (values ('prevalence'), ('eu_exposure'), ('vulnerability'), ('trend')) as c (component)
    cross join (values ('+', 1), ('-', -1)) as s (sign, direction)
),

parts as (
    -- each component with its weight, as the scenario sets it, in a fixed order: list sums
    -- over it give the same bits in every run (a parallel SUM would not), so ties stay ties
    select
        c.*,
        s.scenario,
        s.varied_component,
        s.factor,
        [
            {'value': c.prevalence, 'weight': w.prevalence},
            {'value': c.eu_exposure, 'weight': w.eu_exposure},
            {'value': c.vulnerability, 'weight': w.vulnerability},
            {'value': c.trend, 'weight': w.trend}
        ] as base_parts,
        [
            {'value': c.prevalence, 'weight': w.prevalence
                * (case s.varied_component when 'prevalence' then s.factor else 1 end)},
            {'value': c.eu_exposure, 'weight': w.eu_exposure
                * (case s.varied_component when 'eu_exposure' then s.factor else 1 end)},
            {'value': c.vulnerability, 'weight': w.vulnerability
                * (case s.varied_component when 'vulnerability' then s.factor else 1 end)},
            {'value': c.trend, 'weight': w.trend
                * (case s.varied_component when 'trend' then s.factor else 1 end)}
        ] as scenario_parts
    from components as c
    cross join weights as w
    cross join scenarios as s
),

gated as (
    -- whether a row is scored is decided on the methodology's weights, in every scenario, so
    -- that each scenario ranks the same rows as the base
    select
        * exclude (base_parts, scenario_parts),
        coalesce(
            list_sum([p.weight for p in base_parts if p.value is not null])
            / list_sum([p.weight for p in base_parts]),
            0
        ) as coverage,
        case
            when prevalence is not null
                and round(
                    list_sum([p.weight for p in base_parts if p.value is not null])
                    / list_sum([p.weight for p in base_parts]),
                    9
                ) >= getvariable('threat_score.min_coverage')
                then list_sum([p.value * p.weight for p in scenario_parts if p.value is not null])
                / list_sum([p.weight for p in scenario_parts if p.value is not null])
        end as score
    from parts
)

select
    scenario,
    varied_component,
    factor,
    iso3,
    market,
    year,
    score,
    coverage,
    prevalence,
    prevalence_score,
    eu_exposure,
    exposure_evidence,
    vulnerability,
    vulnerability_evidence,
    trend,
    trend_change,
    trend_direction,
    case when score is not null then rank() over by_year end as rank,
    case when score is not null then rank() over by_market end as market_rank,
    case
        when score is not null
            then rank() over by_year + (count(*) over same_score - 1) / 2
    end as mean_rank
from gated
window
    by_year as (partition by scenario, year, score is null order by score desc),
    by_market as (partition by scenario, year, market, score is null order by score desc),
    same_score as (partition by scenario, year, score)
