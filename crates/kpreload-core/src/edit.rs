//! Editing a pool's images, without I/O: the draft and its operations (with undo), what the
//! cluster knows to complete from, the DaemonSet a draft becomes, the diff a person reviews,
//! and what each of the pool's nodes will pull.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;

use super::adopt::{Origin, read_preloader};
use super::planner::{DEFAULT_KEEP, DEFAULT_PROTECT};
use super::pools::{DEFAULT_HELPER_IMAGE, Pool, PoolsFile};
use super::progress::{Overview, Snapshot};
use super::reference::ImageRef;
use super::render::{CLEANUP_CONTAINER, NOOP_CONTAINER, render_pool};
use super::selector::Taint;
use super::version::Tag;

/// A reference typed or chosen by a person, checked: the reason when it is not one.
pub fn validate(text: &str) -> Result<ImageRef, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type an image reference, such as nginx:1.27-alpine".into());
    }
    ImageRef::parse(text).map_err(|e| e.to_string())
}

/// A pool's image list being edited: the list as it was, the list now, and every earlier
/// state for undo.
#[derive(Clone, Debug)]
pub struct Draft {
    pub pool: String,
    pub original: Vec<ImageRef>,
    pub images: Vec<ImageRef>,
    history: Vec<Vec<ImageRef>>,
}

impl Draft {
    pub fn new(pool: &str, images: Vec<ImageRef>) -> Draft {
        Draft {
            pool: pool.to_string(),
            original: images.clone(),
            images,
            history: Vec::new(),
        }
    }

    /// Whether the list differs from what it was (order counts: it is the pull order).
    pub fn changed(&self) -> bool {
        written(&self.images) != written(&self.original)
    }

    fn position_of(&self, image: &ImageRef) -> Option<usize> {
        self.images
            .iter()
            .position(|i| i.normalized() == image.normalized())
    }

    /// Inserts a reference at `at` (clamped); refused with the reason when it is not a valid
    /// reference or already in the list. Returns where it went.
    pub fn add(&mut self, at: usize, text: &str) -> Result<usize, String> {
        let image = validate(text)?;
        if let Some(i) = self.position_of(&image) {
            return Err(format!(
                "{} is already in the list (number {})",
                image.written(),
                i + 1
            ));
        }
        let at = at.min(self.images.len());
        self.remember();
        self.images.insert(at, image);
        Ok(at)
    }

    /// Removes the image at `i`; the last one stays (a pool needs one; delete the pool
    /// instead).
    pub fn remove(&mut self, i: usize) -> Result<ImageRef, String> {
        if i >= self.images.len() {
            return Err("no image selected".into());
        }
        if self.images.len() == 1 {
            return Err(
                "a pool needs at least one image; to stop preloading, delete the pool (D)".into(),
            );
        }
        self.remember();
        Ok(self.images.remove(i))
    }

    /// Gives the image at `i` another tag (or a digest, after `@`).
    pub fn set_tag(&mut self, i: usize, tag: &str) -> Result<(), String> {
        let Some(current) = self.images.get(i) else {
            return Err("no image selected".into());
        };
        let tag = tag.trim().trim_start_matches(':');
        let text = if tag.starts_with("sha256:") || tag.starts_with('@') {
            format!(
                "{}@{}",
                current.familiar_name(),
                tag.trim_start_matches('@')
            )
        } else {
            format!("{}:{tag}", current.familiar_name())
        };
        let image = validate(&text)?;
        if let Some(j) = self.position_of(&image).filter(|j| *j != i) {
            return Err(format!(
                "{} is already in the list (number {})",
                image.written(),
                j + 1
            ));
        }
        if image.normalized() == current.normalized() {
            return Ok(());
        }
        self.remember();
        self.images[i] = image;
        Ok(())
    }

    /// Moves the image at `i` one place earlier; returns its new place.
    pub fn move_up(&mut self, i: usize) -> Option<usize> {
        if i == 0 || i >= self.images.len() {
            return None;
        }
        self.remember();
        self.images.swap(i, i - 1);
        Some(i - 1)
    }

    /// Moves the image at `i` one place later; returns its new place.
    pub fn move_down(&mut self, i: usize) -> Option<usize> {
        if i + 1 >= self.images.len() {
            return None;
        }
        self.remember();
        self.images.swap(i, i + 1);
        Some(i + 1)
    }

    /// Takes back the last change; false when there is none.
    pub fn undo(&mut self) -> bool {
        match self.history.pop() {
            Some(previous) => {
                self.images = previous;
                true
            }
            None => false,
        }
    }

    fn remember(&mut self) {
        self.history.push(self.images.clone());
    }

    /// The change in words: added, removed, retagged, reordered.
    pub fn summary(&self) -> Vec<String> {
        summary(&self.original, &self.images)
    }
}

fn written(images: &[ImageRef]) -> Vec<String> {
    images.iter().map(ImageRef::normalized).collect()
}

