-- Every open-source indicator value in one long table, with its label: the canonical
-- columns each indicator source's staging model produces (see sql/staging/README.md).
-- marts.fct_indicator is the public face of this table; marts.dim_indicator its catalogue.
select 'goci' as source_id, * from staging.goci
union all by name
select 'wgi' as source_id, * from staging.wgi
union all by name
select 'cpi' as source_id, * from staging.cpi
union all by name
select 'eurostat' as source_id, * from staging.eurostat
union all by name
select 'fatf' as source_id, * from staging.fatf
union all by name
select 'unodc_drug_seizures' as source_id, * from staging.unodc_drug_seizures
union all by name
select 'unodc_homicide' as source_id, * from staging.unodc_homicide
union all by name
select 'unodc_trafficking_persons' as source_id, * from staging.unodc_trafficking_persons
union all by name
select 'unodc_firearms' as source_id, * from staging.unodc_firearms
union all by name
select 'unodc_economic_crime' as source_id, * from staging.unodc_economic_crime
