//! Which nodes a pool covers: label requirements (a node affinity's terms) and the taints its
//! tolerations accept. The same rules as the scheduler's, so that a pool's nodes here are the
//! nodes its DaemonSet runs on.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1 as core;

/// A node selector operator, as in `nodeSelectorTerms[].matchExpressions[].operator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Operator {
    pub fn parse(text: &str) -> Option<Operator> {
        Some(match text {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn equals(key: &str, value: &str) -> Self {
        Requirement {
            key: key.to_string(),
            operator: Operator::In,
            values: vec![value.to_string()],
        }
    }

    /// Whether node labels satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                let (Some(v), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(bound)) if self.operator == Operator::Gt => v > bound,
                    (Ok(v), Ok(bound)) => v < bound,
                    _ => false,
                }
            }
        }
    }

    /// Why the requirement cannot be used, as the API server would refuse it.
    pub fn problem(&self) -> Option<String> {
        if self.key.is_empty() {
            return Some("a requirement has an empty key".into());
        }
        match self.operator {
            Operator::In | Operator::NotIn if self.values.is_empty() => Some(format!(
                "the requirement on \"{}\" uses {} and needs at least one value",
                self.key, self.operator
            )),
            Operator::Exists | Operator::DoesNotExist if !self.values.is_empty() => Some(format!(
                "the requirement on \"{}\" uses {} and must not list values",
                self.key, self.operator
            )),
            Operator::Gt | Operator::Lt
                if self.values.len() != 1 || self.values[0].parse::<i64>().is_err() =>
            {
                Some(format!(
                    "the requirement on \"{}\" uses {} and needs exactly one integer value",
                    self.key, self.operator
                ))
            }
            _ => None,
        }
    }
}

/// Terms ORed, requirements within a term ANDed. No terms: every node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelector {
    pub terms: Vec<Vec<Requirement>>,
}

