-- Prevalence: how pervasive each criminal market is in each non-EU country, per GI-TOC
-- Organized Crime Index edition. One row per country, market and edition year with a
-- market score: score is GI-TOC's 1-10 market score as published; prevalence rescales it
-- to 0-1 ((score - 1) / 9). is_latest_edition marks the country's most recent edition;
-- the earlier editions are kept for trend (intermediate.trend holds the changes).
-- A country GI-TOC did not assess has no row (missing, never zero).
select
    f.iso3,
    m.market,
    f.year,
    f.edition,
    f.value as score,
    (f.value - 1) / 9 as prevalence,
    f.year = max(f.year) over (partition by f.iso3, m.market) as is_latest_edition,
    f.snapshot_sha256
from marts.fct_indicator as f
inner join marts.dim_market as m on f.indicator_id = m.goci_indicator_id
inner join marts.dim_country as c on f.iso3 = c.iso3
where f.source_id = 'goci'
    and f.value is not null
    and not c.is_eu_member
