-- Every open-source indicator value in one long table, with its label: the canonical
-- columns each indicator source's staging model produces (see sql/staging/README.md).
-- marts.fct_indicator is the public face of this table; marts.dim_indicator its catalogue.
select 'goci' as source_id, * from staging.goci
union all by name
select 'wgi' as source_id, * from staging.wgi
