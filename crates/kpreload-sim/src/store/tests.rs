//! The store's own tests: versions, history and 410, indexes, paged snapshots.

use super::*;
use crate::resources::find;
use std::time::Instant;

fn pods() -> &'static Resource {
    find("", "v1", "pods").unwrap()
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": {}})
}

/// The names of the objects a watch starts with, in order.
fn backlog_names(sub: &Subscription) -> Vec<String> {
    sub.backlog
        .iter()
        .map(|c| name_of(&c.object()).to_string())
        .collect()
}

#[test]
fn create_get_update_delete_with_versions() {
    let s = Store::new(100, 7);
    let a = s.create(pods(), pod("a"), false).unwrap();
    let rv1: u64 = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(s.create(pods(), pod("a"), false).unwrap_err().code == 409);
    let b = s
        .update(pods(), "default", "a", false, |old| {
            let mut new = old.clone();
            new["metadata"]["labels"] = json!({"x": "y"});
            Ok(new)
        })
        .unwrap();
    let rv2: u64 = b["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    assert_eq!(b["metadata"]["uid"], a["metadata"]["uid"]);
    let stale = s.update(pods(), "default", "a", false, |_| {
        let mut new = (*a).clone();
        new["metadata"]["labels"] = json!({"x": "z"});
        Ok(new)
    });
    assert_eq!(stale.unwrap_err().reason, "Conflict");
    s.delete(pods(), "default", "a", false).unwrap();
    assert!(s.get("Pod", "default", "a").is_none());
    assert_eq!(
        s.delete(pods(), "default", "a", false).unwrap_err().code,
        404
    );
}

#[test]
fn generated_names_and_dry_runs() {
    let s = Store::new(100, 7);
    let mut p = pod("");
    p["metadata"]["generateName"] = json!("image-preloader-");
    let created = s.create(pods(), p, false).unwrap();
    let name = created["metadata"]["name"].as_str().unwrap();
    assert_eq!(name.len(), "image-preloader-".len() + 5);
    let dry = s.create(pods(), pod("b"), true).unwrap();
    assert_eq!(dry["metadata"]["name"], "b");
    assert!(s.get("Pod", "default", "b").is_none());
}

/// The index by node follows binding, moving and deletion.
#[test]
fn pods_by_node_follow_their_pods() {
    let s = Store::new(100, 7);
    let on = |node: &str| -> Vec<String> {
        s.pods_on(node)
            .1
            .iter()
            .map(|p| name_of(p).to_string())
            .collect()
    };
    let mut a = pod("a");
    a["spec"]["nodeName"] = json!("n1");
    s.create(pods(), a, false).unwrap();
    s.create(pods(), pod("b"), false).unwrap();
    assert_eq!(on("n1"), ["a"]);
    s.update(pods(), "default", "b", false, |old| {
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!("n1");
        Ok(new)
    })
    .unwrap();
    assert_eq!(on("n1"), ["a", "b"]);
    s.update(pods(), "default", "a", false, |old| {
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!("n2");
        Ok(new)
    })
    .unwrap();
    assert_eq!(
        (on("n1"), on("n2")),
        (vec!["b".to_string()], vec!["a".to_string()])
    );
    s.delete(pods(), "default", "b", false).unwrap();
    assert!(on("n1").is_empty());
}

#[test]
fn watch_history_and_gone() {
    let s = Store::new(2, 7);
    let start = s.current_rv();
    for n in ["a", "b", "c"] {
        s.create(pods(), pod(n), false).unwrap();
    }
    assert_eq!(s.subscribe(Some(start)).err().map(|e| e.code), Some(410));
    let sub = s.subscribe(Some(start + 1)).unwrap();
    let names = backlog_names(&sub);
    assert_eq!(names, ["b", "c"]);
    s.compact();
    assert_eq!(
        s.subscribe(Some(start + 2)).err().map(|e| e.code),
        Some(410)
    );
    assert!(
        s.subscribe(Some(s.current_rv()))
            .unwrap()
            .backlog
            .is_empty()
    );
}

/// Each kind has its own history, as the API server's watch cache is one per resource: a
/// watch of DaemonSets resumes, its change replayed, after many pod changes were forgotten;
/// one of pods does not.
#[test]
fn a_watch_is_too_old_only_when_a_change_of_its_own_kind_was_forgotten() {
    let s = Store::new(3, 7);
    let daemonsets = find("apps", "v1", "daemonsets").unwrap();
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "default"}, "spec": {}});
    s.create(daemonsets, ds, false).unwrap();
    let after_ds = s.current_rv();
    for n in ["a", "b", "c", "d", "e"] {
        s.create(pods(), pod(n), false).unwrap();
    }
    // Two pods' changes are gone from the pods' history of three; the DaemonSet's is in
    // its own.
    let sub = s.subscribe_to(Some("DaemonSet"), Some(after_ds)).unwrap();
    assert!(sub.backlog.is_empty(), "no DaemonSet changed since");
    assert_eq!(
        s.subscribe_to(Some("Pod"), Some(after_ds))
            .err()
            .map(|e| e.code),
        Some(410)
    );
    assert_eq!(s.subscribe(Some(after_ds)).err().map(|e| e.code), Some(410));
    let sub = s
        .subscribe_to(Some("DaemonSet"), Some(after_ds - 1))
        .unwrap();
    assert_eq!(backlog_names(&sub), ["d"]);
    let pods_now = s
        .subscribe_to(Some("Pod"), Some(s.current_rv() - 3))
        .unwrap();
    let names: Vec<String> = pods_now
        .backlog
        .iter()
        .map(|c| name_of(&c.object()).to_string())
        .collect();
    assert_eq!(names, ["c", "d", "e"]);
    // Three DaemonSets later its change is forgotten: from before it is too old.
    for n in ["d2", "d3", "d4"] {
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": n, "namespace": "default"}, "spec": {}});
        s.create(daemonsets, ds, false).unwrap();
    }
    assert_eq!(
        s.subscribe_to(Some("DaemonSet"), Some(after_ds - 1))
            .err()
            .map(|e| e.code),
        Some(410)
    );
    assert!(s.subscribe_to(Some("DaemonSet"), Some(after_ds)).is_ok());
    // A compaction makes every older version too old, whatever the kind.
    s.compact();
    assert_eq!(
        s.subscribe_to(Some("DaemonSet"), Some(after_ds))
            .err()
            .map(|e| e.code),
        Some(410)
    );
}

