-- The market taxonomy: the 15 GI-TOC criminal markets, each cross-walked to the EMPACT
-- 2026-2029 priority and the EU-SOCTA 2025 key threat it falls under
-- (assets/reference/markets.csv, with the reasoning in markets.md).
select *
from raw.market_reference
order by market