impl NodeSelector {
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.terms.is_empty()
            || self
                .terms
                .iter()
                .any(|t| t.iter().all(|r| r.matches(labels)))
    }

    /// Label selectors (`kubectl get nodes -l`'s syntax) whose matches, together, include
    /// every node this selector matches: one per term, each with the term's requirements
    /// a label selector can say (`Gt` and `Lt` cannot: they are left out, which only widens
    /// it). None when no narrower list is possible: the selector is everything, a term says
    /// nothing a label selector can, or there are more than `most` terms.
    pub fn label_selectors(&self, most: usize) -> Option<Vec<String>> {
        if self.is_everything() || self.terms.len() > most {
            return None;
        }
        let mut out = Vec::new();
        for term in &self.terms {
            let parts: Vec<String> = term
                .iter()
                .filter_map(|r| {
                    let values = || r.values.join(",");
                    Some(match r.operator {
                        Operator::In => format!("{} in ({})", r.key, values()),
                        Operator::NotIn => format!("{} notin ({})", r.key, values()),
                        Operator::Exists => r.key.clone(),
                        Operator::DoesNotExist => format!("!{}", r.key),
                        Operator::Gt | Operator::Lt => return None,
                    })
                })
                .collect();
            if parts.is_empty() {
                return None;
            }
            out.push(parts.join(","));
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// The required node affinity this selector renders to (None for every node).
    pub(crate) fn to_affinity(&self) -> Option<core::Affinity> {
        if self.is_everything() {
            return None;
        }
        let terms = self
            .terms
            .iter()
            .map(|term| core::NodeSelectorTerm {
                match_expressions: Some(
                    term.iter()
                        .map(|r| core::NodeSelectorRequirement {
                            key: r.key.clone(),
                            operator: r.operator.to_string(),
                            values: (!r.values.is_empty()).then(|| r.values.clone()),
                        })
                        .collect(),
                ),
                match_fields: None,
            })
            .collect();
        Some(core::Affinity {
            node_affinity: Some(core::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(core::NodeSelector {
                    node_selector_terms: terms,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Reads a pod spec's `nodeSelector` map and required node affinity back into a selector.
    /// A pod needs both, so the map's entries join every term.
    pub fn from_pod_spec(spec: &core::PodSpec) -> Result<Self, String> {
        let fixed: Vec<Requirement> = spec
            .node_selector
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::equals(k, v))
            .collect();
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let mut terms = Vec::new();
        for term in required
            .map(|r| r.node_selector_terms.as_slice())
            .unwrap_or_default()
        {
            if term.match_fields.as_ref().is_some_and(|f| !f.is_empty()) {
                return Err(
                    "a node affinity term uses matchFields, which pools do not support".into(),
                );
            }
            // A term with no requirement matches no node (Kubernetes' "Assigning Pods to
            // Nodes"): it adds nothing to the terms ORed.
            if term.match_expressions.as_ref().is_none_or(|e| e.is_empty()) {
                continue;
            }
            let mut reqs = fixed.clone();
            for e in term.match_expressions.iter().flatten() {
                let operator = Operator::parse(&e.operator).ok_or_else(|| {
                    format!("the node affinity operator \"{}\" is not known", e.operator)
                })?;
                reqs.push(Requirement {
                    key: e.key.clone(),
                    operator,
                    values: e.values.clone().unwrap_or_default(),
                });
            }
            terms.push(reqs);
        }
        if required.is_some() && terms.is_empty() {
            return Err(
                "its required node affinity has no term with a requirement, which matches no \
                 node: the preloader runs nowhere"
                    .into(),
            );
        }
        if terms.is_empty() && !fixed.is_empty() {
            terms.push(fixed);
        }
        Ok(NodeSelector { terms })
    }
}

impl fmt::Display for NodeSelector {
    /// `workload-type=ml`, `a in (x,y),!b`, terms joined by ` or `; `all nodes` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return f.write_str("all nodes");
        }
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                t.iter()
                    .map(|r| match (r.operator, r.values.as_slice()) {
                        (Operator::In, [v]) => format!("{}={v}", r.key),
                        (Operator::NotIn, [v]) => format!("{}!={v}", r.key),
                        (Operator::In, vs) => format!("{} in ({})", r.key, vs.join(",")),
                        (Operator::NotIn, vs) => format!("{} notin ({})", r.key, vs.join(",")),
                        (Operator::Exists, _) => r.key.clone(),
                        (Operator::DoesNotExist, _) => format!("!{}", r.key),
                        (Operator::Gt, vs) => format!("{}>{}", r.key, vs.join(",")),
                        (Operator::Lt, vs) => format!("{}<{}", r.key, vs.join(",")),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        f.write_str(&terms.join(" or "))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn parse(text: &str) -> Option<TaintEffect> {
        Some(match text {
            "NoSchedule" => TaintEffect::NoSchedule,
            "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
            "NoExecute" => TaintEffect::NoExecute,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
pub enum TolerationOperator {
    #[default]
    Equal,
    Exists,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Empty with `Exists`: tolerates every taint.
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// None: every effect.
    pub effect: Option<TaintEffect>,
    pub toleration_seconds: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

impl Toleration {
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if self.key.is_empty() {
            return self.operator == TolerationOperator::Exists;
        }
        self.key == taint.key
            && match self.operator {
                TolerationOperator::Exists => true,
                TolerationOperator::Equal => self.value == taint.value,
            }
    }

    pub fn problem(&self) -> Option<String> {
        match self.operator {
            TolerationOperator::Exists if !self.value.is_empty() => Some(format!(
                "the toleration for \"{}\" uses Exists and must not have a value",
                self.key
            )),
            TolerationOperator::Equal if self.key.is_empty() => {
                Some("a toleration without a key must use the operator Exists".into())
            }
            _ if self.toleration_seconds.is_some()
                && self.effect != Some(TaintEffect::NoExecute) =>
            {
                Some(format!(
                    "the toleration for \"{}\" sets tolerationSeconds, which only NoExecute takes",
                    self.key
                ))
            }
            _ => None,
        }
    }

    pub(crate) fn to_k8s(&self) -> core::Toleration {
        core::Toleration {
            key: (!self.key.is_empty()).then(|| self.key.clone()),
            operator: Some(
                match self.operator {
                    TolerationOperator::Equal => "Equal",
                    TolerationOperator::Exists => "Exists",
                }
                .into(),
            ),
            value: (!self.value.is_empty()).then(|| self.value.clone()),
            effect: self.effect.map(|e| e.as_str().to_string()),
            toleration_seconds: self.toleration_seconds,
        }
    }

    pub fn from_k8s(t: &core::Toleration) -> Result<Self, String> {
        let operator = match t.operator.as_deref() {
            None | Some("Equal") => TolerationOperator::Equal,
            Some("Exists") => TolerationOperator::Exists,
            Some(other) => return Err(format!("the toleration operator \"{other}\" is not known")),
        };
        let effect = match t.effect.as_deref() {
            None | Some("") => None,
            Some(e) => Some(
                TaintEffect::parse(e)
                    .ok_or_else(|| format!("the taint effect \"{e}\" is not known"))?,
            ),
        };
        Ok(Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator,
            value: t.value.clone().unwrap_or_default(),
            effect,
            toleration_seconds: t.toleration_seconds,
        })
    }
}

impl Taint {
    pub fn from_k8s(t: &core::Taint) -> Option<Self> {
        Some(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: TaintEffect::parse(&t.effect)?,
        })
    }

    /// A node's taints (those with an effect this reads).
    pub fn of_node(node: &core::Node) -> Vec<Taint> {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(Taint::from_k8s)
            .collect()
    }
}

/// Whether the tolerations a DaemonSet's controller adds to every pod it creates cover the
/// taint (Kubernetes' "DaemonSet" page): `node.kubernetes.io/not-ready` and `…/unreachable`
/// for NoExecute; `…/disk-pressure`, `…/memory-pressure`, `…/pid-pressure` and
/// `…/unschedulable` for NoSchedule. (`…/network-unavailable` is added for host-network pods
/// only; preloaders are not.)
pub(crate) fn daemonset_tolerates(taint: &Taint) -> bool {
    let Some(name) = taint.key.strip_prefix("node.kubernetes.io/") else {
        return false;
    };
    match taint.effect {
        TaintEffect::NoExecute => matches!(name, "not-ready" | "unreachable"),
        TaintEffect::NoSchedule => matches!(
            name,
            "disk-pressure" | "memory-pressure" | "pid-pressure" | "unschedulable"
        ),
        TaintEffect::PreferNoSchedule => true,
    }
}

/// Whether a DaemonSet's pod with these tolerations runs on a node with these taints: as
/// [`tolerates_all`], with the tolerations the DaemonSet controller adds.
pub fn daemonset_tolerates_all(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    taints
        .iter()
        .filter(|t| t.effect != TaintEffect::PreferNoSchedule && !daemonset_tolerates(t))
        .all(|taint| tolerations.iter().any(|t| t.tolerates(taint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn requirements() {
        let l = labels(&[("workload-type", "ml"), ("gpus", "4")]);
        assert!(req("workload-type", Operator::In, &["ml", "web"]).matches(&l));
        assert!(!req("workload-type", Operator::NotIn, &["ml"]).matches(&l));
        assert!(req("zone", Operator::NotIn, &["a"]).matches(&l));
        assert!(req("gpus", Operator::Exists, &[]).matches(&l));
        assert!(req("zone", Operator::DoesNotExist, &[]).matches(&l));
        assert!(req("gpus", Operator::Gt, &["2"]).matches(&l));
        assert!(!req("gpus", Operator::Lt, &["2"]).matches(&l));
        assert!(!req("workload-type", Operator::Gt, &["2"]).matches(&l));
    }

    #[test]
    fn terms_are_ored() {
        let s = NodeSelector {
            terms: vec![
                vec![Requirement::equals("a", "1"), Requirement::equals("b", "2")],
                vec![Requirement::equals("c", "3")],
            ],
        };
        assert!(s.matches(&labels(&[("a", "1"), ("b", "2")])));
        assert!(!s.matches(&labels(&[("a", "1")])));
        assert!(s.matches(&labels(&[("c", "3")])));
        assert!(NodeSelector::default().matches(&labels(&[])));
        assert_eq!(s.to_string(), "a=1,b=2 or c=3");
    }

    #[test]
    fn tolerations() {
        let ml = Taint {
            key: "workload".into(),
            value: "ml".into(),
            effect: TaintEffect::NoSchedule,
        };
        let equal = Toleration {
            key: "workload".into(),
            operator: TolerationOperator::Equal,
            value: "ml".into(),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        };
        let everything = Toleration {
            key: String::new(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: None,
            toleration_seconds: None,
        };
        let web = Taint {
            value: "web".into(),
            ..ml.clone()
        };
        assert!(equal.tolerates(&ml));
        assert!(!equal.tolerates(&web));
        assert!(everything.tolerates(&web));
        assert!(daemonset_tolerates_all(
            std::slice::from_ref(&equal),
            std::slice::from_ref(&ml)
        ));
        assert!(!daemonset_tolerates_all(&[], std::slice::from_ref(&ml)));
        let soft = Taint {
            effect: TaintEffect::PreferNoSchedule,
            ..ml.clone()
        };
        assert!(daemonset_tolerates_all(&[], &[soft]));
        let exec = Taint {
            effect: TaintEffect::NoExecute,
            ..ml
        };
        assert!(!equal.tolerates(&exec));
    }

    /// A label selector never leaves out a node the node selector matches: each term is one
    /// list, `Gt`/`Lt` only widen it, and what cannot be narrowed lists every node.
    #[test]
    fn label_selectors_include_every_matching_node() {
        let two = NodeSelector {
            terms: vec![
                vec![
                    req("workload-type", Operator::In, &["web", "api"]),
                    req("gpu", Operator::DoesNotExist, &[]),
                    req("cores", Operator::Gt, &["8"]),
                ],
                vec![
                    req("zone", Operator::Exists, &[]),
                    req("tier", Operator::NotIn, &["x"]),
                ],
            ],
        };
        assert_eq!(
            two.label_selectors(4).unwrap(),
            ["workload-type in (web,api),!gpu", "zone,tier notin (x)"]
        );
        assert_eq!(two.label_selectors(1), None);
        assert_eq!(NodeSelector::default().label_selectors(4), None);
        let only_gt = NodeSelector {
            terms: vec![vec![req("cores", Operator::Gt, &["8"])]],
        };
        assert_eq!(only_gt.label_selectors(4), None);
        // The selector's own answer agrees on a node each selector would list.
        let node = labels(&[("workload-type", "api"), ("cores", "16")]);
        assert!(two.matches(&node));
    }
}
