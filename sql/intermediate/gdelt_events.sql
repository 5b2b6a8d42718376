-- GDELT news-volume surges as events (`gdelt.news_surge`): a day on which a country's press
-- wrote far more than usual on a theme, relative to all the news GDELT monitored.
-- The rule, per country, theme and day d (from staging.gdelt), with its parameters under
-- early_warning.news_surge in the methodology file:
--   baseline = median share over the observed days of [d - window_days, d - 1] (d itself
--              excluded); mad = median |share - baseline| over the same days;
--   a surge when all hold:
--     at least min_baseline_days observed baseline days (missing days are not zeros; too
--       thin a baseline gives no verdict),
--     articles >= min_articles (a jump from 2 to 7 articles is noise, not news),
--     share >= min_ratio x baseline (the size that matters to an analyst),
--     share > baseline + robust_z x 1.4826 x mad (1.4826 makes the MAD a standard-deviation
--       estimate for normal noise). Both are needed: with four weeks the MAD is itself
--       noisy, and day-to-day noise of small series reaches z = 5-6 or a doubling now and
--       then; together they keep to real jumps.
-- event_id gdelt:<iso3>:<theme>:<YYYY-MM-DD>; value = share / baseline (null when the
-- baseline share is 0); detail holds the evidence (counts, share, baseline, MAD, the rule).
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
        and past.date between day.date - getvariable('early_warning.news_surge.window_days')
            and day.date - 1
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
        'rule': printf(
            'share >= %g x baseline and > baseline + %g x 1.4826 x MAD, articles >= %d, '
            || '%d-day window of at least %d days',
            getvariable('early_warning.news_surge.min_ratio'),
            getvariable('early_warning.news_surge.robust_z'),
            getvariable('early_warning.news_surge.min_articles'),
            getvariable('early_warning.news_surge.window_days'),
            getvariable('early_warning.news_surge.min_baseline_days')
        )
    })::varchar as detail,
    snapshot_sha256
from scored
where baseline_days >= getvariable('early_warning.news_surge.min_baseline_days')
    and articles >= getvariable('early_warning.news_surge.min_articles')
    and share >= getvariable('early_warning.news_surge.min_ratio') * baseline
    and share > baseline + getvariable('early_warning.news_surge.robust_z') * 1.4826 * mad
