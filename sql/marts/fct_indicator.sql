-- Every open-source indicator in one long table: one row per source, indicator, country,
-- year and edition. `direction` says whether a higher value is worse, better or neither;
-- `scale` how to read it (absolute, rate, index, rank); `censored` marks a value that is a
-- bound ("<5"), not a figure; `edition` is the publisher's release the value comes from;
-- `snapshot_sha256` points at the raw payload in audit.source_snapshots. Null values are
-- kept: "not assessed" is not zero. Labels and licences are in marts.dim_indicator.
select
    source_id,
    indicator_id,
    iso3,
    year,
    value,
    unit,
    scale,
    edition,
    direction,
    censored,
    obs_status,
    snapshot_sha256
from intermediate.indicator_values
