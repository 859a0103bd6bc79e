//! Tags read as versions: the order of one line's versions is a total order (what is older
//! than what never depends on which was asked first, and never goes round in a circle),
//! numbers compare as numbers, never as text (the article's `sort` put 1.10 before 1.9).
#![no_main]

use std::cmp::Ordering;

use kpreload_core::version::{Tag, TagVersion};
use libfuzzer_sys::fuzz_target;

fn version(tag: &str) -> Option<TagVersion> {
    match Tag::parse(tag) {
        Tag::Version(v) => Some(v),
        Tag::NotVersion => None,
    }
}

fuzz_target!(|text: &str| {
    // Up to four tags, a line each.
    let tags: Vec<&str> = text.lines().take(4).collect();
    let vs: Vec<TagVersion> = tags.iter().copied().filter_map(version).collect();
    for x in &vs {
        assert_eq!(x.cmp_version(x), Ordering::Equal);
        for y in &vs {
            assert_eq!(x.cmp_version(y), y.cmp_version(x).reverse(), "{x:?} {y:?}");
            if x.numbers.len() == y.numbers.len() && x.pre.is_none() && y.pre.is_none() {
                assert_eq!(x.cmp_version(y), x.numbers.cmp(&y.numbers), "{x:?} {y:?}");
            }
            for z in &vs {
                if x.cmp_version(y) != Ordering::Greater && y.cmp_version(z) != Ordering::Greater {
                    assert_ne!(x.cmp_version(z), Ordering::Greater, "{x:?} {y:?} {z:?}");
                }
            }
        }
    }
    // Parsing depends on the text alone.
    for t in tags {
        assert_eq!(version(t), version(t));
    }
});
