-- Every open-source indicator in one long table: one row per source, indicator, country
-- and year. `direction` says whether a higher value is worse or better; `edition` is the
-- publisher's release the value comes from; `snapshot_sha256` points at the raw payload
-- in audit.source_snapshots. Null values are kept: "not assessed" is not zero.
with indicators as (
    select 'goci' as source_id, * from staging.goci
    union all by name
    select 'wgi' as source_id, * from staging.wgi
)
select
    source_id,
    indicator_id,
    iso3,
    year,
    value,
    unit,
    edition,
    direction,
    snapshot_sha256
from indicators
