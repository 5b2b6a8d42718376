-- The threat methodology in force (assets/methodology.yaml): one row per weight, threshold
-- or crosswalk the analytic models read, for the method annex and for analysts re-running a
-- model's SQL (set each as a DuckDB variable: SET VARIABLE "<parameter>" = <value>).
-- parameter is the dotted name a model reads with getvariable(); section its first part;
-- value_json the value as JSON; about what it is for; methodology_version, title and
-- effective date identify the file, and every product cites them.
select
    parameter,
    section,
    value_json,
    about,
    methodology_version,
    methodology_title,
    effective
from raw.methodology
order by parameter
