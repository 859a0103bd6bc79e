//! A kubelet per node: it runs the pods bound to its node, init containers one after
//! another, pulling each image at the node's bandwidth (pulls at once share the node's link
//! when it is capped), and tells the story in the kubelet's own events and statuses:
//!
//! `Pulling image "X"` → `Successfully pulled image "X" in 7.362s (7.362s including
//! waiting). Image size: 129338587 bytes.` → `Created container: C` → `Started container C`,
//! or `Container image "X" already present on machine`, or `ErrImagePull` then
//! `ImagePullBackOff` with the kubelet's back-off (10 s doubling to 300 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::NodeState;
use super::images::digest_of;
use super::record::{About, Source, event};
use crate::resources::stored;
use crate::rules::reference::ImageRef;
use crate::server::Sim;
use crate::store::{name_of, now_rfc3339, ns_of, uid_of};

/// Starts a task for every bound pod that no kubelet runs yet.
pub fn start_pods(sim: &Arc<Sim>) {
    for pod in sim.store.pods_to_start() {
        let Some(node_name) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let uid = uid_of(&pod).to_string();
        if sim.world.is_running(&uid) {
            continue;
        }
        // A scenario's pods that already run are left as they are.
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
        if phase != "Pending" || !pod["status"]["containerStatuses"].is_null() {
            continue;
        }
        let Some(node) = sim.world.node(node_name) else {
            continue;
        };
        if !sim.world.claim(&uid) {
            continue;
        }
        let sim = sim.clone();
        let ns = ns_of(&pod).to_string();
        let name = name_of(&pod).to_string();
        tokio::spawn(async move {
            run_pod(&sim, &node, &ns, &name, &uid).await;
        });
    }
}

/// Go's `time.Duration` text, as the kubelet prints pull times: `7.362s`, `850ms`, `1m2.5s`.
pub fn go_duration(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, rest) = (ms / 60_000, ms % 60_000);
    let s = trim(format!("{}.{:03}", rest / 1000, rest % 1000));
    if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

struct Pod<'a> {
    sim: &'a Sim,
    node: &'a NodeState,
    ns: &'a str,
    name: &'a str,
    uid: &'a str,
}

enum Pull {
    Done,
    Failed {
        reason: &'static str,
        message: String,
    },
    Gone,
}

