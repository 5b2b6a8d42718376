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
-- coverage is that share. rank orders the scored rows of a scenario and year (1 = highest
-- score; ties share a rank); market_rank does so within the market; mean_rank is the rank
-- with ties averaged (for rank correlations).
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

base_weights as (
    select
        unnest([
            {'component': 'prevalence', 'weight': getvariable('threat_score.weights.prevalence')},
            {'component': 'eu_exposure', 'weight': getvariable('threat_score.weights.eu_exposure')},
            {'component': 'vulnerability', 'weight': getvariable('threat_score.weights.vulnerability')},
            {'component': 'trend', 'weight': getvariable('threat_score.weights.trend')}
        ], recursive := true)
),

scenarios as (
    select 'base' as scenario, null as varied_component, 1.0 as factor
    union all
    select
        b.component || s.sign as scenario,
        b.component as varied_component,
        1 + s.direction * getvariable('sensitivity.perturbation') as factor
    from base_weights as b
    cross join (values ('+', 1), ('-', -1)) as s (sign, direction)
),

scenario_weights as (
    select
        s.scenario,
        s.varied_component,
        s.factor,
        b.component,
        b.weight * (case when b.component = s.varied_component then s.factor else 1 end)
            as weight
    from scenarios as s
    cross join base_weights as b
),

long as (
    select iso3, market, year, 'prevalence' as component, prevalence as value from components
    union all
    select iso3, market, year, 'eu_exposure', eu_exposure from components
    union all
    select iso3, market, year, 'vulnerability', vulnerability from components
    union all
    select iso3, market, year, 'trend', trend from components
),

scored as (
    select
        w.scenario,
        any_value(w.varied_component) as varied_component,
        any_value(w.factor) as factor,
        l.iso3,
        l.market,
        l.year,
        sum(w.weight) filter (where l.value is not null) / sum(w.weight) as coverage,
        sum(w.weight * l.value) filter (where l.value is not null)
        / sum(w.weight) filter (where l.value is not null) as weighted_mean,
        bool_or(l.component = 'prevalence' and l.value is not null) as has_prevalence
    from long as l
    inner join scenario_weights as w on l.component = w.component
    group by w.scenario, l.iso3, l.market, l.year
),

gated as (
    select
        * exclude (weighted_mean, has_prevalence, coverage),
        coalesce(coverage, 0) as coverage,
        case
            when has_prevalence and coverage >= getvariable('threat_score.min_coverage') - 1e-9
                then weighted_mean
        end as score
    from scored
)

select
    g.scenario,
    g.varied_component,
    g.factor,
    g.iso3,
    g.market,
    g.year,
    g.score,
    g.coverage,
    c.prevalence,
    c.prevalence_score,
    c.eu_exposure,
    c.exposure_evidence,
    c.vulnerability,
    c.vulnerability_evidence,
    c.trend,
    c.trend_change,
    c.trend_direction,
    case when g.score is not null then rank() over by_year end as rank,
    case when g.score is not null then rank() over by_market end as market_rank,
    case
        when g.score is not null
            then rank() over by_year + (count(*) over same_score - 1) / 2
    end as mean_rank
from gated as g
inner join components as c on g.iso3 = c.iso3 and g.market = c.market and g.year = c.year
window
    by_year as (partition by g.scenario, g.year, g.score is null order by g.score desc),
    by_market as (
        partition by g.scenario, g.year, g.market, g.score is null order by g.score desc
    ),
    same_score as (partition by g.scenario, g.year, g.score)
