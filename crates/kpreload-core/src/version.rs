//! Version-aware ordering of image tags.
//!
//! A tag is read as `[v]NUM(.NUM)*[pre]` followed by `-`-separated segments. A segment that
//! names a pre-release (`rc1`, `beta.2`, `alpha`) orders the version before its release; every
//! other segment is the tag's flavour (`slim`, `alpine3.19`, `cuda12.1-cudnn8-runtime`), and
//! each flavour is a separate line of versions. Tags that do not start with a number
//! (`latest`, `main`, a commit hash) are not versions and are never ordered.
//!
//! No crate reads Docker tags this way (semver crates reject `1.25-alpine`, and
//! version-compare style crates order `1.25-alpine` against `1.25` by text), so this is a
//! small module with many tests.

use std::cmp::Ordering;
use std::fmt;

/// How far apart two tags of one repository are allowed to be compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Dotted numbers: `1.25`, `v2.1.0`, `20`.
    Dotted,
    /// One long number: a date (`20240101`) or a build serial. Not comparable with dotted ones.
    Serial,
}

/// The pre-release kinds, in release order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreKind {
    Dev,
    Alpha,
    Beta,
    Preview,
    Rc,
}

/// A tag that reads as a version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TagVersion {
    pub numbers: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub flavour: String,
    pub scheme: Scheme,
}

/// What one tag is, for ordering purposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tag {
    Version(TagVersion),
    /// `latest`, `main`, `stable`, a commit hash, …: cannot be ordered.
    NotVersion,
}

impl Tag {
    pub fn parse(tag: &str) -> Tag {
        parse(tag).map_or(Tag::NotVersion, Tag::Version)
    }
}

impl TagVersion {
    /// Ordering of two versions of the same line (same flavour and scheme).
    /// Numbers compare numerically; when one is a prefix of the other, the shorter tag is
    /// the newer, since `1.25` moves along with the newest `1.25.x`. A pre-release comes
    /// before its release.
    pub fn cmp_version(&self, other: &Self) -> Ordering {
        for (a, b) in self.numbers.iter().zip(&other.numbers) {
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match self.numbers.len().cmp(&other.numbers.len()) {
            Ordering::Equal => {}
            // Fewer components: a floating tag over the longer one, so newer.
            Ordering::Less => return Ordering::Greater,
            Ordering::Greater => return Ordering::Less,
        }
        match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Dotted => "dotted",
            Scheme::Serial => "serial",
        })
    }
}

fn parse(tag: &str) -> Option<TagVersion> {
    let mut segments = tag.split('-');
    let head = segments.next()?;
    let head = head.strip_prefix(['v', 'V']).unwrap_or(head);
    let (numbers, rest) = leading_numbers(head)?;
    let mut pre = if rest.is_empty() {
        None
    } else {
        // Python style `3.14.0rc1`, `3.13.0a2`; the one-letter forms only after a dotted
        // version, so that a hex commit hash such as `1234a56` is never read as one.
        Some(pre_release(rest, numbers.len() >= 2)?)
    };
    let mut flavour = Vec::new();
    for segment in segments {
        if segment.is_empty() {
            return None;
        }
        if pre.is_none()
            && let Some(p) = pre_release(segment, false)
        {
            pre = Some(p);
            continue;
        }
        flavour.push(segment);
    }
    let digits = digits_of(head);
    let scheme = if numbers.len() == 1 && digits >= 7 {
        // A long number is a date (`20240101`, `202401011230`), or else most likely an
        // all-digit commit hash, which is not a version.
        if !looks_like_date(&head[..digits]) {
            return None;
        }
        Scheme::Serial
    } else {
        Scheme::Dotted
    };
    Some(TagVersion {
        numbers,
        pre,
        flavour: flavour.join("-"),
        scheme,
    })
}

/// `YYYYMMDD` with an optional time after it (`HHMM`, `HHMMSS`), in a plausible range.
fn looks_like_date(digits: &str) -> bool {
    if !matches!(digits.len(), 8 | 10 | 12 | 14) {
        return false;
    }
    let n = |range: std::ops::Range<usize>| digits[range].parse::<u32>().unwrap_or(0);
    (1970..=2099).contains(&n(0..4)) && (1..=12).contains(&n(4..6)) && (1..=31).contains(&n(6..8))
}

fn digits_of(head: &str) -> usize {
    head.bytes().take_while(u8::is_ascii_digit).count()
}

/// `1.25.3rest` → ([1, 25, 3], "rest"). At most 18 digits per component, so a number never
/// overflows and a long hex-looking string is not a version.
fn leading_numbers(s: &str) -> Option<(Vec<u64>, &str)> {
    let mut numbers = Vec::new();
    let mut rest = s;
    loop {
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 18 {
            return None;
        }
        numbers.push(rest[..len].parse().ok()?);
        rest = &rest[len..];
        match rest.strip_prefix('.') {
            Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
            _ => return Some((numbers, rest)),
        }
    }
}

