use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use serde_json::{Value, json};

use super::request::{Attributes, attributes};
use super::*;
use crate::resources;

fn attrs(method: Method, path: &str, query: &[(&str, &str)]) -> Attributes {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let query: HashMap<String, String> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    attributes(&method, &segments, &query)
}

fn res(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
    Attributes::Resource(request::ResourceRequest {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        sub: sub.into(),
        namespace: ns.into(),
        name: name.into(),
    })
}

#[test]
fn attributes_are_derived_as_the_api_server_derives_them() {
    use Method as M;
    let cases = [
        (
            attrs(M::GET, "/api/v1/nodes", &[]),
            res("list", "", "nodes", "", "", ""),
        ),
        (
            attrs(M::GET, "/api/v1/nodes", &[("watch", "true")]),
            res("watch", "", "nodes", "", "", ""),
        ),
        (
            attrs(M::GET, "/api/v1/nodes/n1/proxy/configz", &[]),
            res("get", "", "nodes", "proxy", "", "n1"),
        ),
        (
            attrs(
                M::GET,
                "/api/v1/namespaces/ops/pods/p/exec",
                &[("command", "ctr")],
            ),
            res("get", "", "pods", "exec", "ops", "p"),
        ),
        (
            attrs(M::PATCH, "/apis/apps/v1/namespaces/ops/daemonsets/d", &[]),
            res("patch", "apps", "daemonsets", "", "ops", "d"),
        ),
        (
            attrs(M::DELETE, "/apis/apps/v1/namespaces/ops/daemonsets", &[]),
            res("deletecollection", "apps", "daemonsets", "", "ops", ""),
        ),
        (
            attrs(M::POST, "/api/v1/namespaces/ops/events", &[]),
            res("create", "", "events", "", "ops", ""),
        ),
        // A watch of one object by name is authorized as that object.
        (
            attrs(
                M::GET,
                "/apis/apps/v1/namespaces/ops/daemonsets",
                &[("watch", "1"), ("fieldSelector", "metadata.name=d")],
            ),
            res("watch", "apps", "daemonsets", "", "ops", "d"),
        ),
        // A namespace's own namespace is itself.
        (
            attrs(M::GET, "/api/v1/namespaces/ops", &[]),
            res("get", "", "namespaces", "", "ops", "ops"),
        ),
        (
            attrs(M::PUT, "/api/v1/namespaces/ops/status", &[]),
            res("update", "", "namespaces", "status", "ops", "ops"),
        ),
        (
            attrs(M::GET, "/api/v1", &[]),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/api/v1".into(),
            },
        ),
        (
            attrs(M::GET, "/apis/apps/v1", &[]),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/apis/apps/v1".into(),
            },
        ),
        (
            attrs(M::GET, "/openapi/v3/apis/apps/v1", &[]),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/openapi/v3/apis/apps/v1".into(),
            },
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

fn store_with(objects: Vec<(&'static str, Value)>) -> Store {
    let store = Store::new(100, 1);
    for (kind, obj) in bootstrap_policy().into_iter().chain(objects) {
        store.create(resources::stored(kind), obj, false).unwrap();
    }
    store
}

fn user(name: &str) -> Identity {
    Identity {
        name: name.into(),
        groups: vec!["system:authenticated".into()],
    }
}

fn role(kind: &str, ns: &str, name: &str, rules: Value) -> (&'static str, Value) {
    let kind: &'static str = if kind == "Role" {
        "Role"
    } else {
        "ClusterRole"
    };
    (
        kind,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
               "metadata": {"name": name, "namespace": ns}, "rules": rules}),
    )
}

fn binding(
    kind: &str,
    ns: &str,
    role_kind: &str,
    role: &str,
    subject: Value,
) -> (&'static str, Value) {
    let kind: &'static str = if kind == "RoleBinding" {
        "RoleBinding"
    } else {
        "ClusterRoleBinding"
    };
    (
        kind,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
               "metadata": {"name": format!("{role}-{}", subject["name"].as_str().unwrap()), "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
               "subjects": [subject]}),
    )
}

