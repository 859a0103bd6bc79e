//! kube-rs against the simulator: watches that recover from faults, conflicts as 409s, and
//! bad requests answered with the API's own Status.

use crate::support;

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use support::{Cluster, http};

const SCENARIO: &str = "tests/fixtures/scenarios/small.yaml";

fn pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"nodeName": "web-2", "containers": [{"name": "c", "image": "nginx:1.25-alpine"}]}})
}

fn server_pods(cluster: &Cluster) -> Vec<(String, String)> {
    let (_, items) = cluster.sim().store.list("Pod", None);
    let mut out: Vec<(String, String)> = items
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_reflector_stays_correct_through_dropped_watches_410_429_and_500() {
    let cluster = Cluster::start(SCENARIO);
    let pods_res = kpreload::sim::resources::find("", "v1", "pods").unwrap();
    // Watches end every 300 ms; each fault below hits the reconnects.
    cluster.faults(r#"{"watchSeconds": 0.3, "bookmarkSeconds": 0.1}"#);
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let (reader, writer) = reflector::store::<Pod>();
        let stream = watcher(
            Api::<Pod>::all(client),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff()
        .reflect(writer)
        .applied_objects();
        let task = tokio::spawn(stream.for_each(|_| std::future::ready(())));
        reader.wait_until_ready().await.unwrap();

        let store = &cluster.sim().store;
        for round in 0..6 {
            for i in 0..5 {
                store
                    .create(pods_res, pod(&format!("p{round}-{i}")), false)
                    .unwrap();
            }
            store
                .delete(pods_res, "default", &format!("p{round}-0"), false)
                .unwrap();
            match round {
                1 => store.compact(),
                2 => cluster.faults(r#"{"tooMany": 3, "retryAfter": 1}"#),
                3 => cluster.faults(r#"{"errors": 3}"#),
                4 => cluster.faults(r#"{"watchGone": 2}"#),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let want = server_pods(&cluster);
        assert_eq!(
            want.len(),
            1 + 6 * 4,
            "api-0 and four of every round's five"
        );
        // kube-rs backs off exponentially after errors (0.8 s doubling), so allow a while.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let mut got: Vec<(String, String)> = reader
                .state()
                .iter()
                .map(|p| {
                    (
                        p.metadata.name.clone().unwrap(),
                        p.metadata.resource_version.clone().unwrap(),
                    )
                })
                .collect();
            got.sort();
            if got == want {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the reflector never caught up:\n got {got:?}\nwant {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        task.abort();
    });
}

#[test]
fn a_stale_update_and_an_apply_conflict_are_409s() {
    let cluster = Cluster::start(SCENARIO);
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let first = pods.get("api-0").await.unwrap();
        let mut changed = first.clone();
        changed
            .metadata
            .labels
            .get_or_insert_default()
            .insert("a".into(), "1".into());
        pods.replace("api-0", &PostParams::default(), &changed)
            .await
            .unwrap();
        // The same stale copy again: its resourceVersion is old now.
        let mut stale = first.clone();
        stale
            .metadata
            .labels
            .get_or_insert_default()
            .insert("a".into(), "2".into());
        match pods.replace("api-0", &PostParams::default(), &stale).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 409);
                assert_eq!(s.reason, "Conflict");
            }
            other => panic!("expected 409, got {other:?}"),
        }

        let ds: Api<DaemonSet> = Api::namespaced(client, "kube-system");
        let file = kpreload::core::pools::PoolsFile::load("config/pools.yaml".as_ref()).unwrap();
        let rendered = kpreload::core::render::render_pool(&file, &file.pools[2]);
        let name = rendered.metadata.name.clone().unwrap();
        ds.patch(
            &name,
            &PatchParams::apply("kpreload"),
            &Patch::Apply(&rendered),
        )
        .await
        .unwrap();
        let mut theirs = rendered.clone();
        theirs
            .spec
            .template
            .spec
            .as_mut()
            .unwrap()
            .init_containers
            .as_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c.name == "preload-nginx")
            .unwrap()
            .image = Some("nginx:1.27-alpine".into());
        match ds
            .patch(
                &name,
                &PatchParams::apply("someone-else"),
                &Patch::Apply(&theirs),
            )
            .await
        {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 409);
                assert!(
                    s.message.contains("conflict with \"kpreload\""),
                    "{}",
                    s.message
                );
                assert!(s.message.contains("preload-nginx"), "{}", s.message);
            }
            other => panic!("expected 409, got {other:?}"),
        }
        let live = ds.get(&name).await.unwrap();
        let image = live
            .spec
            .template
            .spec
            .unwrap()
            .init_containers
            .unwrap()
            .into_iter()
            .find(|c| c.name == "preload-nginx")
            .unwrap()
            .image;
        assert_eq!(
            image.as_deref(),
            Some("nginx:1.25-alpine"),
            "the refused apply changed nothing"
        );
        // A conflict injected on the next write surfaces the same way.
        cluster.faults(&format!(r#"{{"conflictOn": "{name}"}}"#));
        let err = ds
            .patch(
                &name,
                &PatchParams::apply("kpreload"),
                &Patch::Apply(&rendered),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 409),
            "{err:?}"
        );
        ds.patch(
            &name,
            &PatchParams::apply("kpreload"),
            &Patch::Apply(&rendered),
        )
        .await
        .unwrap();
    });
}

#[test]
fn bad_requests_get_status_objects_and_the_server_keeps_serving() {
    let cluster = Cluster::start(SCENARIO);
    let base = cluster.url();
    let cases: &[(&str, &str, &str, &str, u16, &str)] = &[
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "{\"kind\":",
            400,
            "json parse error",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "[1,2]",
            400,
            "is not a Pod object",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}}"#,
            400,
            "does not match the expected API version",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"a","image":"i"}]}}"#,
            400,
            "does not match the namespace",
        ),
        (
            "POST",
            "/api/v1/namespaces/nowhere/pods",
            "application/json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"i"}]}}"#,
            404,
            "namespaces \"nowhere\" not found",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[]}}"#,
            422,
            "spec.containers: Required value",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"api-0"},"spec":{"containers":[{"name":"a","image":"i"}]}}"#,
            409,
            "pods \"api-0\" already exists",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/api-0",
            "text/plain",
            "{}",
            415,
            "unknown format",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/api-0",
            "application/apply-patch+yaml",
            "metadata: {}",
            400,
            "requires fieldManager",
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/pods",
            "application/json",
            "{}",
            405,
            "does not allow this method",
        ),
        (
            "GET",
            "/api/v1/widgets",
            "application/json",
            "",
            404,
            "could not find the requested resource",
        ),
        (
            "GET",
            "/api/v1/pods?labelSelector=a%20in%20b",
            "application/json",
            "",
            400,
            "unable to parse requirement",
        ),
        (
            "GET",
            "/api/v1/pods?watch=true&resourceVersion=x",
            "application/json",
            "",
            400,
            "must be a number",
        ),
    ];
    for (method, path, ct, body, code, text) in cases {
        let (got, reply) = http(method, &format!("{base}{path}"), ct, body);
        assert_eq!(got, *code, "{method} {path} {body}: {reply}");
        let status: serde_json::Value =
            serde_json::from_str(&reply).unwrap_or_else(|_| panic!("not a Status: {reply}"));
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], *code);
        assert!(
            status["message"].as_str().unwrap().contains(text),
            "{method} {path}: {reply}"
        );
    }
    // Numbers at the edges do not bring the server down.
    let (code, _) = http(
        "GET",
        &format!(
            "{base}/api/v1/pods?watch=1&resourceVersion=18446744073709551615&timeoutSeconds=1"
        ),
        "application/json",
        "",
    );
    assert_eq!(code, 200);
    for bad in [
        r#"{"bookmarkSeconds": 1e-300}"#,
        r#"{"watchSeconds": 1e300}"#,
    ] {
        let (code, reply) = http(
            "POST",
            &format!("{base}/sim/faults"),
            "application/json",
            bad,
        );
        assert_eq!(code, 400, "{bad}: {reply}");
    }
    // A JSON patch that sets a stale resourceVersion is a precondition, as any write's.
    let (code, reply) = http(
        "PATCH",
        &format!("{base}/api/v1/namespaces/default/pods/api-0"),
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/metadata/resourceVersion","value":"1"}]"#,
    );
    assert_eq!(code, 409, "{reply}");
    // A patch that changes nothing changes no resourceVersion, even a second later.
    let rv = |reply: &str| {
        serde_json::from_str::<serde_json::Value>(reply).unwrap()["metadata"]["resourceVersion"]
            .clone()
    };
    let patch_url = format!("{base}/api/v1/namespaces/default/pods/api-0?fieldManager=t");
    let (_, first) = http("PATCH", &patch_url, "application/merge-patch+json", "{}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, second) = http("PATCH", &patch_url, "application/merge-patch+json", "{}");
    assert_eq!(rv(&first), rv(&second));
    let (code, body) = http(
        "GET",
        &format!("{base}/api/v1/nodes"),
        "application/json",
        "",
    );
    assert_eq!(code, 200);
    assert!(body.contains("\"web-1\""));
}