impl Pod<'_> {
    fn about(&self, container: Option<(&str, &str)>) -> About<'_> {
        About {
            namespace: self.ns,
            name: self.name,
            uid: self.uid,
            // Recent kubelets leave the container out of the event (the message names the
            // image); `kubectl describe` then prints the message alone.
            field_path: container.and(None),
        }
    }

    fn source(&self) -> Source<'_> {
        Source {
            component: "kubelet",
            host: Some(&self.node.name),
        }
    }

    fn event(&self, container: Option<(&str, &str)>, warning: bool, reason: &str, message: &str) {
        event(
            &self.sim.store,
            &self.about(container),
            &self.source(),
            warning,
            reason,
            message,
        );
    }

    /// Changes the pod's status; false when the pod is gone.
    fn status(&self, change: impl FnOnce(&mut Value)) -> bool {
        self.sim
            .store
            .update(stored("Pod"), self.ns, self.name, false, |old| {
                if old["metadata"]["uid"] != self.uid {
                    return Err(crate::status::ApiError::not_found("", "pods", self.name));
                }
                let mut new = old.clone();
                change(&mut new["status"]);
                Ok(new)
            })
            .is_ok()
    }

    fn exists(&self) -> bool {
        self.sim
            .store
            .get("Pod", self.ns, self.name)
            .is_some_and(|p| p["metadata"]["uid"] == self.uid)
    }

    fn speed(&self) -> f64 {
        self.sim.simulation.speed
    }

    async fn sleep_sim(&self, sim_seconds: f64) {
        tokio::time::sleep(Duration::from_secs_f64(
            (sim_seconds / self.speed()).max(0.0),
        ))
        .await;
    }

    /// Pulls (or finds) one container's image, with the kubelet's events.
    async fn ensure_image(&self, list: &str, container: &Value) -> Pull {
        let cname = container["name"].as_str().unwrap_or_default();
        let text = container["image"].as_str().unwrap_or_default();
        let at = Some((list, cname));
        let image = match ImageRef::parse(text) {
            Ok(i) => i,
            Err(e) => {
                let message = format!(
                    "Failed to apply default image tag \"{text}\": couldn't parse image name \"{text}\": {e}"
                );
                self.event(at, true, "InspectFailed", &message);
                self.event(at, true, "Failed", "Error: InvalidImageName");
                return Pull::Failed {
                    reason: "InvalidImageName",
                    message,
                };
            }
        };
        let policy =
            container["imagePullPolicy"]
                .as_str()
                .unwrap_or(if image.tag() == Some("latest") {
                    "Always"
                } else {
                    "IfNotPresent"
                });
        let present = {
            let mut images = self.node.images.lock().unwrap_or_else(|p| p.into_inner());
            match images.find_mut(&image) {
                Some(i) => {
                    i.last_used = jiff::Timestamp::now().as_second();
                    true
                }
                None => false,
            }
        };
        if present && policy != "Always" {
            self.event(
                at,
                false,
                "Pulled",
                &format!("Container image \"{text}\" already present on machine"),
            );
            return Pull::Done;
        }
        if policy == "Never" {
            let message =
                format!("Container image \"{text}\" is not present with pull policy of Never");
            self.event(at, true, "ErrImageNeverPull", &message);
            return Pull::Failed {
                reason: "ErrImageNeverPull",
                message,
            };
        }
        let asked = Instant::now();
        let permit = self.node.pulls.clone().acquire_owned().await;
        if !self.exists() {
            return Pull::Gone;
        }
        let waited = asked.elapsed().as_secs_f64() * self.speed();
        self.event(at, false, "Pulling", &format!("Pulling image \"{text}\""));
        if let Some(failed) = self.pull_secrets(at, &image, text).await {
            drop(permit);
            return failed;
        }
        let Some(size) = self.sim.simulation.size_of(&image) else {
            self.sleep_sim(0.4).await;
            drop(permit);
            let name = image.normalized();
            let message = format!(
                "Failed to pull image \"{text}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{name}\": failed to resolve reference \"{name}\": {name}: not found"
            );
            self.event(at, true, "Failed", &message);
            self.event(at, true, "Failed", "Error: ErrImagePull");
            return Pull::Failed {
                reason: "ErrImagePull",
                message,
            };
        };
        // One pull's rate (the node's bandwidth, give or take the jitter); with a capped
        // link, the pulls under way share it.
        let rate = self.node.bandwidth as f64 / self.jitter(&image);
        // Its layers one after another, each an ingest in `content active` until it is
        // committed (then it leaves the list, as in containerd's content store).
        let mut seconds = 0.0;
        for (k, part) in layer_sizes(size).into_iter().enumerate() {
            let which = if k == 0 {
                "layer".to_string()
            } else {
                format!("layer-{k}")
            };
            let ingest = format!(
                "layer-sha256:{}",
                digest_of(
                    &format!("{}/{}", self.node.name, image.normalized()),
                    &which
                )
            );
            let pull = super::ActivePull::new(ingest, part, Instant::now(), rate);
            let segment = pull.segment.clone();
            let _active = super::ActiveGuard::start(self.node, pull);
            seconds += match self.node.link {
                None => {
                    let seconds = part as f64 / rate;
                    self.sleep_sim(seconds).await;
                    seconds
                }
                Some(link) => {
                    self.node
                        .share_link(&segment, part, rate, link, self.speed())
                        .await
                }
            };
            if !self.exists() {
                return Pull::Gone;
            }
        }
        drop(permit);
        let now = jiff::Timestamp::now().as_second();
        {
            let mut images = self.node.images.lock().unwrap_or_else(|p| p.into_inner());
            images.add(&image, size, now);
        }
        super::gc::collect(self.sim, self.node, now);
        self.publish_node_images();
        self.event(
            at,
            false,
            "Pulled",
            &format!(
                "Successfully pulled image \"{text}\" in {} ({} including waiting). Image size: {size} bytes.",
                go_duration(seconds),
                go_duration(seconds + waited)
            ),
        );
        Pull::Done
    }

    /// Pull times vary by ±15 %, the same for the same node, image and seed every run.
    fn jitter(&self, image: &ImageRef) -> f64 {
        let d = digest_of(
            &format!("{}/{}", self.node.name, image.normalized()),
            &format!("jitter-{}", self.sim.store.seed),
        );
        let n = u64::from_str_radix(&d[..8], 16).unwrap_or(0) as f64 / u32::MAX as f64;
        0.85 + 0.3 * n
    }

    fn publish_node_images(&self) {
        publish_node_images(self.sim, self.node);
    }

    /// The image's digest name as the node's runtime records it (what was pulled).
    fn image_id(&self, container: &Value) -> String {
        let text = container["image"].as_str().unwrap_or_default();
        let Ok(r) = ImageRef::parse(text) else {
            return String::new();
        };
        let held = self.node.images.lock().ok().and_then(|store| {
            let image = store.find(&r)?;
            let prefix = format!("{}@", r.name());
            image.refs.iter().find(|n| n.starts_with(&prefix)).cloned()
        });
        held.unwrap_or_else(|| {
            format!(
                "{}@sha256:{}",
                r.name(),
                digest_of(&r.normalized(), "manifest")
            )
        })
    }
}

