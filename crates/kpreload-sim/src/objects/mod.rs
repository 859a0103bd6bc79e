//! Bodies read as the real API server reads them: typed (k8s-openapi), normalised, and
//! checked, so that a wrong shape is a 400 and an invalid object a 422 — never a panic.

mod cronjob;

use std::collections::BTreeSet;

use k8s_openapi::api::{apps, core};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::resources::Resource;
use super::status::{ApiError, ApiResult};

/// What to do with fields the type does not know (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(text: Option<&str>) -> ApiResult<Self> {
        match text {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, not {other:?}"
            ))),
        }
    }
}

/// Reads a body into the resource's type and back: unknown fields are dropped (or refused
/// under Strict), defaults the type carries are applied. Returns the object and warnings.
pub fn normalize(
    res: &Resource,
    body: Value,
    validation: FieldValidation,
) -> ApiResult<(Value, Vec<String>)> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request is not a {} object",
            res.kind
        )));
    }
    let normalized = match res.store_kind {
        "Namespace" => roundtrip::<core::v1::Namespace>(res, &body)?,
        "Node" => roundtrip::<core::v1::Node>(res, &body)?,
        "Pod" => roundtrip::<core::v1::Pod>(res, &body)?,
        "Event" => roundtrip::<core::v1::Event>(res, &body)?,
        "Secret" => roundtrip::<core::v1::Secret>(res, &body)?,
        "ServiceAccount" => roundtrip::<core::v1::ServiceAccount>(res, &body)?,
        "DaemonSet" => roundtrip::<apps::v1::DaemonSet>(res, &body)?,
        "CronJob" => roundtrip::<k8s_openapi::api::batch::v1::CronJob>(res, &body)?,
        "Role" => roundtrip::<k8s_openapi::api::rbac::v1::Role>(res, &body)?,
        "ClusterRole" => roundtrip::<k8s_openapi::api::rbac::v1::ClusterRole>(res, &body)?,
        "RoleBinding" => roundtrip::<k8s_openapi::api::rbac::v1::RoleBinding>(res, &body)?,
        "ClusterRoleBinding" => {
            roundtrip::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(res, &body)?
        }
        other => return Err(ApiError::internal(format!("no type for {other}"))),
    };
    let mut unknown = Vec::new();
    unknown_fields(&body, &normalized, "", &mut unknown);
    let mut normalized = normalized;
    apply_defaults(res, &mut normalized);
    let warnings = match validation {
        FieldValidation::Ignore => vec![],
        FieldValidation::Warn => unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect(),
        FieldValidation::Strict if !unknown.is_empty() => {
            let text: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                text.join(", ")
            )));
        }
        FieldValidation::Strict => vec![],
    };
    Ok((normalized, warnings))
}

/// The defaults the API server fills in, for the fields clients read back (kubectl's
/// `rollout status` needs the DaemonSet's update strategy, for one).
pub fn apply_defaults(res: &Resource, obj: &mut Value) {
    match res.store_kind {
        "DaemonSet" => {
            let spec = &mut obj["spec"];
            if spec["updateStrategy"]["type"].is_null() {
                spec["updateStrategy"]["type"] = json!("RollingUpdate");
            }
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                let ru = &mut spec["updateStrategy"]["rollingUpdate"];
                if ru["maxUnavailable"].is_null() {
                    ru["maxUnavailable"] = json!(1);
                }
                if ru["maxSurge"].is_null() {
                    ru["maxSurge"] = json!(0);
                }
            }
            if spec["revisionHistoryLimit"].is_null() {
                spec["revisionHistoryLimit"] = json!(10);
            }
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        "Pod" => pod_spec_defaults(&mut obj["spec"]),
        "CronJob" => {
            // batch/v1's defaults (SetDefaults_CronJob), as `kubectl get -o yaml` shows them.
            let spec = &mut obj["spec"];
            for (field, value) in [
                ("concurrencyPolicy", json!("Allow")),
                ("suspend", json!(false)),
                ("successfulJobsHistoryLimit", json!(3)),
                ("failedJobsHistoryLimit", json!(1)),
            ] {
                if spec[field].is_null() {
                    spec[field] = value;
                }
            }
            if !spec["jobTemplate"]["spec"]["template"]["spec"].is_object() {
                return;
            }
            pod_spec_defaults(&mut spec["jobTemplate"]["spec"]["template"]["spec"]);
        }
        "Secret" => {
            // `stringData` is write-only: merged into `data` (base64) on write, as the API
            // server does; the type defaults to Opaque.
            use base64::Engine;
            if let Some(plain) = obj
                .as_object_mut()
                .and_then(|o| o.remove("stringData"))
                .and_then(|v| v.as_object().cloned())
            {
                for (k, v) in plain {
                    let text = v.as_str().unwrap_or_default();
                    obj["data"][k] =
                        json!(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
                }
            }
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
        }
        "Namespace" if obj["status"]["phase"].is_null() => {
            obj["status"]["phase"] = json!("Active");
        }
        _ => {}
    }
}

fn pod_spec_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for (field, value) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        if spec[field].is_null() {
            spec[field] = value;
        }
    }
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec[list].as_array_mut() {
            for c in containers {
                if c["imagePullPolicy"].is_null() {
                    let image = c["image"].as_str().unwrap_or_default();
                    let latest = crate::rules::reference::ImageRef::parse(image)
                        // Kubernetes' defaulting looks at the tag alone: `:latest` (written
                        // or implied) is Always, even beside a digest.
                        .map(|r| r.tag() == Some("latest"))
                        .unwrap_or(false);
                    c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
                }
                if c["terminationMessagePath"].is_null() {
                    c["terminationMessagePath"] = json!("/dev/termination-log");
                }
                if c["terminationMessagePolicy"].is_null() {
                    c["terminationMessagePolicy"] = json!("File");
                }
            }
        }
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(res: &Resource, body: &Value) -> ApiResult<Value> {
    let typed: T = serde_json::from_value(body.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            res.kind, res.version, res.kind
        ))
    })?;
    serde_json::to_value(typed).map_err(|e| ApiError::internal(e.to_string()))
}

