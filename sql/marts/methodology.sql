-- The threat methodology in force (assets/methodology.yaml): one row per weight, threshold or
-- crosswalk the analytic models read, for the method annex and for analysts re-running a
-- model's SQL (set each as a DuckDB variable: SET VARIABLE "<parameter>" = <value>).
--
-- Columns:
--   parameter            the dotted name a model reads with getvariable() (e.g.
--                        threat_score.weights.prevalence)
--   section              its first part: threat_score, exposure, vulnerability, trend,
--                        network_priority, early_warning, sensitivity or suppression
--   value_json           its value as JSON text: a number, or a list of objects for
--                        crosswalks, bands and grades
--   about                what it is for, as the methodology file says
--   methodology_version  the file's version (e.g. 2026.1): every product cites it
--   methodology_title    the file's title (GLOCA threat methodology)
--   effective            the date the version took effect (YYYY-MM-DD, as text)
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
