-- UNODC firearms trafficking (IAFQ portal export): arms, ammunition and parts seized, arms
-- found and surrendered, seizure cases, persons arrested, prosecuted and convicted for
-- illicit trafficking in weapons, per country and year. Counts; directions neutral
-- (seizures measure enforcement as much as trafficking).
-- Only catalogued breakdowns (indicator_id set by the connector, unique per area and year)
-- on an ISO 3166 country; finer breakdowns, regional aggregates and UNODC sub-national
-- units (GBR_E_W, GBR_S, GBR_NI, IRQ_C, Sark) stay in raw.unodc_firearms. Null stays null.
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
from raw.unodc_firearms
where country_match = 'country' and indicator_id is not null
