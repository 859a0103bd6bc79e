//! Who is asking, and may they: bearer-token authentication and RBAC authorization, for a
//! scenario with `users`. Without `users` the simulator asks neither (every request is
//! the cluster's administrator's), as before.
//!
//! What Kubernetes does, from its documentation and the API server's wording:
//! - A request's bearer token names a user and its groups; every authenticated user is
//!   also in `system:authenticated`, a service account
//!   (`system:serviceaccount:NAMESPACE:NAME`) also in `system:serviceaccounts` and
//!   `system:serviceaccounts:NAMESPACE`. A request without a token is `system:anonymous`
//!   (`system:unauthenticated`); an unknown token is 401 "Unauthorized".
//! - The request's attributes (verb, API group, resource, subresource, namespace, name; or
//!   a path) are derived as the API server's RequestInfo does ([`request`]).
//! - `system:masters` may do anything; everyone else needs a rule of a Role or ClusterRole
//!   bound to them ([`policy`]). A refusal is 403 in the API server's words.
//! - A WebSocket exec (a GET) needs `create` on `pods/exec` beside `get` (Kubernetes 1.35,
//!   `AuthorizePodWebsocketUpgradeCreatePermission`); a server-side apply that would create
//!   its object needs `create` beside `patch`.

pub mod policy;
pub mod request;

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, header};
use serde_json::{Value, json};

use super::status::{ApiError, ApiResult};
use super::store::Store;
use request::{Attributes, ResourceRequest};

/// The token of the simulator's administrator (group `system:masters`), in the kubeconfig
/// the simulator writes for a scenario with `users`.
pub const ADMIN_TOKEN: &str = "kpreload-sim-admin";
/// The administrator's user name.
pub const ADMIN_USER: &str = "kpreload-sim-admin";

/// One of the scenario's `users`: a bearer token and who it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An authenticated requester, with every group it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn is_in(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The user a request's `Authorization: Bearer` token names.
pub fn authenticate(users: &[User], headers: &HeaderMap) -> ApiResult<Identity> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Identity {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    if token == ADMIN_TOKEN {
        return Ok(Identity {
            name: ADMIN_USER.into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        });
    }
    let user = users
        .iter()
        .find(|u| u.token == token)
        .ok_or_else(ApiError::unauthorized)?;
    let mut groups = user.groups.clone();
    if let Some(ns) = service_account_namespace(&user.name) {
        groups.push("system:serviceaccounts".into());
        groups.push(format!("system:serviceaccounts:{ns}"));
    }
    groups.push("system:authenticated".into());
    Ok(Identity {
        name: user.name.clone(),
        groups,
    })
}

/// `system:serviceaccount:NAMESPACE:NAME` → NAMESPACE.
fn service_account_namespace(user: &str) -> Option<&str> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some(ns)
}

/// Authenticates and authorizes one request, or says why not (401, 403). A scenario without
/// users checks nothing; the simulator's own `/sim` controls and its registry (`/v2`) are
/// not the API server's.
pub fn check(
    store: &Store,
    users: &[User],
    method: &Method,
    segments: &[String],
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<()> {
    let own = matches!(segments.first().map(String::as_str), Some("sim" | "v2"));
    if users.is_empty() || own {
        return Ok(());
    }
    let who = authenticate(users, headers)?;
    let attributes = request::attributes(method, segments, query);
    policy::authorize(store, &who, &attributes)?;
    if let Attributes::Resource(r) = &attributes {
        let also_create = match (r.resource.as_str(), r.sub.as_str()) {
            // The WebSocket upgrade of exec, attach and port-forward is a GET, and needs
            // create too.
            ("pods", "exec" | "attach" | "portforward") => r.verb == "get",
            // Server-side apply of an object that is not there creates it.
            _ if r.verb == "patch" && r.sub.is_empty() => is_apply(headers) && !exists(store, r),
            _ => false,
        };
        if also_create {
            let create = ResourceRequest {
                verb: "create".into(),
                ..r.clone()
            };
            policy::authorize(store, &who, &Attributes::Resource(create))?;
        }
    }
    Ok(())
}

fn is_apply(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/apply-patch"))
}

fn exists(store: &Store, r: &ResourceRequest) -> bool {
    let Some(res) = super::resources::RESOURCES
        .iter()
        .find(|x| x.group == r.group && x.plural == r.resource)
    else {
        return false;
    };
    let ns = if res.namespaced {
        r.namespace.as_str()
    } else {
        ""
    };
    store.get(res.store_kind, ns, &r.name).is_some()
}

/// The roles and bindings every cluster starts with (the API server's bootstrap policy),
/// for the ones this simulator serves: cluster-admin for `system:masters`, discovery for
/// every authenticated user, health and version for everyone.
pub fn bootstrap_policy() -> Vec<(&'static str, Value)> {
    let meta = |name: &str| {
        json!({
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        })
    };
    let role = |name: &str, rules: Value| {
        (
            "ClusterRole",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": meta(name), "rules": rules}),
        )
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
            .collect();
        (
            "ClusterRoleBinding",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": meta(name),
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                   "subjects": subjects}),
        )
    };
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        binding("cluster-admin", &["system:masters"]),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                        "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                    "verbs": ["get"]}]),
        ),
        binding("system:discovery", &["system:authenticated"]),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                    "verbs": ["get"]}]),
        ),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

/// Checks the scenario's `users`: each with a name and a token of its own.
pub fn check_users(users: &[User]) -> Result<(), (String, String)> {
    for (i, u) in users.iter().enumerate() {
        if u.name.trim().is_empty() {
            return Err((
                format!("users[{i}].name"),
                "is empty; give the user a name".into(),
            ));
        }
        if u.name == ADMIN_USER || u.name.starts_with("system:") && !is_service_account(&u.name) {
            return Err((
                format!("users[{i}].name"),
                format!(
                    "{:?} is the simulator's own; give another name (a service account is system:serviceaccount:NAMESPACE:NAME)",
                    u.name
                ),
            ));
        }
        if u.token.is_empty() || u.token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((
                format!("users[{i}].token"),
                "must be a token without spaces".into(),
            ));
        }
        if u.token == ADMIN_TOKEN || users[..i].iter().any(|o| o.token == u.token) {
            return Err((
                format!("users[{i}].token"),
                "is another user's token; give every user a token of its own".into(),
            ));
        }
    }
    Ok(())
}

fn is_service_account(name: &str) -> bool {
    service_account_namespace(name).is_some()
}

#[cfg(test)]
mod tests;
