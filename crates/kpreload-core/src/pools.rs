//! Pools and the pools file, the GitOps source of preloaders.
//!
//! ```yaml
//! namespace: kube-system            # where preloaders live (default kube-system)
//! keep: 2                           # versions kept per line by cleanup (default 2)
//! protect: ["registry.k8s.io/*"]    # never removed (default registry.k8s.io/*)
//! helperImage: busybox:1.37.0-musl  # a static busybox: the no-op and the cleanup container
//! pullSecrets: [regcred]            # the pods' imagePullSecrets, for pools that name none
//! cleanup:                          # the scheduled cleanup in the cluster (a CronJob)
//!   schedule: "0 3 * * *"
//!   image: registry.example.com/kpreload:0.1.0
//! pools:
//!   - name: ml
//!     nodeSelector: { matchLabels: { workload-type: ml } }
//!     tolerations: [{ key: workload, operator: Equal, value: ml, effect: NoSchedule }]
//!     images: [pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime]
//!     keep: 3
//! ```
//!
//! Every mistake is reported with the file, line and column: validation happens while the
//! YAML is read, so the parser knows where it is.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::planner::{DEFAULT_KEEP, DEFAULT_PROTECT};
use super::reference::ImageRef;
use super::selector::{
    NodeSelector, Operator, Requirement, Taint, TaintEffect, Toleration, TolerationOperator,
    daemonset_tolerates_all,
};
use super::yaml_places::places;

mod cleanup;
pub use cleanup::{Cleanup, DEFAULT_CLEANUP_SCHEDULE, cron_problem};
use cleanup::{EMPTY_CLEANUP, RawCleanup, present};

/// The helper image: a static busybox, whose `true` runs in images with no shell and whose
/// `sleep` keeps the cleanup container alive for exec.
pub(crate) const DEFAULT_HELPER_IMAGE: &str = "busybox:1.37.0-musl";
pub const DEFAULT_NAMESPACE: &str = "kube-system";
/// Longest pool name: `image-preloader-` plus the name must leave room for pod suffixes.
pub const POOL_NAME_MAX: usize = 40;

/// A set of nodes and the images every one of them should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub selector: NodeSelector,
    pub tolerations: Vec<Toleration>,
    /// In pull order: the kubelet pulls one init container's image after another.
    pub images: Vec<ImageRef>,
    pub keep: Option<usize>,
    pub protect: Option<Vec<String>>,
    /// How many preloader DaemonSets share the images (1: one). With the kubelet's
    /// `serializeImagePulls: false`, shards pull in parallel; one pod's images never do.
    pub shards: usize,
    /// The Secrets (in the preloaders' namespace) the kubelet pulls the pool's images
    /// with: the pod's `imagePullSecrets`. The file's default when the pool names none.
    pub pull_secrets: Vec<String>,
}

/// The most DaemonSets one pool may be split over.
pub const SHARDS_MAX: usize = 16;

impl Pool {
    /// Whether the pool's preloader runs on a node with these labels and taints (its own
    /// tolerations and those the DaemonSet controller adds: a cordoned node runs it too).
    pub fn covers(&self, labels: &BTreeMap<String, String>, taints: &[Taint]) -> bool {
        self.selector.matches(labels) && daemonset_tolerates_all(&self.tolerations, taints)
    }

    /// The preloader DaemonSet's name.
    pub fn daemonset_name(&self) -> String {
        format!("image-preloader-{}", self.name)
    }
}

/// The pools file, with its defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolsFile {
    pub namespace: String,
    pub keep: usize,
    pub protect: Vec<String>,
    pub helper_image: ImageRef,
    pub pools: Vec<Pool>,
    /// The scheduled cleanup in the cluster, when the file asks for one.
    pub cleanup: Option<Cleanup>,
}

