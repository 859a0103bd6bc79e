//! What an image's registry says of it, as plain data: whether the tag exists, the digest it
//! names today, and the compressed bytes a node of each platform pulls — or why that is not
//! known. The asking is done by the binary (`kpreload::registry`); here are the answers and
//! the sentences they end in.

use std::fmt;

use k8s_openapi::api::core::v1::Node;

/// An OS and CPU, as a node's `status.nodeInfo` and an image index's entries name them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// `v8` of `arm64/v8`; None when the node or the index does not say.
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    /// The node's platform, from `status.nodeInfo` (None when the kubelet has not said).
    pub fn of_node(node: &Node) -> Option<Platform> {
        let info = node.status.as_ref()?.node_info.as_ref()?;
        if info.operating_system.is_empty() || info.architecture.is_empty() {
            return None;
        }
        Some(Platform::new(&info.operating_system, &info.architecture))
    }

    /// Whether an index entry for `other` serves a node of this platform: the same OS and
    /// CPU, and the same variant when both say one (containerd's matcher is as lenient).
    pub fn serves(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// The distinct platforms of some nodes, in order.
    pub fn of_nodes<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<Platform> {
        let mut out: Vec<Platform> = nodes.into_iter().filter_map(Platform::of_node).collect();
        out.sort();
        out.dedup();
        out
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One image manifest: what a node of its platform pulls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// None for a tag that names a single image (its manifest does not say a platform).
    pub platform: Option<Platform>,
    pub digest: String,
    /// Compressed bytes of its layers and config, as the manifest lists them.
    pub bytes: u64,
}

/// A tag (or digest) the registry has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The registry host asked, e.g. `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// What the reference names now: the index's digest for a multi-platform image.
    pub digest: String,
    /// Whether it is an index (a manifest list) of several platforms.
    pub index: bool,
    /// Every platform an index lists (empty for a single image).
    pub offered: Vec<Platform>,
    /// The manifests of the platforms asked for (for a single image, its one manifest).
    pub images: Vec<Manifest>,
}

impl Found {
    /// Bytes a node of `platform` pulls: its index entry's, or the single image's; None
    /// when the index was not read for that platform.
    pub fn bytes_for(&self, platform: Option<&Platform>) -> Option<u64> {
        if !self.index {
            return self.images.first().map(|m| m.bytes);
        }
        let platform = platform?;
        self.images
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| platform.serves(p)))
            .map(|m| m.bytes)
    }

    /// Of `wanted`, the platforms an index has no image for (a single image is taken to
    /// serve every node: its platform is in its config, which is not read).
    pub fn lacking(&self, wanted: &[Platform]) -> Vec<Platform> {
        if !self.index {
            return Vec::new();
        }
        wanted
            .iter()
            .filter(|w| !self.offered.iter().any(|o| w.serves(o)))
            .cloned()
            .collect()
    }

    /// The largest pull of any platform read: what a pool of mixed nodes needs at most.
    pub fn largest(&self) -> Option<u64> {
        self.images.iter().map(|m| m.bytes).max()
    }
}

/// The registry's answer for one reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Found(Found),
    /// The registry says there is no such tag or repository; its words.
    Missing {
        registry: String,
        words: String,
    },
    /// The registry wants credentials: none were found for it, or those found were
    /// refused. It does not tell whether the image exists.
    Denied {
        registry: String,
        words: String,
        /// Where the credentials sent came from (None: none were found).
        credentials: Option<String>,
    },
    /// No answer: the host does not resolve, refuses, times out or fails.
    Unreachable {
        registry: String,
        why: String,
    },
}

impl Answer {
    pub fn found(&self) -> Option<&Found> {
        match self {
            Answer::Found(f) => Some(f),
            _ => None,
        }
    }

