//! Pull progress, derived from what the API holds: the preloader pods' init container
//! statuses and the kubelet's events about them. Pure: a snapshot and a clock reading in,
//! per pool, node and image states out.

pub mod bytes;
mod estimate;
pub mod messages;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Node};

use super::objects::{Event, Pod, Workload};

use super::adopt::Origin;
use super::render::{LABEL_SHARD, NOOP_CONTAINER};
use messages::Said;

/// The cluster as last seen: what the watches hold.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub nodes: Vec<Arc<Node>>,
    /// Pods in the preloaders' namespace.
    pub pods: Vec<Arc<Pod>>,
    /// Pods in every namespace (when watched), as compact records: which pods use an image.
    pub workloads: Vec<Arc<Workload>>,
    pub daemonsets: Vec<Arc<DaemonSet>>,
    pub events: Vec<Arc<Event>>,
}

/// Where one image stands on one node.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageState {
    /// Waiting for an earlier image, or for the preloader pod.
    Queued,
    Pulling {
        since: Option<Timestamp>,
        /// How far it has come, read from the node or estimated (`None`: nothing to go on).
        bytes: Option<bytes::PullBytes>,
    },
    /// Pulled by this preloader; the figures come from the kubelet's event, when it is still there.
    Pulled {
        seconds: Option<f64>,
        bytes: Option<u64>,
    },
    /// Already on the node when the preloader asked.
    Present,
    Failed {
        reason: String,
        message: String,
        /// When the kubelet tries again (an estimate from its back-off).
        next_retry: Option<Timestamp>,
    },
}

