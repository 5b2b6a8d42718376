-- GDELT news-volume surges as events (`gdelt.news_surge`): a day on which a country's press
-- wrote far more than usual on a theme, relative to all the news GDELT monitored.
-- The rule, per country, theme and day d (from staging.gdelt):
--   baseline = median share over the observed days of [d-28, d-1] (d itself excluded);
--   mad      = median |share - baseline| over the same days;
--   a surge when all hold:
--     at least 21 observed baseline days (missing days are not zeros; too thin a baseline
--       gives no verdict),
--     articles >= 10 (a jump from 2 to 7 articles is noise, not news),
--     share >= 3 x baseline (a tripling: the size that matters to an analyst),
--     share > baseline + 6 x 1.4826 x mad (6 robust standard deviations; 1.4826 makes the
--       MAD a standard-deviation estimate for normal noise). Both are needed: with 28
--       days the MAD is itself noisy, and day-to-day noise of small series reaches
--       z = 5-6 or a doubling now and then; together they keep to real jumps.
-- Parameters: window 28 days, min 21 baseline days, min 10 articles, ratio 3, k = 6.
-- event_id gdelt:<iso3>:<theme>:<YYYY-MM-DD>; value = share / baseline (null when the
-- baseline share is 0); detail holds the evidence (counts, share, baseline, MAD).
with days as (
    select iso3, theme, theme_label, date, articles, all_articles, share, snapshot_sha256
    from staging.gdelt
    where share is not null
),

window_days as (
    select day.iso3, day.theme, day.date, past.share as past_share
    from days as day
    inner join days as past
        on past.iso3 = day.iso3
        and past.theme = day.theme
        and past.date between day.date - 28 and day.date - 1
),

baselines as (
    select iso3, theme, date, median(past_share) as baseline, count(*) as baseline_days
    from window_days
    group by iso3, theme, date
),

spreads as (
    select w.iso3, w.theme, w.date, median(abs(w.past_share - b.baseline)) as mad
    from window_days as w
    inner join baselines as b using (iso3, theme, date)
    group by w.iso3, w.theme, w.date
),

scored as (
    select d.*, b.baseline, b.baseline_days, s.mad
    from days as d
    inner join baselines as b using (iso3, theme, date)
    inner join spreads as s using (iso3, theme, date)
)

select
    'gdelt:' || iso3 || ':' || theme || ':' || strftime(date, '%Y-%m-%d') as event_id,
    'gdelt' as source_id,
    'gdelt.news_surge' as event_type,
    date as event_date,
    iso3,
    'News surge on ' || theme_label || ' in ' || iso3 || ' media: '
    || articles || ' articles, '
    || coalesce(printf('%.1f', share / nullif(baseline, 0)) || 'x', 'up from none')
    || ' the usual share' as label,
    share / nullif(baseline, 0) as value,
    to_json({
        'theme': theme,
        'articles': articles,
        'all_articles': all_articles,
        'share': share,
        'baseline_share': baseline,
        'mad': mad,
        'baseline_days': baseline_days,
        'rule': 'share >= 3 x baseline and > baseline + 6 x 1.4826 x MAD, articles >= 10, 28-day window'
    })::varchar as detail,
    snapshot_sha256
from scored
where baseline_days >= 21
    and articles >= 10
    and share >= 3 * baseline
    and share > baseline + 6 * 1.4826 * mad
