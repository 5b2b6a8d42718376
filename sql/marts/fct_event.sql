-- Dated events from every event source, in one table (the union of each source's
-- intermediate.<source>_events model; columns in sql/staging/README.md): event_id (stable,
-- unique), source_id, event_type (fatf.listed, fatf.delisted, fatf.list_changed,
-- fatf.listed_as_of, ...), event_date, iso3, label (one readable line), value, detail (JSON
-- text with the evidence) and snapshot_sha256 (the raw payload, audit.source_snapshots).
-- fatf.listed_as_of is the membership at the first plenary in the data, not a new listing.
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
