//! Dates as people write them. A calendar date names a whole day in
//! Anywhere-on-Earth time (UTC-12), as IETF and ITU deadlines do: a deadline
//! of 2027-03-31 has passed only once 31 March has ended everywhere on Earth.

use time::{Date, Duration, OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error(
        "invalid date {0:?}: write YYYY-MM-DD (a day, Anywhere-on-Earth) or an RFC 3339 time such as 2027-03-31T17:00:00+02:00"
    )]
    Invalid(String),
    #[error("date {0:?} is out of range: give a year from {FIRST_YEAR} to {LAST_YEAR}")]
    OutOfRange(String),
    #[error(
        "zone {0:?} is out of range: give an offset from -12:00 to +14:00, or none for Anywhere-on-Earth"
    )]
    ZoneOutOfRange(String),
}

/// The years a document may name. Protobuf's `Timestamp` starts at year 1;
/// the last thousand years of the calendar `time` can represent (to 9999)
/// are left out, so that no zone or period added to an accepted date can
/// leave it. Documents are signed by other organisations: without a bound,
/// one at the end of the calendar could make every view of it fail.
pub const FIRST_YEAR: i32 = 1;
pub const LAST_YEAR: i32 = 8999;

/// The first and last instants a document may name.
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(0001-01-01 0:00 UTC);
pub const LATEST: OffsetDateTime = time::macros::datetime!(8999-12-31 23:59:59.999_999_999 UTC);

/// The zones a deadline may be given in: those in use on Earth, UTC-12 to UTC+14.
const WESTMOST: UtcOffset = AOE;
const EASTMOST: UtcOffset = match UtcOffset::from_hms(14, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("UTC+14 is a valid offset"),
};

/// Whether `t` is a well-formed timestamp (nanoseconds 0 to 999,999,999) from
/// [`EARLIEST`] to [`LATEST`].
pub fn in_range(t: &prost_types::Timestamp) -> bool {
    (0..1_000_000_000).contains(&t.nanos)
        && (EARLIEST.unix_timestamp()..=LATEST.unix_timestamp()).contains(&t.seconds)
}

fn check_instant(t: OffsetDateTime, text: &str) -> Result<OffsetDateTime, DateError> {
    if (EARLIEST..=LATEST).contains(&t) {
        Ok(t)
    } else {
        Err(DateError::OutOfRange(text.to_owned()))
    }
}

fn check_day(day: Date, text: &str) -> Result<Date, DateError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&day.year()) {
        Ok(day)
    } else {
        Err(DateError::OutOfRange(text.to_owned()))
    }
}

/// Anywhere-on-Earth: UTC-12, where a calendar day ends last.
pub const AOE: UtcOffset = match UtcOffset::from_hms(-12, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("UTC-12 is a valid offset"),
};

fn parse_day(text: &str) -> Option<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The first instant of the named day (Anywhere-on-Earth), or the instant given.
pub fn parse_start(text: &str) -> Result<OffsetDateTime, DateError> {
    let text = text.trim();
    if let Some(day) = parse_day(text) {
        return Ok(check_day(day, text)?.midnight().assume_offset(AOE));
    }
    let t =
        OffsetDateTime::parse(text, &Rfc3339).map_err(|_| DateError::Invalid(text.to_owned()))?;
    check_instant(t, text)
}

/// The last instant of the named day (Anywhere-on-Earth), or the instant given.
pub fn parse_end(text: &str) -> Result<OffsetDateTime, DateError> {
    let text = text.trim();
    if let Some(day) = parse_day(text) {
        let next = check_day(day, text)?
            .next_day()
            .ok_or_else(|| DateError::OutOfRange(text.to_owned()))?;
        return next
            .midnight()
            .assume_offset(AOE)
            .checked_sub(Duration::seconds(1))
            .ok_or_else(|| DateError::OutOfRange(text.to_owned()));
    }
    let t =
        OffsetDateTime::parse(text, &Rfc3339).map_err(|_| DateError::Invalid(text.to_owned()))?;
    check_instant(t, text)
}

/// `t` in `offset`, or, when that falls outside the calendar `time` can
/// represent (years -9999 to 9999), the calendar's nearest end in that offset.
/// Dates written by other organisations reach here; none may panic a view.
pub fn in_offset(t: OffsetDateTime, offset: UtcOffset) -> OffsetDateTime {
    t.checked_to_offset(offset).unwrap_or_else(|| {
        let end = if t.unix_timestamp() > 0 {
            time::PrimitiveDateTime::MAX
        } else {
            time::PrimitiveDateTime::MIN
        };
        end.assume_offset(offset)
    })
}

