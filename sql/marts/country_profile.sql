-- Country profiles: one row per non-EU country, as of the threat matrix's latest edition year:
-- what the products' regional and country pages print (its highest threats, GI-TOC headline
-- scores, governance measures, published EU exposure and trends).
--
-- Seizure figures are the published ones of intermediate.eu_exposure summed over the country's
-- markets (a seizure has one market): a market whose figure rests on too few states or records
-- adds nothing, so they are lower bounds.
--
-- Columns:
--   iso3                    ISO 3166-1 alpha-3 code of the country (XKX: Kosovo)
--   name                    English short name (marts.dim_country)
--   region                  UN M49 region; null for Antarctica
--   subregion               UN M49 sub-region; null for Antarctica
--   year                    the edition year profiled: the latest year of marts.threat_matrix
--                           (the latest GI-TOC edition)
--   top_markets             the three highest-scored markets of the year, highest first (ties
--                           by market code): a list of {market, label, score (0-1), rank (the
--                           threat_matrix rank among all scored rows of the year),
--                           confidence}; empty when none is scored
--   max_score               highest threat score (0-1) of the country's 15 markets; null when
--                           none is scored
--   best_rank               best (lowest) threat_matrix rank of its markets among all scored
--                           country-market rows of the year; null when none is scored
--   markets_scored          how many of its 15 markets have a threat score (0-15; 0 when
--                           GI-TOC did not assess the country)
--   criminality             GI-TOC criminality score of the edition (goci.criminality, 1-10,
--                           higher = more crime); null when GI-TOC did not assess the country
--   criminality_change      change of criminality since the previous edition, in index points
--                           (intermediate.trend; positive = more crime); null without a
--                           previous edition's score
--   criminal_markets_score  GI-TOC criminal markets score (goci.criminal_markets, 1-10); null
--                           when not assessed
--   criminal_actors_score   GI-TOC criminal actors score (goci.criminal_actors, 1-10); null
--                           when not assessed
--   actors                  GI-TOC scores of each type of criminal actor (goci.actor.*): a
--                           list of {actor (label), score (1-10)}, highest first; empty when
--                           not assessed
--   resilience              GI-TOC resilience score (goci.resilience, 1-10, higher = more
--                           resilient); null when not assessed
--   resilience_change       change of resilience since the previous edition, in index points
--                           (negative = less resilient); null without a previous edition's
--                           score
--   weakest_pillars         the lowest-scored GI-TOC resilience pillars
--                           (vulnerability.weakest_pillars of them, goci.resilience.*): a list
--                           of {indicator_id, pillar (label), score (1-10)}, lowest first;
--                           null when no pillar is scored
--   wgi_cc                  WGI control of corruption estimate (-2.5..2.5, higher = better),
--                           the latest at most vulnerability.max_age_years before year
--                           (intermediate.vulnerability); null when none
--   wgi_rl                  WGI rule of law estimate (-2.5..2.5, higher = better), as recent;
--                           null when none
--   cpi_score               TI Corruption Perceptions Index score (0-100, higher = cleaner),
--                           as recent; null when none
--   fatf_list               the FATF list the country is on in the year: call_for_action,
--                           increased_monitoring or not_listed (null in a year without FATF
--                           data)
--   vulnerability           the vulnerability component (0-1, 1 = most vulnerable): the
--                           weighted mean of the measures present
--                           (intermediate.vulnerability); where no other measure covers a
--                           territory it rests on the FATF status alone (0 when not listed)
--   seizures                published member-state seizures entering the EU with the country
--                           as origin or departure, in the edition's window
--                           (exposure.window_years), summed over its markets: a lower bound;
--                           null when no market has a publishable figure
--   seizure_kg              mass of those seizures in kilograms (seizures with a mass only,
--                           rounded to the gram), summed over the markets whose mass figure is
--                           publishable: a lower bound; null when none is
--   markets_exposed         how many of its markets have an EU-exposure component (any
--                           published evidence, a zero included)
--   top_exposure_market     the market code with the highest EU exposure (ties by code); null
--                           when no market's exposure is above 0
--   markets_worsening       how many of its markets' GI-TOC scores worsened by at least the
--                           stable band (trend.stable_band) since the previous edition
--   markets_improving       how many improved by at least the stable band
with latest as (
    select max(year) as year from marts.threat_matrix
),

