-- Early warnings: signals that something changed in a non-EU country and deserves attention,
-- one row per signal, from four rules. Each row carries its own TLP marking: the published
-- copies below TLP:AMBER hold only the rows at or below their level.
--
-- The rules, with their thresholds under early_warning in the methodology:
--   seizure_spike    a member state's seizures from an origin country for a market in a
--                    month (intermediate.seizure_flows) far above its own trailing
--                    baseline: at least min_count, at least min_ratio x the median of its
--                    previous baseline_months covered months, and above it by robust_z
--                    robust standard deviations (1.4826 x MAD, at least mad_floor); a month
--                    counts, as zero when empty, while one of the state's drops spans it,
--                    and is judged after min_baseline_months of them. One warning per
--                    origin, market and month, naming the states; marked as its drops are;
--   governance_deterioration  a country's latest GI-TOC resilience score fell by
--                    resilience_drop_points since the previous edition (a pillar by
--                    pillar_drop_points), or its latest WGI control of corruption / rule of
--                    law estimate by wgi_drop, or its CPI score by cpi_drop_points, since
--                    its previous value (intermediate.trend);
--   fatf_listing     a new FATF listing (fatf.listed), or a move to the call-for-action
--                    list; a delisting or standing membership raises nothing;
--   news_surge       GDELT news-volume surges of a country and theme (fct_event), surge
--                    days at most episode_gap_days apart making one warning.
--
-- Columns:
--   signal_id    stable id: seizure_spike:<iso3>:<market>:<YYYY-MM>,
--                governance_deterioration:<iso3>:<indicator_id>:<year>,
--                fatf_listing:<iso3>:<plenary>, news_surge:<iso3>:<theme>:<first day>
--   rule         seizure_spike, governance_deterioration, fatf_listing or news_surge
--   detected_at  date of the latest evidence: the spike month's last seizure, 31 December of
--                the indicator's year, the FATF statement date, the episode's last surge day
--   iso3         the non-EU country the signal is about (ISO3)
--   market       GI-TOC market code: the seizures' market; for news_surge the market its GDELT
--                theme speaks to (news_surge.theme_markets), null when several; null for
--                governance_deterioration and fatf_listing
--   severity     high or medium: high at each rule's high threshold (seizure ratio high_ratio
--                or a baseline of none; a fall of governance.high_multiple x its threshold; a
--                call-for-action listing; news ratio high_ratio or a baseline of none)
--   headline     one readable line, as notes and products print it
--   value        the rule's measure: seizure_spike the largest ratio of a state's seizures to
--                its baseline median (null when every baseline was none);
--                governance_deterioration the fall, in the indicator's unit; fatf_listing
--                none (a listing is a decision, not a measure); news_surge the peak ratio of
--                the day's share to its baseline (null when every baseline was none)
--   threshold    what value is held against: seizure_spike.min_ratio, the indicator's fall
--                threshold (early_warning.governance.*), none for fatf_listing,
--                news_surge.min_ratio
--   evidence     JSON text with the figures behind it: the month, seizures and each state's
--                count, baseline median, MAD, months and robust z; the indicator's values,
--                years and fall; the FATF event's detail; the theme, first and last day, surge
--                days, peak ratio and marts.fct_event ids
--   source       where the evidence comes from: member-state drops, the indicator's source
--                title (marts.dim_indicator), FATF or GDELT
--   marking      the row's TLP marking (slug): a seizure_spike the highest marking of the
--                drops behind it (amber unless a drop is marked higher), every other rule
--                clear
-- row marking: marking
with levels as (
    -- the TLP 2.0 order (extra_pipeline/markings.py): a signal takes its highest drop's
    select ['clear', 'green', 'amber', 'amber+strict', 'red'] as slugs
),

non_eu as (
    select iso3 from marts.dim_country where not is_eu_member
),

