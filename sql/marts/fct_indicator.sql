-- Every open-source indicator in one long table: one row per source, indicator, country, year
-- and edition. Null values are kept: "not assessed" is not zero. Labels, licences and coverage
-- are in marts.dim_indicator.
--
-- Columns:
--   source_id        the source (marts.dim_source)
--   indicator_id     the indicator (marts.dim_indicator)
--   iso3             the country (ISO3, marts.dim_country); rows the harmoniser could not
--                    place on a country stay in raw
--   year             the year the value describes
--   value            the figure, in unit; null when the publisher has none (never 0 for "not
--                    assessed")
--   unit             what the value counts or measures (e.g. score 1-10, per 100,000
--                    population, kg, listed (1/0))
--   scale            how to read it: absolute (counts, quantities), rate (per population),
--                    share, index (a bounded score) or rank
--   edition          the publisher's release the value comes from (e.g. 2023, WDR 2024,
--                    2025-08-12)
--   direction        higher_is_worse, higher_is_better or neutral
--   censored         true when value is a bound, not a figure (UNODC "<5" is value 5,
--                    censored)
--   obs_status       the publisher's flag for the observation, as published (e.g. <5); null
--                    when none
--   snapshot_sha256  the raw payload it was parsed from (audit.source_snapshots.sha256)
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
