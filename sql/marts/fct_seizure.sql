-- Seizures reported by member states, from current drops only (a superseded or rejected drop's
-- rows stay in raw): one row per seizure. AMBER or higher by construction (drops are AMBER).
--
-- Columns:
--   drop_id           the drop the seizure came from (audit.drops.drop_id)
--   reporting_state   the member state that sent it, ISO 3166 alpha-2 (e.g. FR)
--   seizure_date      the day of the seizure (2000 or later, not after receipt)
--   market            the criminal market: a GI-TOC market code (marts.dim_market)
--   quantity_kg       the mass in kilograms, from a quantity in kg, g or t; null for volumes
--                     (l, ml) and counts (units, tablets, doses)
--   origin_iso3       ISO3 of the country the goods came from (produced, or where the route
--                     began); null when not reported
--   departure_iso3    ISO3 of the country the consignment left for the EU from; null when not
--                     reported
--   destination_iso3  ISO3 of the country it was bound for; null when not reported
--   transit_iso3      ISO3 of the transit countries, a list in route order; null when none
--                     reported
--   transport_mode    how the goods travelled: sea, air, road, rail, postal or other; null
--                     when not reported
--   quantity          how much was seized, in unit (0 or more)
--   unit              the unit of quantity: kg, g, t, l, ml, units, tablets or doses
--   arrests           people arrested in connection with the seizure; null when not reported
--   seizure_ref       the sender's own reference for the seizure (unique within its file)
--   period            the reporting period the sender declared for the drop (e.g. 2025,
--                     2026-Q3): a later drop of the same state, dataset and period supersedes
--                     it
--   synthetic         true when the drop is synthetic demonstration data
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
