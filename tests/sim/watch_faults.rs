//! kpreload's watches against a simulator that misbehaves on purpose: dropped watches, 410,
//! 429, 500 and 403. Each time the link says what happened in words, comes back live, and
//! a change made afterwards arrives.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kpreload::cluster::watch::{self, Link, Links, PodScope, Update, Watch};
use kpreload::core::progress::Snapshot;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::{Cluster, http};
use tokio::sync::mpsc::UnboundedReceiver;

const SCENARIO: &str = "tests/fixtures/scenarios/small.yaml";

struct Seen {
    snapshot: Snapshot,
    links: Links,
    /// Every sentence a watch failed with, in order.
    troubles: Vec<(Watch, String)>,
}

impl Seen {
    /// Reads updates until `done` holds, or fails the test after `seconds`.
    async fn until(
        &mut self,
        rx: &mut UnboundedReceiver<Update>,
        seconds: u64,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while !done(self) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(u)) => {
                    if let Update::Link(w, Link::Retrying(why)) = &u {
                        self.troubles.push((*w, why.clone()));
                    }
                    watch::absorb(&mut self.snapshot, &mut self.links, u);
                }
                _ => panic!(
                    "waited {seconds}s for {what}; links: {:?}; troubles: {:?}",
                    Watch::ALL.map(|w| self.links.get(w)),
                    self.troubles
                ),
            }
        }
    }

    fn has_pod(&self, name: &str) -> bool {
        self.snapshot.workloads.iter().any(|p| p.name() == name)
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": "web-2", "containers": [{"name": "c", "image": "nginx:1.25-alpine"}]}}))
    .unwrap()
}

/// Starts the watches, waits for them to be live, injects `faults`, waits for a trouble
/// whose sentence contains `expect`, lifts the faults, and checks recovery and a new change.
fn recovers_from(faults: &str, expect: Option<&str>, lift: &str) {
    let cluster = Cluster::start(SCENARIO);
    let url = cluster.url();
    // Watches end every 0.3 s, as a flaky connection would end them, so faults meet them soon.
    cluster.faults(r#"{"watchSeconds": 0.3}"#);
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tasks = watch::spawn_all(&client, "kube-system", PodScope::AllNamespaces, &tx);
        let mut seen = Seen {
            snapshot: Snapshot::default(),
            links: Links::expecting(&watch::watches(PodScope::AllNamespaces)),
            troubles: Vec::new(),
        };
        seen.until(&mut rx, 20, "the first lists", |s| s.links.all_live())
            .await;
        assert!(seen.has_pod("api-0"), "the scenario's pod is listed");
        assert_eq!(seen.snapshot.nodes.len(), 3);

        let (code, out) = http(
            "POST",
            &format!("{url}/sim/faults"),
            "application/json",
            faults,
        );
        assert_eq!(code, 200, "{out}");
        if faults.contains("watchGone") {
            http(
                "POST",
                &format!("{url}/sim/compact"),
                "application/json",
                "",
            );
        }
        match expect {
            Some(expect) => {
                seen.until(&mut rx, 30, expect, |s| {
                    s.troubles.iter().any(|(_, why)| why.contains(expect))
                })
                .await
            }
            // The client absorbs these itself; wait until the simulator has served them all.
            None => {
                for _ in 0..300 {
                    let (_, now) =
                        http("GET", &format!("{url}/sim/faults"), "application/json", "");
                    if now.contains("\"tooMany\":0") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let (_, now) = http("GET", &format!("{url}/sim/faults"), "application/json", "");
                assert!(
                    now.contains("\"tooMany\":0"),
                    "the 429s were not all served: {now}"
                );
            }
        }
        let (code, out) = http(
            "POST",
            &format!("{url}/sim/faults"),
            "application/json",
            lift,
        );
        assert_eq!(code, 200, "{out}");

        seen.until(&mut rx, 60, "every watch live again", |s| {
            s.links.all_live()
        })
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods.create(&PostParams::default(), &pod("after-the-fault"))
            .await
            .unwrap();
        seen.until(&mut rx, 30, "the pod created after the fault", |s| {
            s.has_pod("after-the-fault")
        })
        .await;
        for t in tasks {
            t.abort();
        }
    });
}

#[test]
fn server_errors_while_watches_restart() {
    recovers_from(
        r#"{"errors": 6}"#,
        Some("the API server failed (500"),
        r#"{"watchSeconds": null, "errors": 0}"#,
    );
}

#[test]
fn too_many_requests() {
    recovers_from(
        // kube-rs retries 429s itself, honouring Retry-After; the watches must come through.
        r#"{"tooMany": 12, "retryAfter": 1}"#,
        None,
        r#"{"watchSeconds": null, "tooMany": 0}"#,
    );
}

#[test]
fn expired_watches_list_again() {
    recovers_from(
        r#"{"watchGone": 4}"#,
        Some("expired (410 Gone)"),
        r#"{"watchSeconds": null, "watchGone": 0}"#,
    );
}

#[test]
fn a_missing_permission_names_it_and_points_to_rbac() {
    recovers_from(
        r#"{"forbidden": ["pods"]}"#,
        Some(
            "may not list and watch pods in all namespaces (403 Forbidden); `kpreload rbac` prints the role this needs",
        ),
        r#"{"watchSeconds": null, "forbidden": []}"#,
    );
}

#[test]
fn status_says_plainly_when_it_may_not_read() {
    let cluster = Cluster::start(SCENARIO);
    cluster.faults(r#"{"forbidden": ["daemonsets"]}"#);
    let out = support::kpreload(&[
        "--kubeconfig",
        cluster.kubeconfig.to_str().unwrap(),
        "status",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "may not list and watch daemonsets in kube-system (403 Forbidden); `kpreload rbac`"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A watcher that reads behind the live changes (its connection full, its task not polled)
/// reads on from the history, as one of the API server reads from its watch cache: every
/// change arrives, in order, and no 410 sends it back to listing.
#[test]
fn a_watch_read_behind_the_changes_catches_up_from_the_history() {
    use std::io::{BufRead, Write};
    let cluster = Cluster::start(SCENARIO);
    let sim = cluster.sim();
    let from = sim.store.current_rv();
    let host = cluster.url().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    write!(
        s,
        "GET /api/v1/namespaces/behind/pods?watch=true&resourceVersion={from}&timeoutSeconds=60 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // More changes than the live channel holds (16,384), none read meanwhile: the
    // connection fills and the watch's task falls behind.
    let pods = kpreload::sim::resources::stored("Pod");
    const N: usize = 20_000;
    for i in 0..N {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p{i:05}"), "namespace": "behind",
                "annotations": {"filler": "x".repeat(2_000)}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        sim.store.create(pods, pod, false).unwrap();
    }
    // Read until every change is in, an error comes, or the watch ends.
    let mut names: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for line in std::io::BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if e["type"] == "ERROR" {
            errors.push(line);
            break;
        }
        if e["type"] == "ADDED"
            && let Some(name) = e["object"]["metadata"]["name"].as_str()
        {
            names.push(name.to_string());
            if names.len() == N {
                break;
            }
        }
    }
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(names.len(), N, "every change arrived");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "in order");
}
