//! Findings about a pool's preloader and images themselves: a tag held as several images
//! across its nodes (`tag-drift`), a tag its registry names another image by now than the
//! nodes hold (`tag-moved`), a tag that moves (`mutable-tag`), a container that removes
//! images on its own (`own-cleanup-loop`).

use super::{Finding, PoolFacts, Severity, few};

/// One tag, several images: which nodes hold which digest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// The image as the pool names it.
    pub image: String,
    /// Newest pull first.
    pub held: Vec<Held>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Held {
    /// `sha256:…`
    pub digest: String,
    pub nodes: Vec<String>,
    /// When one of these nodes last pulled it (Unix seconds), if the kubelet said.
    pub last_pull: Option<i64>,
}

/// The findings of one pool's preloader and images.
pub(super) fn findings(p: &PoolFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let short = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        format!("sha256:{}", &hex[..hex.len().min(12)])
    };
    let now_of = |image: &str| p.registry.iter().find(|n| n.image == image);
    // One tag, several images across the pool's nodes.
    for d in &p.drift {
        let groups: Vec<String> = d
            .held
            .iter()
            .map(|h| format!("{} on {}", short(&h.digest), few(&h.nodes)))
            .collect();
        let most = d
            .held
            .iter()
            .max_by(|a, b| {
                a.nodes
                    .len()
                    .cmp(&b.nodes.len())
                    .then(b.digest.cmp(&a.digest))
            })
            .map(|h| h.digest.clone())
            .unwrap_or_default();
        let mut nodes: Vec<String> = d.held.iter().flat_map(|h| h.nodes.clone()).collect();
        crate::natural::sort(&mut nodes);
        let name = d.image.split('@').next().unwrap_or(&d.image);
        let (said, remedy) = match now_of(&d.image) {
            Some(now) => (
                format!(
                    "; {} names {} now{}",
                    now.registry,
                    short(&now.digest),
                    if d.held.iter().any(|h| h.digest == now.digest) {
                        ""
                    } else {
                        ", which no node holds"
                    }
                ),
                format!(
                    "pin it by digest so every node runs the same bytes: {name}@{} is what {} \
                     names it now (in the editor: @ on the image); with imagePullPolicy \
                     IfNotPresent a tag stays whatever each node pulled first",
                    now.digest, now.registry
                ),
            ),
            None => (
                String::new(),
                format!(
                    "pin it by digest so every node runs the same bytes: {name}@{most} is the one \
                     most nodes hold (in the editor: @ on the image); with imagePullPolicy \
                     IfNotPresent a tag stays whatever each node pulled first"
                ),
            ),
        };
        out.push(Finding {
            severity: Severity::Warning,
            code: "tag-drift",
            pool: Some(p.pool.clone()),
            nodes,
            message: format!(
                "{} is {} different images on the pool's nodes (newest pull first): {}{said}",
                d.image,
                d.held.len(),
                groups.join("; ")
            ),
            remedy,
        });
    }
    // One image on every node that holds the tag, but the registry names another now.
    for t in p.tags.iter().filter(|t| t.held.len() == 1) {
        let Some(now) = now_of(&t.image) else {
            continue;
        };
        let held = &t.held[0];
        if held.digest == now.digest {
            continue;
        }
        let name = t.image.split('@').next().unwrap_or(&t.image);
        out.push(Finding {
            severity: Severity::Warning,
            code: "tag-moved",
            pool: Some(p.pool.clone()),
            nodes: held.nodes.clone(),
            message: format!(
                "{} names another image in {} now ({}) than the pool's nodes hold ({} on {}): \
                 with imagePullPolicy IfNotPresent they keep theirs, and a node that pulls it \
                 now gets the new one",
                t.image,
                now.registry,
                short(&now.digest),
                short(&held.digest),
                few(&held.nodes)
            ),
            remedy: format!(
                "pin it by digest: {name}@{} rolls the new image onto every node, {name}@{} \
                 keeps the one they hold (in the editor: @ on the image pins the registry's)",
                now.digest, held.digest
            ),
        });
    }
    for image in &p.mutable {
        out.push(Finding {
            severity: Severity::Info,
            code: "mutable-tag",
            pool: Some(p.pool.clone()),
            nodes: Vec::new(),
            message: format!(
                "{image} is a tag that moves: with imagePullPolicy IfNotPresent each node \
                 keeps the image it pulled first, so the pool's nodes drift apart as the \
                 tag is pushed again"
            ),
            remedy: "preload a fixed tag or pin it by digest (image@sha256:…)".into(),
        });
    }
    // A preloader that removes images itself, whatever kpreload's rules say.
    for r in &p.own_removals {
        out.push(Finding {
            severity: Severity::Warning,
            code: "own-cleanup-loop",
            pool: Some(p.pool.clone()),
            nodes: Vec::new(),
            message: format!(
                "the container {} of {} removes images itself (`{}`): outside kpreload's \
                 rules (images in use, pinned or preloaded, versions in their order), on \
                 its own schedule, on every node it runs on",
                r.container, r.daemonset, r.runs
            ),
            remedy: "convert the preloader: e on the pool in the TUI, then apply, or \
                     kpreload apply -f FILE --adopt; the images keep their order and that \
                     container is replaced by kpreload's, which removes nothing until a \
                     cleanup is confirmed"
                .into(),
        });
    }
    out
}
