//! Reading a DaemonSet back into a pool: ours (by our labels) and hand-written ones in the
//! article's style (a DaemonSet named `image-preloader*` whose init containers only pull).

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Container;

use super::pools::Pool;
use super::reference::ImageRef;
use super::render::{
    ANNOTATION_KEEP, ANNOTATION_PROTECT, LABEL_MANAGED_BY, LABEL_POOL, LABEL_SHARD, MANAGER,
    NOOP_CONTAINER, Shard,
};
use super::selector::{NodeSelector, Toleration};

/// How a preloader came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Rendered by kpreload (carries our labels).
    Rendered,
    /// Written by hand in the article's style.
    HandWritten,
}

/// A DaemonSet recognised as a pool's preloader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preloader {
    pub namespace: String,
    pub name: String,
    pub origin: Origin,
    /// Which of the pool's DaemonSets this is, when the pool is split over several; its
    /// `pool.images` are then this shard's alone (see [`group`]).
    pub shard: Option<Shard>,
    pub pool: Pool,
}

/// The pool name of a hand-written preloader: `image-preloader-ml` → `ml`, and the
/// article's cluster-wide `image-preloader` → `default`.
pub(crate) fn pool_name_from_daemonset(name: &str) -> Option<String> {
    match name.strip_prefix("image-preloader") {
        Some("") => Some("default".into()),
        Some(rest) => rest
            .strip_prefix('-')
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        None => None,
    }
}

/// Recognises a preloader. `None`: not a preloader at all. `Some(Err)`: it is one, but
/// something in it cannot be read (the message says what).
pub fn read_preloader(ds: &DaemonSet) -> Option<Result<Preloader, String>> {
    let meta = &ds.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let labels = meta.labels.clone().unwrap_or_default();
    let ours = labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGER)
        && labels.contains_key(LABEL_POOL);
    let spec = ds.spec.template.spec.as_ref()?;
    // A sidecar (the cleanup container) runs beside the pulls and is not one.
    let init: Vec<&Container> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !crate::render::is_sidecar(c))
        .collect();

    let shard = match labels.get(LABEL_SHARD).filter(|_| ours) {
        Some(text) => match Shard::parse(text) {
            Some(s) => Some(s),
            None => {
                return Some(Err(format!(
                    "the preloader {name}: the label {LABEL_SHARD}=\"{text}\" is not a shard \
                     such as 1-of-3"
                )));
            }
        },
        None => None,
    };
    let (origin, pool_name, pulls): (Origin, String, Vec<&Container>) = if ours {
        let pulls = init
            .iter()
            .copied()
            .filter(|c| c.name != NOOP_CONTAINER)
            .collect();
        (Origin::Rendered, labels[LABEL_POOL].clone(), pulls)
    } else {
        let pool = pool_name_from_daemonset(&name)?;
        if init.is_empty() || !init.iter().all(|c| only_pulls(c)) {
            return None;
        }
        (Origin::HandWritten, pool, init)
    };

    Some(
        read(ds, &name, origin, pool_name, &pulls, spec).map(|mut p| {
            p.shard = shard;
            p.pool.shards = shard.map_or(1, |s| s.count);
            p
        }),
    )
}

/// One pool's preloader DaemonSets: one, or the shards of a split pool.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    /// In shard order; the first carries the cleanup container.
    pub daemonsets: Vec<&'a DaemonSet>,
    /// The first DaemonSet's reading, with the images of every shard in shard order (each
    /// once). `Err` when a DaemonSet of the group cannot be read.
    pub preloader: Result<Preloader, String>,
    /// Each DaemonSet's own images, beside `daemonsets` (empty for one that cannot be read).
    pub parts: Vec<Vec<ImageRef>>,
    /// What is wrong with the set of DaemonSets, when something is: a shard missing, two
    /// splits at once, a DaemonSet twice. See [`shape_problem`].
    pub shape: Option<String>,
    /// The names of the shards a split present lacks (see [`missing_shards`]): what they
    /// preload is unknown.
    pub missing: Vec<String>,
}

