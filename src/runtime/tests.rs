//! The removal flow with a scripted runner: what is sent, what is kept and why.

use super::*;
use std::sync::Mutex;

/// Answers commands from a script, in order, and records what it was asked.
#[derive(Default)]
struct Script {
    answers: Mutex<Vec<Output>>,
    asked: Mutex<Vec<Vec<String>>>,
}

impl Script {
    fn new(answers: Vec<Output>) -> Self {
        Script {
            answers: Mutex::new(answers.into_iter().rev().collect()),
            asked: Mutex::default(),
        }
    }
}

impl Runner for Script {
    async fn run(&self, argv: &[String]) -> Result<Output, String> {
        self.asked.lock().unwrap().push(argv.to_vec());
        self.answers
            .lock()
            .unwrap()
            .pop()
            .ok_or_else(|| "no more answers".to_string())
    }
}

fn ok(stdout: &str) -> Output {
    Output {
        stdout: stdout.into(),
        ..Default::default()
    }
}

fn crictl_images(entries: &[(&str, &str)]) -> String {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|(id, tag)| {
            serde_json::json!({"id": id, "repoTags": [tag], "repoDigests": [], "size": "100",
                               "pinned": false})
        })
        .collect();
    serde_json::json!({ "images": list }).to_string()
}

#[test]
fn the_tool_follows_the_runtime() {
    assert_eq!(tool_for("containerd://1.7.13"), Ok(Tool::Ctr));
    assert_eq!(tool_for("cri-o://1.29.1"), Ok(Tool::Crictl));
    let docker = tool_for("docker://24.0.7").unwrap_err();
    assert!(docker.contains("docker"), "{docker}");
    assert!(tool_for("").unwrap_err().contains("does not report"));
    let s = Surface::node(Tool::Ctr);
    assert_eq!(
        s.remove(&["a:1".into(), "sha256:x".into()]).join(" "),
        "nsenter -t 1 -m -u -i -n -p -- ctr -n k8s.io images rm a:1 sha256:x"
    );
    assert_eq!(
        s.with_tool(Tool::Crictl).list_containers().join(" "),
        "nsenter -t 1 -m -u -i -n -p -- crictl ps -a -o json"
    );
}

#[tokio::test]
async fn without_ctr_on_the_host_it_falls_back_to_crictl() {
    let missing = Output {
        stderr: "nsenter: failed to execute ctr: No such file or directory\n".into(),
        code: 127,
        ..Default::default()
    };
    let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![missing]));
    assert_eq!(rt.settle_tool().await, Ok(Tool::Crictl));
    let present = Output::default();
    let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![present]));
    assert_eq!(rt.settle_tool().await, Ok(Tool::Ctr));
}

/// The inventory settles the tool with its own listings: two execs where `ctr` is there,
/// and where it is not, the same two again with `crictl`, read as crictl's.
#[tokio::test]
async fn the_inventory_settles_the_tool_without_asking_its_version() {
    let missing = || Output {
        stderr: "nsenter: failed to execute ctr: No such file or directory\n".into(),
        code: 127,
        ..Default::default()
    };
    let images = crictl_images(&[("sha256:aa", "docker.io/library/app:1.0")]);
    let script = Script::new(vec![
        missing(),
        missing(),
        ok(&images),
        ok(r#"{"containers": []}"#),
    ]);
    let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), script);
    let inventory = rt.settled_inventory().await.unwrap();
    assert_eq!(rt.surface.tool, Tool::Crictl);
    assert_eq!(inventory.images.len(), 1);
    let asked = rt.runner.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 4);
    assert!(asked[2].iter().any(|a| a == "crictl"), "{asked:?}");

    let header = "REF TYPE DIGEST SIZE PLATFORMS LABELS\n";
    let containers = "CONTAINER IMAGE RUNTIME\n";
    let script = Script::new(vec![ok(header), ok(containers)]);
    let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), script);
    let inventory = rt.settled_inventory().await.unwrap();
    assert_eq!(rt.surface.tool, Tool::Ctr);
    assert!(inventory.images.is_empty() && inventory.containers.is_empty());
    let asked = rt.runner.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [rt.surface.list_images(), rt.surface.list_containers()]
    );
    // A listing that fails for another reason is that failure, in one sentence.
    let refused = Output {
        stderr: "ctr: failed to dial \"/run/containerd/containerd.sock\": connection refused\n"
            .into(),
        code: 1,
        ..Default::default()
    };
    let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![refused, ok("")]));
    let err = rt.settled_inventory().await.unwrap_err();
    assert!(
        err.starts_with("`ctr -n k8s.io images ls` exited with status 1"),
        "{err}"
    );
    assert_eq!(rt.surface.tool, Tool::Ctr);
}

