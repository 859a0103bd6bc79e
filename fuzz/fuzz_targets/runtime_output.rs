//! What `ctr` and `crictl` print on a node, read back: image lists, container lists, pulls
//! under way, and what a removal said. A name is removed only where the runtime said so;
//! every name sent gets exactly one answer; image IDs are never taken for names.
#![no_main]

use kpreload_core::runtime::{NameResult, Output, crictl, ctr};
use libfuzzer_sys::fuzz_target;

fn is_id(name: &str) -> bool {
    name.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn sentence(e: &str) {
    assert!(!e.trim().is_empty(), "an empty error");
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the parser; the rest is what the tool printed.
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match which % 6 {
        0 => match ctr::parse_images(text) {
            Ok(images) => {
                for i in &images {
                    assert!(!i.target.is_empty());
                    assert!(i.id.is_some() || !i.refs.is_empty(), "{i:?}");
                    assert!(i.refs.iter().all(|r| !is_id(r)), "{i:?}");
                    assert!(i.id.as_deref().is_none_or(is_id), "{i:?}");
                    assert!(i.refs.windows(2).all(|w| w[0] <= w[1]), "{i:?}");
                    // Sizes are printed with one decimal: what is read is what the text says,
                    // never a wrapped or negative figure.
                    assert!(i.size < u64::MAX, "{i:?}");
                }
                let mut targets: Vec<&str> = images.iter().map(|i| i.target.as_str()).collect();
                targets.dedup();
                assert_eq!(targets.len(), images.len(), "one image per target");
            }
            Err(e) => sentence(&e),
        },
        1 => match crictl::parse_images(text) {
            Ok(images) => {
                for i in &images {
                    // Exact where crictl printed a size it could read; else nothing is
                    // made up.
                    assert!(i.size_exact || i.size == 0, "{i:?}");
                    assert!(!i.names().is_empty(), "{i:?}");
                }
            }
            Err(e) => sentence(&e),
        },
        2 => match ctr::parse_containers(text) {
            Ok(cs) => assert!(cs.iter().all(|c| !c.id.is_empty())),
            Err(e) => sentence(&e),
        },
        3 => match crictl::parse_containers(text) {
            Ok(cs) => assert!(cs.iter().all(|c| !c.id.is_empty() || !c.image.is_empty())),
            Err(e) => sentence(&e),
        },
        4 => match ctr::parse_active(text) {
            Ok(pulls) => assert!(pulls.iter().all(|p| !p.reference.is_empty())),
            Err(e) => sentence(&e),
        },
        _ => {
            // A removal: the names sent (words), stdout, stderr and the exit code, apart
            // by NUL bytes.
            let mut parts = text.split('\0');
            let first = parts.next().unwrap_or_default();
            let stdout = parts.next().unwrap_or_default();
            let stderr = parts.next().unwrap_or_default();
            let code: i32 = parts
                .next()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0);
            let names: Vec<String> = first.split_whitespace().map(str::to_string).collect();
            let out = Output {
                stdout: stdout.to_string(),
                stderr: stderr.to_string(),
                code,
            };
            for (tool, results) in [
                ("ctr", ctr::parse_remove(&names, &out)),
                ("crictl", crictl::parse_remove(&names, &out)),
            ] {
                let said: Vec<&String> = results.iter().map(|(n, _)| n).collect();
                assert_eq!(said, names.iter().collect::<Vec<_>>(), "{tool}");
                for (name, r) in &results {
                    match r {
                        NameResult::Removed if tool == "ctr" => {
                            assert!(stdout.lines().any(|l| l.trim() == name), "{name:?}")
                        }
                        NameResult::Removed => assert!(
                            code == 0 || stdout.lines().any(|l| l.starts_with("Deleted: ")),
                            "{name:?}"
                        ),
                        NameResult::Refused(why) => sentence(why),
                        NameResult::AlreadyGone => {}
                    }
                }
            }
        }
    }
});
