-- UNODC World Drug Report annex 7.1: kilograms of drugs seized, one row per country,
-- reference year and drug group (unodc.seizure.<group>_kg), summed over the group's rows
-- in raw.unodc_drug_seizures (sub-groups and drug names stay there for drill-down).
-- Neutral direction: more seizures may mean more trafficking or better enforcement.
-- A group whose every row is blank stays null, never zero; rows_summed / rows_blank say
-- how many sheet rows went into the figure. The sheet repeats some rows and reports some
-- "Reported total" sub-groups beside the detail: they are summed as published
-- (has_reported_total flags them). Only rows placed on an ISO 3166 country.
select
    edition,
    cast(year as integer) as year,
    iso3,
    indicator_id,
    any_value(indicator_label) as indicator_label,
    sum(cast(kilograms as double)) as value,
    'kg' as unit,
    'absolute' as scale,
    'neutral' as direction,
    false as censored,
    cast(null as varchar) as obs_status,
    cast(count(*) as integer) as rows_summed,
    cast(count(*) - count(kilograms) as integer) as rows_blank,
    bool_or(coalesce(drug_subgroup like 'Reported total%', false)) as has_reported_total,
    snapshot_sha256
from raw.unodc_drug_seizures
where country_match = 'country'
group by edition, year, iso3, indicator_id, snapshot_sha256
