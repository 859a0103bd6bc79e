//! An object as the store keeps it: its JSON, and its parsed tree only where it is read often.

use std::sync::Arc;

use serde_json::Value;

use super::{Obj, name_of};
use crate::selectors::Selectable;

/// An object as the store keeps it.
#[derive(Debug)]
pub struct Stored {
    pub name: String,
    /// The object as the API serves it (shared with its change in the watch history).
    pub json: Arc<str>,
    /// What selectors read of it, its namespace among them.
    pub sel: Arc<Selectable>,
    /// The object parsed, for the objects the control plane reads on its passes.
    pub(super) tree: Option<Obj>,
}

impl Stored {
    pub(super) fn new(kind: &'static str, obj: Obj) -> Self {
        Stored {
            name: name_of(&obj).to_string(),
            json: serde_json::to_string(&*obj).unwrap_or_default().into(),
            sel: Arc::new(Selectable::of(kind, &obj)),
            tree: keeps_tree(kind, &obj).then_some(obj),
        }
    }

    /// The object: the one kept, or its JSON parsed again.
    pub fn object(&self) -> Obj {
        match &self.tree {
            Some(t) => t.clone(),
            None => Arc::new(serde_json::from_str(&self.json).unwrap_or_default()),
        }
    }

    /// The same object without its parsed tree: what a list kept for its next pages holds,
    /// so that the versions it outlives cost their JSON (shared with the watch history),
    /// not their trees.
    pub fn without_tree(self: &Arc<Self>) -> Arc<Stored> {
        if self.tree.is_none() {
            return self.clone();
        }
        Arc::new(Stored {
            name: self.name.clone(),
            json: self.json.clone(),
            sel: self.sel.clone(),
            tree: None,
        })
    }

    /// (namespace, name): the order lists and continue tokens follow.
    pub fn key(&self) -> (String, String) {
        (self.sel.namespace.clone(), self.name.clone())
    }
}

/// Whether the store keeps an object parsed beside its JSON. Events are only listed and
/// watched, which serve the JSON as it is. A running pod that no DaemonSet controls is read
/// by a node's image GC and its runtime's `crictl ps` (a node's few dozen pods, parsed then)
/// but by no pass over the cluster; pods still to be scheduled or started, and a
/// DaemonSet's pods, which its controller reads on every pass, are kept parsed.
fn keeps_tree(kind: &str, obj: &Value) -> bool {
    match kind {
        "Event" => false,
        "Pod" => {
            obj["status"]["phase"] != "Running"
                || obj["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o["kind"] == "DaemonSet"))
        }
        _ => true,
    }
}
