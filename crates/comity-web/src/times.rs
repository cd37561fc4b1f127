//! Times as people read them: "3 minutes ago", "in 2 days", and dates in the
//! reader's language ("7 décembre 2026", "2026年12月7日"), never a raw
//! RFC 3339 string. Rendered on the server in the request's language, so the
//! pages still need no JavaScript; the exact instant stays in each
//! `<time datetime=...>` element and, readable, in its `title` (shown on
//! hover). `/static/times.js`, when the browser runs it, rewrites that title
//! into the reader's own time zone.
//!
//! The words come from the Fluent catalogues (`time-*`, `month-*`,
//! `date-*`), whose plural rules are CLDR's, so Arabic and Russian get their
//! plural forms. No crate formats dates per locale without ICU data many
//! times this crate's size; a month table per language is all it takes.

use crate::i18n::Lang;
use comity_core::dates;
use time::{Date, OffsetDateTime, UtcOffset};

const MINUTE: i128 = 60;
const HOUR: i128 = 60 * MINUTE;
const DAY: i128 = 24 * HOUR;
const MONTH: i128 = 30 * DAY;
const YEAR: i128 = 365 * DAY;

/// How far `t` is from `now`, in the reader's words: "just now" within a
/// minute, then minutes, hours, days, months (of 30 days) and years, whole
/// units rounded down.
pub fn relative(lang: Lang, now: OffsetDateTime, t: OffsetDateTime) -> String {
    // i128: any two instants `time` can hold differ by far less.
    let diff = i128::from(t.unix_timestamp()) - i128::from(now.unix_timestamp());
    let future = diff > 0;
    let secs = diff.abs();
    let (unit, count) = match secs {
        s if s < MINUTE => return lang.t("time-now"),
        s if s < HOUR => ("minutes", s / MINUTE),
        s if s < DAY => ("hours", s / HOUR),
        s if s < MONTH => ("days", s / DAY),
        s if s < YEAR => ("months", s / MONTH),
        s => ("years", s / YEAR),
    };
    let key = if future {
        format!("time-in-{unit}")
    } else {
        format!("time-ago-{unit}")
    };
    lang.tn(&key, i64::try_from(count).unwrap_or(i64::MAX))
}

/// A calendar day in the reader's language: "7 December 2026",
/// "7 декабря 2026 г.", "2026年12月7日".
pub fn day(lang: Lang, date: Date) -> String {
    let month = lang.t(&format!("month-{}", u8::from(date.month())));
    lang.ta(
        "date-day",
        &[
            ("day", date.day().to_string()),
            ("month", month),
            ("year", date.year().to_string()),
        ],
    )
}

/// An instant, exactly, in UTC, in the reader's language:
/// "7 December 2026, 05:12:30 UTC".
pub fn exact(lang: Lang, t: OffsetDateTime) -> String {
    let t = dates::in_utc(t);
    let (h, m, s) = t.time().as_hms();
    lang.ta(
        "date-time",
        &[
            ("date", day(lang, t.date())),
            ("time", format!("{h:02}:{m:02}:{s:02}")),
        ],
    )
}

/// A day as a deadline or closing date names it, in its zone:
/// "30 June 2099 (AoE)", "30 juin 2099 (+02:00)".
pub fn day_in_zone(lang: Lang, date: Date, zone: Option<UtcOffset>) -> String {
    let zone = match zone {
        None => "AoE".to_string(),
        Some(z) if z.is_utc() => "UTC".to_string(),
        Some(z) => {
            let (h, m, _) = z.as_hms();
            let sign = if z.is_negative() { '-' } else { '+' };
            format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
        }
    };
    format!("{} ({zone})", day(lang, date))
}

/// An opening or closing instant as people wrote it: the day
/// (Anywhere-on-Earth) when it is the first or last second of one, as
/// [`dates::parse_start`] and [`dates::parse_end`] read a date; else the
/// exact instant.
pub fn day_or_exact(lang: Lang, t: OffsetDateTime) -> String {
    if let Some(aoe) = t.checked_to_offset(dates::AOE) {
        let (h, m, s) = aoe.time().as_hms();
        if (h, m, s) == (23, 59, 59) || (h, m, s) == (0, 0, 0) {
            return day_in_zone(lang, aoe.date(), None);
        }
    }
    exact(lang, t)
}

