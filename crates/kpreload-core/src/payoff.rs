//! The payoff of preloading, from the kubelet's own words about every container start of
//! the workloads: `Container image "X" already present on machine` (a hit), or `Successfully
//! pulled image "X" in 15.981s (15.981s including waiting)` (a miss, and what it cost).
//!
//! Per pool: the hit rate, the seconds workloads spent pulling (and the part of it spent
//! waiting behind other pulls, the cost of serial pulls), and the images they pulled, ranked
//! by the seconds they cost, each marked preloaded, not preloaded, evicted (preloaded, yet
//! pulled) or drifted (another version of it preloaded). The images not preloaded that cost
//! the most become suggestions.
//!
//! Memory is bounded: a rolling window per pool (the last [`LIMIT`] starts, none older than
//! [`HORIZON`]), and a bounded queue for starts that arrive before the pools are known.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::objects::Event;
use crate::progress::messages::{Said, read};
use crate::reference::ImageRef;

/// The most starts kept per pool.
pub const LIMIT: usize = 2_000;
/// How far back a start counts, in seconds (the API server keeps events an hour by default;
/// a watch that runs longer sees more).
pub const HORIZON: i64 = 24 * 3600;
/// The most starts held while the pools are not known yet.
pub const PENDING: usize = 10_000;
/// Suggestions per pool, at most.
pub const SUGGESTIONS: usize = 3;

/// What the kubelet said about one container's image at one start.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `already present on machine`: the start did not wait for a pull.
    Present,
    /// `Pulling image`: a pull under way (or one whose end was not seen).
    Pulling,
    /// `Successfully pulled image "X" in S (T including waiting)`.
    Pulled {
        /// The kubelet's pull time.
        seconds: f64,
        /// What the start waited in all (the pull and the wait for other pulls before it);
        /// `seconds` when the kubelet does not say.
        total: f64,
        bytes: Option<u64>,
    },
    /// `Failed to pull image` / `Back-off pulling image`.
    Failed,
}

impl Outcome {
    fn rank(&self) -> u8 {
        match self {
            Outcome::Pulling => 0,
            Outcome::Failed => 1,
            Outcome::Present | Outcome::Pulled { .. } => 2,
        }
    }
}

/// One container start of a workload, as one kubelet event tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub node: Arc<str>,
    pub namespace: Arc<str>,
    pub pod: Arc<str>,
    /// The pod's UID (with the image, what makes two events one start).
    pub uid: Arc<str>,
    /// The image as the pod's spec writes it.
    pub image: Arc<str>,
    /// Seconds since the epoch (the event's last time).
    pub at: i64,
    pub outcome: Outcome,
}

/// The start an event tells of: a kubelet event about a pod's image (`Pulled`, `Pulling`,
/// `Failed`, `BackOff`), with the node it came from. Anything else is `None`.
pub fn start_of(e: &Event) -> Option<Start> {
    if e.involved_object.kind.as_deref() != Some("Pod") {
        return None;
    }
    let (image, said) = read(e.message.as_deref()?)?;
    let outcome = match said {
        Said::Present => Outcome::Present,
        Said::Pulling => Outcome::Pulling,
        Said::Pulled { seconds, bytes } => {
            let seconds = seconds?;
            let total = e
                .message
                .as_deref()
                .and_then(including_waiting)
                .unwrap_or(seconds)
                .max(seconds);
            Outcome::Pulled {
                seconds,
                total,
                bytes,
            }
        }
        Said::Failed | Said::BackOff => Outcome::Failed,
    };
    let node = e
        .source
        .as_ref()
        .and_then(|s| s.host.as_deref())
        .or(e.reporting_instance.as_deref())
        .filter(|h| !h.is_empty())?;
    let o = &e.involved_object;
    let at = e
        .last_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .or(e.event_time.as_ref().map(|t| t.0.as_second()))
        .or(e.first_timestamp.as_ref().map(|t| t.0.as_second()))
        .or(e
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second()))?;
    Some(Start {
        node: node.into(),
        namespace: o.namespace.as_deref().unwrap_or_default().into(),
        pod: o.name.as_deref().unwrap_or_default().into(),
        uid: o.uid.as_deref().filter(|u| !u.is_empty())?.into(),
        image: image.into(),
        at,
        outcome,
    })
}