/// A pools file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct PoolsError {
    pub file: String,
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl PoolsFile {
    pub fn load(path: &Path) -> Result<Self, PoolsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PoolsError {
            file: file.clone(),
            location: None,
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "there is no such pools file; pass its path with -f FILE".into()
                }
                _ => format!("cannot read the pools file: {}", io_reason(&e)),
            },
        })?;
        Self::parse(&text, &file)
    }

    /// Parses a pools file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, PoolsError> {
        let blank = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if blank {
            return Err(PoolsError {
                file: file.into(),
                location: None,
                message: "the pools file is empty; it needs a `pools:` list".into(),
            });
        }
        let raw: RawFile = serde_yaml::from_str(text).map_err(|e| yaml_error(file, &e))?;
        raw.check().map_err(|(path, message)| {
            let places = places(text);
            let mut location = places.first().and_then(|doc| doc.get(&path)).copied();
            // An empty section has no value to point at: point at its key.
            if path == "cleanup" && message == EMPTY_CLEANUP {
                location = text
                    .lines()
                    .position(|l| l.starts_with("cleanup:"))
                    .map(|i| (i + 1, 1));
            }
            let message = if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            };
            PoolsError {
                file: file.into(),
                location,
                message,
            }
        })
    }

    /// The pools named `only` (all when None); a name the file lacks is an error naming
    /// the file's pools.
    pub fn select(&self, only: Option<&str>, file: &str) -> Result<Vec<&Pool>, String> {
        let selected: Vec<&Pool> = self
            .pools
            .iter()
            .filter(|p| only.is_none_or(|name| p.name == name))
            .collect();
        match (only, selected.is_empty()) {
            (Some(name), true) => {
                let known: Vec<&str> = self.pools.iter().map(|p| p.name.as_str()).collect();
                Err(format!(
                    "{file} has no pool named \"{name}\"; its pools are {}.",
                    known.join(", ")
                ))
            }
            _ => Ok(selected),
        }
    }
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// serde_yaml ends its messages with "at line L column C"; we put the place first, as
/// compilers do.
fn yaml_error(file: &str, e: &serde_yaml::Error) -> PoolsError {
    let mut message = without_first_place(&e.to_string());
    // Name the shapes as a person writes them, not as our structs are called.
    for (ours, theirs) in [
        ("struct RawFile", "a mapping with a `pools:` list"),
        ("struct RawPool", "a pool: a mapping with a name and images"),
        (
            "struct RawSelector",
            "a node selector with matchLabels or matchExpressions",
        ),
        (
            "struct RawRequirement",
            "a requirement with key, operator and values",
        ),
        (
            "struct RawCleanup",
            "the scheduled cleanup: a mapping with schedule, image and pool",
        ),
        (
            "struct RawToleration",
            "a toleration with key, operator, value and effect",
        ),
    ] {
        message = message.replace(ours, theirs);
    }
    PoolsError {
        file: file.into(),
        location: e.location().map(|l| (l.line(), l.column())),
        message,
    }
}

