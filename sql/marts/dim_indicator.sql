-- The indicator catalogue: one row per indicator id in marts.fct_indicator, with its label,
-- source, unit, scale, direction, the licence the source's data come under, and its coverage.
--
-- A source's licence is its registry entry's (assets/sources/<source_id>.yaml): show it
-- wherever the figures are shown. Label, unit, scale and direction are the latest edition's;
-- coverage counts every row, null values included.
--
-- Columns:
--   indicator_id    stable indicator id, <family>.<what> in lower_snake_case parts (e.g.
--                   cpi.score, wgi.cc.estimate, goci.market.cocaine_trade)
--   label           readable name, as the latest edition gives it
--   source_id       the source it comes from (marts.dim_source)
--   source_title    the source's title, as registered
--   publisher       the source's publisher, as registered
--   unit            what a value counts or measures (e.g. score 1-10, estimate -2.5..2.5, per
--                   100,000 population, kg)
--   scale           how to read a value: absolute (counts, quantities), rate (per population),
--                   share, index (a bounded score) or rank
--   direction       higher_is_worse, higher_is_better or neutral (more seizures may mean more
--                   trafficking or better enforcement)
--   licence         the source's reuse terms as registered: cite them with the figures
--   countries       number of distinct countries with a row for the indicator, any year or
--                   edition (the row's value may be null)
--   first_year      earliest year a row describes, any edition
--   last_year       latest year a row describes, any edition
--   latest_edition  the highest edition label among its rows, compared as text (e.g. 2025, WDR
--                   2024)
select
    v.indicator_id,
    any_value(v.indicator_label order by v.edition desc) as label,
    v.source_id,
    s.title as source_title,
    s.publisher,
    any_value(v.unit order by v.edition desc) as unit,
    any_value(v.scale order by v.edition desc) as scale,
    any_value(v.direction order by v.edition desc) as direction,
    s.licence,
    count(distinct v.iso3) as countries,
    min(v.year) as first_year,
    max(v.year) as last_year,
    max(v.edition) as latest_edition
from intermediate.indicator_values as v
join raw.source_registry as s on s.source_id = v.source_id
group by v.indicator_id, v.source_id, s.title, s.publisher, s.licence
order by v.source_id, v.indicator_id
