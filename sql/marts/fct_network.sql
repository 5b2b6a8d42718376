-- Criminal networks assessed by member states, from current drops only: one row per network
-- assessment (a network a state re-assessed in another period's drop has a row in each;
-- marts.network_priority and the exposure models keep the latest). Lists (markets,
-- countries, nationalities, laundering methods) are DuckDB lists; countries are ISO3.
-- AMBER or higher by construction (drops are AMBER).
-- incremental: drop_id
select
    drop_id,
    reporting_state,
    network_ref,
    assessment_date,
    principal_markets,
    base_iso3,
    countries_active_iso3,
    member_count_band,
    nationalities_iso3,
    uses_legal_business,
    uses_violence,
    uses_corruption,
    money_laundering_methods,
    threat_level,
    hvt,
    period,
    synthetic
from staging.criminal_networks
