//! The wall clock, as Unix seconds and calendar dates.
//!
//! Inside a component the clock is `wasi:clocks/wall-clock`, which the host grants to every
//! plugin. Plugins mostly need "today" to date what they wrote back (e.g. a valuation date),
//! so this module offers that without pulling in a date-time crate.

/// Seconds since 1970-01-01T00:00:00Z.
pub fn now_unix_seconds() -> i64 {
    crate::sys::now_unix_seconds()
}

/// Today's date in UTC as ISO 8601 `YYYY-MM-DD`.
pub fn today() -> String {
    iso_date(now_unix_seconds())
}

/// The UTC calendar date of `unix_seconds` as ISO 8601 `YYYY-MM-DD`.
pub fn iso_date(unix_seconds: i64) -> String {
    let (y, m, d) = civil_from_days(unix_seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC calendar year of `unix_seconds` (for ages, e.g. of a building).
pub fn year(unix_seconds: i64) -> i64 {
    civil_from_days(unix_seconds.div_euclid(86_400)).0
}

/// (year, month, day) of the proleptic Gregorian calendar for a day count since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days`: shift to eras of 400 years starting on 0000-03-01, so
/// leap days fall at the end of each year and no table is needed.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(-1), "1969-12-31");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_date(1_700_000_000), "2023-11-14");
        assert_eq!(iso_date(4_107_542_400), "2100-03-01");
        assert_eq!(year(1_700_000_000), 2023);
    }
}
