//! Dates as people write them. A calendar date names a whole day in
//! Anywhere-on-Earth time (UTC-12), as IETF and ITU deadlines do: a deadline
//! of 2027-03-31 has passed only once 31 March has ended everywhere on Earth.

use time::{Date, Duration, OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid date {0:?}: write YYYY-MM-DD (a day, Anywhere-on-Earth) or an RFC 3339 time such as 2027-03-31T17:00:00+02:00"
)]
pub struct DateError(pub String);

const AOE: UtcOffset = match UtcOffset::from_hms(-12, 0, 0) {
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
        return Ok(day.midnight().assume_offset(AOE) + Duration::days(1) - Duration::seconds(1));
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
        .ok()
        .map(|d| d + Duration::nanoseconds(i64::from(t.nanos)))
}

/// RFC 3339 in UTC, for display and JSON.
pub fn format_timestamp(t: &prost_types::Timestamp) -> String {
    from_timestamp(t)
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_default()
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
