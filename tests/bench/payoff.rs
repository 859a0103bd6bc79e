//! The payoff's costs on large.yaml (5,000 nodes in 10 pools, a preloader each):
//! `cargo bench --bench payoff`. Working out which pools each node is in (the TUI does it at
//! most every two seconds while nodes, preloaders or their pods change), taking in 100,000
//! workload starts out of order (a relist of a busy hour), and every pool's figures (the
//! findings ask once a second; the pool screen per frame). It prints what the window keeps.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use kpreload::core::payoff::{LIMIT, Outcome, Scopes, Start, Window};
use kpreload::core::progress::Snapshot;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let snapshot = Snapshot {
        nodes: common::large_snapshot().nodes,
        // Ten preloaders, one per node pool, as the TUI bench applies them.
        daemonsets: [
            "web", "api", "batch", "ml", "gpu", "data", "cache", "edge", "ci", "general",
        ]
        .iter()
        .map(|pool| {
            let text = format!(
                "namespace: kube-system\npools:\n  - name: {pool}\n    nodeSelector: {{matchLabels: {{workload-type: {pool}}}}}\n    tolerations: [{{key: workload, operator: Exists}}]\n    images: [nginx:1.25-alpine, python:3.13-slim, golang:1.25]\n"
            );
            let file = kpreload::core::pools::PoolsFile::parse(&text, "bench").unwrap();
            let mut ds = kpreload::core::render::render_pool(&file, &file.pools[0]);
            ds.metadata.uid = Some(format!("uid-ds-{pool}"));
            Arc::new(ds)
        })
        .collect(),
        ..Default::default()
    };
    let nodes: Vec<String> = snapshot
        .nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let now = jiff::Timestamp::now().as_second();
    let images = [
        "nginx:1.25-alpine",
        "redis:7-alpine",
        "python:3.12-slim",
        "golang:1.23",
    ];
    // 100,000 starts, an hour's worth, in an order that is not time order.
    let starts: Vec<Start> = (0..100_000u64)
        .map(|i| {
            let k = (i * 7919) % 100_000;
            Start {
                node: nodes[(k as usize) % nodes.len()].as_str().into(),
                namespace: "shop".into(),
                pod: format!("api-{k}").into(),
                uid: format!("uid-{k}").into(),
                image: images[(k % 4) as usize].into(),
                at: now - 3600 + (k as i64 * 3600 / 100_000),
                outcome: if k % 5 == 0 {
                    Outcome::Pulled {
                        seconds: 3.0,
                        total: 9.0,
                        bytes: Some(40_000_000),
                    }
                } else {
                    Outcome::Present
                },
            }
        })
        .collect();
    println!("{} nodes, {} starts", nodes.len(), starts.len());
    for round in 0..3 {
        let t = Instant::now();
        let scopes = Scopes::of(&snapshot);
        let scope_ms = ms(t);
        let mut window = Window::default();
        let t = Instant::now();
        for s in starts.iter().cloned() {
            window.record(s, &scopes, now);
        }
        let record_ms = ms(t);
        let t = Instant::now();
        let figures = scopes.figures(&window, |_| None);
        let figures_ms = ms(t);
        println!(
            "round {round}: pools of the nodes {scope_ms:.1} ms ({} pools); 100,000 starts taken in {record_ms:.1} ms; \
             every pool's figures {figures_ms:.2} ms; kept {} starts ({} per pool at most), {} outside any pool",
            scopes.pools.len(),
            window.retained(),
            LIMIT,
            window.outside
        );
        assert!(window.retained() <= scopes.pools.len() * LIMIT);
        assert_eq!(figures.len(), scopes.pools.len());
    }
}
