//! Image references and image IDs, parsed and normalised.
//!
//! The grammar is the distribution project's, as implemented by `oci-spec`; this module
//! wraps it so that every name kpreload compares is normalised (`nginx` is
//! `docker.io/library/nginx:latest`) and so that a bad reference is reported with the
//! exact problem rather than "invalid reference format".

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use oci_spec::distribution::{ParseError, Reference};

const DOCKER_HUB: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// Why a string is not an image reference, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("the image reference is empty")]
    Empty,
    #[error("{0:?} contains white space; an image reference has none")]
    Whitespace(String),
    #[error("the repository {0:?} has uppercase letters; repository names must be lowercase")]
    Uppercase(String),
    #[error("{0:?} has an empty tag after ':'; write a tag such as :1.25 or leave the ':' out")]
    EmptyTag(String),
    #[error(
        "the tag {0:?} is not valid; a tag is up to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'"
    )]
    BadTag(String),
    #[error("{0:?} has an empty digest after '@'; write the digest as sha256:<64 hex digits>")]
    EmptyDigest(String),
    #[error("the digest {digest:?} has {got} hex digits where {algorithm} has {expected}")]
    DigestLength {
        digest: String,
        algorithm: String,
        expected: usize,
        got: usize,
    },
    #[error("the digest {0:?} is not of the form <algorithm>:<hex digits>")]
    BadDigest(String),
    #[error("the digest algorithm of {0:?} is not supported; use sha256, sha384 or sha512")]
    UnsupportedDigest(String),
    #[error("the repository name in {0:?} is longer than 255 characters, its registry included")]
    TooLong(String),
    #[error(
        "the repository name {0:?} is not valid; use lowercase letters, digits and the separators '.', '_', '__', '-' and '/'"
    )]
    BadRepository(String),
    #[error("{0:?} is an image ID, not a name; name the image by repository and tag")]
    IdNotName(String),
    #[error("{0:?} is not a valid image reference")]
    Invalid(String),
}

/// A normalised image reference: registry, repository, and a tag, a digest or both.
///
/// Two references are equal when their normalised forms are equal, whatever was typed:
/// `nginx`, `library/nginx:latest` and `docker.io/library/nginx:latest` are one reference.
/// The text as written is kept for display and for manifests.
#[derive(Clone, Debug)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    written: String,
}

