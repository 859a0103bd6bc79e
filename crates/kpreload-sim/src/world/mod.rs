//! What makes the simulated cluster a cluster and not only an API server: a DaemonSet
//! controller, a scheduler and a kubelet per node. They run in the simulator's process and
//! work on its store directly, as the control plane works on etcd; clients still see only
//! the API.

mod controller;
pub(crate) mod gc;
pub(crate) mod images;
mod kubelet;
pub(crate) use kubelet::layer_sizes;
mod lifecycle;

mod record;
pub mod runtime_cli;
mod scheduler;
mod workloads;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::scenario::{KubeletConfig, parse_bytes};
use super::server::Sim;
use images::ImageStore;

/// One node's kubelet and container runtime state.
pub struct NodeState {
    pub name: String,
    pub images: Mutex<ImageStore>,
    /// Pull slots: one when the kubelet serialises pulls.
    pub pulls: Arc<Semaphore>,
    /// Bytes per second of one pull.
    pub bandwidth: u64,
    /// Bytes per second all of the node's pulls share, when its link is capped.
    pub link: Option<u64>,
    /// Image filesystem capacity, bytes.
    pub disk: u64,
    pub kubelet: KubeletConfig,
    /// Pulls under way, as `ctr content active` lists them.
    pub active: Mutex<Vec<ActivePull>>,
    /// Woken whenever a pull joins or leaves `active`: the pulls sharing a capped link
    /// re-divide it then, and only then.
    pub active_changed: tokio::sync::Notify,
}

/// One image being downloaded: its layer's ingest ref, its size and how fast it comes.
#[derive(Clone, Debug)]
pub struct ActivePull {
    pub reference: String,
    pub size: u64,
    pub started: std::time::Instant,
    /// The bytes received at the last change of rate, and the rate since: one segment for a
    /// pull alone on its node's link, a new one whenever the link's share changes.
    pub segment: Arc<Mutex<Segment>>,
}

/// Where a pull stood at `at`, and its rate from then on.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub at: std::time::Instant,
    pub bytes: f64,
    /// Bytes per simulated second.
    pub per_second: f64,
}

/// Lists a pull as active until dropped, so a pull cut short (its pod deleted) leaves no trace.
/// Two pulls of one image on one node at once (two pods) are two entries, each removed by
/// its own guard: they share a reference, not a record.
pub struct ActiveGuard<'a> {
    node: &'a NodeState,
    segment: Arc<Mutex<Segment>>,
}

impl<'a> ActiveGuard<'a> {
    pub fn start(node: &'a NodeState, pull: ActivePull) -> Self {
        let segment = pull.segment.clone();
        node.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pull);
        node.active_changed.notify_waiters();
        ActiveGuard { node, segment }
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.node
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a| !Arc::ptr_eq(&a.segment, &self.segment));
        self.node.active_changed.notify_waiters();
    }
}

impl NodeState {
    /// Downloads `size` bytes at `rate` (bytes per simulated second) on a link of `link`
    /// bytes per second shared by every pull under way on the node, at `speed` simulated
    /// seconds per real second; returns the simulated seconds it took. The share is worked
    /// out again only when a pull joins or leaves the node (`active_changed`), and `segment`
    /// follows each change of rate, as `ctr content active` reads it.
    pub async fn share_link(
        &self,
        segment: &Mutex<Segment>,
        size: u64,
        rate: f64,
        link: u64,
        speed: f64,
    ) -> f64 {
        let (mut got, mut seconds) = (0.0, 0.0);
        // Within half a byte: float steps must not leave a sliver to chase.
        while size as f64 - got > 0.5 {
            // Listen before counting the sharers: a pull that joins or leaves while they are
            // counted still wakes this one.
            let changed = self.active_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let sharing = self
                .active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len()
                .max(1);
            let share = rate.min(link as f64 / sharing as f64);
            let step = (size as f64 - got) / share;
            let began = tokio::time::Instant::now();
            *segment.lock().unwrap_or_else(|p| p.into_inner()) = Segment {
                at: std::time::Instant::now(),
                bytes: got,
                per_second: share,
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64((step / speed).max(0.0))) => {
                    got = size as f64;
                    seconds += step;
                }
                _ = &mut changed => {
                    let ran = (began.elapsed().as_secs_f64() * speed).min(step);
                    got += share * ran;
                    seconds += ran;
                }
            }
        }
        seconds
    }
}

