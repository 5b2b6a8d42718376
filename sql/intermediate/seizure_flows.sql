-- Seizures entering the EU, summed per drop, market, month and the non-EU country they came
-- from or departed from: the small table exposure and early warnings read, so that their
-- cost follows new drops, not the history. A seizure enters the EU when a member state
-- reported it or it was bound for one. One seizure counts once for its origin and once for
-- its departure country (once when they are the same): seizures = as_origin + as_departure
-- - both. quantity_kg sums the masses of the seizures_with_kg that have one (other units
-- have none); marking and period are the drop's.
-- incremental: drop_id from staging.seizures
with entering as (
    select
        s.drop_id,
        s.reporting_state,
        s.marking,
        s.period,
        s.market,
        s.seizure_date,
        s.origin_iso3,
        s.departure_iso3,
        s.quantity_kg
    from staging.seizures as s
    left join marts.dim_country as reporter on s.reporting_state = reporter.iso2
    left join marts.dim_country as destination on s.destination_iso3 = destination.iso3
    where coalesce(reporter.is_eu_member, false) or coalesce(destination.is_eu_member, false)
),

roles as (
    select
        *,
        origin_iso3 as iso3,
        true as is_origin,
        departure_iso3 is not distinct from origin_iso3 as is_departure
    from entering
    where origin_iso3 is not null
    union all
    select *, departure_iso3 as iso3, false as is_origin, true as is_departure
    from entering
    where departure_iso3 is not null and departure_iso3 is distinct from origin_iso3
)

select
    r.drop_id,
    r.reporting_state,
    r.marking,
    r.period,
    r.market,
    date_trunc('month', r.seizure_date)::date as month,
    r.iso3,
    count(*) as seizures,
    count(*) filter (where r.is_origin) as as_origin,
    count(*) filter (where r.is_departure) as as_departure,
    count(*) filter (where r.is_origin and r.is_departure) as both_roles,
    count(r.quantity_kg) as seizures_with_kg,
    -- rounded to the gram: sums of floats otherwise differ in their last bits between runs
    round(sum(r.quantity_kg), 3) as quantity_kg,
    min(r.seizure_date) as first_date,
    max(r.seizure_date) as last_date
from roles as r
inner join marts.dim_country as c on r.iso3 = c.iso3
where not c.is_eu_member
group by all
