//! One preloader pod on one node, read: each image's state from the init containers'
//! statuses and the kubelet's events.

use super::*;

/// Keeps one entry per image, in the order of their first place: the one that says the most
/// of the image on this node (a failure first, so that it is never hidden by another pod's
/// success; then done, pulling, queued).
pub(super) fn once_per_image(images: &mut Vec<ImageProgress>) {
    fn rank(s: &ImageState) -> u8 {
        match s {
            ImageState::Failed { .. } => 4,
            ImageState::Pulled { .. } | ImageState::Present => 3,
            ImageState::Pulling { .. } => 2,
            ImageState::Queued => 1,
        }
    }
    // One image however it is written (`nginx:1.25` = `docker.io/library/nginx:1.25`); the
    // first writing is kept, with the state that says the most.
    let same = |text: &str| {
        crate::reference::ImageRef::parse(text)
            .map_or_else(|_| text.to_string(), |r| r.normalized())
    };
    let mut kept: Vec<(String, ImageProgress)> = Vec::with_capacity(images.len());
    for image in images.drain(..) {
        let key = same(&image.image);
        match kept.iter_mut().find(|(k, _)| *k == key) {
            Some((_, k)) if rank(&image.state) > rank(&k.state) => {
                k.state = image.state;
                k.container = image.container;
            }
            Some(_) => {}
            None => kept.push((key, image)),
        }
    }
    *images = kept.into_iter().map(|(_, i)| i).collect();
}

