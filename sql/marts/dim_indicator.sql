-- The indicator catalogue: one row per indicator id in marts.fct_indicator, with its label,
-- source, unit, scale, direction, the licence the source's data come under, and its
-- coverage (countries, years, latest edition). A source's licence is its registry entry's
-- (assets/sources/<source_id>.yaml): show it wherever the figures are shown.
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
