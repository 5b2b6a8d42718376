-- FATF lists as indicators: one row per jurisdiction listed as of the latest plenary of a
-- year (year = plenary year, edition = that plenary, YYYY-MM), value 1 ("listed").
-- fatf.call_for_action: high-risk jurisdictions subject to a call for action (black list);
-- fatf.increased_monitoring: jurisdictions under increased monitoring (grey list).
-- Only listed jurisdictions have rows: absence means not listed, never a made-up 0.
-- Only rows placed on an ISO 3166 country; the rest stay visible in raw.fatf.
with latest as (
    -- the last plenary of each year, over every row (a plenary is a plenary whatever the
    -- harmoniser made of its names)
    select year(statement_date) as year, max(plenary) as plenary
    from raw.fatf
    group by year(statement_date)
)
select
    f.plenary as edition,
    cast(l.year as integer) as year,
    f.iso3,
    'fatf.' || f.list as indicator_id,
    case f.list
        when 'call_for_action' then 'FATF: high-risk jurisdiction subject to a call for action'
        else 'FATF: jurisdiction under increased monitoring'
    end as indicator_label,
    cast(1 as double) as value,
    'listed (1/0)' as unit,
    'index' as scale,
    'higher_is_worse' as direction,
    false as censored,
    cast(null as varchar) as obs_status,
    f.snapshot_sha256
from raw.fatf as f
join latest as l on l.plenary = f.plenary
where f.country_match = 'country'