/// The DaemonSets of a split that are not there: for each split present (shards of K), the
/// names of its shards that no DaemonSet is. Empty for a whole split or one DaemonSet, and when
/// a member cannot be read (that is said already).
fn missing_shards(members: &[(&DaemonSet, Result<Preloader, String>)]) -> Vec<String> {
    let read: Vec<&Preloader> = members.iter().filter_map(|m| m.1.as_ref().ok()).collect();
    if read.len() < members.len() {
        return Vec::new();
    }
    let Some(first) = read.first() else {
        return Vec::new();
    };
    let counts: std::collections::BTreeSet<usize> = read
        .iter()
        .filter_map(|p| p.shard)
        .map(|s| s.count)
        .collect();
    let mut missing = Vec::new();
    for count in counts {
        for index in 1..=count {
            let present = read.iter().any(|p| p.shard == Some(Shard { index, count }));
            if !present {
                missing.push(super::render::shard_name(
                    &first.pool,
                    Shard { index, count },
                ));
            }
        }
    }
    missing
}

/// What is wrong with the DaemonSets of one pool, as a set, in a sentence: shards of two
/// splits at once (an apply stopped part-way, or is running), a shard missing (its images are
/// not preloaded, and without shard 1 cleanup has nowhere to run), a DaemonSet twice (a copy
/// made by hand). `None` for a whole split, one DaemonSet, or when a member cannot be read
/// (that is said already).
fn shape_problem(
    members: &[(&DaemonSet, Result<Preloader, String>)],
    missing: &[String],
) -> Option<String> {
    let read: Vec<&Preloader> = members.iter().filter_map(|m| m.1.as_ref().ok()).collect();
    if read.len() < members.len() {
        return None;
    }
    let first = read.first()?;
    let pool = &first.pool.name;
    let names: Vec<&str> = read.iter().map(|p| p.name.as_str()).collect();
    let counts: std::collections::BTreeSet<usize> = read
        .iter()
        .map(|p| p.shard.map_or(1, |s| s.count))
        .collect();
    if counts.len() > 1 {
        let how_many = match counts.len() {
            2 => "two".to_string(),
            n => n.to_string(),
        };
        let gap = if missing.is_empty() {
            String::new()
        } else {
            format!("; {} not there", missing.join(", "))
        };
        return Some(format!(
            "the pool {pool} has DaemonSets of {how_many} splits at once ({}){gap}: an apply \
             stopped part-way, or is running; apply the pools file again",
            names.join(", ")
        ));
    }
    let count = *counts.first()?;
    let place = |p: &Preloader| p.shard.map_or(1, |s| s.index);
    let twice: Vec<String> = (1..=count)
        .filter_map(|index| {
            let same: Vec<&str> = read
                .iter()
                .filter(|p| place(p) == index)
                .map(|p| p.name.as_str())
                .collect();
            if same.len() < 2 {
                return None;
            }
            let kpreloads = if count == 1 {
                first.pool.daemonset_name()
            } else {
                super::render::shard_name(&first.pool, Shard { index, count })
            };
            let what = if count == 1 {
                format!(
                    "{} DaemonSets where it has one ({})",
                    same.len(),
                    same.join(", ")
                )
            } else {
                format!(
                    "{} DaemonSets for its shard {} ({})",
                    same.len(),
                    Shard { index, count },
                    same.join(", ")
                )
            };
            let others = if same.len() > 2 { "others" } else { "other" };
            Some(if same.contains(&kpreloads.as_str()) {
                format!(
                    "{what}: keep {kpreloads}, the name kpreload gives it, and delete the {others}"
                )
            } else {
                format!(
                    "{what}: delete them and apply the pools file again, which creates {kpreloads}"
                )
            })
        })
        .collect();
    if !twice.is_empty() {
        let gap = if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; {} not there, so its images are not preloaded: apply the pools file again",
                missing.join(", ")
            )
        };
        return Some(format!("the pool {pool} has {}{gap}", twice.join("; and ")));
    }
    if missing.is_empty() {
        return None;
    }
    let without_first = !read.iter().any(|p| place(p) == 1);
    Some(format!(
        "the pool {pool} is missing {} of its {count} DaemonSets ({}): {} images are not \
         preloaded{}; apply the pools file again",
        missing.len(),
        missing.join(", "),
        if missing.len() == 1 { "its" } else { "their" },
        if without_first {
            " and cleanup has no container to run in"
        } else {
            ""
        }
    ))
}

