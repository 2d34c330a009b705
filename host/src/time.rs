//! Time as the host keeps and shows it: Unix milliseconds inside (database columns, leases,
//! schedules), RFC 3339 in UTC with milliseconds in every API answer and log line.
//!
//! Everything that reads the clock or formats a time goes through here, so the APIs of all
//! dialects show the same spelling.

use ::time::OffsetDateTime;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A Unix-millisecond time as the APIs show it: RFC 3339, UTC, milliseconds
/// (`2026-12-02T07:12:03.000Z`).
pub fn format_ms(ms: i64) -> String {
    // Written digit by digit: every call's Call object carries two of these, and a format
    // description is interpreted anew each time.
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .filter(|at| (0..=9999).contains(&at.year()))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut text = String::with_capacity(24);
    let mut digits = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
        text.push(after);
    };
    digits(at.year() as u32, 4, '-');
    digits(u32::from(u8::from(at.month())), 2, '-');
    digits(u32::from(at.day()), 2, 'T');
    digits(u32::from(at.hour()), 2, ':');
    digits(u32::from(at.minute()), 2, ':');
    digits(u32::from(at.second()), 2, '.');
    digits(u32::from(at.millisecond()), 3, 'Z');
    text
}

/// Reads an RFC 3339 time (`2026-12-02T07:12:03Z`, any offset) as Unix milliseconds.
pub fn parse_ms(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_utc_with_milliseconds() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_796_195_523_042), "2026-12-02T07:12:03.042Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_ms(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(format_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        // Out of range falls back to the epoch rather than panicking.
        assert_eq!(format_ms(i64::MAX), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_ms("2026-12-02T07:12:03.042Z"),
            Some(1_796_195_523_042)
        );
        assert_eq!(
            parse_ms("2026-12-02T08:12:03.042+01:00"),
            Some(1_796_195_523_042)
        );
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn the_clock_reads_milliseconds() {
        let now = now_ms();
        assert!(now > 1_700_000_000_000, "{now}");
    }
}
