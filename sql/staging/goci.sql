-- GI-TOC Global Organized Crime Index: one row per country, edition and indicator, 1-10.
-- Criminality pillars (markets, actors) read higher = worse; resilience reads higher = better.
-- Indicators an edition did not assess (the 2021 edition lacks six) stay null, never zero.
-- Only rows placed on an ISO 3166 country; the rest stay visible in raw.goci.
select
    edition,
    cast(edition as integer) as year,
    iso3,
    indicator_id,
    indicator_label,
    pillar,
    cast(value as double) as value,
    'score 1-10' as unit,
    'index' as scale,
    case when pillar = 'resilience' then 'higher_is_better' else 'higher_is_worse' end as direction,
    false as censored,
    cast(null as varchar) as obs_status,
    snapshot_sha256
from raw.goci
where country_match = 'country'
