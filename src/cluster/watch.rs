//! One background task per watch: kube-runtime's watcher with back-off, each object trimmed
//! (or made a record) into the task's own store; after a burst of changes the task sends the
//! store's state, owned, to the reader. No lock is shared with the reader.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;

use super::trim;
use crate::core::objects::{Event, Interner, Pod, Workload};

/// What kpreload watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Watch {
    Nodes,
    /// Pods in the preloaders' namespace: the preloader pods, whose progress is shown live.
    Pods,
    DaemonSets,
    Events,
    /// Pods in every namespace, for which pods use an image; sent less often, since 100,000
    /// pods cost something to hand over and nothing on the live views depends on them.
    Workloads,
    /// The kubelet's image events in every namespace: the workloads' container starts,
    /// whether their images were there (the hit rate). Not reflected: each event becomes a
    /// small record at once (`cluster::starts`).
    Starts,
}

impl Watch {
    pub const ALL: [Watch; 6] = [
        Watch::Nodes,
        Watch::Pods,
        Watch::DaemonSets,
        Watch::Events,
        Watch::Workloads,
        Watch::Starts,
    ];

    /// The resource, as RBAC names it.
    pub fn resource(self) -> &'static str {
        match self {
            Watch::Nodes => "nodes",
            Watch::Pods | Watch::Workloads => "pods",
            Watch::DaemonSets => "daemonsets",
            Watch::Events | Watch::Starts => "events",
        }
    }
}

/// The watches a scope runs.
pub fn watches(scope: PodScope) -> Vec<Watch> {
    match scope {
        PodScope::AllNamespaces => Watch::ALL.to_vec(),
        PodScope::PreloadersOnly => Watch::ALL[..4].to_vec(),
    }
}

/// How one watch stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    Connecting,
    Live,
    /// It failed and retries with back-off; the sentence says why and what to do.
    Retrying(String),
}

/// What a watch sends.
#[derive(Clone, Debug)]
pub enum Update {
    Nodes(Vec<Arc<Node>>),
    Pods(Vec<Arc<Pod>>),
    DaemonSets(Vec<Arc<DaemonSet>>),
    Events(Vec<Arc<Event>>),
    Workloads(Vec<Arc<Workload>>),
    /// Starts seen since the last such update (not the whole set: see [`Watch::Starts`]).
    Starts(Vec<crate::core::payoff::Start>),
    Link(Watch, Link),
}

/// Which pods to watch: also every namespace (the TUI shows which pods use an image), or
/// only the preloaders' namespace (enough for progress).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodScope {
    AllNamespaces,
    PreloadersOnly,
}

/// At most this often a watch sends its state after changes.
const COALESCE: Duration = Duration::from_millis(40);
/// At most this often the all-namespaces pod watch sends its state.
const COALESCE_WORKLOADS: Duration = Duration::from_secs(1);

/// How long a failed watch must stay quiet before a probe may call it live again.
const PROBE: Duration = Duration::from_secs(2);

/// Starts the four watches; they stop when `tx`'s receiver is dropped.
pub fn spawn_all(
    client: &kube::Client,
    namespace: &str,
    scope: PodScope,
    tx: &UnboundedSender<Update>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let here = format!("in {namespace}");
    let mut tasks = vec![
        spawn(
            Api::<Node>::all(client.clone()),
            watcher::Config::default(),
            (Watch::Nodes, String::new(), COALESCE),
            trimmed(trim::node, |_| true),
            Update::Nodes,
            tx.clone(),
        ),
        spawn(
            Api::<Pod>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (Watch::Pods, here.clone(), COALESCE),
            trimmed(trim::pod, |_| true),
            Update::Pods,
            tx.clone(),
        ),
        spawn(
            Api::<DaemonSet>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (Watch::DaemonSets, here.clone(), COALESCE),
            trimmed(trim::daemonset, |_| true),
            Update::DaemonSets,
            tx.clone(),
        ),
        spawn(
            Api::<Event>::namespaced(client.clone(), namespace),
            watcher::Config::default().fields("involvedObject.kind=Pod"),
            (Watch::Events, here, COALESCE),
            trimmed(trim::event, trim::event_read),
            Update::Events,
            tx.clone(),
        ),
    ];
    if scope == PodScope::AllNamespaces {
        tasks.push(spawn(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default(),
            (
                Watch::Workloads,
                "in all namespaces".to_string(),
                COALESCE_WORKLOADS,
            ),
            recorded(),
            Update::Workloads,
            tx.clone(),
        ));
        tasks.push(super::starts::spawn(client, tx));
    }
    tasks
}