#[test]
fn a_rule_allows_what_it_names_and_nothing_else() {
    let store = store_with(vec![
        role(
            "ClusterRole",
            "",
            "reader",
            json!([{"apiGroups": [""], "resources": ["nodes", "nodes/proxy"], "verbs": ["get", "list"]},
                   {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["get"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "ClusterRole",
            "reader",
            json!({"kind": "User", "name": "ann"}),
        ),
        role(
            "Role",
            "ops",
            "writer",
            json!([{"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["patch"], "resourceNames": ["a"]}]),
        ),
        binding(
            "RoleBinding",
            "ops",
            "Role",
            "writer",
            json!({"kind": "ServiceAccount", "name": "bot"}),
        ),
    ]);
    let ann = user("ann");
    let ok = |who: &Identity, a: Attributes| policy::authorize(&store, who, &a).is_ok();
    assert!(ok(&ann, res("list", "", "nodes", "", "", "")));
    assert!(ok(&ann, res("get", "", "nodes", "proxy", "", "n1")));
    assert!(!ok(&ann, res("watch", "", "nodes", "", "", "")));
    assert!(!ok(&ann, res("get", "", "pods", "", "ops", "p")));
    assert!(ok(
        &ann,
        res("get", "apps", "daemonsets", "status", "ops", "a")
    ));
    assert!(!ok(&ann, res("get", "apps", "daemonsets", "", "ops", "a")));
    // Discovery is everyone's who is authenticated; not the anonymous user's.
    let discovery = Attributes::NonResource {
        verb: "get".into(),
        path: "/apis/apps/v1".into(),
    };
    assert!(ok(&ann, discovery.clone()));
    let anonymous = Identity {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
    };
    assert!(!ok(&anonymous, discovery));
    // The service account's RoleBinding names no namespace: the binding's own.
    let bot = Identity {
        name: "system:serviceaccount:ops:bot".into(),
        groups: vec![],
    };
    assert!(ok(&bot, res("patch", "apps", "daemonsets", "", "ops", "a")));
    assert!(!ok(
        &bot,
        res("patch", "apps", "daemonsets", "", "ops", "b")
    ));
    assert!(!ok(
        &bot,
        res("patch", "apps", "daemonsets", "", "web", "a")
    ));
    let other = Identity {
        name: "system:serviceaccount:web:bot".into(),
        groups: vec![],
    };
    assert!(!ok(
        &other,
        res("patch", "apps", "daemonsets", "", "ops", "a")
    ));
}

#[test]
fn refusals_are_in_the_api_servers_words() {
    let store = store_with(vec![binding(
        "RoleBinding",
        "ops",
        "ClusterRole",
        "gone",
        json!({"kind": "User", "name": "ann"}),
    )]);
    let ann = user("ann");
    let refusal = |a: Attributes| policy::authorize(&store, &ann, &a).unwrap_err();
    let e = refusal(res("list", "", "nodes", "", "", ""));
    assert_eq!(e.code, 403);
    assert_eq!(e.reason, "Forbidden");
    assert_eq!(
        e.message,
        r#"nodes is forbidden: User "ann" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
    let e = refusal(res("create", "", "pods", "exec", "ops", "p-1"));
    assert_eq!(
        e.message,
        r#"pods "p-1" is forbidden: User "ann" cannot create resource "pods/exec" in API group "" in the namespace "ops": RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found"#
    );
    assert_eq!(
        e.details.unwrap(),
        json!({"group": "", "kind": "pods", "name": "p-1"})
    );
    let e = refusal(res("patch", "apps", "daemonsets", "", "ops", "d"));
    assert!(
        e.message
            .starts_with(r#"daemonsets.apps "d" is forbidden: User "ann" cannot patch"#),
        "{}",
        e.message
    );
    let e = policy::authorize(
        &store,
        &Identity {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        },
        &Attributes::NonResource {
            verb: "get".into(),
            path: "/api".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        r#"forbidden: User "system:anonymous" cannot get path "/api""#
    );
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

#[test]
fn tokens_name_users_and_their_groups() {
    let users = vec![
        User {
            name: "ann".into(),
            token: "t-ann".into(),
            groups: vec!["ops".into()],
        },
        User {
            name: "system:serviceaccount:ops:kpreload".into(),
            token: "t-sa".into(),
            groups: vec![],
        },
    ];
    let ann = authenticate(&users, &bearer("t-ann")).unwrap();
    assert_eq!(ann.name, "ann");
    assert_eq!(ann.groups, ["ops", "system:authenticated"]);
    let sa = authenticate(&users, &bearer("t-sa")).unwrap();
    assert_eq!(
        sa.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ops",
            "system:authenticated"
        ]
    );
    assert!(
        authenticate(&users, &bearer(ADMIN_TOKEN))
            .unwrap()
            .is_in("system:masters")
    );
    let e = authenticate(&users, &bearer("t-nobody")).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (401, "Unauthorized"));
    assert_eq!(
        authenticate(&users, &HeaderMap::new()).unwrap().name,
        "system:anonymous"
    );
    // Two users with one token, or a name of the simulator's own, are refused.
    let mut twice = users.clone();
    twice[1].token = "t-ann".into();
    assert_eq!(check_users(&twice).unwrap_err().0, "users[1].token");
    let mut own = users.clone();
    own[0].name = "system:masters".into();
    assert_eq!(check_users(&own).unwrap_err().0, "users[0].name");
}

#[test]
fn a_websocket_exec_needs_create_and_an_apply_that_creates_needs_create() {
    let users = vec![User {
        name: "ann".into(),
        token: "t".into(),
        groups: vec![],
    }];
    let store = store_with(vec![
        role(
            "ClusterRole",
            "",
            "half",
            json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]},
                   {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["patch"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "ClusterRole",
            "half",
            json!({"kind": "User", "name": "ann"}),
        ),
    ]);
    let path = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let e = check(
        &store,
        &users,
        &Method::GET,
        &path("/api/v1/namespaces/ops/pods/p/exec"),
        &HashMap::new(),
        &bearer("t"),
    )
    .unwrap_err();
    assert!(
        e.message.contains(r#"cannot create resource "pods/exec""#),
        "{}",
        e.message
    );
    let mut apply = bearer("t");
    apply.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/apply-patch+yaml"),
    );
    let e = check(
        &store,
        &users,
        &Method::PATCH,
        &path("/apis/apps/v1/namespaces/ops/daemonsets/d"),
        &HashMap::new(),
        &apply,
    )
    .unwrap_err();
    assert!(
        e.message.contains(r#"cannot create resource "daemonsets""#),
        "{}",
        e.message
    );
    // A merge patch of the same missing object is a patch only (and then 404s).
    let mut merge = bearer("t");
    merge.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/merge-patch+json"),
    );
    assert!(
        check(
            &store,
            &users,
            &Method::PATCH,
            &path("/apis/apps/v1/namespaces/ops/daemonsets/d"),
            &HashMap::new(),
            &merge,
        )
        .is_ok()
    );
}