/// Paths present in `input` (with a non-null value) and missing from the normalised object.
fn unknown_fields(input: &Value, normalized: &Value, path: &str, out: &mut Vec<String>) {
    match (input, normalized) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(nv) => unknown_fields(v, nv, &p, out),
                    None if !v.is_null() && !is_empty(v) => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, nv)) in a.iter().zip(b).enumerate() {
                unknown_fields(v, nv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The semantic checks the API server makes (422 Invalid), for what the simulator serves.
pub fn validate(res: &Resource, obj: &Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut causes: Vec<(String, String)> = Vec::new();
    let name_problem = if res.kind == "Namespace" {
        dns_label(name)
    } else if res.group == "rbac.authorization.k8s.io" {
        // RBAC's names are path segments (`system:discovery`), not DNS subdomains.
        path_segment(name)
    } else {
        dns_subdomain(name)
    };
    if let Some(p) = name_problem {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": {p}"),
        ));
    }
    match res.store_kind {
        "Pod" => pod_spec(&obj["spec"], "spec", &mut causes),
        "DaemonSet" => daemonset(obj, &mut causes),
        "CronJob" => cronjob::check(obj, &mut causes),
        "Role" | "ClusterRole" => policy_rules(obj, &mut causes),
        "RoleBinding" | "ClusterRoleBinding" => role_ref(res, obj, &mut causes),
        "Event" if obj["involvedObject"].is_null() => {
            causes.push(("involvedObject".into(), "Required value".into()));
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res.kind, name, &causes))
    }
}

fn daemonset(obj: &Value, causes: &mut Vec<(String, String)>) {
    let spec = &obj["spec"];
    let selector = &spec["selector"];
    let match_labels = selector["matchLabels"].as_object();
    let has_selector = match_labels.is_some_and(|m| !m.is_empty())
        || selector["matchExpressions"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
    if !has_selector {
        causes.push((
            "spec.selector".into(),
            "Invalid value: \"null\": empty selector is invalid for daemonset".into(),
        ));
    }
    let template_labels = &spec["template"]["metadata"]["labels"];
    if let Some(m) = match_labels {
        let matches = m.iter().all(|(k, v)| template_labels[k] == *v);
        if !matches {
            causes.push((
                "spec.template.metadata.labels".into(),
                format!(
                    "Invalid value: {}: `selector` does not match template `labels`",
                    serde_json::to_string(template_labels).unwrap_or_default()
                ),
            ));
        }
    }
    let policy = spec["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always");
    if policy != "Always" {
        causes.push((
            "spec.template.spec.restartPolicy".into(),
            format!("Unsupported value: \"{policy}\": supported values: \"Always\""),
        ));
    }
    pod_spec(&spec["template"]["spec"], "spec.template.spec", causes);
}

pub(super) fn pod_spec(spec: &Value, at: &str, causes: &mut Vec<(String, String)>) {
    let containers = spec["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if containers.is_empty() {
        causes.push((format!("{at}.containers"), "Required value".into()));
    }
    let mut seen = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let field = format!("{at}.{list}[{i}]");
            let name = c["name"].as_str().unwrap_or_default();
            if let Some(p) = dns_label(name) {
                causes.push((
                    format!("{field}.name"),
                    format!("Invalid value: \"{name}\": {p}"),
                ));
            } else if !seen.insert(name.to_string()) {
                causes.push((
                    format!("{field}.name"),
                    format!("Duplicate value: \"{name}\""),
                ));
            }
            if c["image"].as_str().is_none_or(|i| i.trim().is_empty()) {
                causes.push((format!("{field}.image"), "Required value".into()));
            }
        }
    }
}

const LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `path.ValidatePathSegmentName`'s rule.
fn path_segment(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name or generateName is required".into());
    }
    if name == "." || name == ".." {
        return Some(format!("may not be '{name}'"));
    }
    ["/", "%"]
        .iter()
        .find(|c| name.contains(**c))
        .map(|c| format!("may not contain '{c}'"))
}

/// A role's rules: each needs verbs, and names resources (with API groups) or URLs.
fn policy_rules(obj: &Value, causes: &mut Vec<(String, String)>) {
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let empty = |k: &str| rule[k].as_array().is_none_or(|a| a.is_empty());
        if empty("verbs") {
            causes.push((
                format!("rules[{i}].verbs"),
                "Required value: verbs must contain at least one value".into(),
            ));
        }
        if empty("nonResourceURLs") {
            if empty("apiGroups") {
                causes.push((
                    format!("rules[{i}].apiGroups"),
                    "Required value: resource rules must supply at least one api group".into(),
                ));
            }
            if empty("resources") {
                causes.push((
                    format!("rules[{i}].resources"),
                    "Required value: resource rules must supply at least one resource".into(),
                ));
            }
        }
    }
}

/// A binding's roleRef: a Role or ClusterRole of this API group (a ClusterRoleBinding's, a
/// ClusterRole).
fn role_ref(res: &Resource, obj: &Value, causes: &mut Vec<(String, String)>) {
    let r = &obj["roleRef"];
    let kind = r["kind"].as_str().unwrap_or_default();
    let allowed: &[&str] = if res.kind == "ClusterRoleBinding" {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if !allowed.contains(&kind) {
        causes.push((
            "roleRef.kind".into(),
            format!(
                "Unsupported value: \"{kind}\": supported values: {}",
                allowed
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if r["apiGroup"] != "rbac.authorization.k8s.io" {
        causes.push((
            "roleRef.apiGroup".into(),
            format!(
                "Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"",
                r["apiGroup"]
            ),
        ));
    }
    if r["name"].as_str().is_none_or(str::is_empty) {
        causes.push(("roleRef.name".into(), "Required value".into()));
    }
}

fn dns_label(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name or generateName is required".into());
    }
    if name.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    (!ok).then(|| LABEL_RULE.to_string())
}

fn dns_subdomain(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name or generateName is required".into());
    }
    if name.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = name.split('.').all(|part| dns_label(part).is_none());
    (!ok).then(|| SUBDOMAIN_RULE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    #[test]
    fn shapes_and_unknown_fields() {
        let pods = find("", "v1", "pods").unwrap();
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": "x"}});
        let e = normalize(pods, bad, FieldValidation::Strict).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .starts_with("Pod in version \"v1\" cannot be handled as a Pod: ")
        );
        let extra = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "x", "colour": "red"}]}});
        let e = normalize(pods, extra.clone(), FieldValidation::Strict).unwrap_err();
        assert_eq!(
            e.message,
            "strict decoding error: unknown field \"spec.containers[0].colour\""
        );
        let (obj, warnings) = normalize(pods, extra, FieldValidation::Warn).unwrap();
        assert_eq!(warnings, ["unknown field \"spec.containers[0].colour\""]);
        assert!(obj["spec"]["containers"][0]["colour"].is_null());
    }

    #[test]
    fn invalid_objects() {
        let ds = find("apps", "v1", "daemonsets").unwrap();
        let obj = json!({"metadata": {"name": "Bad_Name"}, "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [
                {"name": "a", "image": "i"}, {"name": "a", "image": "i"}]}}}});
        let e = validate(ds, &obj).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with(
            "DaemonSet \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ));
        assert!(e.message.contains("spec.template.metadata.labels: Invalid value: {\"app\":\"y\"}: `selector` does not match template `labels`"));
        assert!(
            e.message
                .contains("spec.template.spec.containers[1].name: Duplicate value: \"a\"")
        );
    }
}
