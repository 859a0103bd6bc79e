//! What the store keeps of its pods beside the pods, so that the kubelets, the scheduler,
//! the DaemonSet controller and a node's runtime read the pods they act on, not every pod
//! of the cluster on every pass. The API server's watch cache indexes pods by node for the
//! kubelets in the same way; the others are the informers' indexes of the real controllers.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// A pod's place in the store: (namespace, name).
pub type At = (String, String);

/// What an index reads of one pod.
#[derive(Debug, PartialEq)]
struct Facts {
    /// `spec.nodeName`, when set.
    node: Option<String>,
    /// Bound, `Pending` (or no phase yet) and no container status: a kubelet has not
    /// started it.
    to_start: bool,
    /// The uid of the DaemonSet named by its controller `ownerReference`.
    daemonset: Option<String>,
}

impl Facts {
    fn of(pod: &Value) -> Facts {
        let node = pod["spec"]["nodeName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
        let to_start =
            node.is_some() && phase == "Pending" && pod["status"]["containerStatuses"].is_null();
        let daemonset = pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["kind"] == "DaemonSet" && o["controller"] == true)
            .map(|o| o["uid"].as_str().unwrap_or_default().to_string());
        Facts {
            node,
            to_start,
            daemonset,
        }
    }
}

#[derive(Default)]
pub struct PodIndex {
    on_node: HashMap<String, BTreeSet<At>>,
    unbound: BTreeSet<At>,
    to_start: BTreeSet<At>,
    by_daemonset: HashMap<String, BTreeSet<At>>,
}

fn take(map: &mut HashMap<String, BTreeSet<At>>, key: &str, at: &At) {
    if let Some(set) = map.get_mut(key) {
        set.remove(at);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl PodIndex {
    /// Follows one pod from `old` (None: created) to `new` (None: deleted).
    pub fn change(&mut self, at: &At, old: Option<&Value>, new: Option<&Value>) {
        let before = old.map(Facts::of);
        let after = new.map(Facts::of);
        if before == after {
            return;
        }
        if let Some(b) = before {
            match &b.node {
                Some(n) => take(&mut self.on_node, n, at),
                None => {
                    self.unbound.remove(at);
                }
            }
            if b.to_start {
                self.to_start.remove(at);
            }
            if let Some(uid) = &b.daemonset {
                take(&mut self.by_daemonset, uid, at);
            }
        }
        if let Some(a) = after {
            match a.node {
                Some(n) => {
                    self.on_node.entry(n).or_default().insert(at.clone());
                }
                None => {
                    self.unbound.insert(at.clone());
                }
            }
            if a.to_start {
                self.to_start.insert(at.clone());
            }
            if let Some(uid) = a.daemonset {
                self.by_daemonset.entry(uid).or_default().insert(at.clone());
            }
        }
    }

    /// The pods bound to a node, in key order.
    pub fn on_node(&self, node: &str) -> impl Iterator<Item = &At> {
        self.on_node.get(node).into_iter().flatten()
    }

    /// How many pods each node has bound to it.
    pub fn counts_by_node(&self) -> HashMap<String, usize> {
        self.on_node
            .iter()
            .map(|(n, set)| (n.clone(), set.len()))
            .collect()
    }

    /// Pods without a node, in key order.
    pub fn unbound(&self) -> impl Iterator<Item = &At> {
        self.unbound.iter()
    }

    /// Bound pods no kubelet has started, in key order.
    pub fn to_start(&self) -> impl Iterator<Item = &At> {
        self.to_start.iter()
    }

    /// The pods the DaemonSet with this uid controls, in key order.
    pub fn of_daemonset(&self, uid: &str) -> impl Iterator<Item = &At> {
        self.by_daemonset.get(uid).into_iter().flatten()
    }

    /// Pods by the uid of the DaemonSet that controls them, each in key order.
    pub fn by_daemonset(&self) -> impl Iterator<Item = (&String, &BTreeSet<At>)> {
        self.by_daemonset.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(name: &str) -> At {
        ("default".into(), name.into())
    }

    fn names<'a>(it: impl Iterator<Item = &'a At>) -> Vec<&'a str> {
        it.map(|(_, n)| n.as_str()).collect()
    }

    /// A DaemonSet pod goes from unbound to bound and started, and every index follows it;
    /// deleting it leaves nothing behind.
    #[test]
    fn each_index_follows_a_pod_from_creation_to_deletion() {
        let mut ix = PodIndex::default();
        let created = json!({"metadata": {"name": "p", "ownerReferences": [
            {"kind": "ReplicaSet", "uid": "rs", "controller": false},
            {"kind": "DaemonSet", "uid": "ds-1", "controller": true}]},
            "spec": {}, "status": {"phase": "Pending"}});
        ix.change(&at("p"), None, Some(&created));
        assert_eq!(names(ix.unbound()), ["p"]);
        assert!(ix.to_start().next().is_none());
        let owned: Vec<_> = ix
            .by_daemonset()
            .map(|(u, s)| (u.as_str(), s.len()))
            .collect();
        assert_eq!(owned, [("ds-1", 1)]);

        let mut bound = created.clone();
        bound["spec"]["nodeName"] = json!("n1");
        ix.change(&at("p"), Some(&created), Some(&bound));
        assert!(ix.unbound().next().is_none());
        assert_eq!(names(ix.on_node("n1")), ["p"]);
        assert_eq!(names(ix.to_start()), ["p"], "bound and Pending: to start");
        assert_eq!(ix.counts_by_node().get("n1"), Some(&1));

        let mut started = bound.clone();
        started["status"]["containerStatuses"] = json!([{"name": "c"}]);
        ix.change(&at("p"), Some(&bound), Some(&started));
        assert!(ix.to_start().next().is_none(), "a kubelet has it");
        assert_eq!(names(ix.on_node("n1")), ["p"]);

        ix.change(&at("p"), Some(&started), None);
        assert!(ix.on_node("n1").next().is_none());
        assert!(ix.counts_by_node().is_empty());
        assert!(ix.by_daemonset().next().is_none());
    }

    /// A pod that is Running or Succeeded without statuses (a scenario's) is not to start,
    /// and an owner that is not the controller does not count.
    #[test]
    fn only_a_pending_bound_pod_is_to_start_and_only_a_controller_owns() {
        let mut ix = PodIndex::default();
        let running = json!({"metadata": {"ownerReferences": [
            {"kind": "DaemonSet", "uid": "ds", "controller": false}]},
            "spec": {"nodeName": "n"}, "status": {"phase": "Running"}});
        ix.change(&at("r"), None, Some(&running));
        let fresh = json!({"spec": {"nodeName": "n"}});
        ix.change(&at("f"), None, Some(&fresh));
        assert_eq!(names(ix.to_start()), ["f"], "no phase yet is Pending");
        assert!(ix.by_daemonset().next().is_none());
        assert_eq!(names(ix.on_node("n")), ["f", "r"], "key order");
    }
}
