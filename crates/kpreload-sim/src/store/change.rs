//! A change to the store, as a watch delivers it and the history keeps it.

use std::sync::Arc;

use serde_json::Value;

use crate::selectors::Selectable;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch delivers it: the object as JSON, serialised once for every watch
/// (and compact in the history, where an object's older versions would otherwise stay as
/// trees), with what selectors read of it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: &'static str,
    pub event: EventType,
    pub json: Arc<str>,
    pub now: Arc<Selectable>,
    /// What selectors read of the object before a modification, so a filtered watch can
    /// tell an object that stopped matching (it sees DELETED) from one that changed.
    pub before: Option<Arc<Selectable>>,
}

impl Change {
    /// The object, parsed again (for table watches and the events.k8s.io view).
    pub fn object(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    /// Bytes it holds, roughly, for the history's bound.
    pub(super) fn weight(&self) -> usize {
        64 + self.json.len() + self.now.weight() + self.before.as_ref().map_or(0, |b| b.weight())
    }
}