impl ActivePull {
    /// A pull starting at `started` at `per_second` bytes per simulated second.
    pub fn new(
        reference: String,
        size: u64,
        started: std::time::Instant,
        per_second: f64,
    ) -> ActivePull {
        ActivePull {
            reference,
            size,
            started,
            segment: Arc::new(Mutex::new(Segment {
                at: started,
                bytes: 0.0,
                per_second,
            })),
        }
    }

    /// Bytes received by now, at `speed` simulated seconds per real second.
    pub fn offset(&self, speed: f64) -> u64 {
        let s = *self.segment.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = s.bytes + s.per_second * s.at.elapsed().as_secs_f64() * speed;
        (bytes.max(0.0) as u64).min(self.size)
    }
}

#[derive(Default)]
pub struct World {
    nodes: Mutex<HashMap<String, Arc<NodeState>>>,
    /// Pods (by uid) a kubelet is running.
    running: Mutex<HashSet<String>>,
    last_gc: Mutex<Option<std::time::Instant>>,
    pub lifecycle: lifecycle::Lifecycle,
    /// Execs that reached each node's kubelet, for tests that count what a client costs.
    execs: Mutex<HashMap<String, u64>>,
    /// The scenario's workloads: pods started, and when the next is due.
    workloads: Mutex<workloads::Runs>,
}

impl World {
    pub fn count_exec(&self, node: &str) {
        *self
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node.to_string())
            .or_default() += 1;
    }

    /// Execs so far, by node.
    pub fn execs(&self) -> HashMap<String, u64> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn node(&self, name: &str) -> Option<Arc<NodeState>> {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn lock_nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<NodeState>>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts running a pod once; false when it already runs.
    fn claim(&self, uid: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string())
    }

    fn release(&self, uid: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    fn is_running(&self, uid: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(uid)
    }
}

/// Creates the runtime of every node that has none yet.
fn sync_nodes(sim: &Sim) {
    let (_, nodes) = sim.store.list("Node", None);
    let now = jiff::Timestamp::now().as_second();
    let defaults = &sim.simulation.node_defaults;
    let mut map = sim.world.lock_nodes();
    for node in nodes {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if map.contains_key(&name) {
            continue;
        }
        let annotation = |key: &str| {
            node["metadata"]["annotations"][key]
                .as_str()
                .map(str::to_string)
        };
        let bandwidth = annotation("sim.kpreload.dev/bandwidth")
            .and_then(|b| parse_bytes(b.trim_end_matches("/s")))
            .filter(|b| *b > 0)
            .unwrap_or(defaults.bandwidth);
        let link = annotation("sim.kpreload.dev/link")
            .and_then(|b| parse_bytes(b.trim_end_matches("/s")))
            .filter(|b| *b > 0)
            .or(defaults.link);
        let disk = annotation("sim.kpreload.dev/disk")
            .and_then(|d| parse_bytes(&d))
            .unwrap_or(defaults.disk);
        let kubelet = defaults.kubelet.clone();
        let slots = if kubelet.serialize_image_pulls {
            1
        } else {
            kubelet
                .max_parallel_image_pulls
                .map_or(Semaphore::MAX_PERMITS, |n| n.max(1) as usize)
        };
        map.insert(
            name.clone(),
            Arc::new(NodeState {
                name,
                images: Mutex::new(ImageStore::from_status(&node, now)),
                pulls: Arc::new(Semaphore::new(slots)),
                bandwidth,
                link,
                disk,
                kubelet,
                active: Mutex::new(Vec::new()),
                active_changed: Default::default(),
            }),
        );
    }
}

/// The kubelets' image GC, every five simulated minutes on every node (and after pulls,
/// from the kubelet). A node whose images changed republishes its `status.images`.
fn collect_garbage(sim: &Sim) {
    let now = jiff::Timestamp::now().as_second();
    let period = (300.0 / sim.simulation.speed).max(0.05);
    {
        let mut last = sim.world.last_gc.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t: std::time::Instant| t.elapsed().as_secs_f64() < period) {
            return;
        }
        *last = Some(std::time::Instant::now());
    }
    let nodes: Vec<Arc<NodeState>> = sim.world.lock_nodes().values().cloned().collect();
    for node in nodes {
        if gc::collect(sim, &node, now) > 0 {
            kubelet::publish_node_images(sim, &node);
        }
    }
}

