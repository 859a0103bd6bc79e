//! Running the runtime's tool on a node: `pods/exec` into the preloader's cleanup container
//! (privileged, `hostPID`), over the API server's WebSocket, as `kubectl exec` does.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::AsyncReadExt;

use super::{Output, Runner};

/// Exec into one container of one pod.
pub struct PodExec {
    pub api: Api<Pod>,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// A command that takes longer is abandoned and reported.
    pub timeout: Duration,
}

impl PodExec {
    pub fn new(client: kube::Client, namespace: &str, pod: &str, container: &str) -> Self {
        PodExec {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
            timeout: Duration::from_secs(120),
        }
    }

    async fn exec(&self, argv: &[String]) -> Result<Output, String> {
        let params = AttachParams::default()
            .container(self.container.clone())
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = self
            .api
            .exec(&self.pod, argv.to_vec(), &params)
            .await
            .map_err(|e| self.describe(e))?;
        let (mut stdout, mut stderr) = (process.stdout(), process.stderr());
        let status = process.take_status();
        let read = |half: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
            let mut text = String::new();
            if let Some(mut h) = half {
                let mut bytes = Vec::new();
                let _ = h.read_to_end(&mut bytes).await;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        };
        let (out, err) = tokio::join!(read(stdout.take()), read(stderr.take()));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = process.join().await;
        let code = match &status {
            None => {
                return Err(format!(
                    "the exec into pod {}/{} ended without an exit status; the connection may \
                     have dropped, so run it again",
                    self.namespace, self.pod
                ));
            }
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) => s
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                        .and_then(|c| c.message.as_deref())
                })
                .and_then(|m| m.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "the exec into pod {}/{} failed: {}",
                        self.namespace,
                        self.pod,
                        s.message.as_deref().unwrap_or("no reason given")
                    )
                })?,
        };
        Ok(Output {
            stdout: out,
            stderr: err,
            code,
        })
    }

    fn describe(&self, e: kube::Error) -> String {
        let target = format!("pod {}/{}", self.namespace, self.pod);
        match e {
            kube::Error::Api(s) if s.code == 403 => format!(
                "Not allowed to exec into {target} (pods/exec, verbs get and create); `kpreload rbac` \
                 prints the permissions kpreload needs."
            ),
            kube::Error::Api(s) if s.code == 404 => {
                format!("{target} is gone; the preloader may be rolling, so plan again.")
            }
            kube::Error::Api(s) => format!("The exec into {target} was refused: {}", s.message),
            other => format!("Could not exec into {target}: {other}"),
        }
    }
}

impl Runner for PodExec {
    async fn run(&self, argv: &[String]) -> Result<Output, String> {
        match tokio::time::timeout(self.timeout, self.exec(argv)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the command in pod {}/{} did not finish within {} s",
                self.namespace,
                self.pod,
                self.timeout.as_secs()
            )),
        }
    }
}
