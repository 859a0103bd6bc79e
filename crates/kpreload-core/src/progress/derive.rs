//! Deriving the overview, again and again as the watches change: a [`Deriver`] remembers
//! the nodes in order, which of them each pool's placement covers, and each pool's progress
//! with what it was derived from. A change to one pool's DaemonSet, pods, events or nodes
//! derives that pool again; the others are taken as they were. Within a pool derived again,
//! a preloader pod whose object and events are the ones read before is not read again. During
//! a rollout on 5,000 nodes that is the changed pods' work per change, not every pod's.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;

use super::*;
use events::{ByPod, EventIndex, Slot};
use nodes::{NodeTable, Row};

mod events;
mod nodes;

/// How many happenings a pool keeps.
const RECENT: usize = 50;

/// A map with a fast hash (foldhash, seeded per map): keys here are uids and names, read
/// tens of thousands of times a derivation, where SipHash took a quarter of it.
pub(super) type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Derives overviews from snapshots one after another, reusing what did not change.
#[derive(Default)]
pub struct Deriver {
    nodes: NodeTable,
    /// By the first DaemonSet's namespace and name.
    pools: HashMap<(String, String), Cached>,
    events: EventIndex,
    /// The preloader pods read, by address (each holds its pod: the address is never one of
    /// a freed pod), with the round of the derivation that last used each.
    reads: Reads,
    round: u64,
    last: (usize, usize),
    /// The pods read anew in the last derivation.
    read_anew: usize,
}

/// What one preloader pod says of its node, and what that was read from: used again while
/// the pod and its events are the same objects, in the same order.
struct Read {
    pod: Arc<Pod>,
    node: String,
    events: Vec<Arc<Event>>,
    /// Where its events were found: the next derivation finds them there without looking
    /// its uid up again.
    slot: Option<Slot>,
    progress: NodeProgress,
    /// Shared with every derivation that reuses the read.
    happened: Arc<[(Timestamp, Arc<Event>)]>,
    /// The round that read it.
    made: u64,
}

type Reads = Fast<*const Pod, (u64, Read)>;

/// A happening told on a node: when, the node, the event.
type Told<'a> = (Timestamp, &'a str, &'a Arc<Event>);

/// A member's newest pod on each node, by the node's row (a node not in the rows is none
/// of the pool's).
type PodOn<'a> = Fast<usize, &'a Arc<Pod>>;

impl Read {
    fn new(pod: &Arc<Pod>, node: &str, by: &ByPod, made: u64) -> Read {
        let slot = by.slot(pod);
        let events = slot.map_or(&[][..], |s| by.at(s));
        let (progress, happened) = node_from_pod(node, pod, events);
        Read {
            pod: pod.clone(),
            node: node.to_string(),
            events: events.iter().map(|e| (*e).clone()).collect(),
            slot,
            progress,
            happened: happened
                .into_iter()
                .map(|(at, e)| (at, e.clone()))
                .collect(),
            made,
        }
    }

    fn holds(&self, pod: &Arc<Pod>, node: &str, by: &ByPod) -> bool {
        Arc::ptr_eq(&self.pod, pod) && self.node == node && same(&self.events, self.events_now(by))
    }

    /// The pod's events in this derivation.
    fn events_now<'a, 'b>(&self, by: &'b ByPod<'a>) -> &'b [&'a Arc<Event>] {
        match self.slot {
            Some(s) if by.current(s) => by.at(s),
            _ => by.of(&self.pod),
        }
    }
}

/// The reads of one derivation: the last ones stay where they are, and those this round
/// uses (again or anew) are marked with it; the unmarked go at the end. Nothing is moved
/// from one map to another: on 5,000 pods that moving was a tenth of a derivation.
struct Reading<'r> {
    reads: &'r mut Reads,
    round: u64,
    anew: usize,
}

