-- EU exposure: how much of each criminal market reaches the EU from each non-EU country, per
-- GI-TOC edition year, from three kinds of evidence, each rescaled to 0-1 on a log scale
-- against the market's largest publishable figure that year:
--   seizures  entering the EU that came from or departed from the country (member-state
--             drops, intermediate.seizure_flows), in the edition's window: from 1 January
--             of the year exposure.window_years - 1 before it until the next edition;
--   networks  assessed by member states, based in the country or counting its nationals,
--             active in the market, weighted by threat level (exposure.network_threat_points);
--   flows     UNODC figures on the market in the country (exposure.flow_indicators), the
--             latest at most exposure.flow_max_age_years old.
-- eu_exposure is the weighted mean of those present (exposure.weights, present weights
-- rescaled); evidence counts the seizures, networks and flow figures behind it.
-- Published below the drops' marking, so every figure from drops rests on at least
-- suppression.min_reporting_states states and suppression.min_records records (the
-- *_support_* columns say what it rests on: for a country with seizures, its own; for a
-- zero, every state that reported on the market in the window), or it is suppressed: null,
-- with *_suppressed true, and left out of eu_exposure (never counted as zero). A market
-- with no drop evidence in the window leaves those figures null (not reported).
-- marking: clear
-- suppress: seizures, seizure_kg, latest_seizure_period, seizure_exposure by seizure_support_states, seizure_support_records
-- suppress: networks, network_points, high_threat_networks, hvt_networks, network_exposure by network_support_states, network_support_records
with editions as (
    select
        year,
        make_date(year - getvariable('exposure.window_years') + 1, 1, 1) as window_start,
        make_date(lead(year) over (order by year), 1, 1) as window_end
    from (select distinct year from marts.fct_indicator where source_id = 'goci')
),

grid as (
    select c.iso3, m.market, e.year, e.window_start, e.window_end
    from marts.dim_country as c
    cross join marts.dim_market as m
    cross join editions as e
    where not c.is_eu_member
),

thresholds as (
    select
        getvariable('suppression.min_reporting_states') as min_states,
        getvariable('suppression.min_records') as min_records
),

-- seizures -------------------------------------------------------------------------------
flows_in_window as (
    select e.year, f.*
    from intermediate.seizure_flows as f
    inner join editions as e
        on f.month >= e.window_start and (e.window_end is null or f.month < e.window_end)
),

seizure_cells as (
    select
        year,
        market,
        iso3,
        sum(seizures) as seizures,
        sum(quantity_kg) as seizure_kg,
        max(period) as latest_seizure_period,
        count(distinct reporting_state) as states
    from flows_in_window
    group by all
),

seizure_coverage as (
    -- distinct seizures are at least the larger of the origin and departure counts
    select
        year,
        market,
        count(distinct reporting_state) as states,
        greatest(sum(as_origin), sum(as_departure - both_roles)) as records
    from flows_in_window
    group by all
),

seizure_figures as (
    select
        g.iso3,
        g.market,
        g.year,
        coalesce(s.seizures, 0) as seizures,
        s.seizure_kg,
        s.latest_seizure_period,
        case when s.seizures > 0 then s.states else c.states end as support_states,
        case when s.seizures > 0 then s.seizures else c.records end as support_records
    from grid as g
    inner join seizure_coverage as c on g.market = c.market and g.year = c.year
    left join seizure_cells as s
        on g.iso3 = s.iso3 and g.market = s.market and g.year = s.year
),

seizures_published as (
    select
        f.*,
        f.support_states >= t.min_states and f.support_records >= t.min_records as publishable
    from seizure_figures as f
    cross join thresholds as t
),

-- networks -------------------------------------------------------------------------------
threat_points as (
    select unnest(getvariable('exposure.network_threat_points'), recursive := true)
),

network_links as (
    -- every market of a network with every country it is based in or has nationals of
    select distinct
        e.year,
        m.market,
        c.iso3,
        n.reporting_state,
        n.network_ref,
        n.threat_level,
        n.hvt
    from marts.fct_network as n
    inner join editions as e
        on n.assessment_date >= e.window_start
        and (e.window_end is null or n.assessment_date < e.window_end)
    cross join unnest(n.principal_markets) as m (market)
    cross join unnest(list_distinct(list_prepend(n.base_iso3, n.nationalities_iso3))) as c (iso3)
),

network_cells as (
    select
        l.year,
        l.market,
        l.iso3,
        count(*) as networks,
        sum(coalesce(p.points, 0)) as network_points,
        count(*) filter (where l.threat_level in ('high', 'very_high')) as high_threat_networks,
        count(*) filter (where l.hvt) as hvt_networks,
        count(distinct l.reporting_state) as states
    from network_links as l
    left join threat_points as p on l.threat_level = p.threat_level
    where l.iso3 is not null
    group by all
),

network_coverage as (
    select
        year,
        market,
        count(distinct reporting_state) as states,
        count(distinct (reporting_state, network_ref)) as records
    from network_links
    group by all
),

