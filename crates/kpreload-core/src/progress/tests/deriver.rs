//! A [`Deriver`] kept from one snapshot to the next: what it reuses, and that what it gives
//! depends on the snapshot alone.

use super::*;

/// The kubelet's word that golang was pulled on node-a.
fn golang_pulled_on_a() -> Arc<Event> {
    event(
        "image-preloader-aaaaa",
        5,
        "2026-11-28T10:00:09Z",
        "Normal",
        "Pulled",
        "Successfully pulled image \"golang:1.23\" in 3.000s (3.000s including waiting). Image size: 293403951 bytes.",
    )
}

/// Half way, with a second preloader (`image-preloader-web`, uid `web-uid`) for the nodes
/// labelled `pool: web`.
fn with_web_preloader() -> Snapshot {
    let mut snap = half_way();
    let mut web = (*article_daemonset()).clone();
    web.metadata.name = Some("image-preloader-web".into());
    web.metadata.uid = Some("web-uid".into());
    let spec = web.spec.template.spec.as_mut().unwrap();
    spec.node_selector = Some([("pool".to_string(), "web".to_string())].into());
    snap.daemonsets.push(Arc::new(web));
    snap
}

/// A [`Deriver`] kept from one snapshot to the next gives what a fresh derivation gives,
/// and derives again only the pools something changed for.
#[test]
fn a_deriver_reuses_only_the_pools_nothing_changed_for() {
    let mut snap = with_web_preloader();
    snap.nodes
        .push(node("web-1", json!({"pool": "web"}), json!([]), json!([])));
    let t0 = ts("2026-11-28T10:00:10Z");
    let live = bytes::Tracker::default();
    let mut deriver = Deriver::default();
    let live = &live;
    let step = |deriver: &mut Deriver, snap: &Snapshot, now: Timestamp, what: &str| {
        let kept = deriver.derive(snap, now, live);
        assert_eq!(kept, derive_with(snap, now, live), "{what}");
        deriver.last()
    };
    assert_eq!(step(&mut deriver, &snap, t0, "first"), (2, 0));
    assert_eq!(deriver.pods_read(), 2);
    assert_eq!(
        step(&mut deriver, &snap.clone(), t0, "the same objects"),
        (0, 2)
    );

    // A heartbeat: the node again, only its resourceVersion moved.
    let mut beat = (*snap.nodes[0]).clone();
    beat.metadata.resource_version = Some("2".into());
    snap.nodes[0] = Arc::new(beat);
    assert_eq!(step(&mut deriver, &snap, t0, "a heartbeat"), (0, 2));
    let mut beat = (*snap.nodes[0]).clone();
    beat.metadata.resource_version = Some("3".into());
    snap.nodes[0] = Arc::new(beat);
    assert_eq!(step(&mut deriver, &snap, t0, "a second heartbeat"), (0, 2));
    // After the heartbeats, a change of the node itself still counts: an annotation.
    let mut marked = (*snap.nodes[0]).clone();
    marked
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("note".into(), "drained soon".into());
    marked.metadata.resource_version = Some("4".into());
    snap.nodes[0] = Arc::new(marked);
    assert_eq!(step(&mut deriver, &snap, t0, "the node annotated"), (1, 1));

    // golang pulled on node-a: the article's pool again, web as it was.
    snap.events.push(golang_pulled_on_a());
    assert_eq!(step(&mut deriver, &snap, t0, "an event"), (1, 1));
    assert_eq!(deriver.pods_read(), 1, "only node-a's pod has a new event");

    // web-1 leaves the web pool: web again; the article's pool covers every node and its
    // answers did not move, but web-1 as a node did.
    snap.nodes[2] = node("web-1", json!({"pool": "cpu"}), json!([]), json!([]));
    let o = deriver.derive(&snap, t0, live);
    assert_eq!(o, derive_with(&snap, t0, live));
    assert!(
        o.pools
            .iter()
            .find(|p| p.daemonset == "image-preloader-web")
            .unwrap()
            .nodes
            .is_empty()
    );
    assert_eq!(deriver.last(), (2, 0));

    assert_eq!(
        step(
            &mut deriver,
            &snap,
            ts("2026-11-28T10:00:11Z"),
            "a second later"
        ),
        (2, 0)
    );
    assert_eq!(
        deriver.pods_read(),
        0,
        "the clock moves the estimates, not what a pod says"
    );
    snap.nodes
        .push(node("node-0", json!({}), json!([]), json!([])));
    assert_eq!(
        step(
            &mut deriver,
            &snap,
            ts("2026-11-28T10:00:11Z"),
            "a node joins"
        ),
        (2, 0)
    );
    // A pull read on node-a: the article's pool is derived with it, and again once the
    // reading is forgotten (its bytes must not stay).
    let mut reading = bytes::Tracker::default();
    let t = ts("2026-11-28T10:00:11Z");
    let pull = crate::runtime::ActivePull {
        reference: "layer-sha256:aa".into(),
        offset: 40_000_000,
        age_seconds: None,
    };
    reading.observe("node-a", "rust:1.83", Some(t), &[pull], t);
    deriver.derive(&snap, t, &reading);
    assert_eq!(deriver.last(), (1, 1));
    assert_eq!(
        step(&mut deriver, &snap, t, "the reading forgotten"),
        (1, 1)
    );
    assert_eq!(step(&mut deriver, &snap, t, "nothing since"), (0, 2));
    snap.daemonsets.pop();
    assert_eq!(
        step(&mut deriver, &snap, t, "web's preloader deleted"),
        (0, 1)
    );
    let o = deriver.derive(&snap, t, live);
    assert_eq!(o.pools.len(), 1);
    assert_eq!(o.unpooled, Vec::<String>::new());
}

