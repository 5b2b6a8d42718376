-- UNODC corruption and economic crime (CTS portal export): police-recorded offences per
-- country and year, as counts and as rates per 100,000 population (ids ending _rate):
-- corruption, bribery, fraud, money laundering, migrant smuggling, theft, burglary, cyber
-- and environmental offences. Victim-reported offences read higher = worse; offences found
-- by enforcement (corruption, money laundering, smuggling, environment) are neutral.
-- Only catalogued breakdowns (indicator_id set by the connector, unique per area and year)
-- on an ISO 3166 country; finer breakdowns, regional aggregates and UNODC sub-national
-- units (GBR_E_W, GBR_S, GBR_NI, IRQ_C, Sark) stay in raw.unodc_economic_crime. Null stays null.
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
from raw.unodc_economic_crime
where country_match = 'country' and indicator_id is not null
