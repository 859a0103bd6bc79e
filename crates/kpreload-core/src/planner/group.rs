//! Rule 1: the refs a node reports are grouped into images, refs that share an ID or a
//! normalised name being one image.

use std::sync::Arc;

use super::InventoryImage;
use super::memo::{Key, Map, Memo, Read, Reading};

/// One image after its refs are grouped and read.
pub(super) struct Group {
    /// Its names read, in the order of `ImageName`, each once.
    pub(super) names: Vec<Arc<Read>>,
    pub(super) unreadable: Vec<String>,
    /// Every ID the runtime reported for it (normally one), lowercase, interned.
    pub(super) ids: Vec<Key>,
    /// The smallest of them, which is shown.
    pub(super) id: Option<Arc<str>>,
    pub(super) size: u64,
    pub(super) pinned: bool,
    pub(super) created: Option<i64>,
}

/// Joins inventory entries that share an ID or any normalised name (union-find), so a tag
/// and its digest reported as two entries are still one image.
pub(super) fn group(images: &[InventoryImage], memo: &mut Memo) -> Vec<Group> {
    // The buffers of the thread's previous node, emptied: a cluster plan allocates them
    // once per thread, not once per node.
    let mut scratch = std::mem::take(&mut memo.scratch);
    let Scratch {
        readings,
        starts,
        ids,
        parent,
        seen,
        keys,
        by_root,
        groups: spare_groups,
        names: spare_names,
        id_lists: spare_ids,
    } = &mut scratch;
    // Every image's refs read, one after another: image i's are `readings[starts[i]..starts[i + 1]]`.
    for image in images {
        starts.push(readings.len());
        readings.extend(image.refs.iter().map(|r| memo.read(r)));
        ids.push(image.id.as_deref().map(|id| memo.id(id)));
    }
    starts.push(readings.len());
    parent.extend(0..images.len());
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..images.len() {
        keys.clear();
        for r in &readings[starts[i]..starts[i + 1]] {
            keys.push(match r {
                Ok(read) => read.normalized_key,
                Err(text) => memo.key(text),
            });
        }
        keys.extend(ids[i]);
        for &key in keys.iter() {
            match seen.get(&key) {
                Some(&j) => {
                    let (a, b) = (root(parent, i), root(parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    seen.insert(key, i);
                }
            }
        }
    }
    // Each group sits at its root, the smallest index among its entries.
    by_root.resize_with(images.len(), || None);
    for (i, image) in images.iter().enumerate() {
        let r = root(parent, i);
        let g = by_root[r].get_or_insert_with(|| Group {
            names: spare_names.pop().unwrap_or_default(),
            unreadable: Vec::new(),
            ids: spare_ids.pop().unwrap_or_default(),
            id: None,
            size: 0,
            pinned: false,
            created: None,
        });
        for (text, reading) in image.refs.iter().zip(&readings[starts[i]..starts[i + 1]]) {
            match reading {
                Ok(read) => g.names.push(read.clone()),
                Err(_) => {
                    if !g.unreadable.contains(text) {
                        g.unreadable.push(text.clone());
                    }
                }
            }
        }
        if let Some(id) = ids[i]
            && !g.ids.contains(&id)
        {
            g.ids.push(id);
        }
        g.size = g.size.max(image.size);
        g.pinned |= image.pinned;
        g.created = match (g.created, image.created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut groups = std::mem::take(spare_groups);
    groups.extend(by_root.drain(..).flatten());
    for g in &mut groups {
        g.names.sort_by(|a, b| a.name.cmp(&b.name));
        g.names.dedup_by(|a, b| a.name == b.name);
        g.unreadable.sort();
        g.id = g.ids.iter().map(|&k| memo.text(k)).min().cloned();
    }
    readings.clear();
    starts.clear();
    ids.clear();
    parent.clear();
    seen.clear();
    memo.scratch = scratch;
    groups
}

/// Buffers the planning of one node needs, kept from node to node (in its thread's [`Memo`]).
#[derive(Default)]
pub(super) struct Scratch {
    readings: Vec<Reading>,
    starts: Vec<usize>,
    ids: Vec<Option<Key>>,
    parent: Vec<usize>,
    seen: Map<Key, usize>,
    keys: Vec<Key>,
    by_root: Vec<Option<Group>>,
    groups: Vec<Group>,
    /// Emptied lists of names and IDs, for the next node's groups.
    names: Vec<Vec<Arc<Read>>>,
    id_lists: Vec<Vec<Key>>,
}

/// Gives a node's groups back to `memo`'s buffers, emptied.
pub(super) fn recycle(mut groups: Vec<Group>, memo: &mut Memo) {
    for mut g in groups.drain(..) {
        g.names.clear();
        g.ids.clear();
        memo.scratch.names.push(g.names);
        memo.scratch.id_lists.push(g.ids);
    }
    memo.scratch.groups = groups;
}
