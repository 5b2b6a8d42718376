-- Transparency International Corruption Perceptions Index: one row per country, score
-- year and indicator, from the edition's workbook (time-series sheet, 2012 on).
-- cpi.score 0-100 (higher = cleaner), cpi.rank (1 = cleanest), cpi.standard_error and
-- cpi.sources (neutral). Only country-years TI scored; values as TI publishes them.
-- Only rows placed on an ISO 3166 country (TI's KSV is Kosovo, XKX); the rest stay in raw.cpi.
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
    false as censored,
    cast(null as varchar) as obs_status,
    snapshot_sha256
from raw.cpi
where country_match = 'country'
