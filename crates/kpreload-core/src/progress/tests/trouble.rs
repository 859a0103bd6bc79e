//! What keeps a preloader pod from running, apart from its images: a main container that
//! cannot start, a pod that cannot be scheduled or is going, no pod where one is due, a pull
//! secret that is not there.

use super::*;

/// Every init container done, and the main container in the state given.
fn all_pulled_with_main(main: Value) -> Snapshot {
    Snapshot {
        nodes: vec![node("node-a", json!({}), json!([]), json!([]))],
        pods: vec![fixtures::preloader_pod(
            &article_daemonset(),
            "image-preloader-aaaaa",
            "node-a",
            "2026-11-28T10:00:00Z",
            json!({"initContainerStatuses": [
                terminated("preload-py-kube", 0),
                terminated("preload-python", 0),
                terminated("preload-golang", 0),
                terminated("preload-rust", 0),
            ], "containerStatuses": [main]}),
        )],
        daemonsets: vec![article_daemonset()],
        ..Default::default()
    }
}

#[test]
fn a_main_container_that_cannot_be_pulled_keeps_the_pool_from_complete() {
    // The article's preloader, its main container's image unpullable (as its improved one's
    // alpine:3.19 on one node): every image is in, but the pod does not run.
    let s = all_pulled_with_main(waiting(
        "pause",
        "ImagePullBackOff",
        "Back-off pulling image \"registry.k8s.io/pause:3.9\": ErrImagePull: not found",
    ));
    let o = derive(&s, ts("2026-11-28T11:00:00Z"));
    let n = node_in(&o, "node-a");
    assert_eq!(states(n), ["pulled"; 4]);
    let t = n.trouble.as_ref().expect("the main container's trouble");
    assert_eq!(t.container.as_deref(), Some("pause"));
    assert_eq!(t.image.as_deref(), Some("registry.k8s.io/pause:3.9"));
    assert_eq!(t.reason, "ImagePullBackOff");
    assert!(t.message.contains("not found"), "{}", t.message);
    assert!(!n.ready());
    assert_eq!(o.pools[0].failures(), 1);
    assert!(!o.pools[0].complete());
    assert_eq!(
        t.summary(),
        "the container pause (registry.k8s.io/pause:3.9): ImagePullBackOff"
    );
}

#[test]
fn a_main_container_in_crash_loop_or_exited_is_trouble_and_a_running_one_is_not() {
    let at = ts("2026-11-28T11:00:00Z");
    for (main, reason) in [
        (
            waiting("pause", "CrashLoopBackOff", "back-off 5m0s"),
            Some("CrashLoopBackOff"),
        ),
        (
            waiting(
                "pause",
                "CreateContainerConfigError",
                "secret \"x\" not found",
            ),
            Some("CreateContainerConfigError"),
        ),
        (terminated("pause", 1), Some("StartError")),
        (waiting("pause", "ContainerCreating", ""), Some("")),
        (
            fixtures::container_status(
                "pause",
                true,
                json!({"running": {"startedAt": "2026-11-28T10:05:00Z"}}),
            ),
            None,
        ),
    ] {
        // "": not trouble, only not running yet.
        let o = derive(&all_pulled_with_main(main), at);
        let n = node_in(&o, "node-a");
        let trouble = reason.filter(|r| !r.is_empty());
        assert_eq!(n.trouble.as_ref().map(|t| t.reason.as_str()), trouble);
        assert_eq!(n.ready(), reason.is_none());
        assert_eq!(o.pools[0].complete(), reason.is_none());
        assert_eq!(o.pools[0].failures(), usize::from(trouble.is_some()));
    }
}

#[test]
fn a_pod_going_away_or_unschedulable() {
    let at = ts("2026-11-28T11:00:00Z");
    // Deleted (a rollout): its container exits on purpose.
    let mut s = all_pulled_with_main(terminated("pause", 137));
    let mut pod = (*s.pods[0]).clone();
    pod.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        ts("2026-11-28T10:59:00Z"),
    ));
    s.pods[0] = Arc::new(pod);
    assert_eq!(node_in(&derive(&s, at), "node-a").trouble, None);
    // Pending, the scheduler's words. As the DaemonSet controller makes it: no nodeName yet,
    // tied to its node by a required affinity on metadata.name.
    let mut pending = (*fixtures::preloader_pod(
        &article_daemonset(),
        "image-preloader-aaaaa",
        "node-a",
        "2026-11-28T10:00:00Z",
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient memory."}]}),
    ))
    .clone();
    let spec = pending.spec.as_mut().unwrap();
    spec.node_name = None;
    spec.affinity = serde_json::from_value(json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]}}}))
    .unwrap();
    let s = Snapshot {
        nodes: vec![node("node-a", json!({}), json!([]), json!([]))],
        pods: vec![Arc::new(pending)],
        daemonsets: vec![article_daemonset()],
        ..Default::default()
    };
    let o = derive(&s, at);
    let t = node_in(&o, "node-a").trouble.clone().unwrap();
    assert_eq!((t.reason.as_str(), t.container), ("Unschedulable", None));
    assert!(t.message.contains("Insufficient memory"));
    assert_eq!(o.pools[0].failures(), 1);
}

