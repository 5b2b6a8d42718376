-- The market taxonomy: one row per GI-TOC criminal market (the 15 of the Organized Crime
-- Index), each cross-walked to the EMPACT 2026-2029 priority and the EU-SOCTA 2025 key threat
-- it falls under (assets/reference/markets.csv, with the reasoning in markets.md). Every
-- column is text, as in the file.
--
-- Columns:
--   market                 stable market code, the suffix of its GOCI indicator id (e.g.
--                          cocaine_trade): the market of every market-level table
--   label                  GI-TOC's name for the market (2025 workbook)
--   goci_indicator_id      its GOCI market score in marts.fct_indicator: goci.market.<market>
--   category               GI-TOC's grouping: people, trade, environment, drugs, cyber or
--                          financial
--   empact_priority        code of the EMPACT 2026-2029 priority it falls under (e.g.
--                          drug_trafficking)
--   empact_priority_label  that priority's wording
--   socta_threat           code of the EU-SOCTA 2025 threat it falls under (e.g.
--                          drug_trafficking)
--   socta_threat_label     that threat's wording
--   socta_key_threat       'true' when that threat is one of the seven key threats EU-SOCTA
--                          2025 highlights, else 'false' (text, not boolean)
--   mapping_basis          explicit (the EU text names the market) or judgement (the mapping
--                          is ours, reasons in markets.md)
--   aliases                ';'-separated short forms and translations member-state files use
--                          for the market, to map drop rows to it
select *
from raw.market_reference
order by market
