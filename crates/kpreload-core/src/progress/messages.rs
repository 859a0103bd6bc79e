//! The kubelet's event messages about images, read back: which image, and what happened.

/// What one kubelet event says about an image.
#[derive(Clone, Debug, PartialEq)]
pub enum Said {
    /// `Pulling image "X"`
    Pulling,
    /// `Successfully pulled image "X" in 7.362s (7.362s including waiting). Image size: N bytes.`
    Pulled {
        seconds: Option<f64>,
        bytes: Option<u64>,
    },
    /// `Container image "X" already present on machine`
    Present,
    /// `Failed to pull image "X": …`
    Failed,
    /// `Back-off pulling image "X"`
    BackOff,
}

/// Reads a kubelet message: the image it names (as written in the pod spec) and what it says.
pub fn read(message: &str) -> Option<(&str, Said)> {
    let quoted = |rest: &'static str| -> Option<&str> {
        let inner = message.strip_prefix(rest)?;
        let end = inner.find('"')?;
        Some(&inner[..end])
    };
    if let Some(image) = quoted("Pulling image \"") {
        return Some((image, Said::Pulling));
    }
    if let Some(image) = quoted("Successfully pulled image \"") {
        let after = &message["Successfully pulled image \"".len() + image.len() + 1..];
        let seconds = after
            .strip_prefix(" in ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(go_duration_seconds);
        let bytes = after
            .split("Image size: ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        return Some((image, Said::Pulled { seconds, bytes }));
    }
    if let Some(image) = quoted("Container image \"") {
        let rest = &message["Container image \"".len() + image.len() + 1..];
        if rest.starts_with(" already present") {
            return Some((image, Said::Present));
        }
        return None;
    }
    if let Some(image) = quoted("Failed to pull image \"") {
        return Some((image, Said::Failed));
    }
    if let Some(image) = quoted("Back-off pulling image \"") {
        return Some((image, Said::BackOff));
    }
    None
}

/// The secrets the kubelet's `FailedToRetrieveImagePullSecret` names: `Unable to retrieve
/// some image pull secrets (a, b); attempting to pull the image may not succeed.`
pub fn missing_pull_secrets(message: &str) -> Option<Vec<String>> {
    let inner = message.strip_prefix("Unable to retrieve some image pull secrets (")?;
    let list = &inner[..inner.find(')')?];
    Some(
        list.split(',')
            .map(|s| s.trim().trim_matches(|c| c == '<' || c == '>').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// Whether a pull failed because the registry wants credentials it was not given, in the
/// runtime's and the registries' words.
pub fn refused_for_credentials(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "401 unauthorized",
        "403 forbidden",
        "pull access denied",
        "authorization failed",
        "authentication required",
        "no basic auth credentials",
        "insufficient_scope",
        "unauthorized: ",
        "denied: ",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// What to do about a pull the registry refused: name the pool's pull secrets, or check
/// the ones it has.
pub fn credentials_remedy(secrets: &[String], namespace: &str) -> String {
    if secrets.is_empty() {
        "the registry wants credentials: give the pool a pull secret (pullSecrets: in the \
         pools file, or S in the editor), a Secret of type kubernetes.io/dockerconfigjson in \
         the preloaders' namespace; the pool has none"
            .to_string()
    } else {
        format!(
            "the registry refused the pool's pull secrets ({}): check that they are in {namespace} \
             and hold credentials for this registry",
            secrets.join(", ")
        )
    }
}

/// Go's `time.Duration` text (`7.362s`, `1m2.5s`, `850ms`, `2h0m0s`) in seconds.
pub(crate) fn go_duration_seconds(text: &str) -> Option<f64> {
    let mut rest = text;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_messages_from_the_article() {
        assert_eq!(
            read("Pulling image \"g1g1/py-kube\""),
            Some(("g1g1/py-kube", Said::Pulling))
        );
        assert_eq!(
            read(
                "Successfully pulled image \"g1g1/py-kube\" in 4.439s (4.439s including waiting). Image size: 129338587 bytes."
            ),
            Some((
                "g1g1/py-kube",
                Said::Pulled {
                    seconds: Some(4.439),
                    bytes: Some(129_338_587)
                }
            ))
        );
        assert_eq!(
            read("Container image \"python:3.12-slim\" already present on machine"),
            Some(("python:3.12-slim", Said::Present))
        );
        assert_eq!(
            read(
                "Failed to pull image \"x/y:1\": rpc error: code = NotFound desc = failed to pull and unpack image"
            ),
            Some(("x/y:1", Said::Failed))
        );
        assert_eq!(
            read("Back-off pulling image \"x/y:1\""),
            Some(("x/y:1", Said::BackOff))
        );
        // Older kubelets say less: no size, no waiting time.
        assert_eq!(
            read("Successfully pulled image \"nginx\" in 1m2.5s"),
            Some((
                "nginx",
                Said::Pulled {
                    seconds: Some(62.5),
                    bytes: None
                }
            ))
        );
        assert_eq!(read("Created container: preload-py-kube"), None);
        assert_eq!(
            read("Container image \"a\" is not present with pull policy of Never"),
            None
        );
        assert_eq!(read("Pulling image \"unterminated"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_seconds("7.362s"), Some(7.362));
        assert_eq!(go_duration_seconds("850ms"), Some(0.85));
        assert_eq!(go_duration_seconds("2h0m1s"), Some(7201.0));
        assert_eq!(go_duration_seconds("1m"), Some(60.0));
        assert_eq!(go_duration_seconds(""), None);
        assert_eq!(go_duration_seconds("s"), None);
        assert_eq!(go_duration_seconds("5 s"), None);
        assert_eq!(go_duration_seconds("5d"), None);
    }
}
