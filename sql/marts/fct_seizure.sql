-- Seizures reported by member states, from current drops only: one row per seizure.
-- reporting_state is the sender's ISO 3166 alpha-2 code; origin/departure/destination are
-- ISO3 (null where not reported); transit_iso3 lists the transit countries in order.
-- quantity_kg is the mass in kilograms (null for volumes and counts: see quantity and unit).
-- incremental: drop_id
select
    drop_id,
    reporting_state,
    seizure_date,
    market,
    quantity_kg,
    origin_iso3,
    departure_iso3,
    destination_iso3,
    transit_iso3,
    transport_mode,
    quantity,
    unit,
    arrests,
    seizure_ref,
    period,
    synthetic
from staging.seizures
