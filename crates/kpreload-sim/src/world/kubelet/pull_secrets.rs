//! Pull secrets as the kubelet uses them: it reads the pod's `imagePullSecrets` for every
//! pull, says which it cannot find (`FailedToRetrieveImagePullSecret`), and a private image
//! pulls only with its secret, else fails in containerd's words.

use super::{Pod, Pull};
use crate::rules::reference::ImageRef;

impl Pod<'_> {
    /// The pull's failure for want of credentials, if it fails for that; `at` is the
    /// container the pull is for.
    pub(super) async fn pull_secrets(
        &self,
        at: Option<(&str, &str)>,
        image: &ImageRef,
        text: &str,
    ) -> Option<Pull> {
        // The kubelet reads the pod's pull secrets for every pull; one it cannot find is
        // said (and the pull goes on without it).
        let names: Vec<String> = self
            .sim
            .store
            .get("Pod", self.ns, self.name)
            .map(|p| {
                p["spec"]["imagePullSecrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (found, missing): (Vec<&String>, Vec<&String>) = names
            .iter()
            .partition(|n| self.sim.store.get("Secret", self.ns, n).is_some());
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            self.event(
            None,
            true,
            "FailedToRetrieveImagePullSecret",
            &format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                list.join(", ")
            ),
        );
        }
        if let Some(needed) = self.sim.simulation.secret_of(image)
            && !found.iter().any(|f| *f == needed)
        {
            self.sleep_sim(0.4).await;
            let name = image.normalized();
            let message = format!(
                "Failed to pull image \"{text}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{name}\": failed to resolve reference \"{name}\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"
            );
            self.event(at, true, "Failed", &message);
            self.event(at, true, "Failed", "Error: ErrImagePull");
            return Some(Pull::Failed {
                reason: "ErrImagePull",
                message,
            });
        }
        None
    }
}
