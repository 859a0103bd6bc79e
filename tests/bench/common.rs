//! What the benchmarks share: resident memory, medians, large.yaml's objects. Each bench
//! uses some of them.
#![allow(dead_code)]

/// This process's resident memory, MiB.
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// large.yaml's nodes, pods and DaemonSets as the watches would hand them over (5,000 nodes,
/// 100,000 pods), read straight from a built simulator's store.
pub fn large_snapshot() -> kpreload::core::progress::Snapshot {
    use std::sync::Arc;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = kpreload::sim::load(&root.join("config/scenarios/large.yaml")).unwrap();
    let state = kpreload::sim::build(scenario, 1).unwrap();
    fn read<K: serde::de::DeserializeOwned>(
        store: &[std::sync::Arc<serde_json::Value>],
    ) -> Vec<Arc<K>> {
        store
            .iter()
            .map(|o| Arc::new(serde_json::from_value((**o).clone()).unwrap()))
            .collect()
    }
    kpreload::core::progress::Snapshot {
        nodes: read(&state.store.list("Node", None).1),
        workloads: kpreload::core::objects::records(&read(&state.store.list("Pod", None).1)),
        daemonsets: read(&state.store.list("DaemonSet", None).1),
        ..Default::default()
    }
}
