-- Network priorities: the criminal networks member states assessed (marts.fct_network), ranked
-- high-value-target style. One row per network and reporting state, as last assessed (a later
-- drop's assessment replaces an earlier one's). TLP:AMBER at least, whatever its inputs: it
-- profiles identified networks.
--
-- Each factor is 0-1; priority_score is their weighted mean (network_priority.weights; a
-- factor not reported is left out and the other weights rescaled, never counted as zero).
--
-- Columns:
--   drop_id                  the drop of its latest assessment (audit.drops.drop_id)
--   reporting_state          the member state that sent it, ISO 3166 alpha-2 (e.g. FR)
--   network_ref              the sender's own reference for the network (unique within its
--                            file)
--   assessment_date          the day of its latest assessment (null when the sender gave none)
--   principal_markets        the network's principal criminal markets: a list of GI-TOC market
--                            codes (marts.dim_market)
--   base_iso3                ISO3 of the country the network is based in
--   countries_active_iso3    ISO3 of the countries it is active in (EU ones included), a list
--                            in the sender's order; null when not reported
--   nationalities_iso3       the members' nationalities as ISO3 codes, a list; null when not
--                            reported
--   member_count_band        its size as a band of members: 1-10, 11-50, 51-100, 101-500 or
--                            >500; null when not reported
--   threat_level             the sender's own assessment of its threat: low, medium, high or
--                            very_high; null when not reported
--   hvt                      the sender's flag: the network includes a high-value target; null
--                            when not reported
--   size_factor              its member-count band as points (network_priority.size_points);
--                            null when the band is not reported
--   reach_factor             countries active in, up to network_priority.reach_cap, over
--                            reach_cap; null when not reported
--   markets_factor           principal markets, up to network_priority.markets_cap, over
--                            markets_cap
--   legal_business_factor    1 when it uses legal business structures, 0 when not; null when
--                            not reported
--   violence_factor          1 when it uses violence, 0 when not; null when not reported
--   corruption_factor        1 when it uses corruption, 0 when not; null when not reported
--   money_laundering_factor  laundering methods, up to network_priority.laundering_cap, over
--                            laundering_cap; null when not reported
--   threat_level_factor      the sender's threat level as points
--                            (network_priority.threat_level_points); null when not reported
--   factors                  how many of the eight factors are present (0-8)
--   priority_score           the weighted mean of the factors present (0-1, higher = higher
--                            priority); null when none is
--   priority_rank            rank by priority_score over all networks (1 = highest; ties share
--                            a rank; unscored last)
--   tier                     the band of the score (network_priority.tiers: priority,
--                            elevated, monitored); null when unscored
--   period                   the reporting period of its latest drop (e.g. 2025)
--   synthetic                true when the drop is synthetic demonstration data
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
