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
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let format = ::time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
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
