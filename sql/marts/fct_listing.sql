-- Listed entities from open target lists (OpenSanctions crime-related datasets): one row per
-- dataset, listing and country of the entity (so listing_id repeats for an entity with several
-- countries).
--
-- Licence: CC BY-NC 4.0 (Attribution-NonCommercial): no commercial use without an
-- OpenSanctions licence; attribute OpenSanctions and its upstream source.
--
-- Marking: the table is TLP:AMBER (its source holds persons); each row carries its own marking
-- (amber for persons, clear otherwise), and the copies below TLP:AMBER hold only the rows at
-- or below their level.
--
-- Columns:
--   listing_id       the OpenSanctions entity id
--   source_id        always opensanctions (marts.dim_source)
--   dataset          the OpenSanctions dataset it was read from (e.g. ransomwhere)
--   entity_schema    the entity's FollowTheMoney type (Person, Organization, Company,
--                    CryptoWallet...)
--   name             the entity's name, as published
--   aliases          its other names, a list (empty when none)
--   iso3             ISO3 of the row's country; null when the entity has none, or its country
--                    is a former or unmatched one (see country_code)
--   country_code     the country as OpenSanctions publishes it (lower-case ISO2, or codes such
--                    as suhh for former states); null when none
--   sanctions        the sanctions programme text, as published; null when none
--   first_seen       when OpenSanctions first saw the entity (timestamp as published, no time
--                    zone)
--   last_seen        when OpenSanctions last saw it in its upstream source
--   marking          the row's TLP marking (slug): amber for a Person, clear otherwise
--   snapshot_sha256  the targets.simple.csv payload it was read from
--                    (audit.source_snapshots.sha256)
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
