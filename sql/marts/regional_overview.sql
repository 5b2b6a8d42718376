-- The regional overview: one row per UN M49 region (of non-EU countries), GI-TOC market and
-- edition year, from marts.threat_matrix (its published EU-exposure component included).
-- Countries without a region (Antarctica) are left out.
--
-- (Seizure and network counts are not summed here: a seizure counts for its origin and its
-- departure country, a network for every country it is linked to, so a regional sum would
-- count them more than once.)
--
-- Columns:
--   region              UN M49 region: Africa, Americas, Asia, Europe or Oceania
--   market              GI-TOC market code (marts.dim_market)
--   year                GI-TOC edition year
--   countries           the region's non-EU countries (threat_matrix rows)
--   countries_scored    how many of them have a threat score
--   mean_score          mean threat score (0-1) of the scored countries; null when none is
--                       scored
--   median_score        median threat score of the scored countries; null when none
--   max_score           highest threat score; null when none
--   top_countries       the three highest-scored countries, highest first (ties by iso3): a
--                       list of {iso3, score, rank (the threat_matrix rank of the year)};
--                       empty when none is scored
--   mean_prevalence     mean prevalence component (0-1) of the countries that have one; null
--                       when none has
--   mean_eu_exposure    mean EU-exposure component (0-1) of the countries that have one; null
--                       when none has
--   mean_vulnerability  mean vulnerability component (0-1) of the countries that have one,
--                       scored or not (a territory's may rest on its FATF status alone)
--   worsening           countries whose market score worsened by at least the stable band
--                       since the previous edition
--   improving           countries whose market score improved by at least the stable band
--   countries_exposed   countries with an EU-exposure component (any published evidence, a
--                       zero included)
select
    c.region,
    t.market,
    t.year,
    count(*) as countries,
    count(t.score) as countries_scored,
    list_avg(list(t.score order by t.iso3)) as mean_score,
    median(t.score) as median_score,
    max(t.score) as max_score,
    coalesce(
        list({'iso3': t.iso3, 'score': t.score, 'rank': t.rank} order by t.score desc, t.iso3)
            filter (where t.score is not null)[1:3],
        []
    ) as top_countries,
    list_avg(list(t.prevalence order by t.iso3)) as mean_prevalence,
    list_avg(list(t.eu_exposure order by t.iso3)) as mean_eu_exposure,
    list_avg(list(t.vulnerability order by t.iso3)) as mean_vulnerability,
    count(*) filter (where t.trend_direction = 'worsening') as worsening,
    count(*) filter (where t.trend_direction = 'improving') as improving,
    count(t.eu_exposure) as countries_exposed
from marts.threat_matrix as t
inner join marts.dim_country as c on t.iso3 = c.iso3
where c.region is not null
group by c.region, t.market, t.year
order by t.year, c.region, t.market
