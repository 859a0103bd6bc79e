//! What the pool editor computes on the UI thread, on large.yaml (5,000 nodes, 250,000 image
//! entries, 100,000 pods): `cargo bench --bench edit`. Opening the editor builds the catalog
//! of known images; each keystroke in the add picker ranks it; the preview derives every
//! node's pulls for a pool.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use kpreload::core::edit::{Catalog, Rates, pool_nodes, pulls};
use kpreload::core::progress::derive;
use kpreload::core::reference::ImageRef;
use kpreload::core::selector::{NodeSelector, Requirement};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let snapshot = common::large_snapshot();
    let overview = derive(&snapshot, jiff::Timestamp::now());
    println!(
        "{} nodes, {} pods, {} pools",
        snapshot.nodes.len(),
        snapshot.workloads.len(),
        overview.pools.len()
    );
    let matcher = fuzzy_matcher::skim::SkimMatcherV2::default();
    for round in 0..3 {
        let t = Instant::now();
        let catalog = Catalog::from_snapshot(&snapshot, &overview);
        let open = ms(t);

        let t = Instant::now();
        let mut hits = 0;
        for typed in ["n", "ng", "ngi", "ngin", "nginx:1"] {
            hits += catalog
                .known
                .iter()
                .filter(|k| {
                    fuzzy_matcher::FuzzyMatcher::fuzzy_match(&matcher, &k.image, typed).is_some()
                })
                .count();
        }
        let keystroke = ms(t) / 5.0;

        let pool = kpreload::core::pools::Pool {
            name: "web".into(),
            selector: NodeSelector {
                terms: vec![vec![Requirement::equals("workload-type", "web")]],
            },
            tolerations: vec![kpreload::core::selector::Toleration {
                key: String::new(),
                operator: kpreload::core::selector::TolerationOperator::Exists,
                value: String::new(),
                effect: None,
                toleration_seconds: None,
            }],
            images: ["nginx:1.27-alpine", "redis:7.4-alpine", "node:22-alpine"]
                .iter()
                .map(|i| ImageRef::parse(i).unwrap())
                .collect(),
            keep: None,
            protect: None,
            shards: 1,
            pull_secrets: Vec::new(),
        };
        let t = Instant::now();
        let nodes = pool_nodes(&snapshot.nodes, &pool);
        let p = pulls(
            &snapshot,
            &nodes,
            &pool.images,
            &catalog,
            &Default::default(),
            &Rates::from_overview(&overview),
            &Default::default(),
        );
        let preview = ms(t);
        println!(
            "round {round}: editor open (catalog of {} images) {open:.0} ms · a keystroke's ranking {keystroke:.1} ms ({hits} matches) · the preview's pulls for {} nodes {preview:.0} ms",
            catalog.known.len(),
            p.len()
        );
    }
}
