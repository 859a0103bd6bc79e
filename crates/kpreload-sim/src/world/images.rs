//! A node's image store, as containerd's CRI plugin keeps it: every image with its ID, its
//! names (`repo:tag`, `repo@sha256:…`), size, whether it is pinned, and when it was created
//! and last used.

use serde_json::{Value, json};

use crate::rules::reference::{ImageName, ImageRef};

#[derive(Clone, Debug, PartialEq)]
pub struct NodeImage {
    /// `sha256:<64 hex>`.
    pub id: String,
    /// Normalised names: the tag name (when pulled by tag) and the digest name.
    pub refs: Vec<String>,
    pub size: u64,
    pub pinned: bool,
    /// Seconds since the epoch.
    pub created: i64,
    pub last_used: i64,
    /// Whether containerd's `sha256:<id>` record of the image still exists; the CRI writes
    /// it beside the tag and digest names, and `ctr images rm` of a name leaves the others.
    pub id_record: bool,
}

/// A stable fake digest for a name: the same image always has the same digest and ID.
pub fn digest_of(text: &str, salt: &str) -> String {
    let mut out = String::with_capacity(64);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u64 {
        for b in salt.bytes().chain(text.bytes()).chain(round.to_le_bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

#[derive(Clone, Debug, Default)]
pub struct ImageStore {
    pub images: Vec<NodeImage>,
}

impl ImageStore {
    /// Seeds the store from a node's `status.images`, as a scenario describes it.
    pub fn from_status(node: &Value, now: i64) -> Self {
        let mut store = ImageStore::default();
        for entry in node["status"]["images"].as_array().into_iter().flatten() {
            let names: Vec<String> = entry["names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str())
                .map(|n| ImageName::parse(n).map_or_else(|_| n.to_string(), |p| p.normalized()))
                .collect();
            let Some(first) = names.first() else { continue };
            let size = entry["sizeBytes"].as_u64().unwrap_or(0);
            let pinned = names.iter().any(|n| n.starts_with("registry.k8s.io/pause"));
            let mut refs = names.clone();
            if !refs.iter().any(|r| r.contains('@'))
                && let Ok(r) = ImageRef::parse(first)
            {
                // The digest the simulator's registry serves for an image of that size.
                refs.push(format!(
                    "{}@{}",
                    r.name(),
                    crate::registry::manifest(first, size).1
                ));
            }
            store.images.push(NodeImage {
                id: format!("sha256:{}", digest_of(first, "config")),
                refs,
                size,
                pinned,
                created: now,
                last_used: now,
                id_record: true,
            });
        }
        store
    }

    /// The image a reference names, if the node has it.
    pub fn find(&self, image: &ImageRef) -> Option<&NodeImage> {
        let want = image.normalized();
        self.images.iter().find(|i| i.refs.contains(&want))
    }

    pub fn find_mut(&mut self, image: &ImageRef) -> Option<&mut NodeImage> {
        let want = image.normalized();
        self.images.iter_mut().find(|i| i.refs.contains(&want))
    }

    /// Adds a pulled image (or the new name of one already there), as the CRI does:
    /// the tag name and the digest name.
    pub fn add(&mut self, image: &ImageRef, size: u64, now: i64) -> NodeImage {
        let tag_name = image.normalized();
        // The digest the simulator's registry serves for it.
        let digest_name = format!(
            "{}@{}",
            image.name(),
            crate::registry::manifest(&tag_name, size).1
        );
        let id = format!("sha256:{}", digest_of(&tag_name, "config"));
        if let Some(existing) = self.images.iter_mut().find(|i| i.id == id) {
            for r in [tag_name, digest_name] {
                if !existing.refs.contains(&r) {
                    existing.refs.push(r);
                }
            }
            existing.last_used = now;
            existing.id_record = true;
            return existing.clone();
        }
        let img = NodeImage {
            id,
            refs: vec![tag_name.clone(), digest_name],
            size,
            pinned: tag_name.starts_with("registry.k8s.io/pause:"),
            created: now,
            last_used: now,
            id_record: true,
        };
        self.images.push(img.clone());
        img
    }

    /// Removes one containerd record (a name, or `sha256:<id>`); the image's bytes go
    /// with its last record. Returns whether the record existed.
    pub fn remove_record(&mut self, record: &str) -> bool {
        let mut found = false;
        for image in &mut self.images {
            if image.id == record && image.id_record {
                image.id_record = false;
                found = true;
            } else if let Some(at) = image.refs.iter().position(|r| r == record) {
                image.refs.remove(at);
                found = true;
            }
        }
        self.images.retain(|i| !i.refs.is_empty() || i.id_record);
        found
    }

    /// Removes an image with every name it has (what the CRI's RemoveImage does).
    pub fn remove_image(&mut self, id: &str) -> bool {
        let before = self.images.len();
        self.images.retain(|i| i.id != id);
        before != self.images.len()
    }

    pub fn used_bytes(&self) -> u64 {
        self.images.iter().map(|i| i.size).sum()
    }

    /// `status.images` as the kubelet reports it: largest first, at most `max` (-1: all).
    pub fn status_images(&self, max: i32) -> Value {
        let mut sorted: Vec<&NodeImage> = self.images.iter().collect();
        sorted.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
        let limit = if max < 0 { usize::MAX } else { max as usize };
        Value::Array(
            sorted
                .into_iter()
                .take(limit)
                .map(|i| {
                    let mut names = i.refs.clone();
                    if names.is_empty() {
                        names.push(i.id.clone());
                    }
                    // The kubelet lists the digest name first.
                    names.sort_by_key(|n| !n.contains('@'));
                    json!({"names": names, "sizeBytes": i.size})
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_give_tag_and_digest_names_and_a_stable_id() {
        let mut s = ImageStore::default();
        let r = ImageRef::parse("nginx:1.25").unwrap();
        let a = s.add(&r, 100, 1);
        assert_eq!(a.refs[0], "docker.io/library/nginx:1.25");
        assert!(a.refs[1].starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(a.id.len(), "sha256:".len() + 64);
        let again = s.add(&r, 100, 2);
        assert_eq!(again.id, a.id);
        assert_eq!(s.images.len(), 1);
        assert!(
            s.find(&ImageRef::parse("docker.io/library/nginx:1.25").unwrap())
                .is_some()
        );
        s.add(&ImageRef::parse("redis:7").unwrap(), 300, 3);
        let status = s.status_images(1);
        assert_eq!(status.as_array().unwrap().len(), 1);
        assert_eq!(status[0]["sizeBytes"], 300);
        assert_eq!(s.used_bytes(), 400);
        assert!(
            s.add(&ImageRef::parse("registry.k8s.io/pause:3.9").unwrap(), 1, 4)
                .pinned
        );
    }
}
