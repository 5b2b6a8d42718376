-- The regional overview: one row per UN M49 region (of non-EU countries), GI-TOC market and
-- edition year, from marts.threat_matrix and the published exposure figures.
-- countries counts the region's non-EU countries, countries_scored those with a threat
-- score; mean_score, median_score and max_score summarise their scores; top_countries
-- lists the three highest (iso3, score, rank); mean_prevalence, mean_eu_exposure and
-- mean_vulnerability average the components present; worsening and improving count the
-- countries whose market score moved that way since the previous edition.
-- seizures, seizure_kg and networks add up the published figures (intermediate.eu_exposure:
-- a country whose figure is suppressed, resting on too few reporting states or records,
-- adds nothing; countries_suppressed counts them), so they are lower bounds.
select
    c.region,
    t.market,
    t.year,
    count(*) as countries,
    count(t.score) as countries_scored,
    avg(t.score) as mean_score,
    median(t.score) as median_score,
    max(t.score) as max_score,
    coalesce(
        list({'iso3': t.iso3, 'score': t.score, 'rank': t.rank} order by t.score desc, t.iso3)
            filter (where t.score is not null)[1:3],
        []
    ) as top_countries,
    avg(t.prevalence) as mean_prevalence,
    avg(t.eu_exposure) as mean_eu_exposure,
    avg(t.vulnerability) as mean_vulnerability,
    count(*) filter (where t.trend_direction = 'worsening') as worsening,
    count(*) filter (where t.trend_direction = 'improving') as improving,
    sum(e.seizures) as seizures,
    sum(e.seizure_kg) as seizure_kg,
    sum(e.networks) as networks,
    count(*) filter (where e.seizures_suppressed or e.networks_suppressed) as countries_suppressed
from marts.threat_matrix as t
inner join marts.dim_country as c on t.iso3 = c.iso3
inner join intermediate.eu_exposure as e
    on t.iso3 = e.iso3 and t.market = e.market and t.year = e.year
where c.region is not null
group by c.region, t.market, t.year
order by t.year, c.region, t.market
