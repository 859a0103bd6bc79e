//! Label and field selectors in the query-string syntax kubectl sends.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::rules::labels::{self, Requirement};

/// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3`.
pub fn parse_labels(text: &str) -> Result<Vec<Requirement>, String> {
    labels::parse(text)
}

/// One field selector term: `field=value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// The fields each kind can be selected by, as the real API server allows.
fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Node" => &["metadata.name", "spec.unschedulable"],
        "Namespace" => &["metadata.name", "status.phase"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

pub fn parse_fields(kind: &str, text: &str) -> Result<Vec<FieldTerm>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
            (f, v, true)
        } else if let Some((f, v)) = part.split_once("==") {
            (f, v, false)
        } else if let Some((f, v)) = part.split_once('=') {
            (f, v, false)
        } else {
            return Err(format!(
                "invalid selector: '{text}'; can't understand '{part}'"
            ));
        };
        let field = field.trim();
        if !supported_fields(kind).contains(&field) {
            return Err(format!("field label not supported: {field}"));
        }
        out.push(FieldTerm {
            field: field.to_string(),
            value: value.trim().to_string(),
            negated,
        });
    }
    Ok(out)
}

/// The value of a selectable field; missing fields read as "".
pub fn field_value(object: &Value, field: &str) -> String {
    if field == "source" {
        return object["source"]["component"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    let mut v = object;
    for part in field.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// What selectors read of an object (its namespace, labels and selectable fields), kept
/// with a change in the watch history instead of the object itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selectable {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// The kind's selectable fields, in `supported_fields` order (only those set).
    fields: Vec<(&'static str, String)>,
}

impl Selectable {
    pub fn of(kind: &str, object: &Value) -> Self {
        Selectable {
            namespace: object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            labels: labels::of(object),
            fields: supported_fields(kind)
                .iter()
                .map(|f| (*f, field_value(object, f)))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }

    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Both selectors hold (empty ones select everything).
    pub fn matches(&self, requirements: &[Requirement], terms: &[FieldTerm]) -> bool {
        (requirements.is_empty() || labels::matches_all(requirements, &self.labels))
            && terms
                .iter()
                .all(|t| (self.field(&t.field) == t.value) != t.negated)
    }

    /// Bytes it holds, roughly, for the history's bound.
    pub fn weight(&self) -> usize {
        let labels: usize = self
            .labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + 64)
            .sum();
        let fields: usize = self.fields.iter().map(|(_, v)| v.len() + 40).sum();
        96 + self.namespace.len() + labels + fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "labels": labels}, "spec": {"nodeName": "web-1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_syntax() {
        let p = Selectable::of("Pod", &pod(json!({"app": "x", "tier": "web", "n": "5"})));
        for (sel, want) in [
            ("app=x", true),
            ("app==x", true),
            ("app!=x", false),
            ("missing!=x", true),
            ("tier in (web, db)", true),
            ("tier notin (web)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=x,tier in (db)", false),
            ("n>3", true),
            ("n<3", false),
            ("", true),
        ] {
            let reqs = parse_labels(sel).unwrap();
            assert_eq!(p.matches(&reqs, &[]), want, "{sel}");
        }
        assert!(parse_labels("a in x").is_err());
        assert!(parse_labels("a b").is_err());
    }

    #[test]
    fn field_syntax() {
        let p = Selectable::of("Pod", &pod(json!({})));
        let t = parse_fields("Pod", "spec.nodeName=web-1,status.phase!=Pending").unwrap();
        assert!(p.matches(&[], &t));
        let t = parse_fields("Pod", "spec.nodeName=web-2").unwrap();
        assert!(!p.matches(&[], &t));
        assert_eq!(
            parse_fields("Pod", "spec.bogus=1").unwrap_err(),
            "field label not supported: spec.bogus"
        );
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Pulled"});
        let t = parse_fields("Event", "involvedObject.name=p,reason=Pulled").unwrap();
        assert!(Selectable::of("Event", &ev).matches(&[], &t));
        let t = parse_fields("Event", "involvedObject.name=q").unwrap();
        assert!(!Selectable::of("Event", &ev).matches(&[], &t));
    }

    /// What the store keeps of an object answers selectors as the object would: a field
    /// the object lacks reads as "".
    #[test]
    fn labels_and_fields_together() {
        let kept = Selectable::of("Pod", &pod(json!({"app": "x", "n": "5"})));
        for (labels, fields, want) in [
            ("app=x", "", true),
            ("app=y", "", false),
            ("!app", "", false),
            ("n>3", "spec.nodeName=web-1", true),
            ("n>3", "spec.nodeName=web-2", false),
            ("", "status.phase!=Running", false),
            ("", "status.podIP=", true),
            ("", "metadata.name=p", true),
            ("", "metadata.namespace=default", false),
            ("", "", true),
        ] {
            let l = parse_labels(labels).unwrap();
            let f = parse_fields("Pod", fields).unwrap();
            assert_eq!(kept.matches(&l, &f), want, "{labels} {fields}");
        }
    }
}
