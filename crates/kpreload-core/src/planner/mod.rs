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

use std::fmt;

use serde::Serialize;

use super::reference::{ImageName, ImageRef};
use super::version::{Scheme, Tag, TagVersion};

mod group;
mod memo;
use group::{Group, group, recycle};
use memo::Key;
pub use memo::Memo;

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

/// Plans one node.
pub fn plan_node(input: &NodeInput, settings: &Settings) -> NodePlan {
    plan_node_with(input, settings, &mut Memo::new())
}

/// Plans one node, reading names through `memo`: one memo for many nodes reads each
/// distinct name once. The plan is the one [`plan_node`] makes.
pub fn plan_node_with(input: &NodeInput, settings: &Settings, memo: &mut Memo) -> NodePlan {
    // Keeping none would remove even the newest version: the least is one.
    let keep = settings.keep.max(1);
    let groups = group(&input.images, memo);
    let usage = index(
        input
            .in_use
            .iter()
            .map(|u| (u.image.as_str(), u.by.as_str())),
        memo,
    );
    let preloads = index(
        input
            .preloaded
            .iter()
            .map(|p| (p.image.as_str(), p.pool.as_str())),
        memo,
    );
    let newest = newest_per_line(&groups, keep, settings.group_flavours);

    let mut images: Vec<ImagePlan> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let reason = decide(i, g, &usage, &preloads, &newest, settings, keep, memo);
            let decision = if matches!(reason, Reason::Older(_)) {
                Decision::Remove
            } else {
                Decision::Keep
            };
            let mut refs: Vec<String> = g.names.iter().map(|n| n.normalized.to_string()).collect();
            refs.extend(g.unreadable.iter().cloned());
            ImagePlan {
                refs,
                id: g.id.as_deref().map(str::to_string),
                size: g.size,
                decision,
                reason,
            }
        })
        .collect();
    recycle(groups, memo);
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

#[allow(clippy::too_many_arguments)]
fn decide(
    index: usize,
    g: &Group,
    usage: &Index,
    preloads: &Index,
    newest: &[Option<bool>],
    settings: &Settings,
    keep: usize,
    memo: &mut Memo,
) -> Reason {
    if g.pinned {
        return Reason::Pinned;
    }
    let keys = || {
        g.names
            .iter()
            .flat_map(|n| n.keys.iter().copied())
            .chain(g.ids.iter().copied())
    };
    if let Some(users) = usage.of(keys()) {
        return Reason::InUse(users);
    }
    if let Some(pools) = preloads.of(keys()) {
        return Reason::Preloaded(pools);
    }
    if let Some(r) = g.unreadable.first() {
        return Reason::Unreadable(r.clone());
    }
    for name in &g.names {
        if let Some(pattern) = memo.protected_by(&settings.protect, name) {
            return Reason::Protected(pattern.to_string());
        }
    }
    let mut tagged = tagged(g).peekable();
    if tagged.peek().is_none() {
        return Reason::NoTag;
    }
    // A usage or preload that cannot be read could be this image: keep it.
    if let Some((image, by)) = usage.unreadable.first().or(preloads.unreadable.first()) {
        return Reason::UnreadableUse(image.clone(), by.clone());
    }
    if let Some((_, tag, _)) = tagged.find(|(_, _, t)| matches!(t, Tag::NotVersion)) {
        return Reason::NotVersion(tag.clone());
    }
    if newest[index].unwrap_or(true) {
        return Reason::Newest(keep);
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
    Reason::Older(keep)
}

/// The group's tagged references: repository, tag and what the tag is.
fn tagged(g: &Group) -> impl Iterator<Item = &(Key, String, Tag)> {
    g.names.iter().filter_map(|n| n.tagged.as_ref())
}

/// For every image with version tags: true when one of its tags is among the newest N
/// distinct images of that tag's line (by the image's index; `None` without version tags).
fn newest_per_line(groups: &[Group], keep: usize, group_flavours: bool) -> Vec<Option<bool>> {
    // Every version tag with its line (repository × flavour × scheme), sorted by line and
    // then newest first; ties broken by the tag's text and then the image, so input order
    // never matters.
    type Line<'a> = (Key, &'a str, &'a Scheme);
    let mut tags: Vec<(Line, &TagVersion, &str, usize)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        for (repo, tag, parsed) in tagged(g) {
            if let Tag::Version(v) = parsed {
                let flavour = if group_flavours {
                    v.flavour.as_str()
                } else {
                    ""
                };
                tags.push(((*repo, flavour, &v.scheme), v, tag.as_str(), i));
            }
        }
    }
    tags.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.cmp_version(a.1))
            .then_with(|| a.2.cmp(b.2))
            .then_with(|| group_key(&groups[a.3]).cmp(&group_key(&groups[b.3])))
    });
    let mut newest: Vec<Option<bool>> = vec![None; groups.len()];
    let mut kept: Vec<usize> = Vec::new();
    for members in tags.chunk_by(|a, b| a.0 == b.0) {
        kept.clear();
        for &(_, _, _, image) in members {
            if kept.len() < keep && !kept.contains(&image) {
                kept.push(image);
            }
        }
        for &(_, _, _, image) in members {
            let entry = newest[image].get_or_insert(false);
            *entry |= kept.contains(&image);
        }
    }
    newest
}

fn group_key(g: &Group) -> (Option<&ImageName>, Option<&str>) {
    (g.names.first().map(|n| &n.name), g.id.as_deref())
}

/// Who uses (or preloads) what, by match key, sorted; references that cannot be read are
/// kept aside, since they could name any image.
struct Index<'a> {
    known: Vec<(Key, &'a str)>,
    unreadable: Vec<(String, String)>,
}

impl Index<'_> {
    /// Who uses (or preloads) any of `keys`, sorted and each once; `None` when nobody does.
    fn of(&self, keys: impl Iterator<Item = Key>) -> Option<Vec<String>> {
        let mut who: Vec<&str> = Vec::new();
        for key in keys {
            let from = self.known.partition_point(|(k, _)| *k < key);
            who.extend(
                self.known[from..]
                    .iter()
                    .take_while(|(k, _)| *k == key)
                    .map(|(_, w)| *w),
            );
        }
        if who.is_empty() {
            return None;
        }
        who.sort_unstable();
        who.dedup();
        Some(who.into_iter().map(str::to_string).collect())
    }
}

fn index<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>, memo: &mut Memo) -> Index<'a> {
    let mut out = Index {
        known: Vec::new(),
        unreadable: Vec::new(),
    };
    for (image, who) in entries {
        match memo.read(image) {
            Ok(read) => out.known.extend(read.keys.iter().map(|&key| (key, who))),
            Err(_) => out.unreadable.push((image.to_string(), who.to_string())),
        }
    }
    out.known.sort_unstable();
    out.unreadable.sort();
    out
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
