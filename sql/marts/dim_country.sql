-- One row per country (ISO 3166-1, plus Kosovo as the EU and World Bank use it):
-- codes, English short name, UN M49 region and sub-region, EU and EEA membership.
select
    iso3,
    iso2,
    numeric as iso_numeric,
    name,
    region,
    subregion,
    intermediate_region,
    cast(is_eu_member as boolean) as is_eu_member,
    cast(is_eea_member as boolean) as is_eea_member
from raw.country_reference
order by iso3
