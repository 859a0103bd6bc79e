//! What the planner reads from a name's text, read once per plan rather than once per node:
//! a cluster of 5,000 nodes names the same few hundred images 250,000 times, and parsing,
//! normalising and matching them again on every node is most of planning's time.

use std::collections::HashMap;
use std::sync::Arc;

use super::protects;
use crate::reference::ImageName;
use crate::version::Tag;

/// One name's text, read.
#[derive(Debug)]
pub(crate) struct Read {
    pub name: ImageName,
    /// The fully qualified text (the image ID for an ID).
    pub normalized: Arc<str>,
    /// The keys a use or a preload of this name matches: `repo:tag` and `repo@digest`
    /// separately, or the ID.
    pub keys: Vec<Arc<str>>,
    /// `registry/repository` and the tag, with what the tag is, for a tagged reference.
    pub tagged: Option<(Arc<str>, String, Tag)>,
}

/// A name's text read, or the text itself when it cannot be read.
pub(crate) type Reading = Result<Arc<Read>, Arc<str>>;

/// The readings of one plan (one thread's share of a cluster plan).
#[derive(Default)]
pub struct Memo {
    reads: HashMap<Box<str>, Reading>,
    /// The distinct protect lists seen; a pool's settings name one.
    protect_lists: Vec<Vec<String>>,
    /// (protect list, name) → the index of the pattern that protects it.
    protected: HashMap<(usize, usize), Option<usize>>,
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
            Ok(name) => Ok(Arc::new(read(name))),
            Err(_) => Err(Arc::from(text)),
        };
        self.reads.insert(text.into(), reading.clone());
        reading
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
}

fn read(name: ImageName) -> Read {
    let normalized: Arc<str> = Arc::from(name.normalized());
    let mut keys: Vec<Arc<str>> = Vec::new();
    let mut tagged = None;
    match &name {
        ImageName::Id(id) => keys.push(Arc::from(id.to_string())),
        ImageName::Ref(r) => {
            let repo: Arc<str> = Arc::from(r.name());
            if let Some(tag) = r.tag() {
                keys.push(Arc::from(format!("{repo}:{tag}")));
                tagged = Some((repo.clone(), tag.to_string(), Tag::parse(tag)));
            }
            if let Some(digest) = r.digest() {
                keys.push(Arc::from(format!("{repo}@{digest}")));
            }
        }
    }
    Read {
        name,
        normalized,
        keys,
        tagged,
    }
}
