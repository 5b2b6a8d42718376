-- UNODC trafficking in persons (GLOTIP portal export): detected victims (total, children,
-- sexual exploitation, forced labour), persons brought into formal contact, prosecuted and
-- convicted, and offences, per country and year. Counts under 5 are published as "<5":
-- value 5, censored true, obs_status '<5'. All directions neutral (detections measure
-- enforcement as much as trafficking).
-- Only catalogued breakdowns (indicator_id set by the connector, unique per area and year)
-- on an ISO 3166 country; finer breakdowns, regional aggregates and UNODC sub-national
-- units (GBR_E_W, GBR_S, GBR_NI, IRQ_C, Sark) stay in raw.unodc_trafficking_persons. Null stays null.
select
    edition,
    cast(year as integer) as year,
    iso3,
    indicator_id,
    indicator_label,
    cast(value as double) as value,
    unit,
    scale,
    direction,
    cast(censored as boolean) as censored,
    nullif(obs_status, '') as obs_status,
    snapshot_sha256
from raw.unodc_trafficking_persons
where country_match = 'country' and indicator_id is not null