fn event_time(e: &Event) -> Option<Timestamp> {
    e.event_time
        .as_ref()
        .map(|t| t.0)
        .or(e.last_timestamp.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// An event about one image, read.
struct Told<'a> {
    at: Option<Timestamp>,
    said: Said,
    event: &'a Arc<Event>,
}

/// What one preloader pod on `node` says, read from the pod and its events (`events`, in
/// the snapshot's order); with the events it tells of, in time order.
pub(super) fn node_from_pod<'a>(
    node: &str,
    pod: &Pod,
    events: &[&'a Arc<Event>],
) -> (NodeProgress, Vec<(Timestamp, &'a Arc<Event>)>) {
    let mut told: Vec<(Told, &str)> = events
        .iter()
        .copied()
        .filter_map(|e| {
            let message = e.message.as_deref()?;
            let (image, said) = messages::read(message)?;
            Some((
                Told {
                    at: event_time(e),
                    said,
                    event: e,
                },
                image,
            ))
        })
        .collect();
    told.sort_by(|(a, _), (b, _)| {
        (a.at, &a.event.metadata.name).cmp(&(b.at, &b.event.metadata.name))
    });
    let spec = pod.spec.as_ref();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let mut images = Vec::new();
    for c in spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default()
    {
        if c.name == NOOP_CONTAINER || c.is_sidecar() {
            continue;
        }
        let is_mine = |path: &str| {
            path.strip_prefix("spec.initContainers{")
                .and_then(|r| r.strip_suffix('}'))
                == Some(c.name.as_str())
        };
        let image = c.image.clone().unwrap_or_default();
        let mine: Vec<&Told> = told
            .iter()
            .filter(
                |(t, named)| match t.event.involved_object.field_path.as_deref() {
                    Some(p) => is_mine(p),
                    None => *named == image,
                },
            )
            .map(|(t, _)| t)
            .collect();
        let status = statuses.iter().find(|s| s.name == c.name);
        images.push(ImageProgress {
            image,
            container: c.name.clone(),
            state: image_state(status, &mine),
        });
    }
    let happened = told
        .iter()
        .filter(|(t, _)| !matches!(t.said, Said::BackOff))
        .filter_map(|(t, _)| Some((t.at?, t.event)))
        .collect();
    let running = runs(pod);
    let trouble = pod_trouble(pod).or_else(|| {
        (!running)
            .then(|| missing_secret(pod, events, &images))
            .flatten()
    });
    let mut progress = NodeProgress {
        node: node.to_string(),
        pod: pod.metadata.name.clone(),
        images: Arc::new(images),
        rate: None,
        eta_seconds: None,
        trouble,
        running,
    };
    let seconds = progress.pull_seconds();
    if seconds > 0.0 {
        progress.rate = Some(progress.bytes() as f64 / seconds);
    }
    (progress, happened)
}

/// Waiting reasons that are only a pod on its way (the kubelet's words for a container not
/// started yet because its turn has not come).
const ON_ITS_WAY: [&str; 3] = ["", "ContainerCreating", "PodInitializing"];

/// What keeps the pod from running, apart from its init containers (whose failures are the
/// images'): the pod failed, or could not be scheduled; a main container waiting for a
/// reason that is not its turn (`ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`,
/// `CreateContainerError`, `CreateContainerConfigError`, `InvalidImageName`, …), or exited.
pub(super) fn pod_trouble(pod: &Pod) -> Option<PodTrouble> {
    if pod.metadata.deletion_timestamp.is_some() {
        // Going (a rollout, a drain): its containers stop on purpose.
        return None;
    }
    let status = pod.status.as_ref()?;
    // A node shutting down (graceful shutdown, a consolidation) ends its pods on purpose;
    // the controller replaces them elsewhere or when it is back.
    if status.phase.as_deref() == Some("Failed")
        && matches!(
            status.reason.as_deref(),
            Some("Terminated" | "NodeShutdown" | "Shutdown")
        )
    {
        return None;
    }
    if status.phase.as_deref() == Some("Failed") {
        return Some(PodTrouble {
            container: None,
            image: None,
            reason: status.reason.as_deref().unwrap_or("Failed").to_string(),
            message: status
                .message
                .as_deref()
                .unwrap_or("the pod failed")
                .to_string(),
        });
    }
    if let Some(c) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        return Some(PodTrouble {
            container: None,
            image: None,
            reason: c.reason.clone().unwrap_or_else(|| "Unschedulable".into()),
            message: c.message.clone().unwrap_or_default(),
        });
    }
    let spec = pod.spec.as_ref()?;
    // The main containers, and the sidecars (the cleanup container): one that cannot start
    // holds every pull behind it; one that exits is the pod not running as it should.
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.is_sidecar());
    for c in sidecars.chain(&spec.containers) {
        let Some(s) = status
            .container_statuses
            .iter()
            .flatten()
            .chain(status.init_container_statuses.iter().flatten())
            .find(|s| s.name == c.name)
        else {
            continue;
        };
        let Some(state) = &s.state else { continue };
        let trouble = |reason: String, message: String| PodTrouble {
            container: Some(c.name.clone()),
            image: c.image.clone(),
            reason,
            message,
        };
        if let Some(w) = &state.waiting {
            let reason = w.reason.as_deref().unwrap_or_default();
            if !ON_ITS_WAY.contains(&reason) {
                return Some(trouble(
                    reason.to_string(),
                    w.message.clone().unwrap_or_default(),
                ));
            }
        }
        if let Some(t) = &state.terminated {
            // A preloader's main container runs until the pod goes.
            return Some(trouble(
                t.reason.clone().unwrap_or_else(|| "Terminated".into()),
                t.message
                    .clone()
                    .unwrap_or_else(|| format!("the container exited with code {}", t.exit_code)),
            ));
        }
    }
    None
}

/// How much older than the pod's latest pull the kubelet's missing-secret Event may be and
/// still be about it: the kubelet says it at every sync of the pod (about once a minute, and
/// at every retry), just before it pulls.
const SECRET_EVENT_SLACK: i64 = 90;