    /// Whether the image is known not to be pullable: missing, or an index without the
    /// platform of some of `platforms`' nodes. A denied or unreachable registry does not
    /// refuse (the image is then unchecked).
    pub fn refuses(&self, platforms: &[Platform]) -> bool {
        match self {
            Answer::Missing { .. } => true,
            Answer::Found(f) => !f.lacking(platforms).is_empty(),
            _ => false,
        }
    }

    /// Whether the image could not be checked.
    pub fn unchecked(&self) -> bool {
        matches!(self, Answer::Denied { .. } | Answer::Unreachable { .. })
    }

    /// One sentence (two at most) for `image`, saying what the registry said and what to do.
    pub fn sentence(&self, image: &str, platforms: &[Platform]) -> String {
        match self {
            Answer::Found(f) => {
                let lacking = f.lacking(platforms);
                if !lacking.is_empty() {
                    return format!(
                        "{image} has no image for {} in {}: its index lists {}; nodes of {} would fail to pull it.",
                        list(&lacking),
                        f.registry,
                        list(&f.offered),
                        if lacking.len() == 1 {
                            "that platform"
                        } else {
                            "those platforms"
                        },
                    );
                }
                let size = match (f.index, f.largest()) {
                    (_, Some(b)) if f.images.len() == 1 || !f.index => {
                        format!("{} compressed", crate::units::bytes(b))
                    }
                    (_, Some(b)) => format!("up to {} compressed", crate::units::bytes(b)),
                    (_, None) => "size per platform not read".to_string(),
                };
                format!(
                    "{image} is in {} ({size}, {}).",
                    f.registry,
                    short_digest(&f.digest)
                )
            }
            Answer::Missing { registry, words } => format!(
                "{image} does not exist: {registry} answered \"{words}\". Check the name and the tag."
            ),
            Answer::Denied { .. } | Answer::Unreachable { .. } => {
                self.unchecked_sentence(&[image.to_string()])
            }
        }
    }

    /// The sentence of a denied or unreachable registry for some images it left unchecked
    /// (one sentence for all of them); empty for another answer.
    pub fn unchecked_sentence(&self, images: &[String]) -> String {
        let (subject, them, were) = match images {
            [one] => (one.clone(), "it", "was"),
            many => (
                format!("{} images ({})", many.len(), many.join(", ")),
                "them",
                "were",
            ),
        };
        match self {
            Answer::Denied {
                registry,
                words,
                credentials: None,
            } => format!(
                "{registry} asks for credentials to read {subject} (\"{words}\") and none were found for it; \
                 run `docker login {registry}` to have {them} checked (a repository that does not exist can \
                 answer the same)."
            ),
            Answer::Denied {
                registry,
                words,
                credentials: Some(place),
            } => format!(
                "{registry} refused the credentials from {place} for {subject} (\"{words}\"), so {subject_short} \
                 {were} not checked; log in again with `docker login {registry}`.",
                subject_short = them,
            ),
            Answer::Unreachable { registry, why } => {
                format!("{registry} could not be reached ({why}), so {subject} {were} not checked.")
            }
            _ => String::new(),
        }
    }

    /// A few words for a column or a list entry: `41.2 MB`, `missing`, `unchecked`.
    pub fn short(&self, platform: Option<&Platform>) -> String {
        match self {
            Answer::Found(f) => match f.bytes_for(platform).or(f.largest()) {
                Some(b) => crate::units::bytes(b),
                None => "in registry".into(),
            },
            Answer::Missing { .. } => "missing".into(),
            Answer::Denied { .. } => "unchecked: needs login".into(),
            Answer::Unreachable { .. } => "unchecked: no answer".into(),
        }
    }
}

/// `sha256:0123456789ab`, enough to tell digests apart on a line.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", &hex[..hex.len().min(12)]),
        None => digest.to_string(),
    }
}

fn list(platforms: &[Platform]) -> String {
    let all: Vec<String> = platforms.iter().map(Platform::to_string).collect();
    if all.is_empty() {
        "no platform".into()
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests;
