//! Properties of tag version ordering.

use std::cmp::Ordering;

use crate::version::{Tag, TagVersion};
use proptest::prelude::*;

fn version(tag: &str) -> TagVersion {
    match Tag::parse(tag) {
        Tag::Version(v) => v,
        Tag::NotVersion => panic!("{tag} is a version"),
    }
}

fn tag() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(0u64..30, 1..4),
        proptest::option::of((
            prop_oneof![Just("rc"), Just("beta"), Just("alpha")],
            0u64..4,
        )),
        any::<bool>(),
    )
        .prop_map(|(numbers, pre, v)| {
            let mut s: String = numbers
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if v {
                s.insert(0, 'v');
            }
            if let Some((kind, n)) = pre {
                s.push_str(&format!("-{kind}{n}"));
            }
            s
        })
}

proptest! {
    #[test]
    fn numbers_order_numerically(prefix in proptest::collection::vec(0u64..100, 0..3), a in 0u64..10_000, b in 0u64..10_000) {
        let head: String = prefix.iter().map(|n| format!("{n}.")).collect();
        let (x, y) = (version(&format!("{head}{a}")), version(&format!("{head}{b}")));
        prop_assert_eq!(x.cmp_version(&y), a.cmp(&b));
    }

    #[test]
    fn a_pre_release_precedes_its_release(t in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}", kind in "(rc|beta|alpha)", n in 0u64..20) {
        let release = version(&t);
        let pre = version(&format!("{t}-{kind}{n}"));
        prop_assert_eq!(pre.cmp_version(&release), Ordering::Less);
    }

    #[test]
    fn the_order_is_total(a in tag(), b in tag(), c in tag()) {
        let (a, b, c) = (version(&a), version(&b), version(&c));
        prop_assert_eq!(a.cmp_version(&b), b.cmp_version(&a).reverse());
        if a.cmp_version(&b) != Ordering::Greater && b.cmp_version(&c) != Ordering::Greater {
            prop_assert_ne!(a.cmp_version(&c), Ordering::Greater);
        }
    }

    #[test]
    fn flavour_survives_any_version(t in tag(), flavour in "(slim|alpine|alpine3\\.19|bookworm|cuda12\\.1-runtime)") {
        let v = version(&format!("{t}-{flavour}"));
        prop_assert_eq!(v.flavour, flavour);
    }

    #[test]
    fn hex_hashes_with_letters_are_not_versions(h in "[0-9a-f]{6,40}") {
        prop_assume!(h.bytes().any(|b| b.is_ascii_alphabetic()));
        prop_assert_eq!(Tag::parse(&h), Tag::NotVersion);
    }
}