/// A pull secret the pod (not running) names that the kubelet cannot find (its
/// `FailedToRetrieveImagePullSecret`), while one of the pod's pulls is failing and the kubelet
/// said it since the pod's latest pull began: a secret created since, or one the pulls did
/// without, is not a failure.
fn missing_secret(pod: &Pod, mine: &[&Arc<Event>], images: &[ImageProgress]) -> Option<PodTrouble> {
    if !images.iter().any(|i| i.state.is_failed()) {
        return None;
    }
    let latest_pull = mine
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Pulling"))
        .filter_map(|e| event_time(e))
        .max();
    let said = mine
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedToRetrieveImagePullSecret"))
        .max_by_key(|e| event_time(e))?;
    if let (Some(pull), Some(at)) = (latest_pull, event_time(said))
        && at.as_second() + SECRET_EVENT_SLACK < pull.as_second()
    {
        return None;
    }
    let names = messages::missing_pull_secrets(said.message.as_deref()?)?;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let plural = names.len() > 1;
    Some(PodTrouble {
        container: None,
        image: None,
        reason: "FailedToRetrieveImagePullSecret".into(),
        message: format!(
            "the pull secret{} {} {} not in {namespace}: create {} there (kubectl create secret \
             docker-registry -n {namespace} …) or change the pool's pullSecrets",
            if plural { "s" } else { "" },
            names.join(", "),
            if plural { "are" } else { "is" },
            if plural { "them" } else { "it" },
        ),
    })
}

/// Whether every main container of the pod runs.
fn runs(pod: &Pod) -> bool {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    pod.spec.as_ref().is_some_and(|spec| {
        spec.containers.iter().all(|c| {
            statuses
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.state.as_ref())
                .is_some_and(|st| st.running.is_some())
        })
    })
}

/// The kubelet's image pull back-off: 10 s, doubling, at most 300 s.
pub(crate) fn back_off_seconds(failures: u32) -> f64 {
    (10.0 * 2f64.powi(failures.saturating_sub(1).min(10) as i32)).min(300.0)
}

fn image_state(status: Option<&ContainerStatus>, told: &[&Told]) -> ImageState {
    let state = status.and_then(|s| s.state.as_ref());
    let last_outcome = told
        .iter()
        .rev()
        .find(|t| matches!(t.said, Said::Pulled { .. } | Said::Present));
    let finished = || match last_outcome.map(|t| &t.said) {
        Some(Said::Pulled { seconds, bytes }) => ImageState::Pulled {
            seconds: *seconds,
            bytes: *bytes,
        },
        Some(Said::Present) => ImageState::Present,
        _ => ImageState::Pulled {
            seconds: None,
            bytes: None,
        },
    };
    let failures: Vec<&&Told> = told
        .iter()
        .filter(|t| matches!(t.said, Said::Failed))
        .collect();
    let failure_message = || {
        failures
            .last()
            .and_then(|t| t.event.message.clone())
            .unwrap_or_default()
    };
    let next_retry = || {
        let count: i32 = failures.iter().map(|t| t.event.count.unwrap_or(1)).sum();
        let last = failures.last().and_then(|t| t.at)?;
        last.checked_add(SignedDuration::from_secs_f64(back_off_seconds(
            count.max(1) as u32,
        )))
        .ok()
    };
    if let Some(state) = state {
        if let Some(t) = &state.terminated {
            if t.exit_code == 0 {
                return finished();
            }
            return ImageState::Failed {
                reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
                message: t
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("the container exited with code {}", t.exit_code)),
                next_retry: None,
            };
        }
        if state.running.is_some() {
            return finished();
        }
        if let Some(w) = &state.waiting {
            let reason = w.reason.as_deref().unwrap_or_default();
            if !matches!(reason, "" | "PodInitializing" | "ContainerCreating") {
                let pull = matches!(reason, "ErrImagePull" | "ImagePullBackOff");
                return ImageState::Failed {
                    reason: reason.to_string(),
                    message: w
                        .message
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(failure_message),
                    next_retry: if pull { next_retry() } else { None },
                };
            }
        }
    }
    // Not started yet: the events tell whether the kubelet is on it.
    match told.last().map(|t| (&t.said, t.at)) {
        Some((Said::Pulling, at)) => ImageState::Pulling {
            since: at,
            bytes: None,
        },
        Some((Said::Pulled { .. } | Said::Present, _)) => finished(),
        Some((Said::Failed | Said::BackOff, _)) => ImageState::Failed {
            reason: "ErrImagePull".into(),
            message: failure_message(),
            next_retry: next_retry(),
        },
        None => ImageState::Queued,
    }
}