/// Each pool short of a shard (see [`Group::missing`]), in a sentence: while one is, the
/// missing shards' images are not known, so they cannot be protected from a cleanup.
pub(crate) fn missing_shard_problems<'a>(
    daemonsets: impl IntoIterator<Item = &'a DaemonSet>,
) -> Vec<String> {
    group(daemonsets)
        .into_iter()
        .filter(|g| !g.missing.is_empty())
        .map(|g| {
            let pool = g
                .preloader
                .as_ref()
                .map(|p| p.pool.name.clone())
                .unwrap_or_default();
            format!(
                "the pool {pool} is missing {} ({}); apply the pools file again",
                if g.missing.len() == 1 {
                    "a DaemonSet"
                } else {
                    "DaemonSets"
                },
                g.missing.join(", ")
            )
        })
        .collect()
}

/// Folds the shards of a split pool (ours, same namespace and pool) into one group; every
/// other preloader is a group of its own. Not preloaders are left out. Ordered by the first
/// DaemonSet's place in the input.
pub fn group<'a>(daemonsets: impl IntoIterator<Item = &'a DaemonSet>) -> Vec<Group<'a>> {
    type Member<'a> = (&'a DaemonSet, Result<Preloader, String>);
    let mut groups: Vec<Vec<Member<'a>>> = Vec::new();
    let mut at: std::collections::HashMap<(String, String), usize> = Default::default();
    for ds in daemonsets {
        let Some(read) = read_preloader(ds) else {
            continue;
        };
        // Ours fold by (namespace, pool), split or not: a pool being re-split (1 → 2, or
        // 3 → 2) then reads as one pool with its shape flagged, not as two pools.
        let key = match &read {
            Ok(p) if p.origin == Origin::Rendered => {
                Some((p.namespace.clone(), p.pool.name.clone()))
            }
            _ => None,
        };
        match key {
            Some(k) => match at.get(&k) {
                Some(&i) => groups[i].push((ds, read)),
                None => {
                    at.insert(k, groups.len());
                    groups.push(vec![(ds, read)]);
                }
            },
            None => groups.push(vec![(ds, read)]),
        }
    }
    groups
        .into_iter()
        .map(|mut members| {
            // Shard order: by (count, index), so the first shard (the one with the cleanup
            // container) leads, and a pool being re-split lists its new shards together.
            members.sort_by_key(|(_, r)| {
                r.as_ref()
                    .ok()
                    .and_then(|p| p.shard)
                    .map(|s| (s.count, s.index))
            });
            let missing = missing_shards(&members);
            let shape = shape_problem(&members, &missing);
            let daemonsets = members.iter().map(|m| m.0).collect();
            let parts = members
                .iter()
                .map(|m| m.1.as_ref().map_or(Vec::new(), |p| p.pool.images.clone()))
                .collect();
            let preloader = members
                .into_iter()
                .map(|m| m.1)
                .reduce(merge)
                .unwrap_or_else(|| Err(String::new()));
            Group {
                daemonsets,
                preloader,
                parts,
                shape,
                missing,
            }
        })
        .collect()
}

fn merge(a: Result<Preloader, String>, b: Result<Preloader, String>) -> Result<Preloader, String> {
    let (mut a, b) = (a?, b?);
    for image in b.pool.images {
        if !a.pool.images.contains(&image) {
            a.pool.images.push(image);
        }
    }
    a.pool.shards = a.pool.shards.max(b.pool.shards);
    Ok(a)
}