/// [`in_offset`] UTC.
pub fn in_utc(t: OffsetDateTime) -> OffsetDateTime {
    in_offset(t, UtcOffset::UTC)
}

pub fn to_timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()?
        .checked_add(Duration::nanoseconds(i64::from(t.nanos)))
}

/// RFC 3339 in UTC, to the second, for display and JSON.
pub fn format_timestamp(t: &prost_types::Timestamp) -> String {
    from_timestamp(t)
        .and_then(|d| d.replace_nanosecond(0).ok())
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An opening or closing instant as people wrote it: "2027-01-11 (AoE)" when
/// it is the first or last second of a day Anywhere-on-Earth (how
/// [`parse_start`] and [`parse_end`] read a date), else RFC 3339 in UTC.
pub fn format_day_or_time(t: &prost_types::Timestamp) -> String {
    let Some(aoe) = from_timestamp(t).and_then(|t| t.checked_to_offset(AOE)) else {
        return format_timestamp(t);
    };
    let (h, m, s) = aoe.time().as_hms();
    if (h, m, s) == (23, 59, 59) || (h, m, s) == (0, 0, 0) {
        format!("{} (AoE)", aoe.date())
    } else {
        format_timestamp(t)
    }
}

/// A deadline as people write it: a calendar day, in a zone or
/// Anywhere-on-Earth. It has passed once that day has ended in that zone, so
/// "2017-09-30" (AoE) runs until 2017-10-01T12:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub date: Date,
    /// `None` = Anywhere-on-Earth (UTC-12).
    pub zone: Option<UtcOffset>,
}

impl Deadline {
    /// Parses a date (`YYYY-MM-DD`) and a zone (empty = Anywhere-on-Earth, else
    /// an RFC 3339 offset such as `+02:00` or `Z`).
    /// The date's year must be [`FIRST_YEAR`] to [`LAST_YEAR`], and the zone
    /// one in use on Earth (UTC-12 to UTC+14).
    pub fn parse(date: &str, zone: &str) -> Result<Self, DateError> {
        let date_text = date.trim();
        let day = parse_day(date_text).ok_or_else(|| DateError::Invalid(date_text.to_owned()))?;
        let day = check_day(day, date_text)?;
        let zone_text = zone.trim();
        let zone = parse_zone(zone_text).ok_or_else(|| DateError::Invalid(zone_text.to_owned()))?;
        let on_earth = WESTMOST.whole_seconds()..=EASTMOST.whole_seconds();
        if zone.is_some_and(|z| !on_earth.contains(&z.whole_seconds())) {
            return Err(DateError::ZoneOutOfRange(zone_text.to_owned()));
        }
        Ok(Self { date: day, zone })
    }

    /// From the wire form.
    pub fn from_proto(deadline: &crate::proto::Deadline) -> Result<Self, DateError> {
        Self::parse(&deadline.date, &deadline.zone)
    }

    /// The wire form.
    pub fn to_proto(&self) -> crate::proto::Deadline {
        crate::proto::Deadline {
            date: self.date.to_string(),
            zone: self.zone.map(format_zone).unwrap_or_default(),
        }
    }

    /// The offset the day is counted in: the zone given, or UTC-12.
    pub fn offset(&self) -> UtcOffset {
        self.zone.unwrap_or(AOE)
    }

    /// The instant the deadline ends: midnight after the named day, in its zone.
    /// From this instant on, it has passed.
    pub fn ends_at(&self) -> OffsetDateTime {
        match self.date.next_day() {
            Some(next) => next.midnight().assume_offset(self.offset()),
            // Unreachable through `parse`, which refuses the calendar's last years.
            None => self
                .date
                .with_hms(23, 59, 59)
                .unwrap_or_else(|_| self.date.midnight())
                .assume_offset(self.offset()),
        }
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        now >= self.ends_at()
    }

    /// Whole calendar days from `now`'s date to the deadline's date, both
    /// counted in the deadline's zone: 0 on the day itself, negative after.
    /// Datatracker reminds at 14, 7, 4, 3, 2, 1 and 0 days.
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.date - in_offset(now, self.offset()).date()).whole_days()
    }
}

impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.zone {
            None => write!(f, "{} (AoE)", self.date),
            Some(zone) => write!(f, "{} ({})", self.date, format_zone(zone)),
        }
    }
}

/// Whether `deadline` has passed at `now`. `now` is a parameter: the clock
/// belongs to the caller, so tests can move time.
pub fn is_overdue(deadline: &Deadline, now: OffsetDateTime) -> bool {
    deadline.is_overdue(now)
}

