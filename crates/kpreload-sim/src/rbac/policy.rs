//! RBAC's decision, as Kubernetes' RBAC authorizer makes it: the rules of every role bound
//! to the requester — by a ClusterRoleBinding anywhere, by a RoleBinding in the request's
//! namespace — and one that matches allows the request; no rule, no access.

use serde_json::Value;

use super::Identity;
use super::request::{Attributes, ResourceRequest};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Allows the request, or refuses it in the API server's words.
pub fn authorize(store: &Store, who: &Identity, a: &Attributes) -> ApiResult<()> {
    if who.is_in("system:masters") {
        return Ok(());
    }
    let mut errors = Vec::new();
    if allowed(store, who, a, &mut errors) {
        return Ok(());
    }
    let mut why = forbidden_message(who, a);
    match errors.as_slice() {
        [] => {}
        [one] => why = format!("{why}: RBAC: {one}"),
        many => why = format!("{why}: RBAC: [{}]", many.join(", ")),
    }
    Err(match a {
        Attributes::Resource(r) => ApiError::forbidden_for(&r.group, &r.resource, &r.name, &why),
        Attributes::NonResource { .. } => ApiError::forbidden_for("", "", "", &why),
    })
}

/// `forbiddenMessage` of the API server's handlers.
fn forbidden_message(who: &Identity, a: &Attributes) -> String {
    let user = &who.name;
    match a {
        Attributes::NonResource { verb, path } => {
            format!("User {user:?} cannot {verb} path {path:?}")
        }
        Attributes::Resource(r) => {
            let (verb, group, namespace) = (&r.verb, &r.group, &r.namespace);
            let resource = r.combined();
            if namespace.is_empty() {
                format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
                )
            } else {
                format!(
                    "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {namespace:?}"
                )
            }
        }
    }
}

/// Whether some bound rule allows the request; `errors` collects bindings whose role is
/// missing (said after the refusal, as RBAC says them).
fn allowed(store: &Store, who: &Identity, a: &Attributes, errors: &mut Vec<String>) -> bool {
    let mut any_allows = |bindings: Vec<crate::store::Obj>, namespace: &str| {
        for b in bindings.iter().filter(|b| binds(b, who, namespace)) {
            match role_rules(store, &b["roleRef"], namespace) {
                Ok(rules) if rules.iter().any(|r| rule_allows(r, a)) => return true,
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        false
    };
    if any_allows(store.list("ClusterRoleBinding", None).1, "") {
        return true;
    }
    match a {
        Attributes::Resource(r) if !r.namespace.is_empty() => any_allows(
            store.list("RoleBinding", Some(&r.namespace)).1,
            &r.namespace,
        ),
        _ => false,
    }
}

/// The rules of the role a binding refers to (a Role in the binding's namespace, or a
/// ClusterRole), or why there are none.
fn role_rules(store: &Store, role_ref: &Value, namespace: &str) -> Result<Vec<Value>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let (kind, ns, plural) = match role_ref["kind"].as_str() {
        Some("Role") => ("Role", namespace, "role"),
        _ => ("ClusterRole", "", "clusterrole"),
    };
    let role = store
        .get(kind, ns, name)
        .ok_or_else(|| format!("{plural}.{GROUP} {name:?} not found"))?;
    Ok(role["rules"].as_array().cloned().unwrap_or_default())
}

/// Whether one of a binding's subjects is the requester.
fn binds(binding: &Value, who: &Identity, binding_namespace: &str) -> bool {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            let name = s["name"].as_str().unwrap_or_default();
            match s["kind"].as_str() {
                Some("User") => who.name == name,
                Some("Group") => who.is_in(name),
                Some("ServiceAccount") => {
                    let ns = s["namespace"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(binding_namespace);
                    !ns.is_empty() && who.name == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        })
}

/// A resource rule: verb, API group, resource (`*`, exact, or `*/sub`) and, if the rule
/// names any, the object's name.
fn resource_rule_allows(rule: &Value, verbs: &[String], r: &ResourceRequest) -> bool {
    let combined = r.combined();
    let sub_of_any = format!("*/{}", r.sub);
    let names = strings(rule, "resourceNames");
    has(verbs, &r.verb)
        && has(&strings(rule, "apiGroups"), &r.group)
        && strings(rule, "resources")
            .iter()
            .any(|x| x == "*" || *x == combined || (!r.sub.is_empty() && *x == sub_of_any))
        && (names.is_empty() || names.contains(&r.name))
}

fn strings(rule: &Value, key: &str) -> Vec<String> {
    rule[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn has(list: &[String], wanted: &str) -> bool {
    list.iter().any(|v| v == "*" || v == wanted)
}

/// `RuleAllows` of RBAC's validation: verb, API group, resource (with `*/sub`) and
/// resource name; or verb and URL (with a trailing `*`).
fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strings(rule, "verbs");
    match a {
        Attributes::NonResource { verb, path } => {
            has(&verbs, verb)
                && strings(rule, "nonResourceURLs").iter().any(|u| {
                    u == "*"
                        || u == path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                })
        }
        Attributes::Resource(r) => resource_rule_allows(rule, &verbs, r),
    }
}