impl Reading<'_> {
    /// What `pod` on `node` says, read again only when it or its events changed.
    fn read(&mut self, pod: &Arc<Pod>, node: &str, events: &ByPod) -> &Read {
        let key = Arc::as_ptr(pod);
        let round = self.round;
        let anew = &mut self.anew;
        let entry = self
            .reads
            .entry(key)
            .and_modify(|(at, r)| {
                // Already read this round (a pod of two members' rows), or still holding.
                if *at != round && !r.holds(pod, node, events) {
                    *anew += 1;
                    *r = Read::new(pod, node, events, round);
                }
                *at = round;
            })
            .or_insert_with(|| {
                *anew += 1;
                (round, Read::new(pod, node, events, round))
            });
        &entry.1
    }

    /// Whether what `pod` said when a pool was last derived still holds, with its events
    /// as they are now. A pod read again this round (for another pool that it also belongs
    /// to) does not: what was derived from it is of its earlier reading.
    fn holds(&self, pod: &Arc<Pod>, by: &ByPod) -> bool {
        self.reads.get(&Arc::as_ptr(pod)).is_some_and(|(_, r)| {
            r.made != self.round && Arc::ptr_eq(&r.pod, pod) && same(&r.events, r.events_now(by))
        })
    }

    /// Keeps what `pod` said for the next derivation.
    fn keep(&mut self, pod: &Arc<Pod>) {
        if let Some((at, _)) = self.reads.get_mut(&Arc::as_ptr(pod)) {
            *at = self.round;
        }
    }

    /// Forgets the reads this round did not use.
    fn finish(self) -> usize {
        let round = self.round;
        self.reads.retain(|_, (at, _)| *at == round);
        self.anew
    }
}

/// One pool's progress and what it came from, held (not only pointed at) so that an address
/// is never mistaken for an object freed and allocated again.
struct Cached {
    daemonsets: Vec<Arc<DaemonSet>>,
    /// Per member, its pods in the snapshot's order.
    pods: Vec<Vec<Arc<Pod>>>,
    /// Those of them read (the newest on each node), whose events matter.
    read: Vec<Arc<Pod>>,
    /// The rows the pool served, with their versions then.
    nodes: Vec<(usize, u64)>,
    rows: u64,
    coverage: u64,
    now: Timestamp,
    /// Whether the nodes' runtimes were read on any of its nodes: then it is derived again
    /// every time, until a derivation without them (a reading forgotten counts as a change).
    live: bool,
    progress: Arc<PoolProgress>,
}

