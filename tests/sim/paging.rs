//! Lists read page by page (`limit` and `continue`): every page is cut from the list as it
//! was at the first page, whatever changes in between; a token whose list is no longer kept
//! is 410 Expired in the API server's words, with a token that goes on inconsistently.

use crate::support;

use serde_json::{Value, json};
use support::{Cluster, http};

const SCENARIO: &str = "tests/fixtures/scenarios/small.yaml";

fn get(cluster: &Cluster, path: &str) -> (u16, Value) {
    let (code, body) = http("GET", &format!("{}{path}", cluster.url()), "", "");
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn create_pod(cluster: &Cluster, name: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "paged", "labels": {"app": "paged"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25-alpine"}]}});
    let url = format!("{}/api/v1/namespaces/paged/pods", cluster.url());
    let (code, out) = http("POST", &url, "application/json", &pod.to_string());
    assert_eq!(code, 201, "{out}");
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn page(cluster: &Cluster, token: &str) -> (u16, Value) {
    get(
        cluster,
        &format!("/api/v1/namespaces/paged/pods?limit=3&continue={token}"),
    )
}

/// A simulator with the namespace `paged`, made through the API.
fn with_namespace() -> Cluster {
    let cluster = Cluster::start(SCENARIO);
    let url = format!("{}/api/v1/namespaces", cluster.url());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paged"}});
    assert_eq!(
        http("POST", &url, "application/json", &ns.to_string()).0,
        201
    );
    cluster
}

#[test]
fn pages_come_from_one_snapshot_while_objects_change_between_them() {
    let cluster = with_namespace();
    let all: Vec<String> = (0..10).map(|i| format!("p{i:02}")).collect();
    for name in &all {
        create_pod(&cluster, name);
    }

    let (code, first) = page(&cluster, "");
    assert_eq!(code, 200, "{first}");
    assert_eq!(names(&first), ["p00", "p01", "p02"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 7);
    let rv = first["metadata"]["resourceVersion"].clone();
    let original_p05 = cluster
        .sim()
        .store
        .get("Pod", "paged", "p05")
        .unwrap()
        .clone();

    // Between the pages: one pod later in the list goes, one comes, one changes.
    let base = format!("{}/api/v1/namespaces/paged/pods", cluster.url());
    assert_eq!(
        http("DELETE", &format!("{base}/p07"), "application/json", "").0,
        200
    );
    create_pod(&cluster, "p045");
    let (code, out) = http(
        "PATCH",
        &format!("{base}/p05"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"changed":"yes"}}}"#,
    );
    assert_eq!(code, 200, "{out}");

    let mut seen = names(&first);
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let mut remaining = vec![];
    loop {
        let (code, next) = page(&cluster, &token);
        assert_eq!(code, 200, "{next}");
        assert_eq!(
            next["metadata"]["resourceVersion"], rv,
            "one snapshot's version"
        );
        for p in next["items"].as_array().unwrap() {
            if p["metadata"]["name"] == "p05" {
                assert_eq!(p, &*original_p05, "p05 as it was at the first page");
            }
        }
        seen.extend(names(&next));
        remaining.push(next["metadata"]["remainingItemCount"].clone());
        match next["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => token = c.to_string(),
            _ => break,
        }
    }
    assert_eq!(seen, all, "the list as it was at its first page");
    assert_eq!(remaining, [json!(4), json!(1), Value::Null]);

    // A list taken now has the changes.
    let (_, now) = get(&cluster, "/api/v1/namespaces/paged/pods");
    assert!(names(&now).contains(&"p045".to_string()));
    assert!(!names(&now).contains(&"p07".to_string()));
}

#[test]
fn a_token_outliving_its_snapshot_is_410_expired_with_a_token_to_go_on() {
    let cluster = with_namespace();
    for i in 0..8 {
        create_pod(&cluster, &format!("p{i}"));
    }
    let (_, first) = page(&cluster, "");
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();

    // Compaction forgets the lists being paged, as etcd's does the revisions they read.
    let (code, _) = http("POST", &format!("{}/sim/compact", cluster.url()), "", "");
    assert_eq!(code, 200);
    create_pod(&cluster, "p2a");

    let (code, status) = page(&cluster, &token);
    assert_eq!(code, 410, "{status}");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Expired");
    assert_eq!(status["code"], 410);
    assert_eq!(
        status["message"],
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter, or use the continue token \
         in this response to retrieve the remainder of the results. Continuing with the \
         provided token results in an inconsistent list - objects that were created, \
         modified, or deleted between the time the first chunk was returned and now may show \
         up in the list."
    );
    // Its token goes on after the last key sent (p2), in the current state: p2a is there.
    let inconsistent = status["metadata"]["continue"].as_str().unwrap();
    let (code, next) = page(&cluster, inconsistent);
    assert_eq!(code, 200, "{next}");
    assert_eq!(names(&next), ["p2a", "p3", "p4"]);
    assert_eq!(next["metadata"]["remainingItemCount"], 3);
    let rest = next["metadata"]["continue"].as_str().unwrap();
    let (_, last) = page(&cluster, rest);
    assert_eq!(names(&last), ["p5", "p6", "p7"]);

    // A token that is not one is still 400.
    let (code, bad) = page(&cluster, "7b7d");
    assert_eq!(code, 400, "{bad}");
    assert_eq!(
        bad["message"],
        "continue key is not valid: the token is malformed"
    );
    // A token of another list (nodes) is refused for pods.
    let (_, nodes) = get(&cluster, "/api/v1/nodes?limit=1");
    let node_token = nodes["metadata"]["continue"].as_str().unwrap();
    assert_eq!(page(&cluster, node_token).0, 400);
}
