//! Planning alone, for a profiler: `cargo bench --bench plan_profile` loads large.yaml into
//! the simulator's store (no HTTP), reads its nodes and pods, and plans them 5 times.

use std::sync::Arc;
use std::time::Instant;

use kpreload::core::cleanup::{PlanOptions, gather, plan};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = kpreload::sim::load(&root.join("config/scenarios/large.yaml")).unwrap();
    let state = kpreload::sim::build(scenario, 1).unwrap();
    let nodes: Vec<Arc<k8s_openapi::api::core::v1::Node>> = state
        .store
        .list("Node", None)
        .1
        .iter()
        .map(|o| Arc::new(serde_json::from_value((**o).clone()).unwrap()))
        .collect();
    let pods: Vec<Arc<kpreload::core::objects::Pod>> = state
        .store
        .list("Pod", None)
        .1
        .iter()
        .map(|o| Arc::new(serde_json::from_value((**o).clone()).unwrap()))
        .collect();
    let options = PlanOptions::default();
    for _ in 0..5 {
        let facts = gather(&nodes, &pods, &[], &options);
        let t = Instant::now();
        let p = plan(facts, &options);
        println!(
            "planned {} nodes in {:.0} ms",
            p.nodes.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
