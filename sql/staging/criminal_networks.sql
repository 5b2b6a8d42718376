-- Assessed criminal networks from every current member-state drop, one row per network and
-- drop. Superseded and rejected drops are left out (their rows stay in raw). Countries are ISO3.
-- incremental: drop_id
select
    n.drop_id,
    d.member_state as reporting_state,
    d.period,
    d.marking,
    d.synthetic,
    n.row_number,
    n.network_ref,
    n.assessment_date,
    n.principal_markets,
    n.base_country_iso3 as base_iso3,
    n.countries_active_iso3,
    n.member_count_band,
    n.nationalities_iso3,
    n.uses_legal_business,
    n.uses_violence,
    n.uses_corruption,
    n.money_laundering_methods,
    n.threat_level,
    n.hvt
from raw.drop_criminal_networks as n
join audit.drops as d on d.drop_id = n.drop_id
where d.superseded_by is null and d.status in ('accepted', 'partial')
