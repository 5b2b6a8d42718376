-- Trend: how each non-EU country's scores moved, edition to edition (GI-TOC) and year on
-- year (WGI estimates, CPI score). One row per country, indicator and year that has an
-- earlier value: change = value - previous_value over change_years years; trend reads the
-- change by the indicator's direction: `worsening` or `improving` once it reaches the
-- family's stable band (methodology trend.stable_band; compared at six decimals, so
-- that 2.01 - 1.51 counts as 0.5), `stable` below it. is_latest marks
-- the country's most recent change for the indicator (what early warnings look at).
with bands as (
    select unnest(getvariable('trend.stable_band'), recursive := true)
),

series as (
    select
        f.iso3,
        f.indicator_id,
        split_part(f.indicator_id, '.', 1) as family,
        f.year,
        f.value,
        f.direction,
        f.snapshot_sha256,
        lag(f.year) over w as previous_year,
        lag(f.value) over w as previous_value
    from marts.fct_indicator as f
    inner join marts.dim_country as c on f.iso3 = c.iso3
    where not c.is_eu_member
        and f.value is not null
        and f.direction in ('higher_is_worse', 'higher_is_better')
        and (
            f.source_id = 'goci'
            or (f.source_id = 'wgi' and f.indicator_id like 'wgi.%.estimate')
            or f.indicator_id = 'cpi.score'
        )
    window w as (partition by f.iso3, f.indicator_id order by f.year)
),

changes as (
    select
        s.*,
        s.value - s.previous_value as change,
        s.year - s.previous_year as change_years,
        (s.value - s.previous_value)
        * (case s.direction when 'higher_is_worse' then 1 else -1 end) as worse_by,
        b.points as stable_band
    from series as s
    inner join bands as b on s.family = b.family
    where s.previous_value is not null
)

select
    iso3,
    indicator_id,
    family,
    year,
    value,
    previous_year,
    previous_value,
    change,
    change_years,
    direction,
    case
        when round(abs(change), 6) < stable_band then 'stable'
        when worse_by > 0 then 'worsening'
        else 'improving'
    end as trend,
    stable_band,
    year = max(year) over (partition by iso3, indicator_id) as is_latest,
    snapshot_sha256
from changes