fn read(
    ds: &DaemonSet,
    name: &str,
    origin: Origin,
    pool_name: String,
    pulls: &[&Container],
    spec: &k8s_openapi::api::core::v1::PodSpec,
) -> Result<Preloader, String> {
    let context = |what: String| format!("the preloader {name}: {what}");
    let images = pulls
        .iter()
        .map(|c| {
            let text = c.image.as_deref().unwrap_or_default();
            ImageRef::parse(text).map_err(|e| context(format!("init container {}: {e}", c.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let selector = NodeSelector::from_pod_spec(spec).map_err(&context)?;
    let tolerations = spec
        .tolerations
        .iter()
        .flatten()
        .map(Toleration::from_k8s)
        .collect::<Result<Vec<_>, _>>()
        .map_err(&context)?;
    let annotations = ds.metadata.annotations.clone().unwrap_or_default();
    let keep = match annotations.get(ANNOTATION_KEEP) {
        Some(k) => Some(k.parse::<usize>().map_err(|_| {
            context(format!(
                "the annotation {ANNOTATION_KEEP}=\"{k}\" is not a number"
            ))
        })?),
        None => None,
    };
    let protect = match annotations.get(ANNOTATION_PROTECT) {
        Some(p) => Some(serde_json::from_str::<Vec<String>>(p).map_err(|_| {
            context(format!(
                "the annotation {ANNOTATION_PROTECT} is not a JSON list of patterns"
            ))
        })?),
        None => None,
    };
    Ok(Preloader {
        namespace: ds.metadata.namespace.clone().unwrap_or_default(),
        name: name.to_string(),
        origin,
        shard: None,
        pool: Pool {
            name: pool_name,
            selector,
            tolerations,
            images,
            keep,
            protect,
            shards: 1,
            pull_secrets: spec
                .image_pull_secrets
                .iter()
                .flatten()
                .map(|s| s.name.clone())
                .filter(|s| !s.is_empty())
                .collect(),
        },
    })
}

/// An init container that exists only to have its image pulled: no command (nothing to
/// judge, taken as a pull), or one that echoes or does nothing.
fn only_pulls(c: &Container) -> bool {
    let words: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    let is_noop = |w: &str| {
        let base = w.rsplit('/').next().unwrap_or(w);
        matches!(base, "true" | "echo" | ":")
    };
    match words.as_slice() {
        [] => true,
        [program, ..] if is_noop(program) => true,
        [shell, "-c", script]
            if matches!(shell.rsplit('/').next(), Some("sh" | "bash" | "ash")) =>
        {
            let script = script.trim();
            let first = script.split_whitespace().next().unwrap_or("");
            is_noop(first) && !script.contains([';', '&', '|', '`', '$', '>', '<', '\n'])
        }
        _ => false,
    }
}

mod removal;
pub use removal::{OwnRemoval, own_removals};

#[cfg(test)]
mod tests {
    use super::*;

    fn container(command: &[&str]) -> Container {
        Container {
            name: "c".into(),
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn pull_only_containers() {
        assert!(only_pulls(&container(&[
            "/bin/sh",
            "-c",
            "echo preloaded rust:1.83"
        ])));
        assert!(only_pulls(&container(&["/kpreload/true"])));
        assert!(only_pulls(&container(&["true"])));
        assert!(!only_pulls(&container(&[
            "/bin/sh",
            "-c",
            "echo x; rm -rf /data"
        ])));
        assert!(!only_pulls(&container(&["/app/migrate"])));
        assert!(!only_pulls(&container(&[
            "/bin/sh",
            "-c",
            "echo $(cat /etc/passwd)"
        ])));
    }

    #[test]
    fn pool_names() {
        assert_eq!(
            pool_name_from_daemonset("image-preloader").as_deref(),
            Some("default")
        );
        assert_eq!(
            pool_name_from_daemonset("image-preloader-ml").as_deref(),
            Some("ml")
        );
        assert_eq!(pool_name_from_daemonset("image-preloader-"), None);
        assert_eq!(pool_name_from_daemonset("image-preloaderx"), None);
        assert_eq!(pool_name_from_daemonset("fluentd"), None);
    }
}