#[test]
fn no_pod_where_the_daemonset_wants_one_is_a_failure_after_the_grace() {
    let mut ds = (*article_daemonset()).clone();
    ds.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        ts("2026-11-28T10:00:00Z"),
    ));
    ds.status = Some(k8s_openapi::api::apps::v1::DaemonSetStatus {
        desired_number_scheduled: 2,
        current_number_scheduled: 1,
        ..Default::default()
    });
    let old_node = fixtures::node("node-b")
        .with(
            &["metadata", "creationTimestamp"],
            json!("2026-11-01T00:00:00Z"),
        )
        .build();
    let snapshot = |ds: &DaemonSet| Snapshot {
        nodes: vec![old_node.clone()],
        daemonsets: vec![Arc::new(ds.clone())],
        ..Default::default()
    };
    // A minute after the DaemonSet: still its grace.
    let early = derive(&snapshot(&ds), ts("2026-11-28T10:01:00Z"));
    assert_eq!(node_in(&early, "node-b").trouble, None);
    assert_eq!(early.pools[0].failures(), 0);
    // Past it, with the controller short of a pod: named.
    let late = derive(&snapshot(&ds), ts("2026-11-28T10:05:00Z"));
    let t = node_in(&late, "node-b").trouble.clone().unwrap();
    assert_eq!(t.reason, "NoPod");
    assert!(t.message.contains("schedules 1 of 2"), "{}", t.message);
    assert_eq!(late.pools[0].failures(), 1);
    // The controller has every pod it wants: kpreload's guess that the node is served is
    // what is wrong, and a wrong guess is not the node's failure.
    ds.status.as_mut().unwrap().current_number_scheduled = 2;
    let agreed = derive(&snapshot(&ds), ts("2026-11-28T10:05:00Z"));
    assert_eq!(node_in(&agreed, "node-b").trouble, None);
}

#[test]
fn a_missing_pull_secret_fails_the_node_only_while_it_can_be_the_cause() {
    let failing = pod(
        "image-preloader-aaaaa",
        "node-a",
        "2026-11-28T10:00:00Z",
        json!([waiting(
            "preload-py-kube",
            "ErrImagePull",
            "pull access denied"
        )]),
    );
    let said = |at: &str| {
        event(
            "image-preloader-aaaaa",
            1,
            at,
            "Warning",
            "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed.",
        )
    };
    let pulling = |at: &str| {
        event(
            "image-preloader-aaaaa",
            2,
            at,
            "Normal",
            "Pulling",
            "Pulling image \"g1g1/py-kube\"",
        )
    };
    let snapshot = |events: Vec<Arc<Event>>| Snapshot {
        nodes: vec![node("node-a", json!({}), json!([]), json!([]))],
        pods: vec![failing.clone()],
        events,
        daemonsets: vec![article_daemonset()],
        ..Default::default()
    };
    let at = ts("2026-11-28T10:10:00Z");
    // Said with the pull that fails: a failure of the node, naming the secret.
    let o = derive(
        &snapshot(vec![
            pulling("2026-11-28T10:01:00Z"),
            said("2026-11-28T10:01:00Z"),
        ]),
        at,
    );
    let t = node_in(&o, "node-a").trouble.clone().unwrap();
    assert_eq!(t.reason, "FailedToRetrieveImagePullSecret");
    assert!(
        t.message
            .starts_with("the pull secret regcred is not in kube-system"),
        "{}",
        t.message
    );
    assert_eq!(
        t.summary(),
        "FailedToRetrieveImagePullSecret: the pull secret regcred is not in kube-system"
    );
    // Said long before the latest pull (the secret was created since): not the cause now.
    let o = derive(
        &snapshot(vec![
            said("2026-11-28T10:01:00Z"),
            pulling("2026-11-28T10:06:00Z"),
        ]),
        at,
    );
    assert_eq!(node_in(&o, "node-a").trouble, None);
}

