-- Listed entities from open target lists (OpenSanctions crime-related datasets): one row
-- per listing and country (iso3 null when the entity has none or a former country;
-- country_code as published). listing_id is the OpenSanctions entity id; dataset the
-- OpenSanctions dataset it was read from; aliases a list; sanctions the programme text.
-- Licence: CC BY-NC 4.0 (Attribution-NonCommercial): no commercial use without an
-- OpenSanctions licence; attribute OpenSanctions and its upstream source.
-- Marking: the table is TLP:AMBER (its source holds persons); each row carries its own
-- marking (amber for persons, clear otherwise), and the copies below TLP:AMBER hold only
-- the rows at or below their level.
-- row marking: marking
select
    entity_id as listing_id,
    'opensanctions' as source_id,
    dataset,
    entity_schema,
    name,
    aliases,
    iso3,
    country_code,
    sanctions,
    first_seen,
    last_seen,
    marking,
    snapshot_sha256
from staging.opensanctions
