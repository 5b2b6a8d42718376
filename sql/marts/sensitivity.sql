-- Sensitivity of the threat ranking to its weights, for the method annex: each threat-score
-- weight moved up and down by sensitivity.perturbation (one at a time, the others as set),
-- per edition year, against the methodology's ranking (intermediate.threat_scenarios).
-- Every scenario scores the same rows as the base (scored_pairs = base_scored_pairs).
-- spearman is the rank correlation of the scored rows (ties averaged); top_n_overlap the
-- share of the base top sensitivity.top_n (country, market) pairs still in that top;
-- entered_top_n and left_top_n name the pairs that came into it and dropped out (iso3:market);
-- max_rank_shift is the largest move of a base top-n pair. weight and base_weight are the
-- component's weight in the scenario and as set (the others unchanged; the score rescales
-- the present weights to sum to 1).
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