network_figures as (
    select
        g.iso3,
        g.market,
        g.year,
        coalesce(n.networks, 0) as networks,
        coalesce(n.network_points, 0) as network_points,
        coalesce(n.high_threat_networks, 0) as high_threat_networks,
        coalesce(n.hvt_networks, 0) as hvt_networks,
        case when n.networks > 0 then n.states else c.states end as support_states,
        case when n.networks > 0 then n.networks else c.records end as support_records
    from grid as g
    inner join network_coverage as c on g.market = c.market and g.year = c.year
    left join network_cells as n
        on g.iso3 = n.iso3 and g.market = n.market and g.year = n.year
),

networks_published as (
    select
        f.*,
        f.support_states >= t.min_states and f.support_records >= t.min_records as publishable
    from network_figures as f
    cross join thresholds as t
),

-- open flow figures ----------------------------------------------------------------------
flow_crosswalk as (
    select unnest(getvariable('exposure.flow_indicators'), recursive := true)
),

flow_values as (
    select
        g.iso3,
        g.market,
        g.year,
        x.indicator_id,
        arg_max(f.value, f.year) as value,
        max(f.year) as value_year
    from grid as g
    inner join flow_crosswalk as x on g.market = x.market
    inner join marts.fct_indicator as f
        on f.iso3 = g.iso3
        and f.indicator_id = x.indicator_id
        and f.year between g.year - getvariable('exposure.flow_max_age_years') and g.year
    where f.value is not null and f.value >= 0
    group by all
),

flow_scaled as (
    select
        *,
        ln(1 + value) / nullif(ln(1 + max(value) over (partition by indicator_id, year)), 0)
            as scaled
    from flow_values
),

flow_figures as (
    select
        iso3,
        market,
        year,
        count(*) as flow_figures,
        avg(coalesce(scaled, 0)) as flow_exposure,
        list({'indicator_id': indicator_id, 'value': value, 'year': value_year}
            order by indicator_id) as flow_indicators
    from flow_scaled
    group by all
),

-- together -------------------------------------------------------------------------------
combined as (
    select
        g.iso3,
        g.market,
        g.year,
        g.window_start,
        g.window_end,
        case when s.publishable then s.seizures end as seizures,
        case when s.publishable then s.seizure_kg end as seizure_kg,
        case when s.publishable then s.latest_seizure_period end as latest_seizure_period,
        case when s.publishable then s.support_states end as seizure_support_states,
        case when s.publishable then s.support_records end as seizure_support_records,
        coalesce(not s.publishable, false) as seizures_suppressed,
        case when n.publishable then n.networks end as networks,
        case when n.publishable then n.network_points end as network_points,
        case when n.publishable then n.high_threat_networks end as high_threat_networks,
        case when n.publishable then n.hvt_networks end as hvt_networks,
        case when n.publishable then n.support_states end as network_support_states,
        case when n.publishable then n.support_records end as network_support_records,
        coalesce(not n.publishable, false) as networks_suppressed,
        fl.flow_figures,
        fl.flow_exposure,
        fl.flow_indicators
    from grid as g
    left join seizures_published as s
        on g.iso3 = s.iso3 and g.market = s.market and g.year = s.year
    left join networks_published as n
        on g.iso3 = n.iso3 and g.market = n.market and g.year = n.year
    left join flow_figures as fl
        on g.iso3 = fl.iso3 and g.market = fl.market and g.year = fl.year
),

scaled as (
    -- against the largest publishable figure of the market that year (a suppressed figure
    -- must not show through the scale)
    select
        *,
        case
            when seizures is null then null
            when max(seizures) over w = 0 then 0
            else ln(1 + seizures) / ln(1 + max(seizures) over w)
        end as seizure_exposure,
        case
            when network_points is null then null
            when max(network_points) over w = 0 then 0
            else ln(1 + network_points) / ln(1 + max(network_points) over w)
        end as network_exposure
    from combined
    window w as (partition by market, year)
),

weighted as (
    select
        *,
        [
            {'value': seizure_exposure, 'weight': getvariable('exposure.weights.seizures')},
            {'value': network_exposure, 'weight': getvariable('exposure.weights.networks')},
            {'value': flow_exposure, 'weight': getvariable('exposure.weights.flows')}
        ] as parts
    from scaled
)

select
    iso3,
    market,
    year,
    window_start,
    window_end,
    seizures,
    seizure_kg,
    latest_seizure_period,
    seizure_support_states,
    seizure_support_records,
    seizures_suppressed,
    seizure_exposure,
    networks,
    network_points,
    high_threat_networks,
    hvt_networks,
    network_support_states,
    network_support_records,
    networks_suppressed,
    network_exposure,
    flow_figures,
    flow_indicators,
    flow_exposure,
    list_sum([p.value * p.weight for p in parts if p.value is not null])
    / nullif(list_sum([p.weight for p in parts if p.value is not null]), 0) as eu_exposure,
    coalesce(seizures, 0) + coalesce(networks, 0) + coalesce(flow_figures, 0) as evidence,
    coalesce(list_sum([p.weight for p in parts if p.value is not null]), 0) as coverage
from weighted