/// The `datetime` attribute of a `<time>`: RFC 3339 in UTC, to the second.
pub fn machine(t: OffsetDateTime) -> String {
    dates::format_timestamp(&dates::to_timestamp(dates::in_utc(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::{Duration, macros::datetime};

    const NOW: OffsetDateTime = datetime!(2026-12-07 05:15 UTC);

    #[test]
    fn relative_times_in_each_language() {
        let ago = |d: Duration| relative(Lang::En, NOW, NOW - d);
        assert_eq!(ago(Duration::seconds(20)), "just now");
        assert_eq!(ago(Duration::minutes(1)), "1 minute ago");
        assert_eq!(ago(Duration::minutes(3)), "3 minutes ago");
        assert_eq!(ago(Duration::hours(5)), "5 hours ago");
        assert_eq!(ago(Duration::days(40)), "1 month ago");
        assert_eq!(ago(Duration::days(800)), "2 years ago");
        assert_eq!(
            relative(Lang::En, NOW, NOW + Duration::days(2)),
            "in 2 days"
        );
        assert_eq!(
            relative(Lang::Fr, NOW, NOW - Duration::minutes(3)),
            "il y a 3 minutes"
        );
        assert_eq!(
            relative(Lang::Es, NOW, NOW + Duration::days(2)),
            "dentro de 2 días"
        );
        assert_eq!(relative(Lang::Zh, NOW, NOW - Duration::hours(5)), "5小时前");
        // Russian: one, few and many.
        let ru = |n| relative(Lang::Ru, NOW, NOW - Duration::minutes(n));
        assert_eq!(ru(1), "1 минуту назад");
        assert_eq!(ru(3), "3 минуты назад");
        assert_eq!(ru(5), "5 минут назад");
        assert_eq!(ru(21), "21 минуту назад");
        // Arabic: its own words for one and two, then few and many.
        let ar = |n| relative(Lang::Ar, NOW, NOW + Duration::days(n));
        assert_eq!(ar(1), "بعد يوم واحد");
        assert_eq!(ar(2), "بعد يومين");
        assert_eq!(ar(3), "بعد 3 أيام");
        assert_eq!(ar(11), "بعد 11 يومًا");
    }

    #[test]
    fn dates_in_each_language() {
        let d = datetime!(2026-12-07 05:12:46.591069331 UTC);
        assert_eq!(exact(Lang::En, d), "7 December 2026, 05:12:46 UTC");
        assert_eq!(exact(Lang::Fr, d), "7 décembre 2026 à 05:12:46 UTC");
        assert_eq!(day(Lang::Es, d.date()), "7 de diciembre de 2026");
        assert_eq!(day(Lang::Ru, d.date()), "7 декабря 2026 г.");
        assert_eq!(day(Lang::Zh, d.date()), "2026年12月7日");
        assert_eq!(day(Lang::Ar, d.date()), "7 ديسمبر 2026");
        assert_eq!(machine(d), "2026-12-07T05:12:46Z");
    }

    #[test]
    fn days_keep_their_zone() {
        let closes = dates::parse_end("2099-06-30").unwrap();
        assert_eq!(day_or_exact(Lang::En, closes), "30 June 2099 (AoE)");
        let opens = dates::parse_start("2099-06-01").unwrap();
        assert_eq!(day_or_exact(Lang::Fr, opens), "1 juin 2099 (AoE)");
        let at = datetime!(2099-06-30 17:00 UTC);
        assert_eq!(day_or_exact(Lang::En, at), "30 June 2099, 17:00:00 UTC");
        let date = datetime!(2027-02-28 0:00 UTC).date();
        let zone = UtcOffset::from_hms(2, 0, 0).ok();
        assert_eq!(
            day_in_zone(Lang::En, date, zone),
            "28 February 2027 (+02:00)"
        );
    }

    #[test]
    fn the_ends_of_the_calendar_do_not_panic() {
        for t in [
            time::PrimitiveDateTime::MIN.assume_utc(),
            time::PrimitiveDateTime::MAX.assume_utc(),
        ] {
            for lang in Lang::ALL {
                assert!(!relative(lang, NOW, t).is_empty());
                assert!(!exact(lang, t).is_empty());
                assert!(!day_or_exact(lang, t).is_empty());
            }
        }
    }
}