/// The `(T including waiting)` of a `Successfully pulled` message, in seconds.
fn including_waiting(message: &str) -> Option<f64> {
    let before = message.split(" including waiting)").next()?;
    if before.len() == message.len() {
        return None;
    }
    let text = before.rsplit('(').next()?;
    crate::progress::messages::go_duration_seconds(text.trim())
}

/// One pool as the window needs it: which nodes it covers, what it preloads, and its
/// preloaders' own pods (whose pulls are not a workload's).
#[derive(Clone, Debug, Default)]
pub struct PoolScope {
    pub pool: String,
    pub nodes: HashSet<String>,
    /// What it preloads.
    pub images: Vec<ImageRef>,
    /// `(namespace, DaemonSet name)` of its preloaders.
    pub preloaders: Vec<(String, String)>,
    /// Per node, the images (bits by their place in `images`) its preloader pod has pulled
    /// there: the init containers that ended with exit 0.
    pub done: HashMap<String, u128>,
}

impl PoolScope {
    /// Whether the preloader has pulled image number `i` of the list on `node`.
    pub fn preloaded_on(&self, node: &str, i: usize) -> bool {
        i < 128 && self.done.get(node).is_some_and(|m| m & (1u128 << i) != 0)
    }
}

/// Every pool's scope, and which pools each node is in.
#[derive(Clone, Debug, Default)]
pub struct Scopes {
    pub pools: Vec<PoolScope>,
    by_node: HashMap<String, Vec<usize>>,
    /// Each pool's images, normalised, with their place in its list.
    preloaded: Vec<HashMap<String, usize>>,
}

