//! Pinning an image to a digest: the one most of the pool's nodes hold, as their
//! `status.images` say, so a tag that was pushed again stops meaning two images.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::{Draft, validate};
use crate::reference::ImageRef;

/// The digest most of the nodes hold for a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// `sha256:…`
    pub digest: String,
    /// Nodes holding that digest.
    pub count: usize,
    /// Nodes holding the tag at all.
    pub holding: usize,
}

/// Among the nodes named `among`, the digest of `image` most of them hold (of its own
/// repository); ties go to the smaller digest, so the answer does not depend on order.
pub fn majority_digest(nodes: &[Arc<Node>], among: &[String], image: &ImageRef) -> Option<Held> {
    let wanted = image.normalized();
    let repository = image.name();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        if !among.iter().any(|a| a == name) {
            continue;
        }
        let listed = n.status.as_ref().and_then(|s| s.images.as_deref());
        let digest = listed.into_iter().flatten().find_map(|entry| {
            let names = entry.names.as_deref().unwrap_or_default();
            let tagged = names
                .iter()
                .any(|t| ImageRef::parse(t).is_ok_and(|r| r.normalized() == wanted));
            tagged
                .then(|| {
                    names.iter().find_map(|t| {
                        t.split_once('@')
                            .filter(|(r, _)| *r == repository)
                            .map(|(_, d)| d.to_string())
                    })
                })
                .flatten()
        });
        if let Some(d) = digest {
            *counts.entry(d).or_default() += 1;
        }
    }
    let holding = counts.values().sum();
    let (digest, count) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    Some(Held {
        digest,
        count,
        holding,
    })
}

impl Draft {
    /// Pins the image at `i` to `digest`, keeping its tag for people to read
    /// (`nginx:1.25@sha256:…`).
    pub fn pin(&mut self, i: usize, digest: &str) -> Result<(), String> {
        let Some(current) = self.images.get(i) else {
            return Err("no image selected".into());
        };
        let text = match current.tag() {
            Some(tag) => format!("{}:{tag}@{digest}", current.familiar_name()),
            None => format!("{}@{digest}", current.familiar_name()),
        };
        let image = validate(&text)?;
        if image.normalized() == current.normalized() {
            return Ok(());
        }
        self.remember();
        self.images[i] = image;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use serde_json::json;

    fn holding(name: &str, digest: char) -> Arc<Node> {
        fixtures::node(name)
            .images(json!([{"names": [
                format!("docker.io/library/nginx@sha256:{}", digest.to_string().repeat(64)),
                "docker.io/library/nginx:1.25"], "sizeBytes": 1}]))
            .build()
    }

    #[test]
    fn the_digest_most_nodes_hold_and_the_pin_keeps_the_tag() {
        let nodes = [
            holding("a", 'a'),
            holding("b", 'b'),
            holding("c", 'b'),
            holding("d", 'a'),
        ];
        let image = ImageRef::parse("nginx:1.25").unwrap();
        let all: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let held = majority_digest(&nodes[..3], &all, &image).unwrap();
        assert_eq!(held.digest, format!("sha256:{}", "b".repeat(64)));
        assert_eq!((held.count, held.holding), (2, 3));
        // Two against two: the smaller digest, whatever the order.
        let tie = majority_digest(&nodes, &all, &image).unwrap();
        assert_eq!(tie.digest, format!("sha256:{}", "a".repeat(64)));
        // Only the pool's nodes count.
        let only = majority_digest(&nodes, &["b".to_string()], &image).unwrap();
        assert_eq!((only.count, only.holding), (1, 1));
        assert_eq!(
            majority_digest(&nodes, &all, &ImageRef::parse("nginx:1.26").unwrap()),
            None
        );
        // No node of the pool: nothing to count.
        assert_eq!(majority_digest(&nodes, &[], &image), None);

        let mut draft = Draft::new("web", vec![image]);
        draft.pin(0, &held.digest).unwrap();
        assert_eq!(
            draft.images[0].written(),
            format!("nginx:1.25@sha256:{}", "b".repeat(64))
        );
        assert!(draft.changed());
        assert!(draft.undo());
        assert_eq!(draft.images[0].written(), "nginx:1.25");
    }
}