/// A history bounded in bytes drops its oldest changes when full, and a watch from
/// before them gets 410 Gone, as one bounded in count does.
#[test]
fn history_bounded_in_bytes_forgets_the_oldest_and_answers_410() {
    let one = {
        let s = Store::new(100, 7);
        s.create(pods(), pod("a"), false).unwrap();
        s.lock().history["Pod"].bytes
    };
    let s = Store::new(100, 7).with_history_bytes(one * 3 + one / 2);
    let start = s.current_rv();
    for n in ["a", "b", "c", "d", "e"] {
        s.create(pods(), pod(n), false).unwrap();
    }
    assert!(s.lock().history["Pod"].bytes <= one * 3 + one / 2);
    assert_eq!(s.lock().history["Pod"].changes.len(), 3);
    let err = s.subscribe(Some(start)).err().unwrap();
    assert_eq!((err.code, err.reason), (410, "Expired"));
    let sub = s.subscribe(Some(start + 2)).unwrap();
    let names = backlog_names(&sub);
    assert_eq!(names, ["c", "d", "e"]);
}

/// A change keeps the object's JSON and what selectors read before and after.
#[test]
fn a_change_keeps_json_and_what_selectors_read() {
    let s = Store::new(100, 7);
    let a = s.create(pods(), pod("a"), false).unwrap();
    s.update(pods(), "default", "a", false, |old| {
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"x": "y"});
        Ok(new)
    })
    .unwrap();
    let sub = s.subscribe(Some(s.current_rv() - 2)).unwrap();
    let [added, modified] = &sub.backlog[..] else {
        panic!("{:?}", sub.backlog)
    };
    assert_eq!(added.object(), *a);
    assert_eq!(modified.now.labels.get("x").map(String::as_str), Some("y"));
    assert!(modified.before.as_ref().unwrap().labels.is_empty());
    assert_eq!(modified.now.namespace, "default");
}