/// A watch's objects as it keeps them: trimmed (`trim`), and only those `keep` takes.
fn trimmed<K: Resource>(trim: fn(&mut K), keep: fn(&K) -> bool) -> impl FnMut(K) -> Shaped<K> {
    move |mut o| {
        trim(&mut o);
        let key = key(&o);
        if keep(&o) {
            Shaped::Keep(key.into(), o)
        } else {
            Shaped::Drop(key)
        }
    }
}

/// Every namespace's pods as records, their strings shared: namespaces, nodes and image
/// names repeat across 150,000 pods.
fn recorded() -> impl FnMut(Pod) -> Shaped<Workload> {
    let mut interner = Interner::default();
    let mut made = 0u32;
    move |p| {
        made = made.wrapping_add(1);
        // Now and then the strings no record holds any more go.
        if made.is_multiple_of(8192) {
            interner.prune();
        }
        let w = Workload::of(&p, &mut |s| interner.intern(s));
        // The record's own name is the key: nothing more to allocate.
        Shaped::Keep(w.place().clone(), w)
    }
}

/// What a watch makes of an object: what it keeps of it, under its key (`namespace/name`,
/// as [`key`] says); or nothing, and the key under which it kept something before.
enum Shaped<V> {
    Keep(Arc<str>, V),
    Drop(String),
}

type ByKey<V> = HashMap<Arc<str>, Arc<V>, foldhash::fast::RandomState>;

/// What one watch holds, by namespace and name: the kube-runtime reflector's store, but of
/// what the watch makes of each object (`V`), not of the object as listed.
struct Kept<V> {
    now: ByKey<V>,
    /// A list being read again (from `Init` to `InitDone`): until it is complete, `now`
    /// is what the watch holds.
    listing: Option<ByKey<V>>,
}

impl<V> Default for Kept<V> {
    fn default() -> Self {
        Kept {
            now: ByKey::default(),
            listing: None,
        }
    }
}

impl<V> Kept<V> {
    /// Takes in one event of the watch, each object as `shape` makes it; an object `shape`
    /// does not keep is taken out as if deleted.
    fn apply<K: Resource>(&mut self, e: watcher::Event<K>, shape: &mut impl FnMut(K) -> Shaped<V>) {
        match e {
            watcher::Event::Init => self.listing = Some(ByKey::default()),
            watcher::Event::InitApply(o) => {
                let into = self.listing.as_mut().unwrap_or(&mut self.now);
                put(into, o, shape);
            }
            watcher::Event::InitDone => {
                if let Some(mut listed) = self.listing.take() {
                    listed.shrink_to_fit();
                    self.now = listed;
                }
            }
            watcher::Event::Apply(o) => put(&mut self.now, o, shape),
            watcher::Event::Delete(o) => {
                self.now.remove(key(&o).as_str());
            }
        }
    }

    fn state(&self) -> Vec<Arc<V>> {
        self.now.values().cloned().collect()
    }
}

/// Puts in what `shape` keeps of `o`; takes out what it had of `o` when it keeps nothing.
fn put<K, V>(into: &mut ByKey<V>, o: K, shape: &mut impl FnMut(K) -> Shaped<V>) {
    match shape(o) {
        Shaped::Keep(key, v) => {
            into.insert(key, Arc::new(v));
        }
        Shaped::Drop(key) => {
            into.remove(key.as_str());
        }
    }
}

/// An object's key in a watch's store: `namespace/name`, as a pod's record names it.
fn key<K: Resource>(o: &K) -> String {
    crate::core::objects::place(o.meta())
}