/// Drops the first " at line L column C" (the place we print first) and keeps the rest,
/// such as ", while parsing a flow sequence at line 4 column 13".
pub fn without_first_place(message: &str) -> String {
    let Some(at) = message.find(" at line ") else {
        return message.to_string();
    };
    let after = &message[at..];
    let end = after
        .find(" column ")
        .map(|c| {
            let digits = after[c + 8..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            c + 8 + digits
        })
        .unwrap_or(after.len());
    format!("{}{}", &message[..at], &after[end..])
}

/// A check's failure: the path of the value at fault, and what is wrong with it.
type Fault = (String, String);

fn fault(path: impl Into<String>, message: impl Into<String>) -> Fault {
    (path.into(), message.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    api_version: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    keep: Option<i64>,
    protect: Option<Vec<String>>,
    helper_image: Option<String>,
    pull_secrets: Option<Vec<String>>,
    pools: Vec<RawPool>,
    /// Some(None): written, with nothing under it.
    #[serde(default, deserialize_with = "present")]
    cleanup: Option<Option<RawCleanup>>,
}

impl RawFile {
    fn check(self) -> Result<PoolsFile, Fault> {
        if let Some(v) = self.api_version.filter(|v| v != "kpreload.dev/v1") {
            return Err(fault(
                "apiVersion",
                format!("\"{v}\" is not known; use kpreload.dev/v1"),
            ));
        }
        if let Some(k) = self.kind.filter(|k| k != "Pools") {
            return Err(fault(
                "kind",
                format!("\"{k}\" is not a pools file; use kind: Pools"),
            ));
        }
        let namespace = match self.namespace {
            Some(n) => match dns_label_problem(&n, 63) {
                None => n,
                Some(p) => return Err(fault("namespace", format!("the namespace \"{n}\" {p}"))),
            },
            None => DEFAULT_NAMESPACE.into(),
        };
        let keep = check_keep(self.keep, "keep")?.unwrap_or(DEFAULT_KEEP);
        let protect = match self.protect {
            Some(p) => check_protect(p, "protect")?,
            None => DEFAULT_PROTECT.iter().map(|s| s.to_string()).collect(),
        };
        let helper_image = check_image(
            self.helper_image.as_deref().unwrap_or(DEFAULT_HELPER_IMAGE),
            "helperImage",
        )?;
        let default_secrets = check_secrets(self.pull_secrets, "pullSecrets")?.unwrap_or_default();
        let mut pools: Vec<Pool> = Vec::new();
        for (i, raw) in self.pools.into_iter().enumerate() {
            // A pool's own list, even empty, stands; else the file's.
            let own = raw.pull_secrets.is_some();
            let mut pool = raw.check(&format!("pools[{i}]"))?;
            if !own {
                pool.pull_secrets = default_secrets.clone();
            }
            if pools.iter().any(|p| p.name == pool.name) {
                return Err(fault(
                    format!("pools[{i}].name"),
                    format!("the pool \"{}\" is defined twice", pool.name),
                ));
            }
            pools.push(pool);
        }
        let cleanup = match self.cleanup {
            Some(Some(c)) => Some(c.check(&pools)?),
            Some(None) => return Err(fault("cleanup", EMPTY_CLEANUP)),
            None => None,
        };
        Ok(PoolsFile {
            namespace,
            keep,
            protect,
            helper_image,
            pools,
            cleanup,
        })
    }
}

/// Pull secrets: Secret names (DNS subdomains), each once.
fn check_secrets(secrets: Option<Vec<String>>, path: &str) -> Result<Option<Vec<String>>, Fault> {
    let Some(list) = secrets else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for (i, s) in list.into_iter().enumerate() {
        if let Some(p) = dns_subdomain_problem(&s) {
            return Err(fault(
                format!("{path}[{i}]"),
                format!("the Secret name \"{s}\" {p}"),
            ));
        }
        if out.contains(&s) {
            return Err(fault(
                format!("{path}[{i}]"),
                format!("\"{s}\" is listed twice"),
            ));
        }
        out.push(s);
    }
    Ok(Some(out))
}

/// Why a text is not a DNS subdomain name (a Secret's name): dot-separated DNS labels, 253
/// characters at most.
pub fn dns_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > 253 {
        return Some(format!("is {} characters long; at most 253", name.len()));
    }
    name.split('.')
        .find_map(|label| dns_label_problem(label, 63))
}

fn check_keep(keep: Option<i64>, path: &str) -> Result<Option<usize>, Fault> {
    match keep {
        None => Ok(None),
        Some(k) if (1..=100).contains(&k) => Ok(Some(k as usize)),
        Some(k) => Err(fault(
            path,
            format!("{k} is not a valid keep count; it must be between 1 and 100"),
        )),
    }
}

fn check_shards(shards: Option<i64>, path: &str) -> Result<usize, Fault> {
    match shards {
        None => Ok(1),
        Some(n) if (1..=SHARDS_MAX as i64).contains(&n) => Ok(n as usize),
        Some(n) => Err(fault(
            path,
            format!("shards is {n}; it must be between 1 and {SHARDS_MAX}"),
        )),
    }
}

fn check_protect(patterns: Vec<String>, path: &str) -> Result<Vec<String>, Fault> {
    for (i, p) in patterns.iter().enumerate() {
        if p.trim().is_empty() || p.chars().any(char::is_whitespace) {
            return Err(fault(
                format!("{path}[{i}]"),
                format!("the protect pattern \"{p}\" is empty or has white space"),
            ));
        }
    }
    Ok(patterns)
}

fn check_image(text: &str, path: &str) -> Result<ImageRef, Fault> {
    ImageRef::parse(text).map_err(|e| fault(path, e.to_string()))
}

/// Why `name` is not a DNS-1123 label of at most `max` characters.
pub fn dns_label_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > max {
        return Some(format!("is longer than {max} characters"));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    (!ok_chars || !ok_ends).then(|| {
        "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
            .into()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPool {
    name: String,
    #[serde(default)]
    node_selector: RawSelector,
    #[serde(default)]
    tolerations: Vec<RawToleration>,
    images: Vec<String>,
    keep: Option<i64>,
    protect: Option<Vec<String>>,
    shards: Option<i64>,
    pull_secrets: Option<Vec<String>>,
}

impl RawPool {
    fn check(self, at: &str) -> Result<Pool, Fault> {
        if let Some(p) = dns_label_problem(&self.name, POOL_NAME_MAX) {
            return Err(fault(
                format!("{at}.name"),
                format!("the pool name \"{}\" {p}", self.name),
            ));
        }
        if let Some((_, tail)) = self.name.rsplit_once("-of-")
            && tail.parse::<usize>().is_ok()
            && self.name[..self.name.len() - tail.len() - 4]
                .rsplit('-')
                .next()
                .is_some_and(|n| n.parse::<usize>().is_ok())
        {
            return Err(fault(
                format!("{at}.name"),
                format!(
                    "the pool name \"{}\" ends like a shard's (-1-of-2), which would clash with a split pool's DaemonSets; choose another",
                    self.name
                ),
            ));
        }
        if self.images.is_empty() {
            return Err(fault(
                format!("{at}.images"),
                format!("the pool \"{}\" lists no images", self.name),
            ));
        }
        let mut images: Vec<ImageRef> = Vec::new();
        for (i, text) in self.images.iter().enumerate() {
            let path = format!("{at}.images[{i}]");
            let image = check_image(text, &path)?;
            if let Some(first) = images.iter().find(|x| **x == image) {
                return Err(fault(
                    path,
                    format!(
                        "the pool \"{}\" lists {text} twice (also as {})",
                        self.name,
                        first.written()
                    ),
                ));
            }
            images.push(image);
        }
        let mut term: Vec<Requirement> = self
            .node_selector
            .match_labels
            .iter()
            .map(|(k, v)| Requirement::equals(k, v))
            .collect();
        for (i, e) in self.node_selector.match_expressions.into_iter().enumerate() {
            let r = Requirement {
                key: e.key,
                operator: e.operator,
                values: e.values,
            };
            if let Some(p) = r.problem() {
                return Err(fault(format!("{at}.nodeSelector.matchExpressions[{i}]"), p));
            }
            term.push(r);
        }
        let mut tolerations = Vec::new();
        for (i, t) in self.tolerations.into_iter().enumerate() {
            let t = Toleration {
                key: t.key,
                operator: t.operator,
                value: t.value,
                effect: t.effect,
                toleration_seconds: t.toleration_seconds,
            };
            if let Some(p) = t.problem() {
                return Err(fault(format!("{at}.tolerations[{i}]"), p));
            }
            tolerations.push(t);
        }
        Ok(Pool {
            name: self.name,
            selector: NodeSelector {
                terms: if term.is_empty() { vec![] } else { vec![term] },
            },
            tolerations,
            images,
            keep: check_keep(self.keep, &format!("{at}.keep"))?,
            protect: match self.protect {
                Some(p) => Some(check_protect(p, &format!("{at}.protect"))?),
                None => None,
            },
            shards: check_shards(self.shards, &format!("{at}.shards"))?,
            pull_secrets: check_secrets(self.pull_secrets, &format!("{at}.pullSecrets"))?
                .unwrap_or_default(),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    key: String,
    operator: Operator,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawToleration {
    #[serde(default)]
    key: String,
    #[serde(default)]
    operator: TolerationOperator,
    #[serde(default)]
    value: String,
    effect: Option<TaintEffect>,
    toleration_seconds: Option<i64>,
}

#[cfg(test)]
mod tests;
