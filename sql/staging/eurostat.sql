-- Eurostat crime statistics (dissemination API, JSON-stat 2.0): one row per country, year
-- and series, e.g. police-recorded intentional homicides as offences and per 100,000
-- inhabitants (crim_off_cat). `edition` is the response's `updated` date; `obs_status` the
-- Eurostat flag (p provisional, e estimated, b break in series, c confidential...), null
-- when none; a flagged cell without a figure keeps a null value. EU/euro-area aggregates
-- stay in raw.eurostat: only rows placed on a country come through.
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
    nullif(obs_status, '') as obs_status,
    snapshot_sha256
from raw.eurostat
where country_match = 'country'
