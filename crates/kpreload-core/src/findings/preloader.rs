//! Findings about a pool's preloader and images themselves: a tag held as several images
//! across its nodes (`tag-drift`), a tag that moves (`mutable-tag`), a container that removes
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
    // One tag, several images across the pool's nodes.
    for d in &p.drift {
        let short = |digest: &str| {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            format!("sha256:{}", &hex[..hex.len().min(12)])
        };
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
        out.push(Finding {
            severity: Severity::Warning,
            code: "tag-drift",
            pool: Some(p.pool.clone()),
            nodes,
            message: format!(
                "{} is {} different images on the pool's nodes (newest pull first): {}",
                d.image,
                d.held.len(),
                groups.join("; ")
            ),
            remedy: format!(
                "pin it by digest so every node runs the same bytes: {}@{most} is the one \
                 most nodes hold (in the editor: @ on the image); with imagePullPolicy \
                 IfNotPresent a tag stays whatever each node pulled first",
                d.image.split('@').next().unwrap_or(&d.image)
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
