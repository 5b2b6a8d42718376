-- The open sources as registered (assets/sources/<source_id>.yaml): one row per source with
-- its title, publisher, licence, homepage, marking, edition, the update period it is held
-- to (max_age_days: older data is flagged OLD, then STALE) and a description. Products cite
-- sources, licences and freshness from here and audit.source_snapshots.
select
    source_id,
    title,
    publisher,
    licence,
    homepage,
    marking,
    edition,
    max_age_days,
    description
from raw.source_registry
order by source_id
