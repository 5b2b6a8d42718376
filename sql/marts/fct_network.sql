-- Criminal networks assessed by member states, from current drops only: one row per network
-- assessment (a network a state re-assessed in another period's drop has a row in each;
-- marts.network_priority and the exposure models keep the latest). AMBER or higher by
-- construction (drops are AMBER).
--
-- Columns:
--   drop_id                   the drop the assessment came from (audit.drops.drop_id)
--   reporting_state           the member state that sent it, ISO 3166 alpha-2 (e.g. FR)
--   network_ref               the sender's own reference for the network (unique within its
--                             file)
--   assessment_date           the day of the assessment; null when the sender gave none
--   principal_markets         the network's principal criminal markets: a list of GI-TOC
--                             market codes (marts.dim_market)
--   base_iso3                 ISO3 of the country the network is based in
--   countries_active_iso3     ISO3 of the countries it is active in (EU ones included), a list
--                             in the sender's order; null when not reported
--   member_count_band         its size as a band of members: 1-10, 11-50, 51-100, 101-500 or
--                             >500; null when not reported
--   nationalities_iso3        the members' nationalities as ISO3 codes, a list; null when not
--                             reported
--   uses_legal_business       whether it uses legal business structures, as reported; null
--                             when not reported
--   uses_violence             whether it uses violence, as reported; null when not reported
--   uses_corruption           whether it uses corruption, as reported; null when not reported
--   money_laundering_methods  how it launders its proceeds: a list in the sender's words and
--                             language (not normalised); null when not reported
--   threat_level              the sender's own assessment of its threat: low, medium, high or
--                             very_high; null when not reported
--   hvt                       the sender's flag: the network includes a high-value target;
--                             null when not reported
--   period                    the reporting period the sender declared for the drop (e.g.
--                             2025, 2026-Q3): a later drop of the same state, dataset and
--                             period supersedes it
--   synthetic                 true when the drop is synthetic demonstration data
-- incremental: drop_id
select
    drop_id,
    reporting_state,
    network_ref,
    assessment_date,
    principal_markets,
    base_iso3,
    countries_active_iso3,
    member_count_band,
    nationalities_iso3,
    uses_legal_business,
    uses_violence,
    uses_corruption,
    money_laundering_methods,
    threat_level,
    hvt,
    period,
    synthetic
from staging.criminal_networks