/// `""` is Anywhere-on-Earth (`Some(None)`); `Z` or `±HH:MM` an offset.
fn parse_zone(text: &str) -> Option<Option<UtcOffset>> {
    if text.is_empty() {
        return Some(None);
    }
    if text == "Z" || text == "z" {
        return Some(Some(UtcOffset::UTC));
    }
    UtcOffset::parse(
        text,
        time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
    )
    .ok()
    .filter(|_| text.len() == 6)
    .map(Some)
}

fn format_zone(zone: UtcOffset) -> String {
    let (h, m, _) = zone.as_hms();
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_day_ends_anywhere_on_earth() {
        let end = parse_end("2027-03-31").unwrap();
        assert_eq!(
            end.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap(),
            "2027-04-01T11:59:59Z"
        );
        let start = parse_start("2027-03-31").unwrap();
        assert_eq!(
            start.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap(),
            "2027-03-31T12:00:00Z"
        );
    }

    #[test]
    fn the_ends_of_the_calendar_are_errors_not_panics() {
        // Found by fuzzing (fuzz/regressions/document_validate).
        assert!(parse_end("9999-12-31").is_err());
        assert!(Deadline::parse("9999-12-31", "").is_err());
        // Issue 10, item 3: the calendar's last years and zones not on Earth
        // are refused, by name.
        assert_eq!(
            Deadline::parse("9999-12-30", "-25:59"),
            Err(DateError::OutOfRange("9999-12-30".into()))
        );
        assert_eq!(
            Deadline::parse("2027-03-31", "-25:59"),
            Err(DateError::ZoneOutOfRange("-25:59".into()))
        );
        assert!(Deadline::parse("2027-03-31", "+14:00").is_ok());
        assert!(Deadline::parse("2027-03-31", "-12:00").is_ok());
        assert!(Deadline::parse("2027-03-31", "+14:01").is_err());
        assert!(Deadline::parse("8999-12-31", "+14:00").is_ok());
        assert_eq!(
            parse_start("-9999-01-01T00:00:00Z"),
            Err(DateError::Invalid("-9999-01-01T00:00:00Z".into()))
        );
        assert_eq!(
            parse_end("9000-01-01"),
            Err(DateError::OutOfRange("9000-01-01".into()))
        );
        assert!(parse_end("8999-12-31").is_ok());
        assert!(in_range(&to_timestamp(LATEST)));
        assert!(in_range(&to_timestamp(EARLIEST)));
        assert!(!in_range(&prost_types::Timestamp {
            seconds: LATEST.unix_timestamp() + 1,
            nanos: 0
        }));
        assert!(!in_range(&prost_types::Timestamp {
            seconds: 0,
            nanos: -1
        }));
        // Whatever the instant, a view of it is total.
        let last = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(in_offset(last, AOE), last.to_offset(AOE));
        let past_the_end = time::PrimitiveDateTime::MAX.assume_offset(AOE);
        assert_eq!(in_utc(past_the_end), last);
        let far = prost_types::Timestamp {
            seconds: 253_402_300_799,
            nanos: 2_000_000_000,
        };
        assert_eq!(from_timestamp(&far), None);
        assert_eq!(format_day_or_time(&far), "");
        let early = prost_types::Timestamp {
            seconds: -377_705_116_800,
            nanos: -1,
        };
        assert_eq!(from_timestamp(&early), None);
    }

    #[test]
    fn days_are_shown_as_written() {
        let end = to_timestamp(parse_end("2027-03-31").unwrap());
        assert_eq!(format_day_or_time(&end), "2027-03-31 (AoE)");
        let start = to_timestamp(parse_start("2027-03-01").unwrap());
        assert_eq!(format_day_or_time(&start), "2027-03-01 (AoE)");
        let instant = to_timestamp(parse_end("2027-03-31T17:00:00+02:00").unwrap());
        assert_eq!(format_day_or_time(&instant), "2027-03-31T15:00:00Z");
    }

    #[test]
    fn explicit_zones_are_kept() {
        let t = parse_end("2027-03-31T17:00:00+02:00").unwrap();
        assert_eq!(
            t.unix_timestamp(),
            parse_end("2027-03-31T15:00:00Z").unwrap().unix_timestamp()
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        for text in ["", "2027-02-30", "31/03/2027", "tomorrow", "2027-13-01"] {
            assert!(parse_end(text).is_err(), "{text:?}");
        }
    }
}
