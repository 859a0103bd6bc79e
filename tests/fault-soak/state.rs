//! What the watches hold, kept as the TUI keeps it, and how it is compared with the server.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kpreload::cluster::watch::{self, Link, Links, PodScope, Update, Watch};
use kpreload::core::objects::{Pod as CorePod, Workload};
use kpreload::core::progress::Snapshot;
use kube::Api;
use serde_json::Value;

/// The watches' state, fed by their updates.
#[derive(Default)]
pub struct Seen {
    pub snapshot: Snapshot,
    pub links: Links,
    /// Times a watch came back live after it had said it was retrying.
    pub recoveries: u64,
    /// Every distinct sentence a watch gave while retrying.
    pub troubles: BTreeSet<String>,
    retrying: BTreeSet<String>,
}

/// Starts every watch the TUI runs; `seen` follows them until the runtime ends.
pub fn follow(client: &kube::Client, namespace: &str) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen {
        links: Links::expecting(&watch::watches(PodScope::AllNamespaces)),
        ..Default::default()
    }));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tasks = watch::spawn_all(client, namespace, PodScope::AllNamespaces, &tx);
    let into = seen.clone();
    tokio::spawn(async move {
        let _tasks = tasks;
        while let Some(u) = rx.recv().await {
            let mut s = into.lock().unwrap();
            if let Update::Link(w, link) = &u {
                if std::env::var_os("SOAK_DEBUG").is_some() {
                    eprintln!("link {w:?} {link:?}");
                }
                let key = format!("{w:?}");
                match link {
                    Link::Retrying(why) => {
                        s.troubles.insert(format!("{w:?}: {why}"));
                        s.retrying.insert(key);
                    }
                    Link::Live => {
                        if s.retrying.remove(&key) {
                            s.recoveries += 1;
                        }
                    }
                    Link::Connecting => {}
                }
            }
            let Seen {
                snapshot, links, ..
            } = &mut *s;
            watch::absorb(snapshot, links, u);
        }
    });
    seen
}

/// What is compared: each object's identity and version, as sets.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Picture {
    /// Nodes: name and resourceVersion.
    pub nodes: BTreeSet<(String, String)>,
    /// DaemonSets in the namespace: name and resourceVersion.
    pub daemonsets: BTreeSet<(String, String)>,
    /// Pods in the namespace: name, uid and phase (the watches keep no resourceVersion).
    pub pods: BTreeSet<(String, String, String)>,
    /// Pods everywhere: namespace/name and the record the all-namespaces watch keeps of
    /// each (its node, images and owners: what is read of it).
    pub workloads: BTreeSet<(String, String)>,
}

impl Picture {
    pub fn of_snapshot(s: &Snapshot) -> Picture {
        Picture {
            nodes: s.nodes.iter().map(|n| version(&n.metadata)).collect(),
            daemonsets: s.daemonsets.iter().map(|d| version(&d.metadata)).collect(),
            pods: s
                .pods
                .iter()
                .map(|p| {
                    phase(
                        &p.metadata,
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    )
                })
                .collect(),
            workloads: s.workloads.iter().map(|w| record(w)).collect(),
        }
    }

    /// The server's, read with kube-rs as the administrator (quick enough to poll).
    pub async fn of_server(client: &kube::Client, namespace: &str) -> Result<Picture, String> {
        let lp = kube::api::ListParams::default();
        let e = |e: kube::Error| e.to_string();
        let nodes = Api::<Node>::all(client.clone())
            .list(&lp)
            .await
            .map_err(e)?;
        let ds = Api::<DaemonSet>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .map_err(e)?;
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&lp)
            .await
            .map_err(e)?;
        let all = Api::<CorePod>::all(client.clone())
            .list(&lp)
            .await
            .map_err(e)?;
        Ok(Picture {
            nodes: nodes.items.iter().map(|n| version(&n.metadata)).collect(),
            daemonsets: ds.items.iter().map(|d| version(&d.metadata)).collect(),
            pods: pods
                .items
                .iter()
                .map(|p| {
                    phase(
                        &p.metadata,
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    )
                })
                .collect(),
            workloads: all.items.iter().map(|p| record(&p.into())).collect(),
        })
    }

    /// The server's, from `kubectl get -o json` documents (nodes, daemonsets and pods in
    /// the namespace, pods in all namespaces).
    pub fn of_kubectl(nodes: &Value, ds: &Value, pods: &Value, all: &Value) -> Picture {
        let items = |v: &Value| v["items"].as_array().cloned().unwrap_or_default();
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let meta_version = |o: &Value| {
            (
                s(&o["metadata"]["name"]),
                s(&o["metadata"]["resourceVersion"]),
            )
        };
        Picture {
            nodes: items(nodes).iter().map(meta_version).collect(),
            daemonsets: items(ds).iter().map(meta_version).collect(),
            pods: items(pods)
                .iter()
                .map(|o| {
                    (
                        s(&o["metadata"]["name"]),
                        s(&o["metadata"]["uid"]),
                        s(&o["status"]["phase"]),
                    )
                })
                .collect(),
            workloads: items(all)
                .into_iter()
                .map(|o| match serde_json::from_value::<CorePod>(o) {
                    Ok(p) => record(&(&p).into()),
                    Err(e) => (format!("unreadable pod: {e}"), String::new()),
                })
                .collect(),
        }
    }

    /// How two pictures differ, in a line (for a failure's message).
    pub fn difference(&self, other: &Picture) -> String {
        fn one<T: Ord + std::fmt::Debug>(
            what: &str,
            a: &BTreeSet<T>,
            b: &BTreeSet<T>,
        ) -> Option<String> {
            let only_a: Vec<&T> = a.difference(b).take(3).collect();
            let only_b: Vec<&T> = b.difference(a).take(3).collect();
            (!only_a.is_empty() || !only_b.is_empty())
                .then(|| format!("{what}: watched only {only_a:?}, server only {only_b:?}"))
        }
        [
            one("nodes", &self.nodes, &other.nodes),
            one("daemonsets", &self.daemonsets, &other.daemonsets),
            one("pods", &self.pods, &other.pods),
            one("workloads", &self.workloads, &other.workloads),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
    }
}

fn version(m: &Meta) -> (String, String) {
    (
        m.name.clone().unwrap_or_default(),
        m.resource_version.clone().unwrap_or_default(),
    )
}

type Meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn phase(m: &Meta, phase: Option<&str>) -> (String, String, String) {
    (
        m.name.clone().unwrap_or_default(),
        m.uid.clone().unwrap_or_default(),
        phase.unwrap_or_default().to_string(),
    )
}

fn record(w: &Workload) -> (String, String) {
    (w.place().to_string(), format!("{w:?}"))
}

/// Whether every watch is live.
pub fn all_live(seen: &Mutex<Seen>) -> bool {
    seen.lock().unwrap().links.all_live()
}

/// The first watch in trouble, for a failure's message.
pub fn trouble(seen: &Mutex<Seen>) -> Option<(Watch, String)> {
    seen.lock().unwrap().links.trouble()
}
