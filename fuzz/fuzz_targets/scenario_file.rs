//! The simulator's scenario file, any text at all. What parses generates as many nodes and
//! pods as it says, each node with its pool's labels; what does not parse says where.
#![no_main]

use kpreload_sim::scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let s = match scenario::parse(text, "scenario.yaml") {
        Ok(s) => s,
        Err(e) => {
            assert_eq!(e.file, "scenario.yaml");
            assert!(!e.message.trim().is_empty());
            return;
        }
    };
    let sim = &s.simulation;
    assert!(sim.speed.is_finite() && sim.speed > 0.0, "{}", sim.speed);
    let nodes: usize = sim.generate.iter().map(|g| g.count).sum();
    let pods: usize = sim.generate.iter().map(|g| g.count * g.pods_per_node).sum();
    if nodes > 200 || pods > 2_000 {
        return;
    }
    let (mut n, mut p) = (0, 0);
    for (kind, object) in scenario::generated(sim) {
        match kind {
            "Node" => {
                n += 1;
                let labels = &object["metadata"]["labels"];
                let g = sim
                    .generate
                    .iter()
                    .find(|g| g.labels.iter().all(|(k, v)| labels[k] == v.as_str()));
                assert!(g.is_some(), "{object}");
            }
            "Pod" => {
                p += 1;
                assert!(object["spec"]["nodeName"].is_string(), "{object}");
            }
            other => panic!("generated a {other}"),
        }
    }
    assert_eq!((n, p), (nodes, pods));
});