#[tokio::test]
async fn a_failed_command_is_one_sentence() {
    let denied = Output {
        stderr: "nsenter: reassociate to namespace 'ns/ipc' failed: Operation not permitted\n"
            .into(),
        code: 1,
        ..Default::default()
    };
    let rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![denied]));
    let err = rt.images().await.unwrap_err();
    assert!(err.contains("privileged in a hostPID pod"), "{err}");
    let broken = Output {
        stderr: "ctr: failed to dial \"/run/containerd/containerd.sock\": connection refused\n"
            .into(),
        code: 1,
        ..Default::default()
    };
    let rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![broken]));
    let err = rt.images().await.unwrap_err();
    assert_eq!(
        err,
        "`ctr -n k8s.io images ls` exited with status 1: ctr: failed to dial \
         \"/run/containerd/containerd.sock\": connection refused"
    );
}

#[tokio::test]
async fn crictl_removes_by_id_after_its_own_recheck() {
    let images = crictl_images(&[
        ("sha256:aa", "docker.io/library/app:1.0"),
        ("sha256:bb", "docker.io/library/app:1.1"),
    ]);
    let containers = r#"{"containers": [{"id": "c9", "image": {"image": "sha256:bb"},
        "imageRef": "sha256:bb", "state": "CONTAINER_EXITED"}]}"#;
    let after = crictl_images(&[("sha256:bb", "docker.io/library/app:1.1")]);
    let script = Script::new(vec![
        ok(&images),
        ok(containers),
        ok("Deleted: docker.io/library/app:1.0\n"),
        ok(&after),
    ]);
    let rt = NodeRuntime::new(Surface::node(Tool::Crictl), script);
    let candidates = vec![
        Candidate {
            id: Some("sha256:aa".into()),
            refs: vec!["docker.io/library/app:1.0".into()],
            size: 100,
        },
        Candidate {
            id: Some("sha256:bb".into()),
            refs: vec!["docker.io/library/app:1.1".into()],
            size: 100,
        },
    ];
    let r = rt.remove(&candidates).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Removed);
    assert_eq!(r[0].freed(), 100);
    assert_eq!(
        r[1].outcome,
        Outcome::Skipped("in use by container c9".into())
    );
    let asked = rt.runner.asked.lock().unwrap();
    assert_eq!(
        asked[2][asked[2].len() - 2..],
        ["rmi".to_string(), "sha256:aa".to_string()],
        "one ID, the one not in use"
    );
}

#[tokio::test]
async fn an_image_renamed_since_the_plan_or_left_behind_is_not_counted_removed() {
    let images = crictl_images(&[("sha256:aa", "docker.io/library/app:1.0")]);
    // Since the plan, the image was also tagged for a pool.
    let renamed = r#"{"images": [{"id": "sha256:aa", "repoTags": ["docker.io/library/app:1.0",
        "docker.io/library/app:stable"], "repoDigests": [], "size": "100"}]}"#;
    let none = r#"{"containers": []}"#;
    let candidate = Candidate {
        id: Some("sha256:aa".into()),
        refs: vec!["docker.io/library/app:1.0".into()],
        size: 100,
    };
    let rt = NodeRuntime::new(
        Surface::node(Tool::Crictl),
        Script::new(vec![ok(renamed), ok(none)]),
    );
    let r = rt.remove(std::slice::from_ref(&candidate)).await.unwrap();
    assert_eq!(
        r[0].outcome,
        Outcome::Skipped("named docker.io/library/app:stable since the plan".into())
    );
    // The runtime says it deleted it, but it is still listed: a failure, not a success.
    let rt = NodeRuntime::new(
        Surface::node(Tool::Crictl),
        Script::new(vec![ok(&images), ok(none), ok("Deleted: x\n"), ok(&images)]),
    );
    let r = rt.remove(&[candidate]).await.unwrap();
    assert!(
        matches!(&r[0].outcome, Outcome::Failed(why) if why.contains("still listed")),
        "{r:?}"
    );
    assert_eq!(r[0].freed(), 0);
}

#[tokio::test]
async fn a_name_now_on_another_image_is_not_the_planned_image() {
    // Planned: sha256:aa named app:1.0. Now app:1.0 names sha256:ee, and aa is gone.
    let images = crictl_images(&[("sha256:ee", "docker.io/library/app:1.0")]);
    let none = r#"{"containers": []}"#;
    let rt = NodeRuntime::new(
        Surface::node(Tool::Crictl),
        Script::new(vec![ok(&images), ok(none)]),
    );
    let r = rt
        .remove(&[Candidate {
            id: Some("sha256:aa".into()),
            refs: vec!["docker.io/library/app:1.0".into()],
            size: 1,
        }])
        .await
        .unwrap();
    assert!(
        matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("another image")),
        "{r:?}"
    );
    assert_eq!(rt.runner.asked.lock().unwrap().len(), 2, "nothing removed");
}

/// A runner whose third command (the removal) is cut off.
struct CutOff(Script);

