-- GDELT DOC 2.0 news volume: one row per country of publication (iso3), theme and UTC day,
-- with the matching articles (`articles`, GDELT's `value`), all articles GDELT monitored
-- that day (`all_articles`, GDELT's `norm`, the denominator of its TimelineVol percentage)
-- and `share` = articles / all_articles (null when GDELT monitored nothing that day).
-- Days GDELT did not report stay absent, never 0. Not country-year figures: feeds
-- intermediate.gdelt_events, not fct_indicator.
select
    iso3,
    theme,
    theme_label,
    cast(date as date) as date,
    cast(articles as bigint) as articles,
    cast(all_articles as bigint) as all_articles,
    cast(articles as double) / nullif(all_articles, 0) as share,
    fips,
    query,
    snapshot_sha256
from raw.gdelt
where country_match = 'country'
