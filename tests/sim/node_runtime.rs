//! The node runtime module through the API server's exec, on a simulated node: what
//! `kpreload cleanup` does on each node, end to end, without a real runtime.

use crate::support;

use k8s_openapi::api::core::v1::Node;
use kpreload::core::planner::{Settings, plan_node};
use kpreload::runtime::exec::PodExec;
use kpreload::runtime::{Candidate, NodeRuntime, Outcome, Surface, Tool, tool_for};

const SCENARIO: &str = r#"apiVersion: sim.kpreload.dev/v1
kind: Simulation
registry:
  - { image: "busybox:1.36", size: 2MiB }
  - { image: "team/app:1.1", size: 30MiB }
---
apiVersion: v1
kind: Node
metadata: { name: node-1, labels: { kubernetes.io/hostname: node-1 } }
status:
  conditions: [{ type: Ready, status: "True" }]
  nodeInfo: { kubeletVersion: v1.37.0, containerRuntimeVersion: containerd://1.7.13, osImage: Debian, kernelVersion: 6.1.0, machineID: "", systemUUID: "", bootID: "", kubeProxyVersion: "", operatingSystem: linux, architecture: amd64 }
  images:
    - { names: ["docker.io/library/busybox:1.36"], sizeBytes: 2097152 }
    - { names: ["docker.io/team/app:1.0"], sizeBytes: 31457280 }
    - { names: ["docker.io/team/app:1.1"], sizeBytes: 31457280 }
    - { names: ["docker.io/team/app:1.2"], sizeBytes: 31457280 }
    - { names: ["docker.io/team/app:1.10"], sizeBytes: 31457280 }
---
apiVersion: v1
kind: Pod
metadata: { name: preloader, namespace: kube-system }
spec:
  nodeName: node-1
  hostPID: true
  containers: [{ name: cleanup, image: "busybox:1.36", securityContext: { privileged: true } }]
---
apiVersion: v1
kind: Pod
metadata: { name: api, namespace: default }
spec:
  nodeName: node-1
  containers: [{ name: api, image: "team/app:1.1" }]
"#;

#[test]
fn a_simulated_node_is_inventoried_planned_and_cleaned_through_exec() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    std::fs::write(&file, SCENARIO).unwrap();
    let cluster = support::Cluster::start(file.to_str().unwrap());
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let nodes: kube::Api<Node> = kube::Api::all(client.clone());
        let node = nodes.get("node-1").await.unwrap();
        let version = node
            .status
            .unwrap()
            .node_info
            .unwrap()
            .container_runtime_version;
        let tool = tool_for(&version).unwrap();
        let exec = PodExec::new(client, "kube-system", "preloader", "cleanup");
        let mut rt = NodeRuntime::new(Surface::node(tool), exec);

        // The pods start in the simulator's first moments.
        let mut inventory = Err(String::new());
        for _ in 0..100 {
            inventory = rt.inventory().await;
            if inventory.as_ref().is_ok_and(|i| i.containers.len() == 2) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let inventory = inventory.unwrap();
        assert_eq!(rt.settle_tool().await, Ok(Tool::Ctr));
        assert_eq!(inventory.images.len(), 5);
        assert!(
            inventory
                .images
                .iter()
                .all(|i| i.id.is_some() && i.refs.len() == 2),
            "tag and digest names, and the ID: {inventory:#?}"
        );

        let plan = plan_node(&inventory.node_input("node-1"), &Settings::default());
        let removals: Vec<Candidate> = plan.removals().map(Candidate::from).collect();
        assert_eq!(removals.len(), 1, "{plan:#?}");
        assert!(
            removals[0]
                .refs
                .contains(&"docker.io/team/app:1.0".to_string())
        );

        let done = rt.remove(&removals).await.unwrap();
        assert_eq!(done[0].outcome, Outcome::Removed);
        assert_eq!(done[0].names.len(), 3);
        // The simulated kubelet reports the node's images without it.
        let images = nodes
            .get("node-1")
            .await
            .unwrap()
            .status
            .unwrap()
            .images
            .unwrap();
        let names: Vec<String> = images
            .into_iter()
            .flat_map(|i| i.names.unwrap_or_default())
            .collect();
        assert!(
            !names.iter().any(|n| n.contains("team/app:1.0")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains("team/app:1.1")),
            "in use, kept: {names:?}"
        );

        // Twice: already gone.
        let again = rt.remove(&removals).await.unwrap();
        assert_eq!(again[0].outcome, Outcome::AlreadyGone);

        // A container that cannot reach the host says so in one sentence.
        let client = support::kube_client(&cluster.kubeconfig).await;
        let plain = NodeRuntime::new(
            Surface::node(Tool::Ctr),
            PodExec::new(client, "default", "api", "api"),
        );
        let err = plain.images().await.unwrap_err();
        assert!(err.contains("privileged in a hostPID pod"), "{err}");
    });
}
