-- Sensitivity of the threat ranking to its weights, for the method annex: one row per scenario
-- (one threat-score weight moved up or down by sensitivity.perturbation, the others as set)
-- and edition year, against the methodology's ranking (intermediate.threat_scenarios).
--
-- Every scenario scores the same rows as the base (scored_pairs = base_scored_pairs); the
-- score rescales the present weights to sum to 1.
--
-- Columns:
--   scenario           <component>+ or <component>- (e.g. trend+): the weight moved up or down
--   varied_component   the component whose weight moved: prevalence, eu_exposure,
--                      vulnerability or trend
--   factor             what the weight was multiplied by: 1 + or - sensitivity.perturbation
--   year               GI-TOC edition year
--   base_weight        the component's weight as set (threat_score.weights)
--   weight             its weight in the scenario: base_weight x factor (the others unchanged)
--   scored_pairs       country-market pairs the scenario scores that year
--   base_scored_pairs  country-market pairs the base scores that year
--   spearman           Spearman rank correlation of the scenario's ranking with the base's
--                      over the scored pairs (ties averaged; rounded to 12 decimals, 1 =
--                      unchanged)
--   top_n              the size of the top compared (sensitivity.top_n)
--   top_n_overlap      share (0-1) of the base's top_n pairs (rank <= top_n, ties included)
--                      still in the scenario's
--   entered_top_n      pairs (iso3:market) in the scenario's top_n but not the base's, by
--                      scenario rank; empty when none
--   left_top_n         pairs (iso3:market) in the base's top_n but not the scenario's, by base
--                      rank; empty when none
--   max_rank_shift     the largest rank move of a base top_n pair, in places
with base as (
    select iso3, market, year, mean_rank, rank
    from intermediate.threat_scenarios
    where scenario = 'base' and score is not null
),

varied as (
    select scenario, varied_component, factor, iso3, market, year, mean_rank, rank
    from intermediate.threat_scenarios
    where scenario <> 'base' and score is not null
),

pairs as (
    select
        v.scenario,
        v.varied_component,
        v.factor,
        v.year,
        v.iso3 || ':' || v.market as pair,
        b.mean_rank as base_mean_rank,
        v.mean_rank,
        b.rank as base_rank,
        v.rank as scenario_rank,
        b.rank <= getvariable('sensitivity.top_n') as in_base_top,
        v.rank <= getvariable('sensitivity.top_n') as in_scenario_top,
        (select count(*) from base as x where x.year = v.year) as base_pairs
    from varied as v
    inner join base as b on v.iso3 = b.iso3 and v.market = b.market and v.year = b.year
)

select
    scenario,
    varied_component,
    factor,
    year,
    case varied_component
        when 'prevalence' then getvariable('threat_score.weights.prevalence')
        when 'eu_exposure' then getvariable('threat_score.weights.eu_exposure')
        when 'vulnerability' then getvariable('threat_score.weights.vulnerability')
        when 'trend' then getvariable('threat_score.weights.trend')
    end as base_weight,
    base_weight * factor as weight,
    count(*) as scored_pairs,
    any_value(base_pairs) as base_scored_pairs,
    -- rounded: an unchanged ranking is 1 exactly, not 1 + a rounding error
    round(corr(base_mean_rank, mean_rank), 12) as spearman,
    getvariable('sensitivity.top_n') as top_n,
    count(*) filter (where in_base_top and in_scenario_top)
    / count(*) filter (where in_base_top) as top_n_overlap,
    coalesce(
        list(pair order by scenario_rank, pair) filter (where in_scenario_top and not in_base_top),
        []
    ) as entered_top_n,
    coalesce(
        list(pair order by base_rank, pair) filter (where in_base_top and not in_scenario_top),
        []
    ) as left_top_n,
    max(abs(scenario_rank - base_rank)) filter (where in_base_top) as max_rank_shift
from pairs
group by scenario, varied_component, factor, year
order by year, varied_component, factor
