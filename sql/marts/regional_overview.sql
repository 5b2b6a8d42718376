-- The regional overview: one row per UN M49 region (of non-EU countries), GI-TOC market and
-- edition year, from marts.threat_matrix and the published exposure figures.
-- countries counts the region's non-EU countries, countries_scored those with a threat
-- score; mean_score, median_score and max_score summarise their scores; top_countries
-- lists the three highest (iso3, score, rank); mean_prevalence, mean_eu_exposure and
-- mean_vulnerability average the components present; worsening and improving count the
-- countries whose market score moved that way since the previous edition; countries_exposed
-- counts those with an EU-exposure component. (Seizure and network counts are not summed
-- here: a seizure counts for its origin and its departure country, a network for every
-- country it is linked to, so a regional sum would count them more than once.)
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
