//! The pools file, any text at all. What parses renders into preloader DaemonSets that read
//! back into the same pools, and whose YAML parses back into the same DaemonSets; what does
//! not parse names the file and says why.
#![no_main]

use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload_core::adopt::group;
use kpreload_core::pools::PoolsFile;
use kpreload_core::render::{render_all, to_yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let file = match PoolsFile::parse(text, "pools.yaml") {
        Ok(f) => f,
        Err(e) => {
            assert!(e.to_string().starts_with("pools.yaml"), "{e}");
            assert!(!e.message.trim().is_empty());
            return;
        }
    };
    let daemonsets = render_all(&file);
    // Read back as the cluster is read: a split pool's DaemonSets fold into one pool.
    let groups = group(daemonsets.iter());
    assert_eq!(groups.len(), file.pools.len());
    for (g, pool) in groups.iter().zip(&file.pools) {
        assert!(
            g.missing.is_empty() && g.shape.is_none(),
            "{:?} {:?}",
            g.missing,
            g.shape
        );
        let back = g
            .preloader
            .as_ref()
            .unwrap_or_else(|e| panic!("a rendered DaemonSet reads back: {e}"));
        assert_eq!(back.namespace, file.namespace);
        // A pool is split over as many DaemonSets as it has images at most; its images
        // come back in shard order.
        let mut want = pool.clone();
        want.shards = pool.shards.clamp(1, pool.images.len().max(1));
        let mut got = back.pool.clone();
        if want.shards > 1 {
            want.images.sort();
            got.images.sort();
        }
        assert_eq!(got, want);
    }
    if daemonsets.is_empty() {
        // `pools:` and nothing in it: nothing to render (an empty YAML stream reads as one
        // empty document).
        return;
    }
    let yaml = to_yaml(&daemonsets);
    let docs: Vec<DaemonSet> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("rendered YAML parses"))
        .collect();
    assert_eq!(docs, daemonsets);
});
