-- FATF listing events: one row per jurisdiction whose list status changed between two
-- consecutive plenaries in the data (raw.fatf; the registry's plenaries), plus the
-- membership at the first plenary known.
-- event_type: fatf.listed (added to a list), fatf.delisted (no longer on any list),
-- fatf.list_changed (moved between the call-for-action and increased-monitoring lists),
-- fatf.listed_as_of (on a list at the first plenary in the data: when it was listed is
-- unknown, so this is not a listing and early-warning rules must not treat it as one).
-- value: the status after the event: 2 call for action, 1 increased monitoring, 0 none.
-- Reads raw.fatf directly: staging.fatf holds the indicator form, not the membership.
-- Labels use the ISO short name (raw.country_reference); detail keeps FATF's spelling.
with membership as (
    select plenary, statement_date, list, iso3, country_name, snapshot_sha256
    from raw.fatf
    where country_match = 'country'
),
plenaries as (
    select
        plenary,
        statement_date,
        lag(plenary) over (order by statement_date) as previous_plenary,
        row_number() over (order by statement_date) as position
    from (select distinct plenary, statement_date from raw.fatf)
),
pages as (
    -- the payload each plenary's list was read from: the evidence for a delisting
    select plenary, list, min(snapshot_sha256) as snapshot_sha256
    from raw.fatf
    group by plenary, list
),
candidates as (
    select plenary, iso3 from membership
    union
    select p.plenary, m.iso3
    from membership as m
    join plenaries as p on p.previous_plenary = m.plenary
),
changes as (
    select
        p.plenary,
        p.statement_date,
        p.previous_plenary,
        c.iso3,
        coalesce(cur.country_name, prev.country_name) as country_name,
        cur.list,
        prev.list as previous_list,
        case cur.list
            when 'call_for_action' then 'call-for-action (black) list'
            when 'increased_monitoring' then 'increased-monitoring (grey) list'
        end as list_label,
        case prev.list
            when 'call_for_action' then 'call-for-action (black) list'
            when 'increased_monitoring' then 'increased-monitoring (grey) list'
        end as previous_label,
        case
            when p.position = 1 then 'fatf.listed_as_of'
            when prev.list is null then 'fatf.listed'
            when cur.list is null then 'fatf.delisted'
            else 'fatf.list_changed'
        end as event_type,
        coalesce(cur.snapshot_sha256, pg.snapshot_sha256) as snapshot_sha256
    from candidates as c
    join plenaries as p on p.plenary = c.plenary
    left join membership as cur on cur.plenary = c.plenary and cur.iso3 = c.iso3
    left join membership as prev on prev.plenary = p.previous_plenary and prev.iso3 = c.iso3
    left join pages as pg on pg.plenary = p.plenary and pg.list = prev.list
    where p.position = 1 or cur.list is distinct from prev.list
)
select
    'fatf:' || event_type || ':' || c.iso3 || ':' || plenary as event_id,
    'fatf' as source_id,
    event_type,
    cast(statement_date as date) as event_date,
    c.iso3,
    coalesce(r.name, c.country_name) || ': ' || case event_type
        when 'fatf.listed_as_of' then 'on the FATF ' || list_label || ' as of'
        when 'fatf.listed' then 'added to the FATF ' || list_label || ' at'
        when 'fatf.delisted' then 'removed from the FATF ' || previous_label || ' at'
        else 'moved from the FATF ' || previous_label || ' to the ' || list_label || ' at'
    end || ' the ' || strftime(statement_date, '%B %Y') || ' plenary' as label,
    cast(
        case list when 'call_for_action' then 2 when 'increased_monitoring' then 1 else 0 end
        as double
    ) as value,
    cast(json_object(
        'plenary', plenary,
        'list', list,
        'previous_plenary', previous_plenary,
        'previous_list', previous_list,
        'country_name', country_name
    ) as varchar) as detail,
    snapshot_sha256
from changes as c
-- the ISO short name for the label; the name as published stays in detail
left join raw.country_reference as r on r.iso3 = c.iso3