/// What changed between two image lists, one line each: `+ redis:7.4-alpine (pulled 3rd)`,
/// `− node:20-alpine`, `~ nginx 1.25-alpine → 1.27-alpine`, `pull order: a, b, c`.
pub fn summary(before: &[ImageRef], after: &[ImageRef]) -> Vec<String> {
    let before_keys = written(before);
    let after_keys = written(after);
    let mut out = Vec::new();
    let mut retagged_from: BTreeSet<String> = BTreeSet::new();
    for (i, image) in after.iter().enumerate() {
        if before_keys.contains(&image.normalized()) {
            continue;
        }
        let old = before.iter().find(|b| {
            b.name() == image.name()
                && !after_keys.contains(&b.normalized())
                && !retagged_from.contains(&b.normalized())
        });
        match old {
            Some(old) => {
                retagged_from.insert(old.normalized());
                out.push(format!(
                    "~ {}  {} → {}",
                    image.familiar_name(),
                    version_text(old),
                    version_text(image)
                ));
            }
            None => out.push(format!(
                "+ {}  (pulled {})",
                image.written(),
                ordinal(i + 1)
            )),
        }
    }
    for image in before {
        if !after_keys.contains(&image.normalized()) && !retagged_from.contains(&image.normalized())
        {
            out.push(format!("− {}", image.written()));
        }
    }
    // The order of the repositories in both lists (a retagged image keeps its place).
    let before_names: Vec<String> = before.iter().map(ImageRef::name).collect();
    let after_names: Vec<String> = after.iter().map(ImageRef::name).collect();
    let common_before: Vec<&String> = before_names
        .iter()
        .filter(|k| after_names.contains(k))
        .collect();
    let common_after: Vec<&String> = after_names
        .iter()
        .filter(|k| before_names.contains(k))
        .collect();
    // Two versions of one repository may swap places too.
    let same_before: Vec<&String> = before_keys
        .iter()
        .filter(|k| after_keys.contains(k))
        .collect();
    let same_after: Vec<&String> = after_keys
        .iter()
        .filter(|k| before_keys.contains(k))
        .collect();
    if common_before != common_after || same_before != same_after {
        let order: Vec<String> = after
            .iter()
            .map(|i| {
                if after.iter().filter(|o| o.name() == i.name()).count() > 1 {
                    i.familiar()
                } else {
                    i.familiar_name()
                }
            })
            .collect();
        out.push(format!("pull order now: {}", order.join(", ")));
    }
    out
}

fn version_text(image: &ImageRef) -> String {
    match (image.tag(), image.digest()) {
        (Some(t), Some(d)) => format!("{t}@{}", short_digest(d)),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => format!("@{}", short_digest(d)),
        (None, None) => "latest".into(),
    }
}

fn short_digest(d: &str) -> String {
    d.chars().take(19).collect()
}

pub(crate) fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// An image the cluster knows: on nodes, in pods, in preloaders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    /// As people write it (`nginx:1.25-alpine`).
    pub image: String,
    /// Nodes that hold it.
    pub nodes: usize,
    pub size: Option<u64>,
    /// Where it was seen, for the completion list: `on 3 nodes`, `in pods`, `pool ml`.
    pub seen: String,
}

/// What the cluster knows about images: sizes and holders from nodes' `status.images`, and
/// names from pods and preloaders.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub known: Vec<Known>,
    /// Size by normalised reference.
    pub sizes: HashMap<String, u64>,
}

impl Catalog {
    pub fn from_snapshot(snapshot: &Snapshot, overview: &Overview) -> Catalog {
        // The same few hundred names come back on every node: count them as written
        // first, and parse each name once.
        let mut raw: HashMap<&str, (usize, Option<i64>)> = HashMap::new();
        for node in &snapshot.nodes {
            for image in node
                .status
                .as_ref()
                .and_then(|s| s.images.as_ref())
                .into_iter()
                .flatten()
            {
                for name in image.names.iter().flatten() {
                    let e = raw.entry(name.as_str()).or_insert((0, None));
                    e.0 += 1;
                    if image.size_bytes.is_some() {
                        e.1 = image.size_bytes;
                    }
                }
            }
        }
        let mut nodes_holding: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut sizes = HashMap::new();
        for (name, (count, size)) in raw {
            let Ok(r) = ImageRef::parse(name) else {
                continue;
            };
            if let Some(size) = size {
                sizes.insert(r.normalized(), size.max(0) as u64);
            }
            // Digest names are how the kubelet lists pulls; a person picks tags.
            if r.tag().is_none() {
                continue;
            }
            nodes_holding
                .entry(r.normalized())
                .or_insert_with(|| (r.familiar(), 0))
                .1 += count;
        }
        let mut in_pods: std::collections::HashSet<&str> = Default::default();
        for pod in &snapshot.workloads {
            for i in pod.container_images().iter().chain(pod.init_images()) {
                in_pods.insert(i);
            }
        }
        let mut others: BTreeMap<String, (String, String)> = BTreeMap::new();
        for r in in_pods.into_iter().filter_map(|i| ImageRef::parse(i).ok()) {
            others
                .entry(r.normalized())
                .or_insert_with(|| (r.familiar(), "in pods".into()));
        }
        for pool in &overview.pools {
            for image in &pool.images {
                if let Ok(r) = ImageRef::parse(image) {
                    others
                        .entry(r.normalized())
                        .or_insert_with(|| (r.familiar(), format!("pool {}", pool.pool)));
                }
            }
        }
        let mut known: Vec<Known> = nodes_holding
            .iter()
            .map(|(key, (image, n))| Known {
                image: image.clone(),
                nodes: *n,
                size: sizes.get(key).copied(),
                seen: format!("on {n} node{}", if *n == 1 { "" } else { "s" }),
            })
            .collect();
        for (key, (image, seen)) in others {
            if !nodes_holding.contains_key(&key) {
                known.push(Known {
                    image,
                    nodes: 0,
                    size: sizes.get(&key).copied(),
                    seen,
                });
            }
        }
        known.sort_by(|a, b| b.nodes.cmp(&a.nodes).then_with(|| a.image.cmp(&b.image)));
        Catalog { known, sizes }
    }

