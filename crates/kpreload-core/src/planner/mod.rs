//! The cleanup planner: which images a node may drop, and why each one stays or goes.
//!
//! The rules (docs/cleanup.md, "The rules"), in the order they are checked:
//! 1. refs that name one image (one ID, or a tag and its digest) are one image;
//! 2. never remove an image that is pinned, in use by any container, preloaded by the node's
//!    pool, or matched by a protect pattern;
//! 3. order each line of versions (repository × flavour) newest first and keep the newest N;
//! 4. an image is removed only when every one of its tags is older than the newest N of its
//!    line; a tag that is not a version, or an image without a tag, is kept;
//! 5. an image younger than the minimum age, or of unknown age when one is set, is kept.
//!
//! Pure: no clock (the caller passes `now`), no I/O, and the same input in any order gives
//! the same plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use super::reference::{ImageName, ImageRef};
use super::version::{Scheme, Tag, TagVersion};

/// The default number of versions kept per line.
pub const DEFAULT_KEEP: usize = 2;
/// Images that are never removed unless the operator says otherwise.
pub(crate) const DEFAULT_PROTECT: &[&str] = &["registry.k8s.io/*"];

/// One image on a node, as the kubelet (`status.images`) or the runtime reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryImage {
    /// The runtime's image ID (`sha256:…`), when known.
    pub id: Option<String>,
    /// Every name of the image: `repo:tag`, `repo@sha256:…`, possibly `sha256:<id>`.
    pub refs: Vec<String>,
    pub size: u64,
    pub pinned: bool,
    /// Seconds since the epoch.
    pub created: Option<i64>,
}

/// A container on the node that uses an image (any state: running, exited, created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The image as the pod spec or runtime names it, or its image ID.
    pub image: String,
    /// Who uses it, e.g. `default/api-0`.
    pub by: String,
}

/// An image the node's pool (or pools) preloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preload {
    pub image: String,
    pub pool: String,
}

/// Everything the planner knows about one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInput {
    pub node: String,
    pub pool: Option<String>,
    pub images: Vec<InventoryImage>,
    pub in_use: Vec<Usage>,
    pub preloaded: Vec<Preload>,
}

/// The operator's settings, shown in every preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub keep: usize,
    pub protect: Vec<String>,
    pub min_age_secs: Option<i64>,
    /// The time the plan is made, in seconds since the epoch (only read with `min_age_secs`).
    pub now: i64,
    /// Tags of different flavours (`-slim`, `-alpine`) form separate lines.
    pub group_flavours: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keep: DEFAULT_KEEP,
            protect: DEFAULT_PROTECT.iter().map(|s| s.to_string()).collect(),
            min_age_secs: None,
            now: 0,
            group_flavours: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Keep,
    Remove,
}

/// Why an image stays or goes. Displayed without the decision: `newest 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Pinned,
    InUse(Vec<String>),
    Preloaded(Vec<String>),
    Protected(String),
    NotVersion(String),
    NoTag,
    Unreadable(String),
    /// A container or pool names an image by a reference that cannot be read.
    UnreadableUse(String, String),
    Newest(usize),
    TooYoung(i64),
    AgeUnknown,
    Older(usize),
    /// Removable now, but not in the plan the operator confirmed.
    NotPreviewed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pinned => write!(f, "pinned"),
            Reason::InUse(by) => write!(f, "in use by {}", by.join(", ")),
            Reason::Preloaded(pools) => write!(f, "preloaded by pool {}", pools.join(", ")),
            Reason::Protected(pattern) => write!(f, "protected by pattern {pattern}"),
            Reason::NotVersion(tag) => write!(f, "not a version tag ({tag})"),
            Reason::NoTag => write!(f, "no tag to order by"),
            Reason::Unreadable(r) => write!(f, "could not read the reference {r}"),
            Reason::UnreadableUse(image, by) => {
                write!(
                    f,
                    "{by} uses \"{image}\", which could not be read, and could mean this image"
                )
            }
            Reason::Newest(n) => write!(f, "newest {n}"),
            Reason::TooYoung(secs) => {
                write!(f, "younger than the minimum age of {}", duration(*secs))
            }
            Reason::AgeUnknown => write!(f, "age unknown and a minimum age is set"),
            Reason::Older(n) => write!(f, "older than the newest {n}"),
            Reason::NotPreviewed => write!(
                f,
                "became removable after the preview; run again to remove it"
            ),
        }
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The plan for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePlan {
    /// Normalised refs, sorted; image IDs last.
    pub refs: Vec<String>,
    pub id: Option<String>,
    pub size: u64,
    pub decision: Decision,
    pub reason: Reason,
}

/// The plan for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    pub node: String,
    pub pool: Option<String>,
    pub images: Vec<ImagePlan>,
    pub remove_bytes: u64,
}

impl NodePlan {
    pub fn removals(&self) -> impl Iterator<Item = &ImagePlan> {
        self.images
            .iter()
            .filter(|i| i.decision == Decision::Remove)
    }
}