-- seizure spikes -------------------------------------------------------------------------
-- A state's month counts (as zero when empty) only while one of its current drops spans it
-- (from the drop's first seizure to its last): a state that starts or stops reporting
-- makes no spike.
drop_spans as (
    select
        drop_id,
        reporting_state,
        date_trunc('month', min(first_date))::date as first_month,
        date_trunc('month', max(last_date))::date as last_month
    from intermediate.seizure_flows
    group by drop_id, reporting_state
),

covered_months as (
    select distinct
        reporting_state,
        unnest(generate_series(first_month, last_month, interval 1 month))::date as month
    from drop_spans
),

state_counts as (
    select
        f.reporting_state,
        f.iso3,
        f.market,
        f.month,
        sum(f.as_origin) as seizures,
        max(f.last_date) as last_date,
        max(list_position(l.slugs, f.marking)) as marking_level
    from intermediate.seizure_flows as f
    cross join levels as l
    where f.as_origin > 0
    group by f.reporting_state, f.iso3, f.market, f.month
),

series as (
    select
        k.reporting_state,
        k.iso3,
        k.market,
        m.month,
        coalesce(c.seizures, 0) as seizures,
        c.last_date,
        k.marking_level,
        row_number() over (
            partition by k.reporting_state, k.iso3, k.market order by m.month
        ) as position
    from (
        select reporting_state, iso3, market, max(marking_level) as marking_level
        from state_counts
        group by all
    ) as k
    inner join covered_months as m on k.reporting_state = m.reporting_state
    left join state_counts as c
        on k.reporting_state = c.reporting_state
        and k.iso3 = c.iso3
        and k.market = c.market
        and m.month = c.month
),

windows as (
    -- each month with the covered months before it, at most baseline_months of them
    select cur.reporting_state, cur.iso3, cur.market, cur.month, past.seizures as past_seizures
    from series as cur
    inner join series as past
        on cur.reporting_state = past.reporting_state
        and cur.iso3 = past.iso3
        and cur.market = past.market
        and past.position between cur.position
            - getvariable('early_warning.seizure_spike.baseline_months') and cur.position - 1
),

baselines as (
    select
        reporting_state,
        iso3,
        market,
        month,
        count(*) as baseline_months,
        median(past_seizures) as baseline
    from windows
    group by all
),

spreads as (
    select w.reporting_state, w.iso3, w.market, w.month,
        median(abs(w.past_seizures - b.baseline)) as mad
    from windows as w
    inner join baselines as b using (reporting_state, iso3, market, month)
    group by all
),

state_spikes as (
    select
        s.*,
        b.baseline,
        b.baseline_months,
        greatest(d.mad, getvariable('early_warning.seizure_spike.mad_floor')) as spread
    from series as s
    inner join baselines as b using (reporting_state, iso3, market, month)
    inner join spreads as d using (reporting_state, iso3, market, month)
    where b.baseline_months >= getvariable('early_warning.seizure_spike.min_baseline_months')
        and s.seizures >= getvariable('early_warning.seizure_spike.min_count')
        and s.seizures >= getvariable('early_warning.seizure_spike.min_ratio') * b.baseline
        and s.seizures > b.baseline + getvariable('early_warning.seizure_spike.robust_z')
            * 1.4826 * greatest(d.mad, getvariable('early_warning.seizure_spike.mad_floor'))
),

spikes as (
    -- one warning per origin, market and month, whichever states saw it
    select
        iso3,
        market,
        month,
        sum(seizures) as seizures,
        max(last_date) as last_date,
        -- times the baseline, the largest of the states that had one; a state whose
        -- baseline was none makes the signal high severity whatever the others' ratios
        max(seizures / nullif(baseline, 0)) as ratio,
        bool_or(baseline = 0) as from_none,
        max(marking_level) as marking_level,
        list({
            'reporting_state': reporting_state,
            'seizures': seizures,
            'baseline_median': baseline,
            'baseline_mad': spread,
            'baseline_months': baseline_months,
            'robust_z': (seizures - baseline) / (1.4826 * spread)
        } order by reporting_state) as states
    from state_spikes
    group by iso3, market, month
),

seizure_spike as (
    select
        'seizure_spike:' || s.iso3 || ':' || s.market || ':' || strftime(s.month, '%Y-%m')
            as signal_id,
        'seizure_spike' as rule,
        s.last_date as detected_at,
        s.iso3,
        s.market,
        case
            when s.from_none
                or s.ratio >= getvariable('early_warning.seizure_spike.high_ratio') then 'high'
            else 'medium'
        end as severity,
        printf(
            '%s: seizures entering the EU from %s surged in %s (%d, %s, %d reporting state%s)',
            m.label, c.name, strftime(s.month, '%B %Y'), s.seizures,
            case
                when s.ratio is null then 'where a month usually has none'
                else printf('up to %.1fx the usual month', s.ratio)
            end,
            len(s.states), case when len(s.states) > 1 then 's' else '' end
        ) as headline,
        s.ratio as value,
        getvariable('early_warning.seizure_spike.min_ratio') as threshold,
        to_json({
            'month': strftime(s.month, '%Y-%m'),
            'seizures': s.seizures,
            'states': s.states
        })::varchar as evidence,
        'member-state drops' as source,
        l.slugs[s.marking_level] as marking
    from spikes as s
    cross join levels as l
    inner join marts.dim_market as m on s.market = m.market
    inner join marts.dim_country as c on s.iso3 = c.iso3
),

-- governance deterioration ---------------------------------------------------------------
governance_thresholds as (
    select
        t.*,
        case
            when t.indicator_id = 'goci.resilience'
                then getvariable('early_warning.governance.resilience_drop_points')
            when t.family = 'goci' then getvariable('early_warning.governance.pillar_drop_points')
            when t.family = 'wgi' then getvariable('early_warning.governance.wgi_drop')
            else getvariable('early_warning.governance.cpi_drop_points')
        end as threshold,
        -- at six decimals: 2.01 - 1.51 is a fall of 0.5, not 0.49999...
        round(t.previous_value - t.value, 6) as fall
    from intermediate.trend as t
    where t.is_latest
        and (
            t.indicator_id like 'goci.resilience%'
            or t.indicator_id in ('wgi.cc.estimate', 'wgi.rl.estimate', 'cpi.score')
        )
),

governance_deterioration as (
    select
        'governance_deterioration:' || g.iso3 || ':' || g.indicator_id || ':' || g.year
            as signal_id,
        'governance_deterioration' as rule,
        make_date(g.year, 12, 31) as detected_at,
        g.iso3,
        null::varchar as market,
        case
            when g.fall >= getvariable('early_warning.governance.high_multiple') * g.threshold
                then 'high'
            else 'medium'
        end as severity,
        printf(
            '%s: %s fell from %.2f (%d) to %.2f (%d)',
            c.name, i.label, g.previous_value, g.previous_year, g.value, g.year
        ) as headline,
        g.fall as value,
        g.threshold,
        to_json({
            'indicator_id': g.indicator_id,
            'value': g.value,
            'year': g.year,
            'previous_value': g.previous_value,
            'previous_year': g.previous_year,
            'fall': g.fall
        })::varchar as evidence,
        i.source_title as source,
        'clear' as marking
    from governance_thresholds as g
    inner join marts.dim_indicator as i on g.indicator_id = i.indicator_id
    inner join marts.dim_country as c on g.iso3 = c.iso3
    where g.fall >= g.threshold
),

-- FATF listings --------------------------------------------------------------------------
fatf_listing as (
    select
        'fatf_listing:' || e.iso3 || ':' || (e.detail::json ->> 'plenary') as signal_id,
        'fatf_listing' as rule,
        e.event_date as detected_at,
        e.iso3,
        null::varchar as market,
        case when e.detail::json ->> 'list' = 'call_for_action' then 'high' else 'medium' end
            as severity,
        e.label as headline,
        -- a listing is a decision, not a measure against a threshold
        null::double as value,
        null::double as threshold,
        e.detail as evidence,
        'FATF' as source,
        'clear' as marking
    from marts.fct_event as e
    inner join non_eu as n on e.iso3 = n.iso3
    where e.event_type = 'fatf.listed'
        or (
            e.event_type = 'fatf.list_changed'
            and e.detail::json ->> 'list' = 'call_for_action'
        )
),

-- news surges ----------------------------------------------------------------------------
theme_markets as (
    select unnest(getvariable('early_warning.news_surge.theme_markets'), recursive := true)
),

surge_days as (
    select
        e.iso3,
        e.detail::json ->> 'theme' as theme,
        e.event_date,
        e.value,
        e.label,
        e.event_id
    from marts.fct_event as e
    inner join non_eu as n on e.iso3 = n.iso3
    where e.event_type = 'gdelt.news_surge'
),

surge_episodes as (
    select
        *,
        sum(starts) over (partition by iso3, theme order by event_date) as episode
    from (
        select
            *,
            case
                when event_date
                    - lag(event_date) over (partition by iso3, theme order by event_date)
                    <= getvariable('early_warning.news_surge.episode_gap_days') then 0
                else 1
            end as starts
        from surge_days
    )
),

news_surge as (
    select
        'news_surge:' || s.iso3 || ':' || s.theme || ':' || strftime(min(s.event_date), '%Y-%m-%d')
            as signal_id,
        'news_surge' as rule,
        max(s.event_date) as detected_at,
        s.iso3,
        any_value(t.market) as market,
        -- a day whose baseline share was zero has no ratio: the largest jump of all
        case
            when max(coalesce(s.value, 'infinity'::double))
                >= getvariable('early_warning.news_surge.high_ratio') then 'high'
            else 'medium'
        end as severity,
        arg_max(s.label, (coalesce(s.value, 'infinity'::double), s.event_date)) as headline,
        max(s.value) as value,
        getvariable('early_warning.news_surge.min_ratio') as threshold,
        to_json({
            'theme': s.theme,
            'first_day': min(s.event_date),
            'last_day': max(s.event_date),
            'surge_days': count(*),
            'peak_ratio': max(s.value),
            'events': list(s.event_id order by s.event_date)
        })::varchar as evidence,
        'GDELT' as source,
        'clear' as marking
    from surge_episodes as s
    left join theme_markets as t on s.theme = t.theme
    group by s.iso3, s.theme, s.episode
),

signals as (
    select * from seizure_spike
    union all by name
    select * from governance_deterioration
    union all by name
    select * from fatf_listing
    union all by name
    select * from news_surge
)

select
    signal_id,
    rule,
    detected_at,
    iso3,
    market,
    severity,
    headline,
    value,
    threshold,
    evidence,
    source,
    marking
from signals
order by detected_at desc, signal_id
