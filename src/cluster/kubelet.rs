//! A kubelet's settings (`configz`) and image file system (`stats/summary`), read through
//! the API server's node proxy.

use std::time::Duration;

use crate::core::findings::{Disk, Kubelet};

/// How long one kubelet may take to answer.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

pub type Answer = Result<(Kubelet, Option<Disk>), String>;

/// One kubelet's configuration and image file system, through the node proxy.
pub async fn read(client: &kube::Client, node: &str) -> Result<(Kubelet, Option<Disk>), String> {
    let get = |path: String| async move {
        let request = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(TIMEOUT, client.request_text(request)).await {
            Err(_) => Err(format!("the kubelet of {node} did not answer within 5 s")),
            Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
                Err("not allowed to get nodes/proxy, which reads the kubelet's settings and disk (`kpreload rbac` grants it)".to_string())
            }
            Ok(Err(e)) => Err(format!("{node}: {e}")),
            Ok(Ok(text)) => serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("{node}: the kubelet's answer is not JSON: {e}")),
        }
    };
    let config = get(format!("/api/v1/nodes/{node}/proxy/configz")).await?;
    let summary = get(format!("/api/v1/nodes/{node}/proxy/stats/summary")).await?;
    Ok((Kubelet::from_configz(&config), Disk::from_summary(&summary)))
}
