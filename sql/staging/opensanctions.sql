-- OpenSanctions crime-related targets (CC BY-NC 4.0: non-commercial use only; attribute
-- OpenSanctions and its upstream source): one row per dataset, entity and country, typed.
-- iso3 is null when the entity has no country (country_match 'none') or when its country
-- is not a current one (a former country such as suhh, or an unmatched code, shown in
-- raw.opensanctions' countries check): the entity is kept either way, a listing is not
-- dropped for its country. Multi-valued cells (aliases, identifiers, dataset titles) become
-- lists; sanctions stay text as published. marking: amber for persons, clear otherwise.
select
    dataset,
    id as entity_id,
    "schema" as entity_schema,
    name,
    coalesce(string_split(aliases, ';'), []) as aliases,
    country_code,
    cast(case when country_match = 'country' then iso3 end as varchar) as iso3,
    case when country_code is null then 'none' else country_match end as country_match,
    coalesce(string_split(identifiers, ';'), []) as identifiers,
    sanctions,
    coalesce(string_split(dataset_titles, ';'), []) as dataset_titles,
    cast(first_seen as timestamp) as first_seen,
    cast(last_seen as timestamp) as last_seen,
    cast(last_change as timestamp) as last_change,
    marking,
    snapshot_sha256
from raw.opensanctions