matrix as (
    select t.*, m.label
    from marts.threat_matrix as t
    inner join latest as l on t.year = l.year
    inner join marts.dim_market as m on t.market = m.market
),

markets as (
    select
        iso3,
        any_value(year) as year,
        coalesce(
            list({'market': market, 'label': label, 'score': score, 'rank': rank,
                  'confidence': confidence} order by score desc, market)
                filter (where score is not null)[1:3],
            []
        ) as top_markets,
        max(score) as max_score,
        min(rank) as best_rank,
        count(score) as markets_scored,
        count(eu_exposure) as markets_exposed,
        (list(market order by eu_exposure desc, market) filter (where eu_exposure > 0))[1]
            as top_exposure_market,
        count(*) filter (where trend_direction = 'worsening') as markets_worsening,
        count(*) filter (where trend_direction = 'improving') as markets_improving
    from matrix
    group by iso3
),

exposure as (
    select
        e.iso3,
        sum(e.seizures)::bigint as seizures,
        round(sum(e.seizure_kg), 3) as seizure_kg
    from intermediate.eu_exposure as e
    inner join latest as l on e.year = l.year
    group by e.iso3
),

headline as (
    select
        f.iso3,
        max(f.value) filter (where f.indicator_id = 'goci.criminality') as criminality,
        max(f.value) filter (where f.indicator_id = 'goci.criminal_markets')
            as criminal_markets_score,
        max(f.value) filter (where f.indicator_id = 'goci.criminal_actors')
            as criminal_actors_score,
        max(f.value) filter (where f.indicator_id = 'goci.resilience') as resilience,
        coalesce(
            list({'actor': i.label, 'score': f.value} order by f.value desc, i.label)
                filter (where f.indicator_id like 'goci.actor.%'),
            []
        ) as actors
    from marts.fct_indicator as f
    inner join latest as l on f.year = l.year
    inner join marts.dim_indicator as i on f.indicator_id = i.indicator_id
    where f.source_id = 'goci' and f.value is not null
    group by f.iso3
),

changes as (
    select
        t.iso3,
        max(t.change) filter (where t.indicator_id = 'goci.criminality') as criminality_change,
        max(t.change) filter (where t.indicator_id = 'goci.resilience') as resilience_change
    from intermediate.trend as t
    inner join latest as l on t.year = l.year
    where t.indicator_id in ('goci.criminality', 'goci.resilience')
    group by t.iso3
)

select
    c.iso3,
    c.name,
    c.region,
    c.subregion,
    m.year,
    m.top_markets,
    m.max_score,
    m.best_rank,
    m.markets_scored,
    h.criminality,
    ch.criminality_change,
    h.criminal_markets_score,
    h.criminal_actors_score,
    coalesce(h.actors, []) as actors,
    h.resilience,
    ch.resilience_change,
    v.weakest_pillars,
    v.wgi_cc,
    v.wgi_rl,
    v.cpi_score,
    v.fatf_list,
    v.vulnerability,
    x.seizures,
    x.seizure_kg,
    m.markets_exposed,
    m.top_exposure_market,
    m.markets_worsening,
    m.markets_improving
from markets as m
inner join marts.dim_country as c on m.iso3 = c.iso3
left join headline as h on m.iso3 = h.iso3
left join changes as ch on m.iso3 = ch.iso3
left join intermediate.vulnerability as v on m.iso3 = v.iso3 and m.year = v.year
left join exposure as x on m.iso3 = x.iso3
order by c.iso3