/// A kubelet older than 1.29 under a preloader with a sidecar: it runs the cleanup sidecar
/// as an ordinary init container, which never ends, so nothing after it is ever pulled.
pub(super) fn kubelet_too_old(node: &Node, daemonsets: &[&DaemonSet]) -> Option<PodTrouble> {
    if !daemonsets.iter().any(|d| has_sidecar(d)) {
        return None;
    }
    let old = old_kubelet(node)?;
    Some(PodTrouble {
        container: Some(crate::render::CLEANUP_CONTAINER.to_string()),
        image: None,
        reason: "KubeletTooOld".into(),
        message: format!(
            "the node's kubelet is {old}: it runs the cleanup sidecar as an ordinary init \
             container, so the pulls after it never start; upgrade the node to Kubernetes 1.29 \
             or newer"
        ),
    })
}

/// Whether a DaemonSet's pods have a sidecar (an init container with `restartPolicy: Always`).
fn has_sidecar(ds: &DaemonSet) -> bool {
    ds.spec.template.spec.as_ref().is_some_and(|s| {
        s.init_containers
            .iter()
            .flatten()
            .any(crate::render::is_sidecar)
    })
}

/// The node's kubelet version when it is older than sidecars need (`v1.28.5-eks-…`); None
/// when newer or unreadable.
fn old_kubelet(node: &Node) -> Option<String> {
    let version = &node.status.as_ref()?.node_info.as_ref()?.kubelet_version;
    (crate::render::major_minor(version)? < crate::render::SIDECARS_FROM).then(|| version.clone())
}

/// How long a DaemonSet and a node may both exist with no pod of the one on the other before
/// that is told as a failure (the controller places a pod within seconds).
pub const POD_GRACE_SECONDS: i64 = 120;

/// A node the preloader should serve with no pod of it there, past the grace, while the
/// DaemonSet's own count agrees that a pod is missing (its status says fewer are scheduled
/// than it wants): then it is a failure, not a wait.
pub(super) fn missing_pod(ds: &DaemonSet, node: &Node, now: Timestamp) -> Option<PodTrouble> {
    let age = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map(|t| now.as_second() - t.0.as_second())
    };
    let settled = |a: Option<i64>| a.is_some_and(|a| a >= POD_GRACE_SECONDS);
    if !settled(age(ds.metadata.creation_timestamp.as_ref()))
        || !settled(age(node.metadata.creation_timestamp.as_ref()))
    {
        return None;
    }
    let status = ds.status.as_ref()?;
    if status.current_number_scheduled >= status.desired_number_scheduled {
        // The controller has every pod it wants: the prediction that this node is served
        // is what is wrong, not the node.
        return None;
    }
    Some(PodTrouble {
        container: None,
        image: None,
        reason: "NoPod".into(),
        message: format!(
            "no pod of {} on this node after {}; the DaemonSet schedules {} of {} pods (kubectl \
             describe daemonset -n {} {} says why)",
            ds.metadata.name.as_deref().unwrap_or_default(),
            crate::units::seconds(POD_GRACE_SECONDS as f64),
            status.current_number_scheduled,
            status.desired_number_scheduled,
            ds.metadata.namespace.as_deref().unwrap_or_default(),
            ds.metadata.name.as_deref().unwrap_or_default(),
        ),
    })
}