#[test]
fn a_watch_from_a_compacted_version_gets_410_gone() {
    let cluster = Cluster::start(SCENARIO);
    let old = cluster.sim().store.current_rv();
    let pods_res = kpreload::sim::resources::find("", "v1", "pods").unwrap();
    cluster
        .sim()
        .store
        .create(pods_res, pod("x"), false)
        .unwrap();
    cluster.sim().store.compact();
    let (code, body) = http(
        "GET",
        &format!(
            "{}/api/v1/pods?watch=1&resourceVersion={old}&timeoutSeconds=1",
            cluster.url()
        ),
        "application/json",
        "",
    );
    assert_eq!(
        code, 200,
        "a watch answers 200 and reports the error as an event"
    );
    let first: serde_json::Value =
        serde_json::from_str(body.lines().find(|l| l.starts_with('{')).unwrap_or("{}"))
            .unwrap_or_default();
    assert_eq!(first["type"], "ERROR", "{body}");
    assert_eq!(first["object"]["code"], 410);
    assert_eq!(first["object"]["reason"], "Expired");
}

#[test]
fn the_status_subresource_changes_only_status() {
    let cluster = Cluster::start(SCENARIO);
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]},
                           "metadata": {"labels": {"sneaky": "yes"}}});
        let after = nodes
            .patch_status("web-1", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let ready = &after.status.unwrap().conditions.unwrap()[0];
        assert_eq!(ready.status, "False");
        assert!(!after.metadata.labels.unwrap().contains_key("sneaky"), "a status write leaves metadata alone");
        // And a write to the main resource leaves status alone.
        let main = json!({"status": {"conditions": []}, "metadata": {"labels": {"zone": "a"}}});
        let after = nodes.patch("web-1", &PatchParams::default(), &Patch::Merge(&main)).await.unwrap();
        assert_eq!(after.metadata.labels.unwrap()["zone"], "a");
        assert_eq!(after.status.unwrap().conditions.unwrap()[0].status, "False");
    });
}
