use super::*;
use crate::core::adopt::Origin;

fn pool(name: &str, warning: Option<&str>) -> PoolProgress {
    PoolProgress {
        pool: name.into(),
        namespace: "kube-system".into(),
        daemonset: format!("image-preloader-{name}"),
        shards: Vec::new(),
        origin: Origin::Rendered,
        images: Vec::new(),
        nodes: Vec::new(),
        throughput: None,
        eta_seconds: None,
        slowest: None,
        recent: Vec::new(),
        problem: None,
        warning: warning.map(str::to_string),
        pull_secrets: Vec::new(),
    }
}

fn overview(pools: Vec<PoolProgress>) -> Overview {
    Overview {
        pools: pools.into_iter().map(std::sync::Arc::new).collect(),
        unpooled: Vec::new(),
    }
}

#[test]
fn a_pool_short_of_a_whole_is_given_the_grace_then_named() {
    let grace = Duration::from_secs(60);
    let t0 = tokio::time::Instant::now();
    let mut watch = ShapeWatch::default();
    let gap = overview(vec![
        pool("a", None),
        pool("b", Some("the pool b is missing")),
    ]);
    assert_eq!(watch.see(&gap, t0, grace), None);
    assert_eq!(watch.due(grace), Some(t0 + grace));
    assert_eq!(watch.see(&gap, t0 + Duration::from_secs(59), grace), None);
    assert_eq!(
        watch.see(&gap, t0 + grace, grace),
        Some(("b".to_string(), "the pool b is missing".to_string()))
    );
    // A re-split that finishes in time is forgotten, and a new gap starts its own clock.
    let whole = overview(vec![pool("a", None), pool("b", None)]);
    let mut watch = ShapeWatch::default();
    watch.see(&gap, t0, grace);
    assert_eq!(watch.see(&whole, t0 + Duration::from_secs(30), grace), None);
    assert_eq!(watch.due(grace), None);
    let later = t0 + Duration::from_secs(50);
    assert_eq!(watch.see(&gap, later, grace), None);
    assert_eq!(watch.see(&gap, t0 + grace, grace), None, "its own clock");
    assert!(watch.see(&gap, later + grace, grace).is_some());
}