impl Scopes {
    pub fn new(pools: Vec<PoolScope>) -> Scopes {
        let mut by_node: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in pools.iter().enumerate() {
            for n in &p.nodes {
                by_node.entry(n.clone()).or_default().push(i);
            }
        }
        let preloaded = pools
            .iter()
            .map(|p| {
                p.images
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.normalized(), i))
                    .collect()
            })
            .collect();
        Scopes {
            pools,
            by_node,
            preloaded,
        }
    }

    /// Every pool's figures; `headroom` gives a pool's least room before image GC.
    pub fn figures(&self, window: &Window, headroom: impl Fn(&str) -> Option<i64>) -> Vec<Figures> {
        self.pools
            .iter()
            .map(|p| window.figures(&p.pool, &p.images, headroom(&p.pool)))
            .collect()
    }

    /// From the cluster's objects: each preloader pool (a split one once) and the nodes its
    /// DaemonSets run on by their selector and tolerations.
    pub fn of(s: &crate::progress::Snapshot) -> Scopes {
        let nodes: Vec<(&str, &std::collections::BTreeMap<String, String>, Vec<_>)> = s
            .nodes
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.as_deref()?,
                    n.metadata.labels.as_ref()?,
                    crate::selector::Taint::of_node(n),
                ))
            })
            .collect();
        // The preloader pods by their DaemonSet's uid: on which node, which images done.
        let mut finished: HashMap<&str, Vec<(&str, Vec<String>)>> = HashMap::new();
        for pod in &s.pods {
            let Some(node) = pod.spec.as_ref().and_then(|sp| sp.node_name.as_deref()) else {
                continue;
            };
            let Some(owner) = pod.metadata.owner_references.iter().flatten().next() else {
                continue;
            };
            let specs = pod
                .spec
                .iter()
                .flat_map(|sp| sp.init_containers.iter().flatten());
            let done: Vec<String> = pod
                .one_shot_init_statuses()
                .into_iter()
                .filter(|c| {
                    c.state
                        .as_ref()
                        .and_then(|st| st.terminated.as_ref())
                        .is_some_and(|t| t.exit_code == 0)
                })
                .filter_map(|c| {
                    let image = specs
                        .clone()
                        .find(|sp| sp.name == c.name)?
                        .image
                        .as_deref()?;
                    Some(ImageRef::parse(image).ok()?.normalized())
                })
                .collect();
            finished
                .entry(owner.uid.as_str())
                .or_default()
                .push((node, done));
        }
        let mut pools: Vec<PoolScope> = Vec::new();
        for g in crate::adopt::group(s.daemonsets.iter().map(|d| d.as_ref())) {
            let Ok(p) = g.preloader else { continue };
            let place: HashMap<String, usize> = p
                .pool
                .images
                .iter()
                .enumerate()
                .map(|(i, r)| (r.normalized(), i))
                .collect();
            let mut done: HashMap<String, u128> = HashMap::new();
            for d in &g.daemonsets {
                let Some(uid) = d.metadata.uid.as_deref() else {
                    continue;
                };
                for (node, images) in finished.get(uid).into_iter().flatten() {
                    let mask = done.entry(node.to_string()).or_default();
                    for i in images.iter().filter_map(|n| place.get(n)) {
                        if *i < 128 {
                            *mask |= 1u128 << i;
                        }
                    }
                }
            }
            let preloaders = g
                .daemonsets
                .iter()
                .filter_map(|d| {
                    Some((
                        d.metadata.namespace.clone()?,
                        d.metadata.name.clone()?.to_string(),
                    ))
                })
                .collect();
            let covered = nodes
                .iter()
                .filter(|(_, labels, taints)| p.pool.covers(labels, taints))
                .map(|(n, _, _)| n.to_string())
                .collect();
            // Two DaemonSets that read as one pool name (two namespaces) stay apart.
            pools.push(PoolScope {
                pool: p.pool.name.clone(),
                nodes: covered,
                images: p.pool.images.clone(),
                preloaders,
                done,
            });
        }
        Scopes::new(pools)
    }

    /// Whether a start is a preloader's own (its pod is one of a pool's DaemonSets').
    fn is_preloader(&self, s: &Start) -> bool {
        self.pools.iter().any(|p| {
            p.preloaders.iter().any(|(ns, ds)| {
                *ns == *s.namespace
                    && s.pod.len() > ds.len() + 1
                    && s.pod.starts_with(ds.as_str())
                    && s.pod.as_bytes()[ds.len()] == b'-'
            })
        })
    }
}

/// One start as a pool keeps it.
#[derive(Clone, Debug)]
struct Kept {
    uid: Arc<str>,
    /// Normalised.
    image: Arc<str>,
    at: i64,
    outcome: Outcome,
    /// Whether the pool's preloader had pulled the image on the start's node when the start
    /// was seen (the pool listing it is not enough: a rollout takes a while).
    preloaded: bool,
}

/// The rolling window of workload starts, per pool.
#[derive(Clone, Debug)]
pub struct Window {
    pools: BTreeMap<String, VecDeque<Kept>>,
    pending: VecDeque<Start>,
    /// Normalised names, parsed once per text.
    names: HashMap<Arc<str>, Option<Arc<str>>>,
    limit: usize,
    horizon: i64,
    /// Starts on nodes no pool covers, and the preloaders' own, since the window began.
    pub outside: u64,
    pub preloaders: u64,
}

impl Default for Window {
    fn default() -> Window {
        Window::new(LIMIT, HORIZON)
    }
}

impl Window {
    pub fn new(limit: usize, horizon: i64) -> Window {
        Window {
            pools: BTreeMap::new(),
            pending: VecDeque::new(),
            names: HashMap::new(),
            limit: limit.max(1),
            horizon,
            outside: 0,
            preloaders: 0,
        }
    }

    /// Starts kept, pending ones included: what the window holds in memory.
    pub fn retained(&self) -> usize {
        self.pools.values().map(VecDeque::len).sum::<usize>() + self.pending.len()
    }

