-- Network priorities: the criminal networks member states assessed (marts.fct_network),
-- ranked high-value-target style. One row per network and reporting state, as last
-- assessed (a later drop's assessment replaces an earlier one's).
-- Each factor is 0-1: size (member-count band, network_priority.size_points), reach
-- (countries active in, full at network_priority.reach_cap), markets (principal markets,
-- full at markets_cap), legal_business, violence, corruption (as reported), money_laundering
-- (laundering methods, full at laundering_cap) and threat_level (the reporting state's own
-- assessment, threat_level_points). priority_score is their weighted mean
-- (network_priority.weights; a factor not reported is left out and the other weights
-- rescaled, never counted as zero); factors counts those present. priority_rank orders the
-- networks (1 = highest; ties share a rank); tier names the band of the score
-- (network_priority.tiers); hvt is the reporting state's own high-value-target flag.
-- TLP:AMBER at least, whatever its inputs: it profiles identified networks.
-- marking: amber
with latest_assessments as (
    -- a network re-assessed in a later drop is ranked once, as last assessed
    select *
    from marts.fct_network
    qualify row_number() over (
        partition by reporting_state, network_ref order by assessment_date desc, drop_id desc
    ) = 1
),

size_points as (
    select unnest(getvariable('network_priority.size_points'), recursive := true)
),

threat_points as (
    select unnest(getvariable('network_priority.threat_level_points'), recursive := true)
),

tiers as (
    select getvariable('network_priority.tiers') as tiers
),

factors as (
    select
        n.*,
        -- a list not reported leaves its factor null (DuckDB's least would skip the null)
        s.points as size_factor,
        case
            when n.countries_active_iso3 is not null
                then least(len(n.countries_active_iso3), getvariable('network_priority.reach_cap'))
                / getvariable('network_priority.reach_cap')
        end as reach_factor,
        case
            when n.principal_markets is not null
                then least(len(n.principal_markets), getvariable('network_priority.markets_cap'))
                / getvariable('network_priority.markets_cap')
        end as markets_factor,
        n.uses_legal_business::double as legal_business_factor,
        n.uses_violence::double as violence_factor,
        n.uses_corruption::double as corruption_factor,
        case
            when n.money_laundering_methods is not null
                then least(
                    len(n.money_laundering_methods), getvariable('network_priority.laundering_cap')
                )
                / getvariable('network_priority.laundering_cap')
        end as money_laundering_factor,
        t.points as threat_level_factor
    from latest_assessments as n
    left join size_points as s on n.member_count_band = s.band
    left join threat_points as t on n.threat_level = t.threat_level
),

weighted as (
    select
        *,
        [
            {'value': size_factor, 'weight': getvariable('network_priority.weights.size')},
            {'value': reach_factor, 'weight': getvariable('network_priority.weights.reach')},
            {'value': markets_factor,
             'weight': getvariable('network_priority.weights.markets')},
            {'value': legal_business_factor,
             'weight': getvariable('network_priority.weights.legal_business')},
            {'value': violence_factor,
             'weight': getvariable('network_priority.weights.violence')},
            {'value': corruption_factor,
             'weight': getvariable('network_priority.weights.corruption')},
            {'value': money_laundering_factor,
             'weight': getvariable('network_priority.weights.money_laundering')},
            {'value': threat_level_factor,
             'weight': getvariable('network_priority.weights.threat_level')}
        ] as parts
    from factors
),

scored as (
    select
        *,
        list_sum([p.value * p.weight for p in parts if p.value is not null])
        / nullif(list_sum([p.weight for p in parts if p.value is not null]), 0)
            as priority_score,
        len([p for p in parts if p.value is not null]) as factors
    from weighted
)

select
    s.drop_id,
    s.reporting_state,
    s.network_ref,
    s.assessment_date,
    s.principal_markets,
    s.base_iso3,
    s.countries_active_iso3,
    s.nationalities_iso3,
    s.member_count_band,
    s.threat_level,
    s.hvt,
    s.size_factor,
    s.reach_factor,
    s.markets_factor,
    s.legal_business_factor,
    s.violence_factor,
    s.corruption_factor,
    s.money_laundering_factor,
    s.threat_level_factor,
    s.factors,
    s.priority_score,
    rank() over (order by s.priority_score desc nulls last) as priority_rank,
    [x.tier for x in t.tiers if s.priority_score >= x.min_score][1] as tier,
    s.period,
    s.synthetic
from scored as s
cross join tiers as t
order by priority_rank, s.reporting_state, s.network_ref
