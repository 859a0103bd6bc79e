//! Where a pod may run, as Kubernetes' "Assigning Pods to Nodes" and "Taints and
//! Tolerations" pages say, read straight from the pod spec's JSON:
//! - `nodeSelector`: every pair is one of the node's labels;
//! - `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`: the
//!   `nodeSelectorTerms` are ORed, and within a term every `matchExpressions` (on labels) and
//!   `matchFields` (on `metadata.name`) requirement must hold; a term with neither matches
//!   no node, and so does an empty list of terms. Both this and `nodeSelector` must hold;
//! - taints: every `NoSchedule` and `NoExecute` taint of the node is tolerated
//!   (`PreferNoSchedule` only steers the scheduler). A toleration tolerates a taint when its
//!   effect is empty or the taint's, its key is empty (with `Exists`: every key) or the
//!   taint's, and with `Exists` whatever the value, with `Equal` (the default) the same value.
//!
//! A DaemonSet's pods also get the tolerations its controller adds ("DaemonSet", section
//! "Taints and tolerations"): `node.kubernetes.io/not-ready` and `…/unreachable` for
//! `NoExecute`, and `…/disk-pressure`, `…/memory-pressure`, `…/pid-pressure` and
//! `…/unschedulable` for `NoSchedule` (`…/network-unavailable` too for host-network pods).

use std::collections::BTreeMap;

use serde_json::Value;

use super::labels::{Op, Requirement};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Toleration {
    key: String,
    exists: bool,
    value: String,
    effect: String,
}

impl Toleration {
    fn of(t: &Value) -> Toleration {
        Toleration {
            key: t["key"].as_str().unwrap_or_default().to_string(),
            exists: t["operator"].as_str() == Some("Exists"),
            value: t["value"].as_str().unwrap_or_default().to_string(),
            effect: t["effect"].as_str().unwrap_or_default().to_string(),
        }
    }

    fn tolerates(&self, key: &str, value: &str, effect: &str) -> bool {
        (self.effect.is_empty() || self.effect == effect)
            && (self.key.is_empty() && self.exists || self.key == key)
            && (self.exists || self.value == value)
    }
}

#[derive(Clone, Debug, Default)]
struct Term {
    labels: Vec<Requirement>,
    /// `matchFields`: requirements on `metadata.name` (the only field nodes are selected by).
    names: Vec<Requirement>,
}

/// A pod spec's placement rules, read once and checked against many nodes.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    node_selector: BTreeMap<String, String>,
    /// `None`: no required node affinity.
    terms: Option<Vec<Term>>,
    tolerations: Vec<Toleration>,
    /// A term or requirement that cannot be read: the API server would have refused the
    /// spec, so no node is allowed.
    unreadable: bool,
}

fn requirements(list: &Value, unreadable: &mut bool) -> Vec<Requirement> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let op = e["operator"].as_str().and_then(Op::from_affinity);
            let key = e["key"].as_str();
            match (key, op) {
                (Some(key), Some(op)) => Some(Requirement {
                    key: key.to_string(),
                    op,
                    values: e["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                }),
                _ => {
                    *unreadable = true;
                    None
                }
            }
        })
        .collect()
}

impl Placement {
    pub fn of(spec: &Value) -> Placement {
        let mut unreadable = false;
        let node_selector = spec["nodeSelector"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let required =
            &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        let terms = (!required.is_null()).then(|| {
            required["nodeSelectorTerms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| Term {
                    labels: requirements(&t["matchExpressions"], &mut unreadable),
                    names: requirements(&t["matchFields"], &mut unreadable),
                })
                .collect()
        });
        let tolerations = spec["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Toleration::of)
            .collect();
        Placement {
            node_selector,
            terms,
            tolerations,
            unreadable,
        }
    }

    /// The same rules with the tolerations a DaemonSet's controller adds to its pods.
    pub fn for_daemonset(spec: &Value) -> Placement {
        let mut p = Placement::of(spec);
        p.tolerations
            .extend(daemonset_tolerations(spec).iter().map(Toleration::of));
        p
    }

    /// The node selector, the required node affinity and the taints all allow the node.
    pub fn allows(&self, node: &Value) -> bool {
        !self.unreadable && self.matches(node) && self.tolerates(node)
    }

    /// The node selector and the required node affinity hold for the node.
    fn matches(&self, node: &Value) -> bool {
        // Read as the API objects are, without copying the labels for a node selector (the
        // controllers ask this of every node for every DaemonSet on every pass).
        let own = node["metadata"]["labels"].as_object();
        let selected = self.node_selector.iter().all(|(k, v)| {
            own.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .is_some_and(|l| l == v)
        });
        if !selected {
            return false;
        }
        let Some(terms) = &self.terms else {
            return true;
        };
        let labels = super::labels::of(node);
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let fields: BTreeMap<String, String> =
            [("metadata.name".to_string(), name.to_string())].into();
        terms.iter().any(|t| {
            !(t.labels.is_empty() && t.names.is_empty())
                && t.labels.iter().all(|r| r.matches(&labels))
                && t.names.iter().all(|r| r.matches(&fields))
        })
    }

    /// Whether a pod already on the node keeps running there: the node still matches, and
    /// every `NoExecute` taint is tolerated (a `NoSchedule` one only stops new pods).
    pub fn keeps(&self, node: &Value) -> bool {
        !self.unreadable && self.matches(node) && self.tolerates_effects(node, &["NoExecute"])
    }

    /// Every `NoSchedule` and `NoExecute` taint of the node is tolerated.
    pub fn tolerates(&self, node: &Value) -> bool {
        self.tolerates_effects(node, &["NoSchedule", "NoExecute"])
    }

    fn tolerates_effects(&self, node: &Value, effects: &[&str]) -> bool {
        node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|t| {
                let effect = t["effect"].as_str().unwrap_or_default();
                if !effects.contains(&effect) {
                    return true;
                }
                let key = t["key"].as_str().unwrap_or_default();
                let value = t["value"].as_str().unwrap_or_default();
                self.tolerations
                    .iter()
                    .any(|tol| tol.tolerates(key, value, effect))
            })
    }
}