/// Writes the node's `status.images` (largest first, capped as the kubelet caps it) and its
/// DiskPressure condition from its image store.
pub fn publish_node_images(sim: &Sim, node: &NodeState) {
    let (status_images, used) = {
        let images = node.images.lock().unwrap_or_else(|p| p.into_inner());
        (
            images.status_images(node.kubelet.node_status_max_images),
            images.used_bytes(),
        )
    };
    let disk = node.disk;
    let _ = sim.store.update(stored("Node"), "", &node.name, false, |old| {
        let mut new = old.clone();
        new["status"]["images"] = status_images.clone();
        let pressure = used >= disk;
        let mut conditions = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conditions.retain(|c| c["type"] != "DiskPressure");
        conditions.push(json!({
            "type": "DiskPressure",
            "status": if pressure { "True" } else { "False" },
            "reason": if pressure { "KubeletHasDiskPressure" } else { "KubeletHasNoDiskPressure" },
            "message": if pressure { "kubelet has disk pressure" } else { "kubelet has no disk pressure" },
        }));
        new["status"]["conditions"] = json!(conditions);
        Ok(new)
    });
}

/// An image's layers: one for a small image; above 32 MB three, of a half, a third and
/// the rest, as a base, a runtime and an application layer might be.
pub(crate) fn layer_sizes(size: u64) -> Vec<u64> {
    if size <= 32_000_000 {
        return vec![size];
    }
    let (a, b) = (size / 2, size / 3);
    vec![a, b, size - a - b]
}

/// An init container with `restartPolicy: Always`: a sidecar, started in its turn and left
/// running while the next init containers and then the main ones start.
fn is_sidecar(container: &Value) -> bool {
    container["restartPolicy"] == "Always"
}

/// Whether a container's command keeps it running (`sleep …`), rather than exiting at once.
fn long_running(container: &Value) -> bool {
    container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .any(|w| w.ends_with("sleep") || w.contains("sleep "))
}

