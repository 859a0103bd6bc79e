//! How sizes, rates and durations read to an operator: `129.3 MB`, `25.0 MB/s`, `1m05s`.

use humansize::{DECIMAL, format_size};

pub fn bytes(n: u64) -> String {
    format_size(n, DECIMAL)
}

pub fn rate(bytes_per_second: f64) -> String {
    format!(
        "{}/s",
        format_size(bytes_per_second.max(0.0) as u64, DECIMAL)
    )
}

/// The decimal unit a figure reads best in, and its size.
/// (A figure that would round up to 1000 of a unit reads in the next: `1.0 GB`, not
/// `1000 MB`.)
fn unit_of(n: u64) -> (f64, &'static str) {
    match n {
        999_500_000_000.. => (1e12, "TB"),
        999_500_000.. => (1e9, "GB"),
        999_500.. => (1e6, "MB"),
        1_000.. => (1e3, "kB"),
        _ => (1.0, "B"),
    }
}

/// A figure in a unit, short: one decimal below 10 (`1.2`), none from 10 (`38`).
fn short_in(n: u64, div: f64) -> String {
    let v = n as f64 / div;
    if div > 1.0 && v < 9.95 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// `1.2/5.4 GB`: bytes done of a total, both in the total's unit.
pub fn fraction(done: u64, total: u64) -> String {
    let (div, unit) = unit_of(total.max(done));
    format!("{}/{} {unit}", short_in(done, div), short_in(total, div))
}

/// `1.2 GB`, `38 MB`: for narrow cells.
pub fn short_bytes(n: u64) -> String {
    let (div, unit) = unit_of(n);
    format!("{} {unit}", short_in(n, div))
}

/// `38 MB/s`: for narrow cells.
pub fn short_rate(bytes_per_second: f64) -> String {
    format!("{}/s", short_bytes(bytes_per_second.max(0.0) as u64))
}

/// `0.4s`, `7.4s`, `59s`, `1m05s`, `2h03m`.
pub fn seconds(s: f64) -> String {
    let s = s.max(0.0);
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{}s", s as u64)
    } else if s < 3600.0 {
        let t = s as u64;
        format!("{}m{:02}s", t / 60, t % 60)
    } else {
        let t = s as u64;
        format!("{}h{:02}m", t / 3600, (t % 3600) / 60)
    }
}

/// An estimate reads as one: `~1m05s`; unknown says so.
pub fn estimate(s: Option<f64>) -> String {
    match s {
        Some(s) if s <= 0.0 => "done".into(),
        Some(s) => format!("~{}", seconds(s)),
        None => "unknown".into(),
    }
}

/// A duration given on the command line: Go's form (`90s`, `5m`, `1h30m`) or plain seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let s = text
        .parse::<f64>()
        .ok()
        .or_else(|| super::progress::messages::go_duration_seconds(text))?;
    (s.is_finite() && (0.0..1e9).contains(&s)).then(|| std::time::Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_figures_for_pull_cells() {
        assert_eq!(fraction(1_234_000_000, 5_400_000_000), "1.2/5.4 GB");
        assert_eq!(fraction(300_000_000, 12_600_000_000), "0.3/13 GB");
        assert_eq!(fraction(0, 999), "0/999 B");
        assert_eq!(short_rate(38_400_000.0), "38 MB/s");
        assert_eq!(short_rate(9_960_000.0), "10 MB/s");
        assert_eq!(short_bytes(1_500), "1.5 kB");
        assert_eq!(short_bytes(999_960_000), "1.0 GB");
        assert_eq!(fraction(999_700_000, 999_960_000), "1.0/1.0 GB");
        assert_eq!(short_bytes(999_400_000), "999 MB");
    }

    #[test]
    fn readable() {
        assert_eq!(bytes(129_338_587), "129.34 MB");
        assert_eq!(rate(25_000_000.0), "25 MB/s");
        assert_eq!(seconds(7.362), "7.4s");
        assert_eq!(seconds(59.9), "59s");
        assert_eq!(seconds(65.0), "1m05s");
        assert_eq!(seconds(7_380.0), "2h03m");
        assert_eq!(estimate(Some(65.0)), "~1m05s");
        assert_eq!(estimate(Some(0.0)), "done");
        assert_eq!(estimate(None), "unknown");
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("soon").is_none());
        assert!(parse_duration("-5").is_none());
    }
}