/// `rc1`, `rc.1`, `beta`, `alpha2`; with `short`, also Python's `a1` and `b2`.
fn pre_release(s: &str, short: bool) -> Option<(PreKind, u64)> {
    let lower = s.to_ascii_lowercase();
    let words: &[(&str, PreKind)] = &[
        ("alpha", PreKind::Alpha),
        ("beta", PreKind::Beta),
        ("preview", PreKind::Preview),
        ("pre", PreKind::Preview),
        ("rc", PreKind::Rc),
        ("dev", PreKind::Dev),
    ];
    let shorts: &[(&str, PreKind)] = &[("a", PreKind::Alpha), ("b", PreKind::Beta)];
    let candidates = words.iter().chain(if short { shorts } else { &[] });
    for (word, kind) in candidates {
        if let Some(rest) = lower.strip_prefix(word) {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.is_empty() {
                if short && word.len() == 1 {
                    return None;
                }
                return Some((*kind, 0));
            }
            if rest.len() <= 18 && rest.bytes().all(|b| b.is_ascii_digit()) {
                return Some((*kind, rest.parse().ok()?));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tag: &str) -> TagVersion {
        match Tag::parse(tag) {
            Tag::Version(v) => v,
            Tag::NotVersion => panic!("{tag} should be a version"),
        }
    }

    fn newer(a: &str, b: &str) -> bool {
        v(a).cmp_version(&v(b)) == Ordering::Greater
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(newer("1.10", "1.9"));
        assert!(newer("1.10", "1.2"));
        assert!(newer("1.2", "1.1"));
        assert!(newer("v1.3", "v1.2"));
        assert!(newer("v1.10", "1.9"));
        let mut tags = vec!["1.10", "1.0", "1.2", "1.1"];
        tags.sort_by(|a, b| v(b).cmp_version(&v(a)));
        assert_eq!(tags, ["1.10", "1.2", "1.1", "1.0"]);
    }

    #[test]
    fn pre_releases_come_before_releases() {
        assert!(newer("1.0.0", "1.0.0-rc1"));
        assert!(newer("1.0.0-rc2", "1.0.0-rc1"));
        assert!(newer("1.0.0-rc1", "1.0.0-beta.3"));
        assert!(newer("1.0.0-beta", "1.0.0-alpha.9"));
        assert!(newer("3.14.0", "3.14.0rc1"));
        assert!(newer("3.14.0b1", "3.14.0a7"));
        assert!(newer("1.0.1-rc1", "1.0.0"));
    }

    #[test]
    fn flavours_are_separate_lines() {
        assert_eq!(v("3.13-slim").flavour, "slim");
        assert_eq!(v("3.14-alpine").flavour, "alpine");
        assert_eq!(v("3.14").flavour, "");
        assert!(newer("3.14-slim", "3.13-slim"));
        assert_eq!(v("1.25-alpine3.19").flavour, "alpine3.19");
        let cuda = v("2.1.0-cuda12.1-cudnn8-runtime");
        assert_eq!(cuda.numbers, [2, 1, 0]);
        assert_eq!(cuda.flavour, "cuda12.1-cudnn8-runtime");
        assert_eq!(cuda.pre, None);
        let rc = v("3.14.0rc1-slim");
        assert_eq!(rc.flavour, "slim");
        assert_eq!(rc.pre, Some((PreKind::Rc, 1)));
        assert_eq!(v("2.15.0-gpu").flavour, "gpu");
    }

    #[test]
    fn floating_tags_are_newer_than_their_patches() {
        assert!(newer("1.25", "1.25.3"));
        assert!(newer("1.26.0", "1.25"));
        assert!(newer("20-alpine", "20.11-alpine"));
    }

    #[test]
    fn dates_are_their_own_scheme() {
        assert_eq!(v("20240101").scheme, Scheme::Serial);
        assert_eq!(v("1.25").scheme, Scheme::Dotted);
        assert!(newer("20240201", "20240101"));
        assert_eq!(v("202402011230").scheme, Scheme::Serial);
        assert_eq!(v("123456").scheme, Scheme::Dotted);
    }

    #[test]
    fn words_and_hashes_are_not_versions() {
        for tag in [
            "latest",
            "main",
            "stable",
            "edge",
            "nightly",
            "alpine",
            "a1b2c3d",
            "0d5f3c1e",
            "1a2b3c4",
            "sha-1234",
            "1.2.",
            "1..2",
            "1.2--slim",
            "9999999999999999999999",
        ] {
            assert_eq!(Tag::parse(tag), Tag::NotVersion, "{tag}");
        }
    }
}
