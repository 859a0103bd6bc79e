//! The kubelet's event messages about images. The image a message names is quoted in it; a
//! pulled size is the number the message states; credentials and secrets are read from the
//! message's own words.
#![no_main]

use kpreload_core::progress::messages::{self, Said};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|message: &str| {
    if let Some((image, said)) = messages::read(message) {
        assert!(
            message.contains(&format!("\"{image}\"")),
            "{message:?} {image:?}"
        );
        assert!(!image.contains('"'));
        if let Said::Pulled { bytes, seconds } = said {
            if let Some(b) = bytes {
                // The number written after "Image size: " (after the quoted image), as
                // decimal digits, perhaps with a plus sign or leading zeros.
                let rest =
                    &message[message.find(&format!("\"{image}\"")).unwrap() + image.len() + 2..];
                let written = rest.split("Image size: ").nth(1).unwrap_or_default();
                let digits = written.split_whitespace().next().unwrap_or_default();
                let digits = digits
                    .strip_prefix('+')
                    .unwrap_or(digits)
                    .trim_start_matches('0');
                assert_eq!(
                    digits,
                    if b == 0 { String::new() } else { b.to_string() },
                    "{message:?}"
                );
            }
            if let Some(s) = seconds {
                assert!(s.is_finite() && s >= 0.0, "{message:?} {s}");
            }
        }
    }
    if let Some(secrets) = messages::missing_pull_secrets(message) {
        for s in &secrets {
            assert!(message.contains(s.as_str()), "{message:?} {s:?}");
        }
    }
    let _ = messages::refused_for_credentials(message);
});
