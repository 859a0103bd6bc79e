//! Events, written as the kubelet and the scheduler write them.

use serde_json::json;

use crate::resources::stored;
use crate::store::{Store, now_rfc3339};

fn unique_nanos() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

/// The object an event is about: a pod (and optionally one of its containers).
pub struct About<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub field_path: Option<String>,
}

pub fn event(
    store: &Store,
    about: &About,
    source: &Source,
    warning: bool,
    reason: &str,
    message: &str,
) {
    let now = now_rfc3339();
    // Like the kubelet's names (the pod's name and a nanosecond clock in hex), so that
    // listing events by name lists them in the order they happened.
    let suffix = format!("{:x}", unique_nanos());
    let mut involved = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": about.namespace,
        "name": about.name,
        "uid": about.uid,
    });
    if let Some(path) = &about.field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut source_json = json!({"component": source.component});
    if let Some(host) = source.host {
        source_json["host"] = json!(host);
    }
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{suffix}", about.name), "namespace": about.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source_json,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": if warning { "Warning" } else { "Normal" },
        "reportingComponent": source.component,
        "reportingInstance": source.host.unwrap_or_default(),
    });
    let _ = store.create(stored("Event"), event, false);
}
