use super::*;

fn index(offered: &[(&str, &str)], read: &[(&str, &str, u64)]) -> Found {
    Found {
        registry: "127.0.0.1:5000".into(),
        digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa".into(),
        index: true,
        offered: offered.iter().map(|(o, a)| Platform::new(o, a)).collect(),
        images: read
            .iter()
            .map(|(o, a, b)| Manifest {
                platform: Some(Platform::new(o, a)),
                digest: format!("sha256:{o}{a}"),
                bytes: *b,
            })
            .collect(),
    }
}

#[test]
fn an_index_sizes_each_platform_and_names_the_ones_it_lacks() {
    let f = index(
        &[("linux", "amd64"), ("linux", "arm64")],
        &[("linux", "amd64", 100), ("linux", "arm64", 90)],
    );
    let amd = Platform::new("linux", "amd64");
    let arm = Platform::new("linux", "arm64");
    let s390 = Platform::new("linux", "s390x");
    assert_eq!(f.bytes_for(Some(&amd)), Some(100));
    assert_eq!(f.bytes_for(Some(&arm)), Some(90));
    assert_eq!(f.bytes_for(Some(&s390)), None);
    assert_eq!(
        f.bytes_for(None),
        None,
        "an index has no size without a platform"
    );
    assert_eq!(f.largest(), Some(100));
    assert!(f.lacking(&[amd.clone(), arm.clone()]).is_empty());
    assert_eq!(f.lacking(&[amd.clone(), s390.clone()]), vec![s390.clone()]);
    let a = Answer::Found(f);
    assert!(!a.refuses(std::slice::from_ref(&amd)));
    assert!(a.refuses(&[amd, s390.clone()]));
    let said = a.sentence("127.0.0.1:5000/web/api:2.0", &[s390]);
    assert!(said.contains("no image for linux/s390x"), "{said}");
    assert!(said.contains("linux/amd64, linux/arm64"), "{said}");
}

#[test]
fn a_single_image_serves_every_platform() {
    let f = Found {
        registry: "r".into(),
        digest: "sha256:bb".into(),
        index: false,
        offered: Vec::new(),
        images: vec![Manifest {
            platform: None,
            digest: "sha256:bb".into(),
            bytes: 42,
        }],
    };
    assert_eq!(
        f.bytes_for(Some(&Platform::new("linux", "arm64"))),
        Some(42)
    );
    assert_eq!(f.bytes_for(None), Some(42));
    assert!(f.lacking(&[Platform::new("linux", "arm64")]).is_empty());
}

#[test]
fn a_variant_matters_only_when_both_sides_say_one() {
    let mut v7 = Platform::new("linux", "arm");
    v7.variant = Some("v7".into());
    let mut v6 = Platform::new("linux", "arm");
    v6.variant = Some("v6".into());
    let plain = Platform::new("linux", "arm");
    assert!(plain.serves(&v7) && v7.serves(&plain));
    assert!(!v6.serves(&v7));
    assert!(!Platform::new("windows", "amd64").serves(&Platform::new("linux", "amd64")));
}

#[test]
fn only_a_missing_image_or_platform_refuses_and_each_answer_is_one_sentence() {
    let missing = Answer::Missing {
        registry: "127.0.0.1:5000".into(),
        words: "manifest unknown".into(),
    };
    let denied = Answer::Denied {
        registry: "127.0.0.1:5000".into(),
        words: "authentication required".into(),
        credentials: None,
    };
    let unreachable = Answer::Unreachable {
        registry: "127.0.0.1:9".into(),
        why: "connection refused".into(),
    };
    assert!(missing.refuses(&[]));
    assert!(!denied.refuses(&[]) && denied.unchecked());
    assert!(!unreachable.refuses(&[]) && unreachable.unchecked());
    for a in [&missing, &denied, &unreachable] {
        let s = a.sentence("127.0.0.1:5000/web/api:9", &[]);
        assert!(s.ends_with('.') || s.ends_with(")."), "{s}");
        assert!(s.matches(". ").count() <= 1, "at most two sentences: {s}");
        assert!(!s.contains('\n'), "{s}");
    }
    assert!(missing.sentence("x", &[]).contains("\"manifest unknown\""));
}