    /// Tags of the same repository the cluster knows, newest first; tags that are not
    /// versions (`latest`, a hash) last, by name.
    pub fn tags_of(&self, image: &ImageRef) -> Vec<String> {
        let mut tags: Vec<String> = self
            .known
            .iter()
            .filter_map(|k| ImageRef::parse(&k.image).ok())
            .filter(|r| r.name() == image.name())
            .filter_map(|r| r.tag().map(str::to_string))
            .collect();
        tags.sort();
        tags.dedup();
        tags.sort_by(|a, b| match (Tag::parse(a), Tag::parse(b)) {
            (Tag::Version(x), Tag::Version(y)) => y.cmp_version(&x).then_with(|| a.cmp(b)),
            (Tag::Version(_), Tag::NotVersion) => std::cmp::Ordering::Less,
            (Tag::NotVersion, Tag::Version(_)) => std::cmp::Ordering::Greater,
            (Tag::NotVersion, Tag::NotVersion) => a.cmp(b),
        });
        tags
    }
}

/// The DaemonSet a pool becomes, given the one live now (if any).
#[derive(Clone, Debug)]
pub struct Desired {
    pub daemonset: DaemonSet,
    /// A hand-written preloader this one replaces (its name): the conversion to the rendered
    /// form deletes it and creates the rendered one (a DaemonSet's selector cannot change).
    pub replaces: Option<String>,
}

/// Renders `pool` as kpreload would, keeping what the live preloader says about the helper
/// image; a hand-written live preloader is converted.
pub fn desired(live: Option<&DaemonSet>, pool: &Pool, namespace: &str) -> Desired {
    let helper = live
        .and_then(|ds| ds.spec.template.spec.as_ref())
        .and_then(|spec| {
            spec.init_containers
                .iter()
                .flatten()
                .find(|c| c.name == NOOP_CONTAINER)
                .or_else(|| spec.containers.iter().find(|c| c.name == CLEANUP_CONTAINER))
                .and_then(|c| c.image.as_deref())
                .and_then(|i| ImageRef::parse(i).ok())
        })
        .unwrap_or_else(|| ImageRef::parse(DEFAULT_HELPER_IMAGE).expect("the default parses"));
    let file = PoolsFile {
        namespace: namespace.to_string(),
        keep: DEFAULT_KEEP,
        protect: DEFAULT_PROTECT.iter().map(|p| p.to_string()).collect(),
        helper_image: helper,
        pools: vec![pool.clone()],
        cleanup: None,
    };
    let daemonset = render_pool(&file, pool);
    let replaces = live
        .and_then(|ds| read_preloader(ds)?.ok())
        .filter(|p| p.origin == Origin::HandWritten)
        .map(|p| p.name);
    Desired {
        daemonset,
        replaces,
    }
}

/// A DaemonSet as a person reads it in a diff: no status, no server bookkeeping.
pub fn readable_yaml(ds: &DaemonSet) -> String {
    let mut value = serde_json::to_value(ds).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
    }
    if let Some(meta) = value["metadata"].as_object_mut() {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            a.remove("deprecated.daemonset.template.generation");
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    serde_yaml::to_string(&value).unwrap_or_default()
}

/// A line of a diff: ` ` unchanged, `-` before only, `+` after only, `…` skipped lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub sign: char,
    pub text: String,
}

/// A line diff of two texts with `context` unchanged lines around each change.
pub fn diff(before: &str, after: &str, context: usize) -> Vec<DiffLine> {
    let d = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for (g, group) in d.grouped_ops(context).iter().enumerate() {
        if g > 0 {
            out.push(DiffLine {
                sign: '…',
                text: String::new(),
            });
        }
        for op in group {
            for change in d.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                };
                out.push(DiffLine {
                    sign,
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    out
}

/// A diff as `diff -u` prints it, with file names (the tests read rewrites through it).
#[cfg(test)]
pub(crate) fn unified(before: &str, after: &str, name: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

mod pin;
mod pulls;
pub use pin::{Held, majority_digest};
pub use pulls::{NodePull, Rates, pool_nodes, pulls};

#[cfg(test)]
mod tests;