/// A paged list's snapshot is kept until it expires, makes room or is compacted.
#[test]
fn snapshots_expire_make_room_and_go_at_compaction() {
    let s = Store::new(100, 7);
    let snap = |taken| {
        Arc::new(Snapshot {
            kind: "Pod",
            ns: None,
            rv: 1,
            items: vec![],
            taken,
        })
    };
    let fresh = s.keep_snapshot(snap(Instant::now()));
    assert!(s.snapshot(fresh).is_some());
    let first = s.keep_snapshot(snap(Instant::now()));
    for _ in 0..PAGED_LISTS {
        s.keep_snapshot(snap(Instant::now()));
    }
    assert!(s.snapshot(first).is_none(), "the oldest made room");
    let last = s.keep_snapshot(snap(Instant::now()));
    assert!(s.snapshot(last).is_some());
    s.compact();
    assert!(s.snapshot(last).is_none());
    if let Some(old) = Instant::now().checked_sub(PAGED_LIST_TTL) {
        let id = s.keep_snapshot(snap(old));
        assert!(s.snapshot(id).is_none(), "expired");
    }
}

/// A list kept for its next pages holds its objects' JSON, not their trees (the store's
/// own objects keep theirs), and serves the objects it was taken with after they change.
#[test]
fn a_kept_list_holds_json_alone_and_the_versions_it_was_taken_with() {
    let s = Store::new(100, 7);
    for name in ["a", "b"] {
        s.create(pods(), pod(name), false).unwrap();
    }
    let (rv, items) = s.list_stored("Pod", Some("default"));
    assert!(
        items.iter().all(|o| o.tree.is_some()),
        "pending pods are kept parsed"
    );
    let before: Vec<Value> = items.iter().map(|o| (*o.object()).clone()).collect();
    let id = s.keep_snapshot(Arc::new(Snapshot {
        kind: "Pod",
        ns: Some("default".into()),
        rv,
        items,
        taken: Instant::now(),
    }));
    s.update(pods(), "default", "a", false, |old| {
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"x": "y"});
        Ok(new)
    })
    .unwrap();
    let kept = s.snapshot(id).unwrap();
    assert!(kept.items.iter().all(|o| o.tree.is_none()));
    let after: Vec<Value> = kept.items.iter().map(|o| (*o.object()).clone()).collect();
    assert_eq!(after, before);
    let (_, now) = s.list_stored("Pod", Some("default"));
    assert!(now.iter().all(|o| o.tree.is_some()));
    assert_ne!(*now[0].object(), before[0]);
}

/// A running pod that no DaemonSet controls, and an event, are kept as JSON alone, the
/// JSON the watch history holds for their last change; a pod still to start and a
/// DaemonSet's pod are kept parsed too. Each reads back as the object it was.
#[test]
fn bulk_objects_are_kept_as_json_and_read_back_as_they_were() {
    let s = Store::new(100, 7);
    let running = |name: &str| {
        let mut p = pod(name);
        p["status"] = json!({"phase": "Running"});
        p
    };
    let mut preloader = running("preloader");
    preloader["metadata"]["ownerReferences"] =
        json!([{"kind": "DaemonSet", "name": "ds", "uid": "u", "controller": true}]);
    let event = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "workload"}, "reason": "Pulled"});
    let events = find("", "v1", "events").unwrap();
    let made = [
        ("Pod", s.create(pods(), running("workload"), false).unwrap()),
        ("Pod", s.create(pods(), pod("pending"), false).unwrap()),
        ("Pod", s.create(pods(), preloader, false).unwrap()),
        ("Event", s.create(events, event, false).unwrap()),
    ];
    let kept = |kind: &'static str, name: &str| {
        s.lock()
            .objects
            .get(&(kind, "default".to_string(), name.to_string()))
            .cloned()
            .unwrap()
    };
    let parsed: Vec<bool> = made
        .iter()
        .map(|(kind, o)| kept(kind, name_of(o)).tree.is_some())
        .collect();
    assert_eq!(parsed, [false, true, true, false]);
    for (kind, o) in &made {
        assert_eq!(s.get(kind, "default", name_of(o)).unwrap(), *o);
    }
    let (_, listed) = s.list("Pod", Some("default"));
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().any(|p| **p == *made[0].1));

    // One copy of the JSON: the store's and its change's in the history.
    let sub = s.subscribe(Some(s.current_rv() - 4)).unwrap();
    let workload = kept("Pod", "workload");
    assert!(Arc::ptr_eq(&sub.backlog[0].json, &workload.json));
    assert_eq!(
        serde_json::from_str::<Value>(&workload.json).unwrap(),
        *made[0].1
    );

    // Once it stops running, a workload pod is parsed again for the kubelet and the scheduler.
    s.update(pods(), "default", "workload", false, |old| {
        let mut new = old.clone();
        new["status"]["phase"] = json!("Failed");
        Ok(new)
    })
    .unwrap();
    assert!(kept("Pod", "workload").tree.is_some());
}