impl ImageState {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, ImageState::Pulled { .. } | ImageState::Present)
    }

    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, ImageState::Failed { .. })
    }

    /// The word of the status contract: queued, pulling, pulled, present, failed.
    pub fn word(&self) -> &'static str {
        match self {
            ImageState::Queued => "queued",
            ImageState::Pulling { .. } => "pulling",
            ImageState::Pulled { .. } => "pulled",
            ImageState::Present => "present",
            ImageState::Failed { .. } => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImageProgress {
    /// The image as the preloader names it.
    pub image: String,
    pub container: String,
    pub state: ImageState,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeProgress {
    pub node: String,
    /// The preloader pod on the node, once there is one.
    pub pod: Option<String>,
    /// Shared: a pod read once gives its images to every derivation that reuses the read.
    pub images: Arc<Vec<ImageProgress>>,
    /// Bytes per second of this node's finished pulls.
    pub rate: Option<f64>,
    /// Seconds until every image that can arrive has (an estimate).
    pub eta_seconds: Option<f64>,
    /// Why the preloader pod does not run as it should, apart from its images: its main
    /// container waiting or exited, the pod failed or unschedulable, or no pod at all where
    /// one should be. The node is not ready while this stands, and it counts as a failure.
    pub trouble: Option<PodTrouble>,
    /// The preloader pod's main containers all run (it has finished pulling, and stays).
    pub running: bool,
}

/// What keeps a node's preloader pod from running, in the kubelet's (or the scheduler's)
/// words.
#[derive(Clone, Debug, PartialEq)]
pub struct PodTrouble {
    /// The container it is about (a main container), when it is about one.
    pub container: Option<String>,
    /// That container's image.
    pub image: Option<String>,
    /// In a word: `ImagePullBackOff`, `CrashLoopBackOff`, `Unschedulable`, `NoPod`, …
    pub reason: String,
    pub message: String,
}

impl PodTrouble {
    /// "the container cleanup (alpine:3.19): ImagePullBackOff", or the pod's reason with the
    /// first clause of its message ("Unschedulable: 0/3 nodes are available").
    pub fn summary(&self) -> String {
        match (&self.container, &self.image) {
            (Some(c), Some(i)) => format!("the container {c} ({i}): {}", self.reason),
            (Some(c), None) => format!("the container {c}: {}", self.reason),
            _ => {
                let clause = self
                    .message
                    .split([':', ';'])
                    .next()
                    .unwrap_or_default()
                    .trim();
                if clause.is_empty() {
                    self.reason.clone()
                } else {
                    format!("{}: {clause}", self.reason)
                }
            }
        }
    }
}

impl NodeProgress {
    /// Every image is on the node, and the preloader pod runs.
    pub fn ready(&self) -> bool {
        !self.images.is_empty()
            && self.images.iter().all(|i| i.state.is_done())
            && self.trouble.is_none()
            && self.running
    }

    pub fn done(&self) -> usize {
        self.images.iter().filter(|i| i.state.is_done()).count()
    }

    /// Failed images, and the pod's trouble (one more) when it has one.
    pub fn failures(&self) -> usize {
        self.images.iter().filter(|i| i.state.is_failed()).count()
            + usize::from(self.trouble.is_some())
    }

    /// Bytes the pulls under way have received so far (read or estimated).
    pub fn bytes_under_way(&self) -> u64 {
        self.images
            .iter()
            .filter_map(|i| match &i.state {
                ImageState::Pulling { bytes: Some(b), .. } => Some(b.done),
                _ => None,
            })
            .sum()
    }

    /// Bytes this preloader pulled onto the node.
    pub fn bytes(&self) -> u64 {
        self.images
            .iter()
            .filter_map(|i| match i.state {
                ImageState::Pulled { bytes, .. } => bytes,
                _ => None,
            })
            .sum()
    }

    /// Seconds spent pulling, by the kubelet's count.
    pub fn pull_seconds(&self) -> f64 {
        self.images
            .iter()
            .filter_map(|i| match i.state {
                ImageState::Pulled { seconds, .. } => seconds,
                _ => None,
            })
            .sum()
    }

    pub fn pulling(&self) -> bool {
        self.images
            .iter()
            .any(|i| matches!(i.state, ImageState::Pulling { .. }))
    }
}

/// One thing the kubelet said about a pool's image on a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Happening {
    pub at: Timestamp,
    pub node: String,
    pub warning: bool,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolProgress {
    pub pool: String,
    pub namespace: String,
    pub daemonset: String,
    /// Every DaemonSet of a pool split over several (the first is `daemonset`); empty for a
    /// pool with one.
    pub shards: Vec<String>,
    pub origin: Origin,
    /// The images the preloader pulls, in order (a split pool's: shard after shard).
    pub images: Vec<String>,
    pub nodes: Vec<NodeProgress>,
    /// Bytes per second across the nodes pulling now (an estimate from their finished pulls).
    pub throughput: Option<f64>,
    /// Seconds until the pool is complete, apart from failed images (an estimate).
    pub eta_seconds: Option<f64>,
    /// The node that holds the pool back: the longest to go, or, once done, the longest it took.
    pub slowest: Option<String>,
    /// The latest pulls and failures, oldest first.
    pub recent: Vec<Happening>,
    /// Why the preloader cannot be read, when it cannot.
    pub problem: Option<String>,
    /// What is wrong with a split pool's DaemonSets as a set (a shard missing, two splits
    /// at once): the pool is shown, but is not complete while this stands.
    pub warning: Option<String>,
    /// The Secrets its pods pull with (`imagePullSecrets`).
    pub pull_secrets: Vec<String>,
}

impl PoolProgress {
    /// What to do about a failed pull's message, when there is something to say: a registry
    /// that wants credentials gets the pool's pull secrets named.
    pub fn remedy(&self, message: &str) -> Option<String> {
        messages::refused_for_credentials(message)
            .then(|| messages::credentials_remedy(&self.pull_secrets, &self.namespace))
    }
}

impl PoolProgress {
    pub fn nodes_ready(&self) -> usize {
        self.nodes.iter().filter(|n| n.ready()).count()
    }

    pub fn images_done(&self) -> usize {
        self.nodes.iter().map(NodeProgress::done).sum()
    }

    pub fn images_total(&self) -> usize {
        self.nodes.iter().map(|n| n.images.len()).sum()
    }

    pub fn failures(&self) -> usize {
        self.nodes.iter().map(NodeProgress::failures).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.nodes.iter().map(NodeProgress::bytes).sum()
    }

    /// Bytes pulled, with what the pulls under way have received so far.
    pub fn bytes_with_pulls(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.bytes() + n.bytes_under_way())
            .sum()
    }

    /// Whether a figure of a pull under way is an estimate rather than read from its node.
    pub fn estimated(&self) -> bool {
        self.nodes
            .iter()
            .flat_map(|n| n.images.iter())
            .any(|i| matches!(&i.state, ImageState::Pulling { bytes: Some(b), .. } if b.estimated))
    }

    /// The pool's DaemonSets in a phrase that follows the pool's name: "is split over 2
    /// DaemonSets (a, b)", or, when they are not a whole split, "has 3 DaemonSets (a, b, c)".
    pub fn daemonsets_phrase(&self) -> String {
        let names = if self.shards.is_empty() {
            std::slice::from_ref(&self.daemonset)
        } else {
            self.shards.as_slice()
        };
        let n = names.len();
        let plural = if n == 1 { "" } else { "s" };
        if self.warning.is_none() && n > 1 {
            format!("is split over {n} DaemonSets ({})", names.join(", "))
        } else {
            format!("has {n} DaemonSet{plural} ({})", names.join(", "))
        }
    }

    pub fn complete(&self) -> bool {
        self.problem.is_none()
            && self.warning.is_none()
            && self.nodes.iter().all(NodeProgress::ready)
    }
}

/// Every pool's progress, and the nodes no preloader serves. A pool's progress is shared
/// with the [`Deriver`] that derived it (`Arc::make_mut` copies it where it is changed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    pub pools: Vec<Arc<PoolProgress>>,
    pub unpooled: Vec<String>,
}

pub fn derive(snapshot: &Snapshot, now: Timestamp) -> Overview {
    derive_with(snapshot, now, &bytes::Tracker::default())
}

/// [`derive`], with what the nodes' runtimes said of the pulls under way (`live`). One
/// derivation; a [`Deriver`] derives one snapshot after another, reusing what did not change.
pub fn derive_with(snapshot: &Snapshot, now: Timestamp, live: &bytes::Tracker) -> Overview {
    Deriver::default().derive(snapshot, now, live)
}

mod derive;
pub use derive::Deriver;

mod node;
pub use node::POD_GRACE_SECONDS;
#[cfg(test)]
use node::back_off_seconds;
use node::{missing_pod, node_from_pod, once_per_image};