fn spawn<K, V>(
    api: Api<K>,
    config: watcher::Config,
    (what, scope, coalesce): (Watch, String, Duration),
    mut shape: impl FnMut(K) -> Shaped<V> + Send + 'static,
    wrap: fn(Vec<Arc<V>>) -> Update,
    tx: UnboundedSender<Update>,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
    V: Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut kept = Kept::<V>::default();
        let probe_api = api.clone();
        let stream = watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut tick = tokio::time::interval(coalesce);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // After a failure, a resumed watch may stay quiet: a small list proves the API
        // answers again, so the header can say so without waiting for a change.
        let mut probe = tokio::time::interval(PROBE);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = false;
        let mut live = false;
        let mut listed = false;
        let mut failed_at: Option<tokio::time::Instant> = None;
        let _ = tx.send(Update::Link(what, Link::Connecting));
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(e)) => {
                        // The store swaps in a fresh list at InitDone; until then it holds the old one.
                        let settled = !matches!(e, watcher::Event::Init | watcher::Event::InitApply(_));
                        if matches!(e, watcher::Event::InitDone) {
                            listed = true;
                        }
                        kept.apply(e, &mut shape);
                        if settled {
                            dirty = true;
                            if !live {
                                live = true;
                                let _ = tx.send(wrap(kept.state()));
                                dirty = false;
                                if tx.send(Update::Link(what, Link::Live)).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Some(Err(e)) => {
                        live = false;
                        failed_at = Some(tokio::time::Instant::now());
                        let why = describe(&e, what, &scope);
                        tracing::warn!(watch = ?what, error = %e, "watch failed");
                        if tx.send(Update::Link(what, Link::Retrying(why))).is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                _ = tick.tick(), if dirty => {
                    dirty = false;
                    if tx.send(wrap(kept.state())).is_err() {
                        return;
                    }
                }
                _ = probe.tick(), if !live && listed && failed_at.is_some() => {
                    let quiet = failed_at.is_some_and(|t| t.elapsed() >= PROBE);
                    if quiet
                        && probe_api
                            .list_metadata(&kube::api::ListParams::default().limit(1))
                            .await
                            .is_ok()
                        && failed_at.is_some_and(|t| t.elapsed() >= PROBE)
                    {
                        live = true;
                        if tx.send(Update::Link(what, Link::Live)).is_err() {
                            return;
                        }
                    }
                }
                () = tx.closed() => return,
            }
        }
    })
}

/// One sentence for a failed watch: what happened and what to do.
pub fn describe(e: &watcher::Error, what: Watch, scope: &str) -> String {
    let resource = what.resource();
    let api = match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => Some(e),
        _ => None,
    };
    let scope = if scope.is_empty() {
        String::new()
    } else {
        format!(" {scope}")
    };
    match api {
        Some(kube::Error::Api(s)) if s.code == 403 => format!(
            "may not list and watch {resource}{scope} (403 Forbidden); `kpreload rbac` prints the role this needs"
        ),
        Some(kube::Error::Api(s)) if s.code == 401 => {
            "the cluster does not accept these credentials (401); log in again or check the kubeconfig's user".into()
        }
        Some(kube::Error::Api(s)) if s.code == 404 => format!(
            "the API server does not serve {resource}{scope} (404); is the namespace right?"
        ),
        Some(kube::Error::Api(s)) if s.code == 429 => {
            format!("the API server asks to slow down (429) while watching {resource}; retrying")
        }
        Some(kube::Error::Api(s)) if s.code >= 500 => format!(
            "the API server failed ({} {}) while watching {resource}; retrying",
            s.code, s.message
        ),
        Some(kube::Error::Api(s)) => format!(
            "watching {resource} failed ({} {}); retrying",
            s.code, s.message
        ),
        Some(kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            "cannot reach the API server (is it up, is the address right?); retrying".to_string()
        }
        Some(other) => format!("watching {resource} failed ({other}); retrying"),
        None => match e {
            watcher::Error::WatchError(s) if s.code == 410 => {
                format!("the watch of {resource} expired (410 Gone); listing again")
            }
            watcher::Error::WatchError(s) => {
                format!("watching {resource} failed ({} {}); retrying", s.code, s.message)
            }
            other => format!("watching {resource} failed ({other}); retrying"),
        },
    }
}

/// How the four watches stand, for the header and for commands that wait for a first view.
#[derive(Clone, Debug)]
pub struct Links {
    links: std::collections::HashMap<Watch, Link>,
    expected: Vec<Watch>,
}

impl Default for Links {
    /// The watches of `status`: everything but the all-namespaces pods.
    fn default() -> Links {
        Links::expecting(&watches(PodScope::PreloadersOnly))
    }
}

impl Links {
    pub fn expecting(watches: &[Watch]) -> Links {
        Links {
            links: Default::default(),
            expected: watches.to_vec(),
        }
    }

    pub fn expected(&self) -> &[Watch] {
        &self.expected
    }

    pub fn set(&mut self, w: Watch, link: Link) {
        self.links.insert(w, link);
    }

    pub fn get(&self, w: Watch) -> Link {
        self.links.get(&w).cloned().unwrap_or(Link::Connecting)
    }

    /// Every watch has its first full list.
    pub fn all_live(&self) -> bool {
        self.expected.iter().all(|w| self.get(*w) == Link::Live)
    }