    /// Holds a start until the pools are known ([`Window::settle`]).
    pub fn defer(&mut self, start: Start) {
        if self.pending.len() >= PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(start);
    }

    /// Records the starts held back, now that the pools are known.
    pub fn settle(&mut self, scopes: &Scopes, now: i64) {
        for s in std::mem::take(&mut self.pending) {
            self.record(s, scopes, now);
        }
    }

    fn normalized(&mut self, text: &Arc<str>) -> Option<Arc<str>> {
        if let Some(n) = self.names.get(text) {
            return n.clone();
        }
        if self.names.len() >= 20_000 {
            self.names.clear();
        }
        let n: Option<Arc<str>> = ImageRef::parse(text).ok().map(|r| r.normalized().into());
        self.names.insert(text.clone(), n.clone());
        n
    }

    /// Records one start in every pool whose nodes it ran on (none: counted as outside).
    /// Two events of one pod's image are one start: a later word replaces an earlier one
    /// (`Pulling` then `Pulled`), a restart (the same words again) is not counted again.
    pub fn record(&mut self, start: Start, scopes: &Scopes, now: i64) {
        if scopes.is_preloader(&start) {
            self.preloaders += 1;
            return;
        }
        let Some(pools) = scopes.by_node.get(&*start.node) else {
            self.outside += 1;
            return;
        };
        let Some(image) = self.normalized(&start.image) else {
            return;
        };
        let cutoff = now - self.horizon;
        if start.at < cutoff {
            return;
        }
        for &i in pools {
            let scope = &scopes.pools[i];
            let preloaded = scopes.preloaded[i]
                .get(&*image)
                .is_some_and(|at| scope.preloaded_on(&start.node, *at));
            let kept = self.pools.entry(scope.pool.clone()).or_default();
            if let Some(k) = kept
                .iter_mut()
                .rev()
                .find(|k| k.uid == start.uid && k.image == image)
            {
                if start.outcome.rank() > k.outcome.rank() {
                    k.outcome = start.outcome.clone();
                    k.at = k.at.max(start.at);
                }
                continue;
            }
            kept.push_back(Kept {
                uid: start.uid.clone(),
                image: image.clone(),
                at: start.at,
                outcome: start.outcome.clone(),
                preloaded,
            });
            while kept.len() > self.limit || kept.front().is_some_and(|k| k.at < cutoff) {
                kept.pop_front();
            }
        }
    }

    /// Drops what is older than the horizon.
    pub fn expire(&mut self, now: i64) {
        let cutoff = now - self.horizon;
        for kept in self.pools.values_mut() {
            while kept.front().is_some_and(|k| k.at < cutoff) {
                kept.pop_front();
            }
        }
    }

    /// Forgets everything (another namespace, another cluster).
    pub fn clear(&mut self) {
        let (limit, horizon) = (self.limit, self.horizon);
        *self = Window::new(limit, horizon);
    }

    /// A pool's figures: `images` what it preloads now, `headroom` the least room before
    /// image GC among its nodes read (bytes; None: not read).
    pub fn figures(&self, pool: &str, images: &[ImageRef], headroom: Option<i64>) -> Figures {
        let kept = self.pools.get(pool);
        figures(
            pool,
            kept.into_iter().flatten(),
            images,
            headroom,
            self.horizon,
        )
    }
}

/// How an image workloads use stands against the pool's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    /// In the list, and every start while it was found it there.
    Preloaded,
    /// In the list, yet a workload pulled it: evicted by GC, or the node's preloader had not
    /// got to it.
    Evicted,
    /// Not in the list, but another version of it is.
    Drifted,
    NotPreloaded,
}

impl Mark {
    pub fn word(self) -> &'static str {
        match self {
            Mark::Preloaded => "preloaded",
            Mark::Evicted => "evicted",
            Mark::Drifted => "drifted",
            Mark::NotPreloaded => "not preloaded",
        }
    }
}