/// A pod that two pools' preloaders own (odd, but any object can say so): when it changes,
/// both pools are derived again, not only the one that read it first.
#[test]
fn a_pod_of_two_pools_changed_derives_both() {
    let mut snap = with_web_preloader();
    let mut shared = (*snap.pods[0]).clone();
    let mut owner = shared.metadata.owner_references.as_ref().unwrap()[0].clone();
    owner.uid = "web-uid".into();
    owner.name = "image-preloader-web".into();
    shared
        .metadata
        .owner_references
        .as_mut()
        .unwrap()
        .push(owner);
    snap.pods[0] = Arc::new(shared);
    let t = ts("2026-11-28T10:00:10Z");
    let live = bytes::Tracker::default();
    let mut deriver = Deriver::default();
    assert_eq!(
        deriver.derive(&snap, t, &live),
        derive_with(&snap, t, &live)
    );
    snap.events.push(golang_pulled_on_a());
    assert_eq!(
        deriver.derive(&snap, t, &live),
        derive_with(&snap, t, &live)
    );
    assert_eq!(deriver.last(), (2, 0));
}

/// What is derived depends on the objects and their order in the snapshot, never on where
/// they happen to be in memory: two copies of one pod (the same name and creation time, one
/// failed, one done) give the same overview whichever was allocated first. (Found by
/// fuzz/fuzz_targets/cluster_objects.rs, whose trimmed copies live elsewhere.) A Deriver
/// given the same objects in another order derives again, as a fresh derivation would.
#[test]
fn derivation_reads_the_snapshot_not_the_addresses() {
    // A copy of node-a's preloader pod, golang's container ending with `golang` and rust's
    // in `rust`.
    let copy = |golang: Value, rust: Value| {
        pod(
            "image-preloader-aaaaa",
            "node-a",
            "2026-11-28T10:00:00Z",
            json!([
                terminated("preload-py-kube", 0),
                terminated("preload-python", 0),
                golang,
                rust
            ]),
        )
    };
    let done = || {
        copy(
            terminated("preload-golang", 0),
            terminated("preload-rust", 0),
        )
    };
    let failed = || {
        copy(
            terminated("preload-golang", 1),
            waiting("preload-rust", "PodInitializing", ""),
        )
    };
    let t = ts("2026-11-28T10:00:10Z");
    let with = |pods: Vec<Arc<Pod>>| {
        let mut snap = half_way();
        snap.pods = pods;
        snap
    };
    // Allocated done-then-failed, and failed-then-done; held failed first both times.
    let (d, f) = (done(), failed());
    let first = with(vec![f, d]);
    let f = failed();
    let d = done();
    let second = with(vec![f, d]);
    let a = derive(&first, t);
    assert_eq!(a, derive(&second, t));
    assert_eq!(
        states(node_in(&a, "node-a")),
        ["pulled", "present", "failed", "queued"],
        "the first copy in the snapshot is read"
    );

    // Kept from one snapshot to the next, a Deriver reads the order too: the same two
    // copies the other way round are the other copy read, as a fresh derivation reads it.
    let live = bytes::Tracker::default();
    let mut deriver = Deriver::default();
    deriver.derive(&first, t, &live);
    let mut reordered = first.clone();
    reordered.pods.reverse();
    reordered.events.reverse();
    let again = deriver.derive(&reordered, t, &live);
    assert_eq!(
        deriver.last(),
        (1, 0),
        "the same pods and events, reordered"
    );
    assert_eq!(again, derive(&reordered, t));
    assert_eq!(
        states(node_in(&again, "node-a")),
        ["pulled", "present", "pulled", "pulled"],
        "the done copy, first now, is read"
    );
    deriver.derive(&reordered, t, &live);
    assert_eq!(deriver.last(), (0, 1), "the same objects in the same order");
}
