-- The open sources as registered (assets/sources/<source_id>.yaml): one row per source.
-- Products cite sources, licences and freshness from here and audit.source_snapshots.
--
-- Columns:
--   source_id     the source id, the name of its registry file (e.g. goci, wgi): the source_id
--                 of the fact tables
--   title         what the source is
--   publisher     who publishes it
--   licence       its reuse terms as far as known: shown wherever its data are shown
--   homepage      the publisher's page for the data (URL)
--   marking       TLP marking of everything derived from it, as a slug (clear, amber),
--                 like every other marking column
--   edition       the publisher's release the bundled snapshot and the parser expect (e.g.
--                 2025, WDR 2024)
--   max_age_days  the update period it is held to, in days: older data fails its WARN
--                 freshness check (shown OLD, then STALE)
--   description   what it holds, as registered
select
    source_id,
    title,
    publisher,
    licence,
    homepage,
    lower(replace(marking, 'TLP:', '')) as marking,
    edition,
    max_age_days,
    description
from raw.source_registry
order by source_id
