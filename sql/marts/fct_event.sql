-- Dated events from every event source, in one table (the union of each source's
-- intermediate.<source>_events model; columns in sql/staging/README.md): one row per event.
--
-- fatf.listed_as_of is the membership at the first plenary in the data, not a new listing.
--
-- Columns:
--   event_id         stable, unique id: fatf:<event_type>:<iso3>:<plenary> or
--                    gdelt:<iso3>:<theme>:<YYYY-MM-DD>
--   source_id        the event source: fatf or gdelt (marts.dim_source)
--   event_type       fatf.listed (added to a list), fatf.delisted (off every list),
--                    fatf.list_changed (moved between the call-for-action and
--                    increased-monitoring lists), fatf.listed_as_of (on a list at the first
--                    plenary known), gdelt.news_surge (a day with far more news on a theme
--                    than usual)
--   event_date       the FATF plenary's statement date; the GDELT surge day
--   iso3             the country (ISO3)
--   label            one readable line (the ISO short name; FATF's own spelling stays in
--                    detail)
--   value            FATF: the country's list after the event, 2 call for action, 1 increased
--                    monitoring, 0 none; GDELT: the day's share of the country's news on the
--                    theme over its baseline share (null when the baseline share was 0)
--   detail           JSON text with the evidence: FATF plenary, list, previous_plenary,
--                    previous_list, country_name as published; GDELT theme, articles,
--                    all_articles, share, baseline_share, mad, baseline_days and the rule
--                    applied
--   snapshot_sha256  the raw payload it was read from (audit.source_snapshots.sha256)
select
    event_id,
    source_id,
    event_type,
    event_date,
    iso3,
    label,
    value,
    detail,
    snapshot_sha256
from intermediate.fatf_events
union all by name
select * from intermediate.gdelt_events