#[test]
fn a_cleanup_sidecar_that_cannot_start_holds_the_pulls_and_is_said() {
    // kpreload's preloader: its cleanup sidecar's image cannot be pulled, so nothing after it
    // starts. Without this every image would read queued for ever, with no reason.
    let ds = rendered_web();
    let s = Snapshot {
        nodes: vec![node("node-a", json!({}), json!([]), json!([]))],
        pods: vec![fixtures::preloader_pod(
            &ds,
            "image-preloader-web-aaaaa",
            "node-a",
            "2026-11-28T10:00:00Z",
            json!({"phase": "Pending", "initContainerStatuses": [
                waiting("cleanup", "ImagePullBackOff", "Back-off pulling image \"busybox:1.37.0-musl\""),
                waiting("kpreload-noop", "PodInitializing", ""),
                waiting("preload-nginx", "PodInitializing", ""),
            ]}),
        )],
        daemonsets: vec![ds],
        ..Default::default()
    };
    let o = derive(&s, ts("2026-11-28T11:00:00Z"));
    let n = node_in(&o, "node-a");
    assert_eq!(
        states(n),
        ["queued"],
        "the sidecar is not an image of the pool"
    );
    let t = n.trouble.as_ref().expect("the sidecar's trouble");
    assert_eq!(
        (t.container.as_deref(), t.reason.as_str()),
        (Some("cleanup"), "ImagePullBackOff")
    );
    assert!(!o.pools[0].complete());
    assert_eq!(o.pools[0].failures(), 1);
}

#[test]
fn a_kubelet_older_than_1_29_under_kpreloads_sidecar_is_told_and_the_articles_preloader_is_not() {
    let ds = rendered_web();
    let old_node = || {
        fixtures::node("node-a")
            .with(
                &["status", "nodeInfo"],
                json!({"architecture": "amd64", "bootID": "", "containerRuntimeVersion":
                    "containerd://1.7.13", "kernelVersion": "", "kubeProxyVersion": "",
                    "kubeletVersion": "v1.28.5-eks-5e0fdde", "machineID": "",
                    "operatingSystem": "linux", "osImage": "", "systemUUID": ""}),
            )
            .ready()
            .build()
    };
    // The 1.28 kubelet runs the sidecar as an ordinary init container: it never ends.
    let s = Snapshot {
        nodes: vec![old_node()],
        pods: vec![fixtures::preloader_pod(
            &ds,
            "image-preloader-web-aaaaa",
            "node-a",
            "2026-11-28T10:00:00Z",
            json!({"phase": "Pending", "initContainerStatuses": [
                fixtures::container_status("cleanup", false, json!({"running": {}})),
                waiting("kpreload-noop", "PodInitializing", ""),
                waiting("preload-nginx", "PodInitializing", ""),
            ]}),
        )],
        daemonsets: vec![ds],
        ..Default::default()
    };
    let o = derive(&s, ts("2026-11-28T11:00:00Z"));
    let t = node_in(&o, "node-a").trouble.as_ref().expect("told");
    assert_eq!(t.reason, "KubeletTooOld");
    assert!(t.message.contains("v1.28.5-eks-5e0fdde"), "{}", t.message);
    assert!(!o.pools[0].complete());
    // The article's preloader has no sidecar: nothing to say on the same node.
    let s = Snapshot {
        nodes: vec![old_node()],
        daemonsets: vec![article_daemonset()],
        ..Default::default()
    };
    let o = derive(&s, ts("2026-11-28T11:00:00Z"));
    assert_eq!(o.pools[0].nodes.len(), 1, "node-a is the article's pool's");
    assert!(o.pools[0].nodes.iter().all(|n| n.trouble.is_none()));
}

/// kpreload's preloader of a pool `web` of one image, nginx:1.25 (its cleanup a sidecar).
fn rendered_web() -> Arc<DaemonSet> {
    let file = crate::pools::PoolsFile::parse(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\n\
         pools:\n- name: web\n  images: [nginx:1.25]\n",
        "p.yaml",
    )
    .unwrap();
    let ds = crate::render::render_pool(&file, &file.pools[0]);
    fixtures::daemonset(&crate::render::to_yaml(&[ds]), "ds-web")
}
