//! What the planner reads from a name's text, read once per plan rather than once per node:
//! a cluster of 5,000 nodes names the same few hundred images 250,000 times, and parsing,
//! normalising and matching them again on every node is most of planning's time.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::protects;
use crate::reference::ImageName;
use crate::version::Tag;

/// A text interned by a [`Memo`]: equal texts have equal keys, so the planner compares and
/// hashes numbers, not strings.
pub(crate) type Key = u32;

/// A map keyed by what the cluster names. Seeded per process: a cluster cannot choose names
/// that collide.
pub(crate) type Map<K, V> = HashMap<K, V, RandomState>;

/// One name's text, read.
#[derive(Debug)]
pub(crate) struct Read {
    pub name: ImageName,
    /// The fully qualified text (the image ID for an ID).
    pub normalized: Arc<str>,
    /// `normalized`, interned.
    pub normalized_key: Key,
    /// The keys a use or a preload of this name matches: `repo:tag` and `repo@digest`
    /// separately, or the ID.
    pub keys: Vec<Key>,
    /// `registry/repository` (interned) and the tag, with what the tag is, for a tagged
    /// reference.
    pub tagged: Option<(Key, String, Tag)>,
}

/// A name's text read, or the text itself when it cannot be read.
pub(crate) type Reading = Result<Arc<Read>, Arc<str>>;

/// The readings of one plan (one thread's share of a cluster plan).
#[derive(Default)]
pub struct Memo {
    reads: Map<Box<str>, Reading>,
    /// Every text interned, by its key.
    texts: Vec<Arc<str>>,
    keys: Map<Arc<str>, Key>,
    /// An image ID as reported → its lowercase text, interned.
    ids: Map<Box<str>, Key>,
    /// The distinct protect lists seen; a pool's settings name one.
    protect_lists: Vec<Vec<String>>,
    /// (protect list, name) → the index of the pattern that protects it.
    protected: Map<(usize, usize), Option<usize>>,
    pub(super) scratch: super::group::Scratch,
}

impl Memo {
    pub fn new() -> Self {
        Memo::default()
    }

    pub(crate) fn read(&mut self, text: &str) -> Reading {
        if let Some(r) = self.reads.get(text) {
            return r.clone();
        }
        let reading = match ImageName::parse(text) {
            Ok(name) => Ok(Arc::new(self.read_name(name))),
            Err(_) => Err(Arc::from(text)),
        };
        self.reads.insert(text.into(), reading.clone());
        reading
    }

    /// The key of `text`; equal texts get equal keys.
    pub(crate) fn key(&mut self, text: &str) -> Key {
        if let Some(&key) = self.keys.get(text) {
            return key;
        }
        let text: Arc<str> = Arc::from(text);
        let key = Key::try_from(self.texts.len()).expect("fewer than 2^32 distinct names");
        self.texts.push(text.clone());
        self.keys.insert(text, key);
        key
    }

    /// The key of an image ID's lowercase text.
    pub(crate) fn id(&mut self, id: &str) -> Key {
        if let Some(&key) = self.ids.get(id) {
            return key;
        }
        let key = self.key(&id.to_ascii_lowercase());
        self.ids.insert(id.into(), key);
        key
    }

    /// The text of a key.
    pub(crate) fn text(&self, key: Key) -> &Arc<str> {
        &self.texts[key as usize]
    }

    /// Which pattern of `list` protects `read`, if one does.
    pub(crate) fn protected_by<'a>(
        &mut self,
        list: &'a [String],
        read: &Arc<Read>,
    ) -> Option<&'a str> {
        let ImageName::Ref(r) = &read.name else {
            return None;
        };
        let at = match self.protect_lists.iter().position(|l| l == list) {
            Some(at) => at,
            None => {
                self.protect_lists.push(list.to_vec());
                self.protect_lists.len() - 1
            }
        };
        let key = (at, Arc::as_ptr(read) as usize);
        let found = *self
            .protected
            .entry(key)
            .or_insert_with(|| list.iter().position(|p| protects(p, r)));
        found.map(|i| list[i].as_str())
    }

    fn read_name(&mut self, name: ImageName) -> Read {
        let normalized_text = name.normalized();
        let normalized_key = self.key(&normalized_text);
        let normalized = self.text(normalized_key).clone();
        let mut keys: Vec<Key> = Vec::new();
        let mut tagged = None;
        match &name {
            ImageName::Id(id) => keys.push(self.key(&id.to_string())),
            ImageName::Ref(r) => {
                let repo = r.name();
                if let Some(tag) = r.tag() {
                    keys.push(self.key(&format!("{repo}:{tag}")));
                    tagged = Some((self.key(&repo), tag.to_string(), Tag::parse(tag)));
                }
                if let Some(digest) = r.digest() {
                    keys.push(self.key(&format!("{repo}@{digest}")));
                }
            }
        }
        Read {
            name,
            normalized,
            normalized_key,
            keys,
            tagged,
        }
    }
}
