//! Image references as the container runtime and the kubelet read them, written from the
//! distribution project's reference grammar and its `ParseNormalizedNamed` (the "familiar"
//! names the Docker CLI, containerd's CRI plugin and the kubelet accept):
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain "/"] path-component ["/" path-component]*
//! domain          := domain-component ["." domain-component]* [":" port-number]
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]*/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex      (go-digest: sha256, sha384 or sha512, exact length)
//! ```
//!
//! Normalising: the first component is a domain only when it contains `.` or `:` or is
//! `localhost`; otherwise the domain is `docker.io`. `index.docker.io` is `docker.io`, and a
//! one-component name on `docker.io` is under `library/`. A name with neither tag nor digest
//! gets the tag `latest` (the kubelet's "default image tag"). This module is the
//! simulator's own: the product parses references with its own code, and the two are held
//! to agree by a table test.

use std::fmt;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL: &str = "library/";
const NAME_MAX: usize = 255;

/// A reference in the runtime's normalised form, with the text as written.
#[derive(Clone, Debug)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
    written: String,
}

/// Why a reference does not parse, in the distribution project's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceError(pub String);

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceError {}

fn invalid() -> ReferenceError {
    ReferenceError("invalid reference format".into())
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `alpha-numeric [separator alpha-numeric]*` with separators `.`, `_`, `__` or dashes.
fn path_component(text: &str) -> bool {
    let b: Vec<char> = text.chars().collect();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one or two '_', or any number of '-'.
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep: String = b[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn domain_component(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn domain(text: &str) -> bool {
    // An IPv6 host is in brackets, and its colons are not a port's.
    let split_at = match text.rfind(']') {
        Some(end) => text[end..].find(':').map(|i| end + i),
        None => text.rfind(':'),
    };
    let (host, port) = match split_at {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    // An IPv6 address in brackets.
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    }
    !host.is_empty() && host.split('.').all(domain_component)
}

fn tag(text: &str) -> bool {
    let mut chars = text.chars();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.next() {
        Some(c) if word(c) => {}
        _ => return false,
    }
    text.len() <= 128 && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// A digest as the runtime takes it (the grammar, then go-digest's `Parse`): an algorithm it
/// knows and exactly that algorithm's length in lowercase hex.
fn digest(text: &str) -> bool {
    let Some((algorithm, hex)) = text.split_once(':') else {
        return false;
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == length
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        if text.is_empty() {
            return Err(invalid());
        }
        // 64 hex digits alone are an image ID, never a repository.
        if text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(ReferenceError(format!(
                "invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (rest, digest_part) = match text.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (text, None),
        };
        if let Some(d) = digest_part
            && !digest(d)
        {
            return Err(invalid());
        }
        // A tag follows the last ':' after the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag_part) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag_part
            && !tag(t)
        {
            return Err(invalid());
        }
        let (mut dom, mut path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if dom == LEGACY_DOMAIN {
            dom = DEFAULT_DOMAIN.to_string();
        }
        if !domain(&dom) {
            return Err(invalid());
        }
        // `splitDockerDomain` puts a one-component name on docker.io under `library/` before
        // the lowercase check, so the message names `library/Nginx`.
        if dom == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL}{path}");
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            )));
        }
        if path.is_empty() || !path.split('/').all(path_component) {
            return Err(invalid());
        }
        if dom.len() + 1 + path.len() > NAME_MAX {
            return Err(ReferenceError(
                "repository name must not be more than 255 characters".into(),
            ));
        }
        let tag = match (tag_part, digest_part) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            domain: dom,
            path,
            tag,
            digest: digest_part.map(str::to_string),
            written: text.to_string(),
        })
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The text as it was written.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// `domain/path`: `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The fully qualified form: `docker.io/library/nginx:1.25`.
    pub fn normalized(&self) -> String {
        let mut out = self.name();
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// A name a runtime lists an image by: a reference, or its ID (`sha256:<64 hex>`).
#[derive(Clone, Debug, PartialEq)]
pub enum ImageName {
    Id(String),
    Ref(ImageRef),
}

impl ImageName {
    pub fn parse(text: &str) -> Result<ImageName, ReferenceError> {
        if let Some(hex) = text.strip_prefix("sha256:")
            && hex.len() == 64
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
        {
            return Ok(ImageName::Id(text.to_string()));
        }
        ImageRef::parse(text).map(ImageName::Ref)
    }

    pub fn normalized(&self) -> String {
        match self {
            ImageName::Id(id) => id.clone(),
            ImageName::Ref(r) => r.normalized(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names_normalise_as_the_runtime_does() {
        for (written, normal) in [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("library/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
            (
                "jupyter/scipy-notebook",
                "docker.io/jupyter/scipy-notebook:latest",
            ),
            ("localhost/app:1", "localhost/app:1"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("127.0.0.1:5000/team/app:v2", "127.0.0.1:5000/team/app:v2"),
            ("[::1]/app", "[::1]/app:latest"),
            ("[::1]:5000/app:1", "[::1]:5000/app:1"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("a__b/c-d--e/f.g_h:1", "docker.io/a__b/c-d--e/f.g_h:1"),
        ] {
            assert_eq!(
                ImageRef::parse(written).unwrap().normalized(),
                normal,
                "{written}"
            );
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("nginx@{d}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(d.as_str())));
        let r = ImageRef::parse(&format!("nginx:1@{d}")).unwrap();
        assert_eq!(r.normalized(), format!("docker.io/library/nginx:1@{d}"));
    }

    #[test]
    fn what_the_grammar_refuses() {
        for bad in [
            "",
            "nginx:",
            "nginx@",
            "nginx@sha256:abc",
            "-nginx",
            "nginx-",
            "a...b",
            "a___b",
            "ngi nx",
            ":1",
            "nginx:.1",
            "host:port/app",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ImageRef::parse("docker.io/Nginx").unwrap_err().0,
            "invalid reference format: repository name (library/Nginx) must be lowercase"
        );
        assert_eq!(
            ImageRef::parse("ghcr.io/Team/app").unwrap_err().0,
            "invalid reference format: repository name (Team/app) must be lowercase"
        );
        // go-digest: a known algorithm, its exact length, lowercase.
        assert!(ImageRef::parse(&format!("nginx@sha256:{}", "a".repeat(40))).is_err());
        assert!(ImageRef::parse(&format!("nginx@sha256:{}", "A".repeat(64))).is_err());
        assert!(ImageRef::parse(&format!("nginx@md5:{}", "a".repeat(32))).is_err());
        assert!(ImageRef::parse(&format!("nginx@sha512:{}", "a".repeat(128))).is_ok());
        assert!(
            ImageRef::parse(&"a".repeat(64))
                .unwrap_err()
                .0
                .contains("64-byte")
        );
    }
}