/// The keys an image name is matched by: `repo:tag` and `repo@digest` separately, so that
/// `nginx:1.23@sha256:…` in a pod spec matches an image listed as `nginx:1.23`, and the
/// other way round; an image ID is its own key.
fn match_keys(name: &ImageName) -> Vec<String> {
    match name {
        ImageName::Id(id) => vec![id.to_string()],
        ImageName::Ref(r) => {
            let mut keys = Vec::new();
            if let Some(tag) = r.tag() {
                keys.push(format!("{}:{tag}", r.name()));
            }
            if let Some(digest) = r.digest() {
                keys.push(format!("{}@{digest}", r.name()));
            }
            keys
        }
    }
}

/// One image after its refs are grouped and read.
struct Group {
    names: BTreeSet<ImageName>,
    unreadable: Vec<String>,
    /// Every ID the runtime reported for it (normally one); the smallest is shown.
    ids: BTreeSet<String>,
    size: u64,
    pinned: bool,
    created: Option<i64>,
}

/// Plans one node.
pub fn plan_node(input: &NodeInput, settings: &Settings) -> NodePlan {
    // Keeping none would remove even the newest version: the least is one.
    let settings = &Settings {
        keep: settings.keep.max(1),
        ..settings.clone()
    };
    let groups = group(&input.images);
    let usage = index_usage(&input.in_use);
    let preloads = index_preloads(&input.preloaded);
    let newest = newest_per_line(&groups, settings);

    let mut images: Vec<ImagePlan> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let reason = decide(i, g, &usage, &preloads, &newest, settings);
            let decision = if matches!(reason, Reason::Older(_)) {
                Decision::Remove
            } else {
                Decision::Keep
            };
            let mut refs: Vec<String> = g.names.iter().map(ImageName::normalized).collect();
            refs.extend(g.unreadable.iter().cloned());
            ImagePlan {
                refs,
                id: g.ids.iter().next().cloned(),
                size: g.size,
                decision,
                reason,
            }
        })
        .collect();
    images.sort_by(|a, b| a.refs.cmp(&b.refs).then(a.id.cmp(&b.id)));
    let remove_bytes = images
        .iter()
        .filter(|i| i.decision == Decision::Remove)
        .map(|i| i.size)
        .sum();
    NodePlan {
        node: input.node.clone(),
        pool: input.pool.clone(),
        images,
        remove_bytes,
    }
}

fn decide(
    index: usize,
    g: &Group,
    usage: &Index,
    preloads: &Index,
    newest: &HashMap<usize, bool>,
    settings: &Settings,
) -> Reason {
    if g.pinned {
        return Reason::Pinned;
    }
    let keys: BTreeSet<String> = g
        .names
        .iter()
        .flat_map(match_keys)
        .chain(g.ids.iter().cloned())
        .collect();
    let users: BTreeSet<&String> = keys
        .iter()
        .filter_map(|k| usage.known.get(k))
        .flatten()
        .collect();
    if !users.is_empty() {
        return Reason::InUse(users.into_iter().cloned().collect());
    }
    let pools: BTreeSet<&String> = keys
        .iter()
        .filter_map(|k| preloads.known.get(k))
        .flatten()
        .collect();
    if !pools.is_empty() {
        return Reason::Preloaded(pools.into_iter().cloned().collect());
    }
    if let Some(r) = g.unreadable.first() {
        return Reason::Unreadable(r.clone());
    }
    for name in &g.names {
        if let ImageName::Ref(r) = name
            && let Some(pattern) = settings.protect.iter().find(|p| protects(p, r))
        {
            return Reason::Protected(pattern.clone());
        }
    }
    let tagged: Vec<&ImageRef> = tagged_refs(g).collect();
    if tagged.is_empty() {
        return Reason::NoTag;
    }
    // A usage or preload that cannot be read could be this image: keep it.
    if let Some((image, by)) = usage.unreadable.first().or(preloads.unreadable.first()) {
        return Reason::UnreadableUse(image.clone(), by.clone());
    }
    if let Some(r) = tagged
        .iter()
        .find(|r| matches!(Tag::parse(r.tag().unwrap_or_default()), Tag::NotVersion))
    {
        return Reason::NotVersion(r.tag().unwrap_or_default().to_string());
    }
    if newest.get(&index).copied().unwrap_or(true) {
        return Reason::Newest(settings.keep);
    }
    if let Some(min_age) = settings.min_age_secs {
        match g.created {
            None => return Reason::AgeUnknown,
            Some(created) if settings.now.saturating_sub(created) < min_age => {
                return Reason::TooYoung(min_age);
            }
            Some(_) => {}
        }
    }
    Reason::Older(settings.keep)
}

fn tagged_refs(g: &Group) -> impl Iterator<Item = &ImageRef> {
    g.names.iter().filter_map(|n| match n {
        ImageName::Ref(r) if r.tag().is_some() => Some(r),
        _ => None,
    })
}