/// The tolerations the DaemonSet controller adds to each pod it creates from `spec`.
pub fn daemonset_tolerations(spec: &Value) -> Vec<Value> {
    let mut out: Vec<(&str, &str)> = vec![
        ("not-ready", "NoExecute"),
        ("unreachable", "NoExecute"),
        ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"),
        ("pid-pressure", "NoSchedule"),
        ("unschedulable", "NoSchedule"),
    ];
    if spec["hostNetwork"] == Value::Bool(true) {
        out.push(("network-unavailable", "NoSchedule"));
    }
    out.into_iter()
        .map(|(key, effect)| {
            serde_json::json!({"key": format!("node.kubernetes.io/{key}"), "operator": "Exists",
                "effect": effect})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}})
    }

    #[test]
    fn terms_are_ored_and_requirements_anded() {
        let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]},
                                  {"key": "gpu", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}
        ]}}}});
        let p = Placement::of(&spec);
        assert!(p.allows(&node(json!({"pool": "a"}), json!([]))));
        assert!(!p.allows(&node(json!({"pool": "a", "gpu": "1"}), json!([]))));
        let mut n9 = node(json!({}), json!([]));
        n9["metadata"]["name"] = json!("n9");
        assert!(p.allows(&n9));
        // An empty term matches no node; so does an empty list of terms.
        let empty = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{}]}}}});
        assert!(!Placement::of(&empty).allows(&node(json!({}), json!([]))));
        // nodeSelector and affinity both hold.
        let both = json!({"nodeSelector": {"zone": "x"}, "affinity": spec["affinity"]});
        assert!(!Placement::of(&both).allows(&node(json!({"pool": "a"}), json!([]))));
    }

    #[test]
    fn tolerations_as_the_taints_page_defines_them() {
        let taint = json!([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]);
        let n = node(json!({}), taint);
        let with = |t: Value| Placement::of(&json!({"tolerations": [t]})).allows(&n);
        assert!(with(
            json!({"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"})
        ));
        assert!(
            with(json!({"key": "dedicated", "value": "ml"})),
            "any effect"
        );
        assert!(with(json!({"key": "dedicated", "operator": "Exists"})));
        assert!(with(json!({"operator": "Exists"})), "every key");
        assert!(!with(json!({"key": "dedicated", "value": "web"})));
        assert!(!with(
            json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})
        ));
        assert!(!Placement::of(&json!({})).allows(&n));
        let soft = node(
            json!({}),
            json!([{"key": "k", "effect": "PreferNoSchedule"}]),
        );
        assert!(Placement::of(&json!({})).allows(&soft));
        // A cordoned node still runs a DaemonSet's pod.
        let cordoned = node(
            json!({}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        );
        assert!(!Placement::of(&json!({})).allows(&cordoned));
        assert!(Placement::for_daemonset(&json!({})).allows(&cordoned));
        // An unreachable node takes no new DaemonSet pod, and keeps the one it has
        // (NoExecute is tolerated); a NoExecute taint not tolerated evicts it.
        let unreachable = node(
            json!({}),
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
        );
        let ds = Placement::for_daemonset(&json!({}));
        assert!(!ds.allows(&unreachable) && ds.keeps(&unreachable));
        let evicting = node(json!({}), json!([{"key": "k", "effect": "NoExecute"}]));
        assert!(!ds.keeps(&evicting));
    }
}
