-- Country profiles: one row per non-EU country, as of the threat matrix's latest year: what
-- the products' regional and country pages print.
--   top_markets     the three highest-scored markets (market, label, score, rank, confidence);
--   max_score, best_rank, markets_scored  across the country's 15 markets;
--   criminality, criminal_markets_score, criminal_actors_score, resilience  GI-TOC
--                   headline scores of the edition (1-10), with criminality_change and
--                   resilience_change since the previous edition;
--   actors          GI-TOC criminal-actor scores (actor, score), highest first;
--   weakest_pillars, wgi_cc, wgi_rl, cpi_score, fatf_list, vulnerability  see
--                   intermediate.vulnerability;
--   seizures, seizure_kg  published member-state seizures entering the EU from or through
--                   the country, summed over its markets (a seizure has one market); a
--                   market whose figure rests on too few states or records adds nothing, so
--                   they are lower bounds; markets_exposed counts markets with an
--                   EU-exposure component, top_exposure_market the highest;
--   markets_worsening, markets_improving  market scores that moved since the last edition.
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
        sum(e.seizures) as seizures,
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
