-- UNODC intentional homicide rate per 100,000 inhabitants (2025 release, via Our World in
-- Data): one row per country and year of the value (unodc.homicide.rate; higher = worse).
-- A country OWID lists without a figure stays null, never zero. OWID's regions and groups
-- (World, "Africa (UN)", income groups) are left in raw.unodc_homicide: only rows placed
-- on an ISO 3166 country come through.
select
    edition,
    cast(year as integer) as year,
    iso3,
    indicator_id,
    indicator_label,
    cast(value as double) as value,
    'per 100,000 inhabitants' as unit,
    'rate' as scale,
    'higher_is_worse' as direction,
    false as censored,
    cast(null as varchar) as obs_status,
    snapshot_sha256
from raw.unodc_homicide
where country_match = 'country'