/// The controllers, the scheduler and the kubelets, running on threads of their own; they
/// stop when this is stopped or dropped (its sender gone, their loop ends).
pub struct Machinery {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Machinery {
    pub fn stop(self) {}
}

/// Starts the controllers, the scheduler and the kubelets. Each pass looks at the whole
/// state; passes run at start and after every burst of changes (time-based work, such as a
/// kubelet's back-off, runs in the pod's own task).
///
/// They run on a runtime and threads of their own, not among the API's handlers: in a
/// cluster they run on the nodes and the control plane's machines, and a 5,000-node
/// rollout's passes (each a look at the whole state) must not queue the API's answers and
/// watch events behind them. The kernel shares the cores between the two.
pub fn spawn(sim: Arc<Sim>) -> std::io::Result<Machinery> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sim-world")
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("sim-world".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = run(sim) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every pod's task with it.
        })?;
    Ok(Machinery { _stop: stop })
}

async fn run(sim: Arc<Sim>) {
    let mut live = sim.store.subscribe(None).ok().map(|s| s.live);
    loop {
        sync_nodes(&sim);
        lifecycle::pass(&sim);
        collect_garbage(&sim);
        controller::reconcile(&sim);
        workloads::pass(&sim);
        scheduler::schedule(&sim);
        kubelet::start_pods(&sim);
        let Some(rx) = live.as_mut() else { return };
        // Wake on a change, or when the image GC is due.
        // Wake on a change, or in time for the GC, the next heartbeat or a grace period.
        let gc_period = Duration::from_secs_f64((300.0 / sim.simulation.speed).clamp(0.05, 1.0));
        tokio::select! {
            received = rx.recv() => match received {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(
                workloads::next_due(&sim).map_or(gc_period, |d| d.min(gc_period))
            ) => {}
        }
        // Let a burst of changes settle into one pass.
        tokio::time::sleep(Duration::from_millis(15)).await;
        while rx.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn node(link: Option<u64>) -> NodeState {
        NodeState {
            name: "n".into(),
            images: Mutex::new(Default::default()),
            pulls: Arc::new(Semaphore::new(2)),
            bandwidth: 1000,
            link,
            disk: 1,
            kubelet: Default::default(),
            active: Mutex::new(Vec::new()),
            active_changed: Default::default(),
        }
    }

    fn refs(node: &NodeState) -> Vec<String> {
        node.active
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.reference.clone())
            .collect()
    }

    #[test]
    fn two_pulls_of_one_image_on_a_node_are_two_entries_each_removed_by_its_own_end() {
        let node = node(None);
        let pull = || ActivePull::new("layer-sha256:same".into(), 10, Instant::now(), 1.0);
        let first = ActiveGuard::start(&node, pull());
        let second = ActiveGuard::start(&node, pull());
        assert_eq!(refs(&node).len(), 2);
        drop(first);
        // The other pod's pull is still under way: still listed, still sharing the link.
        assert_eq!(refs(&node), ["layer-sha256:same"]);
        drop(second);
        assert!(refs(&node).is_empty());
    }

    /// A lone pull on a capped link keeps its one segment from start to end (nothing to
    /// re-divide, so nothing wakes it), and a second pull joining splits the link at once.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_capped_link_is_divided_again_only_when_a_pull_joins_or_leaves() {
        let node = Arc::new(node(Some(100)));
        {
            let alone = ActivePull::new("a".into(), 1000, Instant::now(), 80.0);
            let segment = alone.segment.clone();
            let _a = ActiveGuard::start(&node, alone);
            // 1000 bytes at 80 B/s (under the 100 B/s link): 12.5 s, one segment.
            let seconds = node.share_link(&segment, 1000, 80.0, 100, 1.0).await;
            assert!((seconds - 12.5).abs() < 1e-6, "{seconds}");
            let s = *segment.lock().unwrap();
            assert_eq!(
                (s.bytes, s.per_second),
                (0.0, 80.0),
                "one segment for a lone pull"
            );
        }

        // Two pulls at once: the first alone for 5 s at 80 B/s (400 bytes), then both at
        // 50 B/s: its other 600 bytes take 12 s, 17 s in all. The second, 600 bytes at
        // 50 B/s, ends at the same moment.
        let first = ActivePull::new("b".into(), 1000, Instant::now(), 80.0);
        let first_segment = first.segment.clone();
        let _b = ActiveGuard::start(&node, first);
        let late = {
            let node = node.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let pull = ActivePull::new("c".into(), 600, Instant::now(), 80.0);
                let seg = pull.segment.clone();
                let _c = ActiveGuard::start(&node, pull);
                node.share_link(&seg, 600, 80.0, 100, 1.0).await
            })
        };
        let first = node.share_link(&first_segment, 1000, 80.0, 100, 1.0).await;
        let second = late.await.unwrap();
        assert!((first - 17.0).abs() < 0.01, "first: {first}");
        assert!((second - 12.0).abs() < 0.01, "second: {second}");
    }
}
