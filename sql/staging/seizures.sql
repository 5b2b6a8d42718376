-- Member-state seizures from every current drop, one row per seizure. A drop superseded by a
-- newer one for the same state, dataset and period (or rejected) is left out here; its rows
-- stay in raw.drop_seizures. Countries are ISO3; quantity_kg is null where the unit is not a mass.
-- incremental: drop_id
select
    s.drop_id,
    d.member_state as reporting_state,
    d.period,
    d.marking,
    d.synthetic,
    s.row_number,
    s.seizure_ref,
    s.seizure_date,
    s.market,
    s.commodity,
    s.quantity,
    s.unit,
    s.quantity_kg,
    s.origin_country_iso3 as origin_iso3,
    s.departure_country_iso3 as departure_iso3,
    s.destination_country_iso3 as destination_iso3,
    s.transit_countries_iso3 as transit_iso3,
    s.transport_mode,
    s.location,
    s.arrests
from raw.drop_seizures as s
join audit.drops as d on d.drop_id = s.drop_id
where d.superseded_by is null and d.status in ('accepted', 'partial')