/// For every image with version tags: true when one of its tags is among the newest N
/// distinct images of that tag's line.
fn newest_per_line(groups: &[Group], settings: &Settings) -> HashMap<usize, bool> {
    type LineKey = (String, String, Scheme);
    let mut lines: BTreeMap<LineKey, Vec<(TagVersion, String, usize)>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        for r in tagged_refs(g) {
            let tag = r.tag().unwrap_or_default();
            if let Tag::Version(v) = Tag::parse(tag) {
                let flavour = if settings.group_flavours {
                    v.flavour.clone()
                } else {
                    String::new()
                };
                let key = (r.name(), flavour, v.scheme.clone());
                lines.entry(key).or_default().push((v, tag.to_string(), i));
            }
        }
    }
    let mut newest: HashMap<usize, bool> = HashMap::new();
    for members in lines.values_mut() {
        // Newest first; ties broken by the tag's text and then the image, so input order
        // never matters.
        members.sort_by(|a, b| {
            b.0.cmp_version(&a.0)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| group_key(&groups[a.2]).cmp(&group_key(&groups[b.2])))
        });
        let mut kept: Vec<usize> = Vec::new();
        for (_, _, image) in members.iter() {
            if kept.len() < settings.keep && !kept.contains(image) {
                kept.push(*image);
            }
        }
        for (_, _, image) in members.iter() {
            let entry = newest.entry(*image).or_insert(false);
            *entry |= kept.contains(image);
        }
    }
    newest
}

fn group_key(g: &Group) -> (Option<&ImageName>, Option<&String>) {
    (g.names.iter().next(), g.ids.iter().next())
}

/// Joins inventory entries that share an ID or any normalised name (union-find), so a tag
/// and its digest reported as two entries are still one image.
fn group(images: &[InventoryImage]) -> Vec<Group> {
    let mut parent: Vec<usize> = (0..images.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, image) in images.iter().enumerate() {
        let keys = image
            .refs
            .iter()
            .map(|r| ImageName::parse(r).map_or_else(|_| r.clone(), |n| n.normalized()))
            .chain(image.id.iter().map(|id| id.to_ascii_lowercase()));
        for key in keys {
            match seen.get(&key) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    seen.insert(key, i);
                }
            }
        }
    }
    let mut by_root: BTreeMap<usize, Group> = BTreeMap::new();
    for (i, image) in images.iter().enumerate() {
        let r = root(&mut parent, i);
        let g = by_root.entry(r).or_insert_with(|| Group {
            names: BTreeSet::new(),
            unreadable: Vec::new(),
            ids: BTreeSet::new(),
            size: 0,
            pinned: false,
            created: None,
        });
        for text in &image.refs {
            match ImageName::parse(text) {
                Ok(name) => {
                    g.names.insert(name);
                }
                Err(_) => {
                    if !g.unreadable.contains(text) {
                        g.unreadable.push(text.clone());
                    }
                }
            }
        }
        if let Some(id) = &image.id {
            let id = id.to_ascii_lowercase();
            g.ids.insert(id);
        }
        g.size = g.size.max(image.size);
        g.pinned |= image.pinned;
        g.created = match (g.created, image.created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut groups: Vec<Group> = by_root.into_values().collect();
    for g in &mut groups {
        g.unreadable.sort();
    }
    groups
}

/// Who uses (or preloads) what, by match key; references that cannot be read are kept
/// aside, since they could name any image.
struct Index {
    known: HashMap<String, BTreeSet<String>>,
    unreadable: Vec<(String, String)>,
}

fn index<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> Index {
    let mut out = Index {
        known: HashMap::new(),
        unreadable: Vec::new(),
    };
    for (image, who) in entries {
        match ImageName::parse(image) {
            Ok(name) => {
                for key in match_keys(&name) {
                    out.known.entry(key).or_default().insert(who.to_string());
                }
            }
            Err(_) => out.unreadable.push((image.to_string(), who.to_string())),
        }
    }
    out.unreadable.sort();
    out
}

fn index_usage(in_use: &[Usage]) -> Index {
    index(in_use.iter().map(|u| (u.image.as_str(), u.by.as_str())))
}

fn index_preloads(preloaded: &[Preload]) -> Index {
    index(
        preloaded
            .iter()
            .map(|p| (p.image.as_str(), p.pool.as_str())),
    )
}

/// A protect pattern matches a reference when, with `*` as any run of characters, it
/// matches the normalised reference or its repository name. A pattern without `*` is read
/// as a reference and matches that repository (and tag, when it names one).
pub(crate) fn protects(pattern: &str, r: &ImageRef) -> bool {
    if pattern.contains('*') {
        return glob(pattern, &r.normalized())
            || glob(pattern, &r.name())
            || glob(pattern, &r.familiar());
    }
    let has_tag = pattern
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    match ImageRef::parse(pattern) {
        Ok(p) if has_tag || p.digest().is_some() => {
            p.name() == r.name()
                && (p.tag().is_none() || p.tag() == r.tag())
                && (p.digest().is_none() || p.digest() == r.digest())
        }
        Ok(p) => p.name() == r.name(),
        Err(_) => false,
    }
}

/// `*` matches any run of characters, `/` included.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