    /// The first watch in trouble, and why.
    pub fn trouble(&self) -> Option<(Watch, String)> {
        self.expected.iter().find_map(|w| match self.get(*w) {
            Link::Retrying(why) => Some((*w, why)),
            _ => None,
        })
    }
}

/// Folds an update into a snapshot; a link change goes to `links`.
pub fn absorb(snapshot: &mut crate::core::progress::Snapshot, links: &mut Links, u: Update) {
    match u {
        Update::Nodes(v) => snapshot.nodes = v,
        Update::Pods(v) => snapshot.pods = v,
        Update::DaemonSets(v) => snapshot.daemonsets = v,
        Update::Events(v) => snapshot.events = v,
        Update::Workloads(v) => snapshot.workloads = v,
        // Kept by whoever counts them (the TUI's window), not in the snapshot.
        Update::Starts(_) => {}
        Update::Link(w, l) => links.set(w, l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            ..Default::default()
        })))
    }

    #[test]
    fn each_failure_reads_as_one_sentence_with_what_to_do() {
        let cases = [
            (
                403,
                "may not list and watch pods in all namespaces (403 Forbidden); `kpreload rbac` prints the role this needs",
            ),
            (
                401,
                "the cluster does not accept these credentials (401); log in again or check the kubeconfig's user",
            ),
            (
                404,
                "the API server does not serve pods in all namespaces (404); is the namespace right?",
            ),
            (
                429,
                "the API server asks to slow down (429) while watching pods; retrying",
            ),
            (
                500,
                "the API server failed (500 boom) while watching pods; retrying",
            ),
            (409, "watching pods failed (409 boom); retrying"),
        ];
        for (code, want) in cases {
            assert_eq!(
                describe(&api(code, "boom"), Watch::Pods, "in all namespaces"),
                want
            );
        }
        let gone = watcher::Error::WatchError(Box::new(kube::core::Status {
            code: 410,
            ..Default::default()
        }));
        assert_eq!(
            describe(&gone, Watch::Nodes, ""),
            "the watch of nodes expired (410 Gone); listing again"
        );
    }

    #[test]
    fn the_store_swaps_in_a_new_list_whole_and_drops_what_is_not_kept() {
        let pod = |name: &str, node: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"nodeName": node, "containers": []}}))
            .unwrap()
        };
        // Keeps the pods on a node, as their names.
        let mut shape = |p: Pod| -> Shaped<String> {
            let key = key(&p);
            let name = p.metadata.name.clone().unwrap_or_default();
            match p.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty()) {
                Some(_) => Shaped::Keep(key.into(), name),
                None => Shaped::Drop(key),
            }
        };
        let names = |k: &Kept<String>| {
            let mut v: Vec<String> = k.state().iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        let mut k = Kept::default();
        k.apply(watcher::Event::Init, &mut shape);
        k.apply(watcher::Event::InitApply(pod("a", "n1")), &mut shape);
        k.apply(watcher::Event::InitApply(pod("b", "")), &mut shape);
        assert!(names(&k).is_empty(), "nothing before the list is complete");
        k.apply(watcher::Event::InitDone, &mut shape);
        assert_eq!(names(&k), ["a"]);
        k.apply(watcher::Event::Apply(pod("b", "n2")), &mut shape);
        assert_eq!(names(&k), ["a", "b"]);
        // Once not kept, an object is gone as if deleted.
        k.apply(watcher::Event::Apply(pod("a", "")), &mut shape);
        assert_eq!(names(&k), ["b"]);
        // A list read again replaces the old one only when complete.
        k.apply(watcher::Event::Init, &mut shape);
        k.apply(watcher::Event::InitApply(pod("c", "n3")), &mut shape);
        assert_eq!(names(&k), ["b"]);
        k.apply(watcher::Event::InitDone, &mut shape);
        assert_eq!(names(&k), ["c"]);
        k.apply(watcher::Event::Delete(pod("c", "n3")), &mut shape);
        assert!(names(&k).is_empty());
    }

    #[test]
    fn links_are_live_only_when_every_watch_is() {
        let mut l = Links::default();
        assert!(!l.all_live());
        for w in [Watch::Nodes, Watch::Pods, Watch::DaemonSets, Watch::Events] {
            l.set(w, Link::Live);
        }
        assert!(
            l.all_live(),
            "the status command does not wait for all pods"
        );
        assert!(!Links::expecting(&Watch::ALL).all_live());
        l.set(Watch::Events, Link::Retrying("x".into()));
        assert!(!l.all_live());
        assert_eq!(l.trouble(), Some((Watch::Events, "x".into())));
    }
}