impl Runner for CutOff {
    async fn run(&self, argv: &[String]) -> Result<Output, String> {
        let n = self.0.asked.lock().unwrap().len();
        let out = self.0.run(argv).await;
        if n == 2 {
            return Err("the connection dropped".into());
        }
        out
    }
}

#[tokio::test]
async fn a_removal_cut_off_is_settled_by_listing_again() {
    let before = crictl_images(&[
        ("sha256:aa", "docker.io/library/app:1.0"),
        ("sha256:bb", "docker.io/library/app:1.1"),
    ]);
    let none = r#"{"containers": []}"#;
    // Only aa went before the connection dropped.
    let after = crictl_images(&[("sha256:bb", "docker.io/library/app:1.1")]);
    let rt = NodeRuntime::new(
        Surface::node(Tool::Crictl),
        CutOff(Script::new(vec![ok(&before), ok(none), ok(""), ok(&after)])),
    );
    let candidates: Vec<Candidate> = [("sha256:aa", "1.0"), ("sha256:bb", "1.1")]
        .iter()
        .map(|(id, tag)| Candidate {
            id: Some(id.to_string()),
            refs: vec![format!("docker.io/library/app:{tag}")],
            size: 10,
        })
        .collect();
    let r = rt.remove(&candidates).await.unwrap();
    assert_eq!(r[0].outcome, Outcome::Removed);
    assert!(
        matches!(&r[1].outcome, Outcome::Failed(why) if why.contains("cut off")),
        "{r:?}"
    );
}

#[test]
fn cri_o_prints_bare_ids() {
    let hex = "a".repeat(64);
    let images = crictl::parse_images(&format!(
        r#"{{"images": [{{"id": "{hex}", "repoTags": ["docker.io/library/app:1.0"], "repoDigests": [], "size": "5"}}]}}"#
    ))
    .unwrap();
    assert_eq!(
        images[0].id.as_deref(),
        Some(format!("sha256:{hex}").as_str())
    );
    let inv = images[0].to_inventory();
    assert!(
        inv.refs
            .iter()
            .all(|r| !r.starts_with("docker.io/library/aaaa")),
        "the ID is not read as a repository: {inv:?}"
    );
}

#[tokio::test]
async fn a_container_on_an_unknown_id_keeps_images_whose_id_is_gone() {
    use kpreload_sim::world::runtime_cli::{CONTAINERS, IMAGES, tabwriter};
    let cell = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let digest = format!("sha256:{}", "2".repeat(64));
    let by_digest = format!("docker.io/library/other@{digest}");
    let images = tabwriter(
        &[
            cell(&["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]),
            cell(&[
                &by_digest,
                "application/vnd.oci.image.index.v1+json",
                &digest,
                "1.0 MiB",
                "linux/amd64",
                "-",
            ]),
        ],
        IMAGES,
    );
    let unknown = format!("sha256:{}", "3".repeat(64));
    let containers = tabwriter(
        &[
            cell(&["CONTAINER", "IMAGE", "RUNTIME"]),
            cell(&["c7", &unknown, "io.containerd.runc.v2"]),
        ],
        CONTAINERS,
    );
    let rt = NodeRuntime::new(
        Surface::node(Tool::Ctr),
        Script::new(vec![ok(&images), ok(&containers)]),
    );
    let r = rt
        .remove(&[Candidate {
            id: None,
            refs: vec![by_digest],
            size: 1,
        }])
        .await
        .unwrap();
    assert!(
        matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("container c7")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_container_on_a_tag_no_image_carries_keeps_its_repository() {
    // ctr: the container was made from app:1.0, whose tag has since moved off this image
    // and the new image is gone too; the old image may be the container's.
    use kpreload_sim::world::runtime_cli::{CONTAINERS, IMAGES, tabwriter};
    let cells = |rows: &[&[&str]]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    };
    let digest = format!("sha256:{}", "1".repeat(64));
    let by_digest = format!("docker.io/library/app@{digest}");
    let images = tabwriter(
        &cells(&[
            &["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"],
            &[
                &by_digest,
                "application/vnd.oci.image.index.v1+json",
                &digest,
                "1.0 MiB",
                "linux/amd64",
                "-",
            ],
        ]),
        IMAGES,
    );
    let containers = tabwriter(
        &cells(&[
            &["CONTAINER", "IMAGE", "RUNTIME"],
            &["old", "docker.io/library/app:1.0", "io.containerd.runc.v2"],
        ]),
        CONTAINERS,
    );
    let rt = NodeRuntime::new(
        Surface::node(Tool::Ctr),
        Script::new(vec![ok(&images), ok(&containers)]),
    );
    let candidate = Candidate {
        id: None,
        refs: vec![by_digest],
        size: 1,
    };
    let r = rt.remove(&[candidate]).await.unwrap();
    assert!(
        matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("kept to be safe")),
        "{r:?}"
    );
}
