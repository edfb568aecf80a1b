//! Microsecond UTC timestamps: the clock, RFC 3339 formatting (syslog, viewer) and parsing
//! (CLI `--start`/`--end`). Civil-date arithmetic after Howard Hinnant's `days_from_civil`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-25T13:46:35.123456Z` (RFC 3339 / RFC 5424 TIMESTAMP with microseconds).
pub fn format_rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses a time for the CLI: RFC 3339 (`2026-11-25T13:46:35Z`, fraction and `+hh:mm` offset
/// optional, `T` or space), a date (`2026-11-25`, midnight UTC), or a bare integer: seconds since
/// the epoch (≤ 11 digits) or microseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return Some(if s.len() <= 11 {
            n.checked_mul(1_000_000)?
        } else {
            n
        });
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut us = days_from_civil(y, mo, d) * 86_400 * 1_000_000;
    let Some(rest) = rest else { return Some(us) };
    // Split off the zone: Z, z, +hh:mm, -hh:mm, or none (UTC).
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let mut zp = z[1..].splitn(2, ':');
        let hh: i64 = zp.next()?.parse().ok()?;
        let mm: i64 = zp.next().unwrap_or("0").parse().ok()?;
        (c, sign * (hh * 3600 + mm * 60))
    } else {
        (rest, 0)
    };
    let mut cp = clock.splitn(3, ':');
    let h: i64 = cp.next()?.parse().ok()?;
    let mi: i64 = cp.next().unwrap_or("0").parse().ok()?;
    let sec_part = cp.next().unwrap_or("0");
    let (sec, frac) = match sec_part.split_once('.') {
        Some((a, b)) => (a, b),
        None => (sec_part, ""),
    };
    let sec: i64 = sec.parse().ok()?;
    let mut frac_us = 0i64;
    for (i, c) in frac.chars().take(6).enumerate() {
        frac_us += i64::from(c.to_digit(10)?) * 10i64.pow(5 - i as u32);
    }
    us += ((h * 3600 + mi * 60 + sec) - offset_secs) * 1_000_000 + frac_us;
    Some(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for us in [
            0i64,
            1_764_078_395_123_456,
            951_782_400_000_001,
            4_102_444_799_999_999,
        ] {
            let s = format_rfc3339(us);
            assert_eq!(parse_time(&s), Some(us), "{s}");
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(parse_time("86400"), Some(86_400_000_000));
        assert_eq!(parse_time("1764078395123456"), Some(1_764_078_395_123_456));
        assert_eq!(parse_time("nope"), None);
    }
}