impl ImageRef {
    /// Parses a reference; a missing tag and digest means `:latest`, as for `docker pull`.
    ///
    /// The same few hundred names come back for every node of a cluster, and the grammar's
    /// regular expressions cost microseconds each: results are remembered per thread (up to
    /// a bound, then forgotten at once).
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        const REMEMBERED: usize = 20_000;
        thread_local! {
            static SEEN: std::cell::RefCell<std::collections::HashMap<String, Result<ImageRef, ReferenceError>>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        if let Some(hit) = SEEN.with(|s| s.borrow().get(text).cloned()) {
            return hit;
        }
        let result = Self::parse_uncached(text);
        SEEN.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() >= REMEMBERED {
                s.clear();
            }
            s.insert(text.to_string(), result.clone());
        });
        result
    }

    fn parse_uncached(text: &str) -> Result<Self, ReferenceError> {
        diagnose(text)?;
        let parsed = Reference::from_str(text).map_err(|e| translate(text, e))?;
        let repository = parsed.repository().to_string();
        // Docker's limit is on the normalised name, its registry included: a short form
        // that fits but whose full form does not would not read back from it.
        if parsed.registry().len() + 1 + repository.len() > NAME_MAX {
            return Err(ReferenceError::TooLong(text.to_string()));
        }
        Ok(ImageRef {
            registry: parsed.registry().to_string(),
            repository,
            tag: parsed.tag().map(str::to_string),
            digest: parsed.digest().map(str::to_string),
            written: text.to_string(),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The path below the registry, `library/nginx` for `nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The text as it was written, e.g. `nginx:1.25-alpine`.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// `registry/repository`, the key under which versions of one image are ordered.
    /// A registry's port is part of it: `127.0.0.1:5000/a` and `127.0.0.1:5000/b` differ.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The fully qualified form, e.g. `docker.io/library/nginx:1.25`.
    pub fn normalized(&self) -> String {
        self.with_tag_and_digest(self.name())
    }

    /// `name` with `:tag` and `@digest` after it, where they are.
    fn with_tag_and_digest(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest);
        }
        name
    }

    /// The short form of a reference's text (`docker.io/library/nginx:1.25` → `nginx:1.25`);
    /// the text itself when it is not a reference.
    pub fn familiar_text(text: &str) -> String {
        ImageRef::parse(text).map_or_else(|_| text.to_string(), |r| r.familiar())
    }

    /// The short form people type: `nginx:1.25`, `g1g1/py-kube:latest`, `registry.k8s.io/pause:3.9`.
    /// It reads back as the same reference: where shortening would not (`library/a/b`, or a
    /// first path component that reads as a registry, `docker.io/foo.com/x`), it is the
    /// full form.
    pub fn familiar(&self) -> String {
        match self.short_repository() {
            Some(short) => self.with_tag_and_digest(short),
            None => self.normalized(),
        }
    }

    /// The repository without tag or digest, in its short form.
    pub fn familiar_name(&self) -> String {
        self.short_repository().unwrap_or_else(|| self.name())
    }

    /// Docker Hub's repository as `docker` shortens it (`library/` only before a last
    /// component), when the short form reads back as a Docker Hub repository.
    fn short_repository(&self) -> Option<String> {
        if self.registry != DOCKER_HUB {
            return None;
        }
        let repo = match self.repository.strip_prefix(OFFICIAL_PREFIX) {
            Some(rest) if !rest.contains('/') => rest,
            _ => self.repository.as_str(),
        };
        let first = repo.split('/').next().unwrap_or_default();
        let reads_as_registry = repo.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        (!reads_as_registry).then(|| repo.to_string())
    }

    fn key(&self) -> (&str, &str, Option<&str>, Option<&str>) {
        (
            &self.registry,
            &self.repository,
            self.tag.as_deref(),
            self.digest.as_deref(),
        )
    }
}

impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ImageRef {}

impl Hash for ImageRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for ImageRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ImageRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ImageRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.written)
    }
}

/// An image ID as a container runtime prints it: `sha256:<64 hex digits>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(String);

impl ImageId {
    /// Accepts `sha256:<hex>` and, as crictl prints short IDs nowhere we read, only full IDs.
    pub fn parse(text: &str) -> Option<Self> {
        let (algorithm, hex) = text.split_once(':')?;
        let expected = digest_hex_len(algorithm)?;
        (hex.len() == expected && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| ImageId(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Anything a runtime or the API names an image by: a reference, or a bare image ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageName {
    Ref(ImageRef),
    Id(ImageId),
}

impl ImageName {
    /// Reads a name as the kubelet and runtimes write them. A container status's `imageID`
    /// may carry a scheme (`docker-pullable://`, `docker://`); it is dropped.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let text = text
            .strip_prefix("docker-pullable://")
            .or_else(|| text.strip_prefix("docker://"))
            .unwrap_or(text);
        if let Some(id) = ImageId::parse(text) {
            return Ok(ImageName::Id(id));
        }
        ImageRef::parse(text).map(ImageName::Ref)
    }

    /// The fully qualified text of the name.
    pub fn normalized(&self) -> String {
        match self {
            ImageName::Ref(r) => r.normalized(),
            ImageName::Id(id) => id.to_string(),
        }
    }
}

fn digest_hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// Splits `name[:tag][@digest]`; the tag's colon is the last one after the last '/',
/// so a registry port (`host:5000/app`) is never taken for a tag.
fn split(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// Finds the specific problem in a reference before the grammar's yes/no answer.
fn diagnose(text: &str) -> Result<(), ReferenceError> {
    if text.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(ReferenceError::Whitespace(text.to_string()));
    }
    // 64 hex digits alone are an image ID; the runtime refuses them as a repository name.
    if text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(ReferenceError::IdNotName(text.to_string()));
    }
    let (name, tag, digest) = split(text);
    let path = match name.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => path,
        _ => name,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase(name.to_string()));
    }
    if name.is_empty()
        || path.is_empty()
        || !path.split('/').all(valid_path_component)
        || !name.is_ascii()
    {
        return Err(ReferenceError::BadRepository(name.to_string()));
    }
    if name.len() > NAME_MAX {
        return Err(ReferenceError::TooLong(text.to_string()));
    }
    match tag {
        Some("") => return Err(ReferenceError::EmptyTag(text.to_string())),
        Some(tag) if !valid_tag(tag) => return Err(ReferenceError::BadTag(tag.to_string())),
        _ => {}
    }
    if let Some(digest) = digest {
        if digest.is_empty() {
            return Err(ReferenceError::EmptyDigest(text.to_string()));
        }
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return Err(ReferenceError::BadDigest(digest.to_string()));
        };
        let Some(expected) = digest_hex_len(algorithm) else {
            return Err(ReferenceError::UnsupportedDigest(digest.to_string()));
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::BadDigest(digest.to_string()));
        }
        if hex.len() != expected {
            return Err(ReferenceError::DigestLength {
                digest: digest.to_string(),
                algorithm: algorithm.to_string(),
                expected,
                got: hex.len(),
            });
        }
    }
    Ok(())
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && tag.len() <= TAG_MAX
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A path component: lowercase alphanumerics joined by `.`, `_`, `__` or any run of `-`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() {
        return false;
    }
    if !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn translate(text: &str, e: ParseError) -> ReferenceError {
    match e {
        ParseError::NameEmpty => ReferenceError::Empty,
        ParseError::NameTooLong => ReferenceError::TooLong(text.to_string()),
        ParseError::NameContainsUppercase => ReferenceError::Uppercase(text.to_string()),
        ParseError::TagInvalidFormat => ReferenceError::BadTag(text.to_string()),
        ParseError::DigestUnsupported => ReferenceError::UnsupportedDigest(text.to_string()),
        ParseError::DigestInvalidFormat | ParseError::DigestInvalidLength => {
            ReferenceError::BadDigest(text.to_string())
        }
        ParseError::ReferenceInvalidFormat => ReferenceError::Invalid(text.to_string()),
    }
}

#[cfg(test)]
mod tests;