fn same<T>(a: &[Arc<T>], b: &[&Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

impl Deriver {
    /// Of the pools of the last derivation: how many were derived, and how many taken as
    /// they were.
    pub fn last(&self) -> (usize, usize) {
        self.last
    }

    /// How many preloader pods the last derivation read anew (the others' reading held).
    pub fn pods_read(&self) -> usize {
        self.read_anew
    }

    /// The overview of `snapshot` at `now`, with what the nodes' runtimes said of the pulls
    /// under way (`live`); the same as a fresh derivation, only faster when little changed.
    pub fn derive(
        &mut self,
        snapshot: &Snapshot,
        now: Timestamp,
        live: &bytes::Tracker,
    ) -> Overview {
        self.nodes.update(&snapshot.nodes);
        let groups = super::super::adopt::group(snapshot.daemonsets.iter().map(|d| d.as_ref()));
        let arcs: Fast<*const DaemonSet, &Arc<DaemonSet>> = snapshot
            .daemonsets
            .iter()
            .map(|d| (Arc::as_ptr(d), d))
            .collect();

        let events = self.events.group(&snapshot.events);
        let mut pods_by_owner: Fast<&str, Vec<&Arc<Pod>>> = Fast::default();
        for p in &snapshot.pods {
            for o in p.metadata.owner_references.iter().flatten() {
                if o.kind == "DaemonSet" {
                    pods_by_owner.entry(o.uid.as_str()).or_default().push(p);
                }
            }
        }
        // Both stay in the snapshot's order, which derivation reads (of two copies of one pod,
        // the first is taken), and which is compared: the watches keep it from one state to
        // the next.
        self.round += 1;
        let mut reading = Reading {
            reads: &mut self.reads,
            round: self.round,
            anew: 0,
        };

        let mut served = vec![false; self.nodes.rows.len()];
        let mut pools = Vec::new();
        let mut kept: HashMap<(String, String), Cached> = HashMap::new();
        self.last = (0, 0);
        for group in groups {
            let ds = group.daemonsets[0];
            let key = (
                ds.metadata.namespace.clone().unwrap_or_default(),
                ds.metadata.name.clone().unwrap_or_default(),
            );
            let preloader = match &group.preloader {
                Ok(p) => p,
                Err(problem) => {
                    pools.push(Arc::new(unreadable(&group, problem)));
                    continue;
                }
            };
            let coverage = self.nodes.coverage(&preloader.pool);
            let members: Vec<&Arc<DaemonSet>> = group
                .daemonsets
                .iter()
                .map(|d| arcs[&(*d as *const DaemonSet)])
                .collect();
            let member_pods: Vec<&[&Arc<Pod>]> = group
                .daemonsets
                .iter()
                .map(|d| {
                    let uid = d.metadata.uid.as_deref().unwrap_or_default();
                    pods_by_owner
                        .get(uid)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                })
                .collect();
            let cov = &self.nodes.coverage[coverage];
            let rows = &self.nodes.rows;
            let reusable = self.pools.remove(&key).filter(|c| {
                c.now == now
                    && c.rows == self.nodes.generation
                    && c.coverage == cov.generation
                    && same(&c.daemonsets, &members)
                    && c.pods.len() == member_pods.len()
                    && c.pods.iter().zip(&member_pods).all(|(a, b)| same(a, b))
                    && c.read.iter().all(|p| reading.holds(p, &events))
                    && c.nodes.iter().all(|(i, v)| rows[*i].version == *v)
                    && !c.live
                    && c.nodes.iter().all(|(i, _)| !live.knows(&rows[*i].name))
            });
            let cached = match reusable {
                Some(c) => {
                    self.last.1 += 1;
                    for p in &c.read {
                        reading.keep(p);
                    }
                    c
                }
                None => {
                    self.last.0 += 1;
                    let (progress, on, read) = pool_progress(
                        &group,
                        preloader,
                        &member_pods,
                        &events,
                        &mut reading,
                        (rows, &self.nodes.at),
                        &cov.covers,
                        now,
                        live,
                    );
                    Cached {
                        daemonsets: members.iter().map(|d| (*d).clone()).collect(),
                        pods: member_pods
                            .iter()
                            .map(|ps| ps.iter().map(|p| (*p).clone()).collect())
                            .collect(),
                        read,
                        nodes: on.iter().map(|i| (*i, rows[*i].version)).collect(),
                        rows: self.nodes.generation,
                        coverage: cov.generation,
                        now,
                        live: on.iter().any(|i| live.knows(&rows[*i].name)),
                        progress: Arc::new(progress),
                    }
                }
            };
            for (i, _) in &cached.nodes {
                served[*i] = true;
            }
            pools.push(cached.progress.clone());
            kept.insert(key, cached);
        }
        self.pools = kept;
        self.read_anew = reading.finish();
        pools.sort_by(|a, b| {
            super::super::natural::cmp(&a.pool, &b.pool)
                .then(super::super::natural::cmp(&a.daemonset, &b.daemonset))
        });
        let unpooled = self
            .nodes
            .rows
            .iter()
            .zip(&served)
            .filter(|(_, s)| !**s)
            .map(|(r, _)| r.name.clone())
            .collect();
        Overview { pools, unpooled }
    }
}

/// The pool of a DaemonSet that cannot be read as a preloader, with why.
fn unreadable(group: &super::super::adopt::Group, problem: &str) -> PoolProgress {
    let ds = group.daemonsets[0];
    let name = ds.metadata.name.clone().unwrap_or_default();
    PoolProgress {
        pool: super::super::adopt::pool_name_from_daemonset(&name).unwrap_or(name.clone()),
        namespace: ds.metadata.namespace.clone().unwrap_or_default(),
        daemonset: name,
        shards: shards(group),
        origin: Origin::HandWritten,
        images: Vec::new(),
        nodes: Vec::new(),
        throughput: None,
        eta_seconds: None,
        slowest: None,
        recent: Vec::new(),
        problem: Some(problem.to_string()),
        warning: None,
        pull_secrets: Vec::new(),
    }
}

/// The shards' names whenever the pool is, or was meant to be, split: a split with one shard
/// left names that one.
fn shards(group: &super::super::adopt::Group) -> Vec<String> {
    let split = group.daemonsets.len() > 1
        || group.daemonsets.iter().any(|d| {
            d.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(LABEL_SHARD))
        });
    if !split {
        return Vec::new();
    }
    group
        .daemonsets
        .iter()
        .map(|d| d.metadata.name.clone().unwrap_or_default())
        .collect()
}

/// One pool's progress over the rows (nodes in order) its placement covers or its pods are
/// on, and which rows those are.
#[allow(clippy::too_many_arguments)]
fn pool_progress(
    group: &super::super::adopt::Group,
    preloader: &super::super::adopt::Preloader,
    member_pods: &[&[&Arc<Pod>]],
    events: &ByPod,
    reading: &mut Reading,
    (rows, at): (&[Row], &Fast<String, usize>),
    covered: &[bool],
    now: Timestamp,
    live: &bytes::Tracker,
) -> (PoolProgress, Vec<usize>, Vec<Arc<Pod>>) {
    let ds = group.daemonsets[0];
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let name = ds.metadata.name.clone().unwrap_or_default();
    // Per DaemonSet of the pool (one, or its shards): the images it pulls, and the newest
    // pod on each node (after an edit, the re-rolled one).
    let members: Vec<(Vec<String>, PodOn)> = group
        .parts
        .iter()
        .zip(member_pods)
        .map(|(part, pods)| {
            let own: Vec<String> = part.iter().map(|i| i.to_string()).collect();
            let mut pod_on: PodOn = Fast::default();
            for p in pods.iter() {
                // Bound, or (pending) tied to its node by the controller's affinity.
                let Some(row) = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_for())
                    .and_then(|node| at.get(node).copied())
                else {
                    continue;
                };
                let newer = pod_on.get(&row).is_none_or(|q| {
                    (&p.metadata.creation_timestamp, &p.metadata.name)
                        > (&q.metadata.creation_timestamp, &q.metadata.name)
                });
                if newer {
                    pod_on.insert(row, p);
                }
            }
            (own, pod_on)
        })
        .collect();
    let images: Vec<String> = preloader
        .pool
        .images
        .iter()
        .map(|i| i.to_string())
        .collect();
    let mut node_progress = Vec::new();
    // Nodes with no pod of a member where one is due: (node, member, what to say).
    let mut missing: Vec<(usize, usize, PodTrouble)> = Vec::new();
    let mut pool_nodes: Vec<&Node> = Vec::new();
    let mut on = Vec::new();
    let mut read = Vec::new();
    let mut recent = Vec::new();
    // The rows the placement covers or a pod of the pool is on, in order: a pool of 500 nodes
    // looks at 500 rows, not at every node of the cluster.
    let mut wanted: Vec<usize> = covered
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.then_some(i))
        .collect();
    for (_, pod_on) in &members {
        wanted.extend(pod_on.keys().copied().filter(|i| !covered[*i]));
    }
    wanted.sort_unstable();
    wanted.dedup();
    for row in wanted {
        let r = &rows[row];
        let (node, name) = (r.node.as_ref(), &r.name);
        let pods: Vec<Option<&Arc<Pod>>> = members
            .iter()
            .map(|(_, on)| on.get(&row).copied())
            .collect();
        if pods.iter().all(Option::is_none) && !covered[row] {
            continue;
        }
        on.push(row);
        pool_nodes.push(node);
        // One member with its pod on the node (most pools, most nodes): its images are the
        // read's, shared. Else they are gathered.
        let single = members.len() == 1;
        let mut shared = None;
        let mut images = Vec::new();
        let mut progress = NodeProgress {
            node: name.clone(),
            pod: None,
            images: Arc::default(),
            rate: None,
            eta_seconds: None,
            trouble: None,
            running: true,
        };
        let mut happened = Vec::new();
        for (m, (((own, _), pod), member)) in
            members.iter().zip(pods).zip(&group.daemonsets).enumerate()
        {
            match pod {
                Some(pod) => {
                    let part = reading.read(pod, name, events);
                    progress.pod = progress.pod.or_else(|| part.progress.pod.clone());
                    if single {
                        shared = Some(part.progress.images.clone());
                    } else {
                        images.extend(part.progress.images.iter().cloned());
                    }
                    progress.trouble = progress.trouble.or_else(|| part.progress.trouble.clone());
                    progress.running &= part.progress.running;
                    happened.push(part.happened.clone());
                    read.push((*pod).clone());
                }
                None => {
                    images.extend(own.iter().map(|i| ImageProgress {
                        image: i.clone(),
                        container: String::new(),
                        state: ImageState::Queued,
                    }));
                    if let Some(t) = missing_pod(member, node, now) {
                        missing.push((node_progress.len(), m, t));
                    }
                    progress.running = false;
                }
            }
        }
        progress.images = shared.unwrap_or_else(|| Arc::new(images));
        if !progress.images.iter().all(|i| i.state.is_done())
            && let Some(t) = node::kubelet_too_old(node, &group.daemonsets)
        {
            progress.trouble = Some(t);
        }
        if group.shape.is_some() && members.len() > 1 {
            // DaemonSets of two shapes at once can both pull one image: it is one image on
            // the node, counted once.
            once_per_image(Arc::make_mut(&mut progress.images));
        }
        let seconds = progress.pull_seconds();
        if seconds > 0.0 {
            progress.rate = Some(progress.bytes() as f64 / seconds);
        }
        node_progress.push(progress);
        recent.extend(happened.into_iter().map(|h| (name.as_str(), h)));
    }
    // Only the latest are kept, and only those are sorted and copied: in time and name
    // order, and of those alike, in the order they were told (as a stable sort would).
    let order = |a: &(usize, &Told), b: &(usize, &Told)| {
        (a.1.0, &a.1.2.metadata.name, a.0).cmp(&(b.1.0, &b.1.2.metadata.name, b.0))
    };
    // Each node's happenings, as its reads hold them, in order.
    let recent: Vec<Told> = recent
        .iter()
        .flat_map(|(node, h)| h.iter().map(move |(at, e)| (*at, *node, e)))
        .collect();
    let mut latest: Vec<(usize, &Told)> = recent.iter().enumerate().collect();
    if latest.len() > RECENT {
        let from = latest.len() - RECENT;
        latest.select_nth_unstable_by(from, order);
        latest.drain(..from);
    }
    latest.sort_unstable_by(order);
    let recent: Vec<Happening> = latest
        .iter()
        .map(|(_, (at, node, e))| Happening {
            at: *at,
            node: node.to_string(),
            warning: e.type_.as_deref() == Some("Warning"),
            text: e.message.clone().unwrap_or_default(),
        })
        .collect();
    // Told only when the DaemonSet itself counts at least as many pods missing as there are
    // nodes kpreload finds without one: else which of them it means cannot be told (a
    // scale-up elsewhere), and nothing is said.
    for (i, member) in group.daemonsets.iter().enumerate() {
        let short = member.status.as_ref().map_or(0, |s| {
            (s.desired_number_scheduled - s.current_number_scheduled).max(0)
        }) as usize;
        let here: Vec<&(usize, usize, PodTrouble)> =
            missing.iter().filter(|(_, m, _)| *m == i).collect();
        if !here.is_empty() && here.len() <= short {
            for (node, _, trouble) in here {
                let n = &mut node_progress[*node];
                n.trouble = n.trouble.take().or_else(|| Some(trouble.clone()));
            }
        }
    }
    let mut pool = PoolProgress {
        pool: preloader.pool.name.clone(),
        namespace,
        daemonset: name,
        shards: shards(group),
        origin: preloader.origin,
        images,
        nodes: node_progress,
        throughput: None,
        eta_seconds: None,
        slowest: None,
        recent,
        problem: None,
        warning: group.shape.clone(),
        pull_secrets: preloader.pool.pull_secrets.clone(),
    };
    estimate::estimate(&mut pool, &pool_nodes, now, live);
    (pool, on, read)
}
