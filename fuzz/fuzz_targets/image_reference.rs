//! An image reference as a person types it or a pod spec holds it. What parses prints back
//! (normalised, in its short form, as written) to an equal reference; the registry (and its
//! port) is never taken for the repository; what does not parse says why in a sentence.
#![no_main]

use kpreload_core::reference::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let r = match ImageRef::parse(text) {
        Ok(r) => r,
        Err(e) => {
            let why = e.to_string();
            assert!(!why.is_empty() && !why.contains('\n'), "{why:?}");
            return;
        }
    };
    assert_eq!(r.written(), text);
    for printed in [r.normalized(), r.familiar(), r.to_string()] {
        let back = ImageRef::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(back, r, "{text:?} printed as {printed:?}");
        assert_eq!(back.normalized(), r.normalized());
    }
    // The name is registry/repository; the repository never holds the registry's port, and
    // the tag is what follows the last colon after the last slash.
    assert_eq!(r.name(), format!("{}/{}", r.registry(), r.repository()));
    assert!(
        !r.repository().contains(':'),
        "{text:?}: {:?}",
        r.repository()
    );
    assert!(!r.registry().is_empty() && !r.repository().is_empty());
    if let Some(tag) = r.tag() {
        assert!(
            !tag.contains('/') && !tag.contains(':') && !tag.is_empty(),
            "{tag:?}"
        );
    }
    if let Some(digest) = r.digest() {
        assert!(text.ends_with(digest), "{text:?} digest {digest:?}");
    }
    if r.tag().is_none() && r.digest().is_none() {
        panic!("{text:?}: neither tag nor digest; a bare name means :latest");
    }
});
