//! Reading how far a node's pull has come: `ctr -n k8s.io content active` run in a
//! preloader's privileged container (its `cleanup` sidecar), over `pods/exec`.

use std::time::Duration;

use crate::core::progress::bytes::LiveTarget;
use crate::runtime::exec::PodExec;
use crate::runtime::{ActivePull, NodeRuntime, Surface};

/// A reading that takes longer is given up (the next one is due within seconds anyway).
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The pulls under way on the target's node, as its runtime lists them; one exec.
pub async fn read(client: &kube::Client, target: &LiveTarget) -> Result<Vec<ActivePull>, String> {
    let mut exec = PodExec::new(
        client.clone(),
        &target.exec.namespace,
        &target.exec.pod,
        &target.exec.container,
    );
    exec.timeout = READ_TIMEOUT;
    NodeRuntime::new(Surface::node(target.tool), exec)
        .active()
        .await
}
