-- One row per country (ISO 3166-1, plus Kosovo as the EU and World Bank use it): codes,
-- English short name, UN M49 region and sub-region, EU and EEA membership. The country
-- reference every iso3 in the warehouse points to (the harmoniser's table,
-- raw.country_reference).
--
-- Columns:
--   iso3                 ISO 3166-1 alpha-3 code (XKX for Kosovo, which has no ISO code)
--   iso2                 ISO 3166-1 alpha-2 code (XK for Kosovo): the code of the drops'
--                        reporting_state
--   iso_numeric          ISO 3166-1 numeric code, as three-digit text with leading zeros (e.g.
--                        004); null for Kosovo
--   name                 English short name as ISO 3166 gives it (e.g. "Moldova, Republic of")
--   region               UN M49 region: Africa, Americas, Asia, Europe or Oceania; null for
--                        Antarctica
--   subregion            UN M49 sub-region (e.g. Sub-Saharan Africa, Western Asia); null for
--                        Antarctica
--   intermediate_region  UN M49 intermediate region where M49 has one (e.g. Caribbean, Western
--                        Africa); null elsewhere
--   is_eu_member         true for an EU member state
--   is_eea_member        true for a European Economic Area state (the EU members, Iceland,
--                        Liechtenstein, Norway)
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
