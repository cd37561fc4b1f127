//! Dates as people write them. A calendar date names a whole day in
//! Anywhere-on-Earth time (UTC-12), as IETF and ITU deadlines do: a deadline
//! of 2027-03-31 has passed only once 31 March has ended everywhere on Earth.

use time::{Date, Duration, OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid date {0:?}: write YYYY-MM-DD (a day, Anywhere-on-Earth) or an RFC 3339 time such as 2027-03-31T17:00:00+02:00"
)]
pub struct DateError(pub String);

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
        return Ok(day.midnight().assume_offset(AOE));
    }
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| DateError(text.to_owned()))
}

/// The last instant of the named day (Anywhere-on-Earth), or the instant given.
pub fn parse_end(text: &str) -> Result<OffsetDateTime, DateError> {
    let text = text.trim();
    if let Some(day) = parse_day(text) {
        // The last day the calendar can name has no end to compute.
        let next = day.next_day().ok_or_else(|| DateError(text.to_owned()))?;
        return Ok(next.midnight().assume_offset(AOE) - Duration::seconds(1));
    }
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| DateError(text.to_owned()))
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
    let Some(instant) = from_timestamp(t) else {
        return String::new();
    };
    let aoe = instant.to_offset(AOE);
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
    pub fn parse(date: &str, zone: &str) -> Result<Self, DateError> {
        let date_text = date.trim();
        let day = parse_day(date_text)
            .filter(|d| d.next_day().is_some())
            .ok_or_else(|| DateError(date_text.to_owned()))?;
        let zone = parse_zone(zone.trim()).ok_or_else(|| DateError(zone.trim().to_owned()))?;
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
            // Unreachable through `parse`, which refuses the calendar's last day.
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
        (self.date - now.to_offset(self.offset()).date()).whole_days()
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