/// One image workloads started with on the pool's nodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImageCost {
    /// Normalised.
    pub image: String,
    pub starts: usize,
    pub present: usize,
    pub pulled: usize,
    pub failed: usize,
    /// The kubelet's pull time, summed.
    pub pull_seconds: f64,
    /// The wait behind other pulls, summed (`including waiting` less the pull).
    pub waiting_seconds: f64,
    /// The largest size the kubelet reported.
    pub bytes: Option<u64>,
    pub mark: Mark,
    /// Among the starts while the pool preloaded it: the share that found it present.
    pub hit_rate_preloaded: Option<f64>,
}

impl ImageCost {
    /// What pulls of it delayed pod starts by, in all.
    pub fn lost(&self) -> f64 {
        self.pull_seconds + self.waiting_seconds
    }
}

/// An image worth preloading: what it cost the pool, and whether it fits.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub image: String,
    pub pulled: usize,
    pub pull_seconds: f64,
    pub waiting_seconds: f64,
    pub bytes: Option<u64>,
    /// The least room before image GC among the pool's nodes read.
    pub headroom: Option<i64>,
    pub mark: Mark,
}

impl Suggestion {
    pub fn fits(&self) -> Option<bool> {
        Some(self.bytes? as i64 <= self.headroom?)
    }
}

/// One pool's payoff.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    pub pool: String,
    /// Container starts seen (a container's image once per pod).
    pub starts: usize,
    pub present: usize,
    pub pulled: usize,
    pub failed: usize,
    /// Pulls under way (or whose end was not seen).
    pub pulling: usize,
    /// Present / (present + pulled + failed); None before any start ended.
    pub hit_rate: Option<f64>,
    pub pull_seconds: f64,
    pub waiting_seconds: f64,
    /// The first start counted (seconds since the epoch).
    pub since: Option<i64>,
    /// The window's length, seconds.
    pub horizon: i64,
    /// Most seconds lost first.
    pub images: Vec<ImageCost>,
    pub suggestions: Vec<Suggestion>,
}

impl Figures {
    /// The figures in a line: `hit rate 86 % (43 of 50 starts found their images); 184 s
    /// pulling, 41 s of it waiting`.
    pub fn sentence(&self) -> String {
        let ended = self.present + self.pulled + self.failed;
        let Some(rate) = self.hit_rate else {
            return match self.pulling {
                0 => "no workload start seen yet on its nodes".to_string(),
                n => format!(
                    "{n} workload pull{} under way",
                    if n == 1 { "" } else { "s" }
                ),
            };
        };
        let mut out = format!(
            "hit rate {} ({} of {ended} container starts found their image on the node)",
            percent(rate),
            self.present
        );
        if self.pulled > 0 {
            out.push_str(&format!(
                "; {} pulling",
                crate::units::seconds(self.pull_seconds + self.waiting_seconds)
            ));
            if self.waiting_seconds >= 0.5 {
                out.push_str(&format!(
                    ", {} of it waiting behind other pulls",
                    crate::units::seconds(self.waiting_seconds)
                ));
            }
        }
        if self.failed > 0 {
            out.push_str(&format!("; {} failed", self.failed));
        }
        out
    }
}

impl Figures {
    /// The figures in a short line, for a screen: `hit rate 67 % (4 of 6 starts) · 51s
    /// pulling, 31s of it waiting · 1 failed`.
    pub fn short(&self) -> String {
        let ended = self.present + self.pulled + self.failed;
        let Some(rate) = self.hit_rate else {
            return self.sentence();
        };
        let mut out = format!(
            "hit rate {} ({} of {ended} starts)",
            percent(rate),
            self.present
        );
        if self.pulled > 0 {
            out.push_str(&format!(
                " · {} pulling",
                crate::units::seconds(self.pull_seconds + self.waiting_seconds)
            ));
            if self.waiting_seconds >= 0.5 {
                out.push_str(&format!(
                    ", {} of it waiting",
                    crate::units::seconds(self.waiting_seconds)
                ));
            }
        }
        if self.failed > 0 {
            out.push_str(&format!(" · {} failed", self.failed));
        }
        if self.pulling > 0 {
            out.push_str(&format!(" · {} pulling now", self.pulling));
        }
        out
    }
}