async fn run_pod(sim: &Arc<Sim>, node: &Arc<NodeState>, ns: &str, name: &str, uid: &str) {
    let pod = Pod {
        sim,
        node,
        ns,
        name,
        uid,
    };
    let Some(obj) = sim.store.get("Pod", ns, name) else {
        sim.world.release(uid);
        return;
    };
    let inits: Vec<Value> = obj["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mains: Vec<Value> = obj["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let started_at = now_rfc3339();
    let ok = pod.status(|s| {
        s["phase"] = json!("Pending");
        s["hostIP"] = json!("10.0.0.1");
        s["startTime"] = json!(started_at);
        set_condition(s, "PodReadyToStartContainers", true, None);
        set_condition(
            s,
            "Initialized",
            inits.is_empty(),
            (!inits.is_empty()).then_some("ContainersNotInitialized"),
        );
        set_condition(s, "Ready", false, Some("ContainersNotReady"));
        set_condition(s, "ContainersReady", false, Some("ContainersNotReady"));
        if !inits.is_empty() {
            s["initContainerStatuses"] = json!(
                inits
                    .iter()
                    .map(|c| waiting(c, "PodInitializing", None))
                    .collect::<Vec<_>>()
            );
        }
        s["containerStatuses"] = json!(
            mains
                .iter()
                .map(|c| waiting(
                    c,
                    if inits.is_empty() {
                        "ContainerCreating"
                    } else {
                        "PodInitializing"
                    },
                    None
                ))
                .collect::<Vec<_>>()
        );
    });
    if !ok {
        sim.world.release(uid);
        return;
    }

    for (i, c) in inits.iter().enumerate() {
        if !run_container(&pod, "initContainers", i, c, true).await {
            sim.world.release(uid);
            return;
        }
        if is_sidecar(c) {
            // Started, and it keeps running beside the next ones (Kubernetes 1.29+).
            continue;
        }
        if long_running(c) {
            // An init container that never exits holds the pod here, as on a real node.
            return;
        }
    }
    if !inits.is_empty() {
        pod.status(|s| set_condition(s, "Initialized", true, None));
    }
    for (i, c) in mains.iter().enumerate() {
        if !run_container(&pod, "containers", i, c, false).await {
            sim.world.release(uid);
            return;
        }
    }
    pod.status(|s| {
        s["phase"] = json!("Running");
        s["podIP"] = json!("10.244.0.10");
        set_condition(s, "ContainersReady", true, None);
        set_condition(s, "Ready", true, None);
    });
}

/// Pulls and starts one container; false when the pod went away.
async fn run_container(pod: &Pod<'_>, list: &str, index: usize, c: &Value, init: bool) -> bool {
    let cname = c["name"].as_str().unwrap_or_default().to_string();
    let slist = status_list(list);
    let at = Some((list, cname.as_str()));
    let mut backoff = 10.0;
    loop {
        match pod.ensure_image(list, c).await {
            Pull::Done => break,
            Pull::Gone => return false,
            Pull::Failed { reason, message } => {
                if !pod.status(|s| set_entry(s, slist, index, waiting(c, reason, Some(&message)))) {
                    return false;
                }
                if reason == "InvalidImageName" || reason == "ErrImageNeverPull" {
                    // Nothing to retry: the pod stays as it is.
                    return true_and_park(pod).await;
                }
                pod.sleep_sim(1.0).await;
                let text = c["image"].as_str().unwrap_or_default();
                let back = format!("Back-off pulling image \"{text}\"");
                pod.event(at, false, "BackOff", &back);
                let detail = format!("{back}: ErrImagePull: {message}");
                if !pod.status(|s| {
                    set_entry(
                        s,
                        slist,
                        index,
                        waiting(c, "ImagePullBackOff", Some(&detail)),
                    )
                }) {
                    return false;
                }
                pod.sleep_sim(backoff).await;
                backoff = (backoff * 2.0_f64).min(300.0);
                if !pod.exists() {
                    return false;
                }
            }
        }
    }
    pod.event(at, false, "Created", &format!("Created container: {cname}"));
    pod.event(at, false, "Started", &format!("Started container {cname}"));
    let container_id = format!(
        "containerd://{}",
        digest_of(&format!("{}/{cname}", pod.uid), "container")
    );
    let image_id = pod.image_id(c);
    let started = now_rfc3339();
    let running = json!({
        "name": cname, "image": c["image"], "imageID": image_id, "containerID": container_id,
        "ready": !init || is_sidecar(c), "restartCount": 0, "started": true,
        "state": {"running": {"startedAt": started}},
    });
    if !pod.status(|s| set_entry(s, slist, index, running.clone())) {
        return false;
    }
    if init && !long_running(c) && !is_sidecar(c) {
        pod.sleep_sim(0.2).await;
        let done = json!({
            "name": cname, "image": c["image"], "imageID": image_id, "containerID": container_id,
            "ready": true, "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now_rfc3339(), "containerID": container_id}},
        });
        let next = index + 1;
        let total = pod_list_len(pod, list);
        return pod.status(|s| {
            set_entry(s, slist, index, done);
            if next < total
                && let Some(entry) = s[slist].get_mut(next)
            {
                // The next init container is now the one starting.
                entry["state"] = json!({"waiting": {"reason": "PodInitializing"}});
            }
        });
    }
    true
}

fn pod_list_len(pod: &Pod<'_>, list: &str) -> usize {
    pod.sim
        .store
        .get("Pod", pod.ns, pod.name)
        .and_then(|p| p["spec"][list].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// A pod that cannot go on stays until it is deleted.
async fn true_and_park(pod: &Pod<'_>) -> bool {
    while pod.exists() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

mod pull_secrets;
mod statuses;
use statuses::{set_condition, set_entry, status_list, waiting};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(7.362), "7.362s");
        assert_eq!(go_duration(11.79), "11.79s");
        assert_eq!(go_duration(15.0), "15s");
        assert_eq!(go_duration(0.85), "850ms");
        assert_eq!(go_duration(62.5), "1m2.5s");
    }
}
