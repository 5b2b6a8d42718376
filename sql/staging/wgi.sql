-- World Bank Worldwide Governance Indicators: one row per country, year and series
-- (estimate about -2.5..2.5, percentile rank 0-100; higher = better governance).
-- Null values stay null. Aggregates (regions, income groups) and historic entities are
-- left in raw.wgi: only rows placed on an ISO 3166 country come through.
select
    edition,
    cast(year as integer) as year,
    iso3,
    indicator_id,
    indicator_label,
    cast(value as double) as value,
    unit,
    case when indicator_id like '%.percentile_rank' then 'rank' else 'index' end as scale,
    direction,
    false as censored,
    nullif(obs_status, '') as obs_status,
    snapshot_sha256
from raw.wgi
where country_match = 'country'