/// `86 %`, `100 %`, `99.5 %`.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p > 99.0 && p < 100.0 || p > 0.0 && p < 1.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

fn figures<'a>(
    pool: &str,
    kept: impl Iterator<Item = &'a Kept>,
    images: &[ImageRef],
    headroom: Option<i64>,
    horizon: i64,
) -> Figures {
    let preloaded: HashSet<String> = images.iter().map(ImageRef::normalized).collect();
    let repositories: HashSet<String> = images.iter().map(ImageRef::name).collect();
    let mut f = Figures {
        pool: pool.to_string(),
        horizon,
        ..Default::default()
    };
    struct Tally {
        cost: ImageCost,
        while_preloaded: (usize, usize),
    }
    let mut by_image: BTreeMap<&str, Tally> = BTreeMap::new();
    for k in kept {
        f.starts += 1;
        f.since = Some(f.since.map_or(k.at, |s| s.min(k.at)));
        let t = by_image.entry(&k.image).or_insert_with(|| Tally {
            cost: ImageCost {
                image: k.image.to_string(),
                starts: 0,
                present: 0,
                pulled: 0,
                failed: 0,
                pull_seconds: 0.0,
                waiting_seconds: 0.0,
                bytes: None,
                mark: Mark::NotPreloaded,
                hit_rate_preloaded: None,
            },
            while_preloaded: (0, 0),
        });
        let c = &mut t.cost;
        c.starts += 1;
        let ended = !matches!(k.outcome, Outcome::Pulling);
        if k.preloaded && ended {
            t.while_preloaded.1 += 1;
        }
        match &k.outcome {
            Outcome::Present => {
                f.present += 1;
                c.present += 1;
                if k.preloaded {
                    t.while_preloaded.0 += 1;
                }
            }
            Outcome::Pulling => f.pulling += 1,
            Outcome::Pulled {
                seconds,
                total,
                bytes,
            } => {
                f.pulled += 1;
                c.pulled += 1;
                f.pull_seconds += seconds;
                c.pull_seconds += seconds;
                f.waiting_seconds += total - seconds;
                c.waiting_seconds += total - seconds;
                c.bytes = c.bytes.max(*bytes);
            }
            Outcome::Failed => {
                f.failed += 1;
                c.failed += 1;
            }
        }
    }
    let ended = f.present + f.pulled + f.failed;
    f.hit_rate = (ended > 0).then(|| f.present as f64 / ended as f64);
    let mut costs: Vec<ImageCost> = by_image
        .into_values()
        .map(|t| {
            let mut c = t.cost;
            let (hits, of) = t.while_preloaded;
            c.hit_rate_preloaded = (of > 0).then(|| hits as f64 / of as f64);
            c.mark = if preloaded.contains(&c.image) {
                if hits < of {
                    Mark::Evicted
                } else {
                    Mark::Preloaded
                }
            } else if ImageRef::parse(&c.image).is_ok_and(|r| repositories.contains(&r.name())) {
                Mark::Drifted
            } else {
                Mark::NotPreloaded
            };
            c
        })
        .collect();
    costs.sort_by(|a, b| {
        b.lost()
            .total_cmp(&a.lost())
            .then(b.pulled.cmp(&a.pulled))
            .then(b.starts.cmp(&a.starts))
            .then(a.image.cmp(&b.image))
    });
    f.suggestions = costs
        .iter()
        .filter(|c| matches!(c.mark, Mark::NotPreloaded | Mark::Drifted) && c.pulled > 0)
        .take(SUGGESTIONS)
        .map(|c| Suggestion {
            image: c.image.clone(),
            pulled: c.pulled,
            pull_seconds: c.pull_seconds,
            waiting_seconds: c.waiting_seconds,
            bytes: c.bytes,
            headroom,
            mark: c.mark,
        })
        .collect();
    f.images = costs;
    f
}

#[cfg(test)]
mod tests;
