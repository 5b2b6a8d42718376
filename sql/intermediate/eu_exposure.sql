-- EU exposure: how much of each criminal market reaches the EU from each non-EU country, per
-- GI-TOC edition year, from three kinds of evidence, each rescaled to 0-1 on a log scale
-- against the market's largest published figure that year:
--   seizures  entering the EU that came from or departed from the country (member-state
--             drops, intermediate.seizure_flows), in the edition's window: from 1 January
--             of the year exposure.window_years - 1 before it until the next edition;
--   networks  assessed by member states (each network's latest assessment in the window),
--             based in the country or counting its nationals, active in the market, weighted
--             by threat level (exposure.network_threat_points);
--   flows     UNODC figures on the market in the country (exposure.flow_indicators), the
--             latest at most exposure.flow_max_age_years old.
-- eu_exposure is the weighted mean of those present (exposure.weights, present weights
-- rescaled); evidence counts the seizures, networks and flow figures behind it; coverage is
-- the share of the exposure weights present.
-- Published below the drops' marking: a figure from drops is published only where it rests
-- on at least suppression.min_reporting_states reporting states and suppression.min_records
-- records (seizure_states and seizures, kg_states and kg_records, network_states and
-- networks say what it rests on); below that, none (zero included) is published: the
-- figures are null and left out of eu_exposure, never counted as zero, so a null says
-- only "no publishable evidence", whether there was little or none.
-- marking: clear
-- suppress: seizures, latest_seizure_period, seizure_exposure by seizure_states, seizures
-- suppress: seizure_kg by kg_states, kg_records
-- suppress: networks, network_points, high_threat_networks, hvt_networks, network_exposure by network_states, networks
-- public: iso3, market, year, window_start, window_end, flow_figures, flow_indicators, flow_exposure, eu_exposure, evidence, coverage
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

-- seizures -------------------------------------------------------------------------------
seizure_cells as (
    select
        e.year,
        f.market,
        f.iso3,
        sum(f.seizures) as seizures,
        count(distinct f.reporting_state) as states,
        round(sum(f.quantity_kg), 3) as seizure_kg,
        sum(f.seizures_with_kg) as kg_records,
        count(distinct f.reporting_state) filter (where f.seizures_with_kg > 0) as kg_states,
        max(f.period) as latest_seizure_period
    from intermediate.seizure_flows as f
    inner join editions as e
        on f.month >= e.window_start and (e.window_end is null or f.month < e.window_end)
    group by e.year, f.market, f.iso3
),

seizures_published as (
    select
        *,
        states >= getvariable('suppression.min_reporting_states')
        and seizures >= getvariable('suppression.min_records') as publishable,
        kg_states >= getvariable('suppression.min_reporting_states')
        and kg_records >= getvariable('suppression.min_records') as kg_publishable
    from seizure_cells
),

-- networks -------------------------------------------------------------------------------
threat_points as (
    select unnest(getvariable('exposure.network_threat_points'), recursive := true)
),

latest_assessments as (
    -- a network re-assessed within an edition's window counts once, as last assessed there
    select e.year, n.*
    from marts.fct_network as n
    inner join editions as e
        on n.assessment_date >= e.window_start
        and (e.window_end is null or n.assessment_date < e.window_end)
    qualify row_number() over (
        partition by e.year, n.reporting_state, n.network_ref
        order by n.assessment_date desc, n.drop_id desc
    ) = 1
),

network_links as (
    -- every market of a network with every country it is based in or has nationals of
    select distinct
        n.year,
        m.market,
        c.iso3,
        n.reporting_state,
        n.network_ref,
        n.threat_level,
        n.hvt
    from latest_assessments as n
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
    group by l.year, l.market, l.iso3
),

networks_published as (
    select
        *,
        states >= getvariable('suppression.min_reporting_states')
        and networks >= getvariable('suppression.min_records') as publishable
    from network_cells
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
        -- a mean over a list in a fixed order: the same bits in every run
        list_avg(list(coalesce(scaled, 0) order by indicator_id)) as flow_exposure,
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
        case when s.publishable then s.states end as seizure_states,
        case when s.publishable then s.latest_seizure_period end as latest_seizure_period,
        case when s.kg_publishable then s.seizure_kg end as seizure_kg,
        case when s.kg_publishable then s.kg_states end as kg_states,
        case when s.kg_publishable then s.kg_records end as kg_records,
        case when n.publishable then n.networks end as networks,
        case when n.publishable then n.states end as network_states,
        case when n.publishable then n.network_points end as network_points,
        case when n.publishable then n.high_threat_networks end as high_threat_networks,
        case when n.publishable then n.hvt_networks end as hvt_networks,
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
    -- against the largest published figure of the market that year (a suppressed figure
    -- must not show through the scale)
    select
        *,
        ln(1 + seizures) / nullif(ln(1 + max(seizures) over w), 0) as seizure_exposure,
        ln(1 + network_points) / nullif(ln(1 + max(network_points) over w), 0)
            as network_exposure
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
    seizure_states,
    latest_seizure_period,
    seizure_exposure,
    seizure_kg,
    kg_states,
    kg_records,
    networks,
    network_states,
    network_points,
    high_threat_networks,
    hvt_networks,
    network_exposure,
    flow_figures,
    flow_indicators,
    flow_exposure,
    list_sum([p.value * p.weight for p in parts if p.value is not null])
    / nullif(list_sum([p.weight for p in parts if p.value is not null]), 0) as eu_exposure,
    (coalesce(seizures, 0) + coalesce(networks, 0) + coalesce(flow_figures, 0))::bigint
        as evidence,
    coalesce(list_sum([p.weight for p in parts if p.value is not null]), 0) as coverage
from weighted
