//! Names in the order people count: `api-2` before `api-10`, `pool-9` before `pool-10`.
//! Runs of digits compare by value (then by length, so `a01` and `a1` still have an order),
//! everything else by character.

use std::cmp::Ordering;

/// Compares two names in natural order; a total order (equal only when the names are).
pub fn cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let (m, rest_x) = digits(x);
                let (n, rest_y) = digits(y);
                // By value: without leading zeros, the longer run is the bigger number.
                let (m0, n0) = (trim_zeros(m), trim_zeros(n));
                let by_value = m0.len().cmp(&n0.len()).then_with(|| m0.cmp(n0));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                x = rest_x;
                y = rest_y;
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// Sorts names in natural order.
pub fn sort(names: &mut [String]) {
    names.sort_by(|a, b| cmp(a, b));
}

fn digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| *b != b'0').unwrap_or(s.len());
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_as_numbers() {
        let mut names: Vec<String> = ["api-10", "api-2", "api-1", "api-100", "web-3", "api-20"]
            .map(String::from)
            .to_vec();
        sort(&mut names);
        assert_eq!(
            names,
            ["api-1", "api-2", "api-10", "api-20", "api-100", "web-3"]
        );
        // A text sort, for contrast: api-1, api-10, api-100, api-2.
        assert_eq!(cmp("node-9", "node-10"), Ordering::Less);
        assert_eq!(cmp("gke-pool-a-9x", "gke-pool-a-10x"), Ordering::Less);
        assert_eq!(cmp("a", "a1"), Ordering::Less);
    }

    #[test]
    fn equal_values_still_have_an_order_and_equal_means_the_same_name() {
        assert_ne!(cmp("a01", "a1"), Ordering::Equal);
        assert_eq!(cmp("a01", "a1"), cmp("a01", "a1"));
        assert_eq!(cmp("a01", "a1").reverse(), cmp("a1", "a01"));
        assert_eq!(cmp("x-7", "x-7"), Ordering::Equal);
        // Runs longer than any integer type.
        assert_eq!(
            cmp("n-99999999999999999999999", "n-100000000000000000000000"),
            Ordering::Less
        );
    }
}
