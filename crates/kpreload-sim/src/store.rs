//! The simulator's object store: every object as JSON, one cluster-wide resourceVersion
//! counter, and a bounded history of changes that watches replay from.
//!
//! An object is kept as the JSON the API serves, serialised once when it changes and shared
//! with the change in the history, beside what selectors and the pod index read of it. The
//! parsed object is kept too only where the simulated control plane reads it on its
//! passes: the pods and events that make up most of a large cluster are JSON alone, about a
//! ninth of the memory of a parsed tree.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::pod_index::{At, PodIndex};
use super::resources::{Resource, stored};
use super::selectors::Selectable;
use super::status::{ApiError, ApiResult};

pub type Obj = Arc<Value>;

type Key = (&'static str, String, String);

/// One kind's changes, oldest first, and the bytes they hold (roughly).
#[derive(Debug, Default)]
struct KindHistory {
    changes: VecDeque<Arc<Change>>,
    bytes: usize,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Arc<Stored>>,
    /// The changes watches replay from, one history per kind, as the API server's watch
    /// cache is one per resource: a rollout's pod and event changes do not push out a
    /// DaemonSet's.
    history: HashMap<&'static str, KindHistory>,
    /// The oldest resourceVersion a watch may start from since the last compaction; older
    /// ones get 410 Gone.
    oldest: u64,
    /// Per kind, the resourceVersion of its newest change its history no longer holds: a
    /// watch of that kind from before it would miss it (410 Gone). A watch of DaemonSets is
    /// not too old because pods and events changed a great deal since.
    dropped: HashMap<&'static str, u64>,
    /// While a scenario loads: changes make no history and no events.
    quiet: bool,
    uid_state: u64,
    /// What the kubelets, the scheduler, the DaemonSet controller and a node's runtime
    /// read of the pods, without scanning every pod.
    pods: PodIndex,
}

impl Inner {
    fn index(&mut self, key: &Key, old: Option<&Value>, new: Option<&Value>) {
        if key.0 == "Pod" {
            self.pods.change(&(key.1.clone(), key.2.clone()), old, new);
        }
    }

    fn pods_at<'a>(&self, at: impl Iterator<Item = &'a At>) -> Vec<Obj> {
        self.stored_pods_at(at).iter().map(|p| p.object()).collect()
    }

    fn stored_pods_at<'a>(&self, at: impl Iterator<Item = &'a At>) -> Vec<Arc<Stored>> {
        at.filter_map(|(ns, name)| {
            self.objects
                .get(&("Pod", ns.clone(), name.clone()))
                .cloned()
        })
        .collect()
    }

    fn of_kind(&self, kind: &'static str, ns: Option<&str>) -> Vec<Arc<Stored>> {
        match ns {
            Some(ns) => self
                .objects
                .range((kind, ns.to_string(), String::new())..)
                .take_while(|((k, n, _), _)| *k == kind && n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
            None => self
                .objects
                .range((kind, String::new(), String::new())..)
                .take_while(|((k, _, _), _)| *k == kind)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
    /// Each kind's history's bound in changes.
    history_limit: usize,
    /// Each kind's history's bound in bytes: the oldest changes go first past it.
    history_bytes: usize,
    /// The lists being read page by page, each as it was at its first page.
    pages: Mutex<Pages>,
    /// What generated names and uids, and the simulated kubelets' pull-time jitter, follow.
    pub seed: u64,
}

/// What a watch starts with: the changes after its resourceVersion, then the live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Arc<Change>>,
    pub current_rv: u64,
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An object's name ("" when it has none).
pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// An object's namespace ("" for cluster-scoped objects).
pub fn ns_of(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// An object's uid.
pub fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

impl Store {
    pub fn new(history_limit: usize, seed: u64) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: HashMap::new(),
                oldest: 1,
                dropped: HashMap::new(),
                quiet: false,
                uid_state: seed | 1,
                pods: PodIndex::default(),
            }),
            tx,
            history_limit,
            history_bytes: usize::MAX,
            pages: Mutex::new(Pages::default()),
            seed,
        }
    }

    /// Bounds each kind's watch history in bytes too (JSON and what selectors read), not
    /// only in changes.
    pub fn with_history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, kind: &'static str, ns: &str, name: &str) -> Option<Obj> {
        let stored = self
            .lock()
            .objects
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned();
        stored.map(|s| s.object())
    }

    /// Every object of a kind (in one namespace, or all), in key order, with the
    /// resourceVersion the list is consistent at.
    pub fn list(&self, kind: &'static str, ns: Option<&str>) -> (u64, Vec<Obj>) {
        let (rv, items) = self.list_stored(kind, ns);
        (rv, items.iter().map(|s| s.object()).collect())
    }

    /// [`Store::list`] as the store keeps the objects (what the API serves from).
    pub fn list_stored(&self, kind: &'static str, ns: Option<&str>) -> (u64, Vec<Arc<Stored>>) {
        let inner = self.lock();
        (inner.rv, inner.of_kind(kind, ns))
    }

    /// The pods bound to a node, in key order, with the resourceVersion they are at.
    pub fn pods_on(&self, node: &str) -> (u64, Vec<Obj>) {
        let (rv, pods) = self.stored_pods_on(node);
        (rv, pods.iter().map(|p| p.object()).collect())
    }

    /// [`Store::pods_on`] as the store keeps them.
    pub fn stored_pods_on(&self, node: &str) -> (u64, Vec<Arc<Stored>>) {
        let inner = self.lock();
        (inner.rv, inner.stored_pods_at(inner.pods.on_node(node)))
    }

    /// Pods without a node (what the scheduler places), in key order.
    pub fn unbound_pods(&self) -> Vec<Obj> {
        let inner = self.lock();
        inner.pods_at(inner.pods.unbound())
    }

    /// Bound pods that are `Pending` with no container status yet (what a kubelet has to
    /// start), in key order.
    pub fn pods_to_start(&self) -> Vec<Obj> {
        let inner = self.lock();
        inner.pods_at(inner.pods.to_start())
    }

    /// How many pods are bound to each node.
    pub fn pod_counts_by_node(&self) -> HashMap<String, usize> {
        self.lock().pods.counts_by_node()
    }

    /// The pods whose controller `ownerReference` is the DaemonSet with this uid.
    pub fn pods_of_daemonset(&self, uid: &str) -> Vec<Obj> {
        let inner = self.lock();
        inner.pods_at(inner.pods.of_daemonset(uid))
    }

    /// Pods by the uid of the DaemonSet their controller `ownerReference` names.
    pub fn pods_by_daemonset(&self) -> HashMap<String, Vec<Obj>> {
        let inner = self.lock();
        inner
            .pods
            .by_daemonset()
            .map(|(uid, at)| (uid.clone(), inner.pods_at(at.iter())))
            .collect()
    }

    pub fn count(&self, kind: &'static str) -> usize {
        self.lock()
            .objects
            .range((kind, String::new(), String::new())..)
            .take_while(|((k, _, _), _)| *k == kind)
            .count()
    }

    /// Creates an object. The caller has set the namespace; `generateName` is resolved
    /// here, where names can be checked for uniqueness.
    pub fn create(&self, res: &Resource, mut obj: Value, dry_run: bool) -> ApiResult<Obj> {
        let kind = res.store_kind;
        let mut inner = self.lock();
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name_of(&obj).is_empty() {
            let prefix = obj["metadata"]["generateName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            loop {
                let candidate = format!("{prefix}{}", inner.suffix());
                if !inner
                    .objects
                    .contains_key(&(kind, ns.clone(), candidate.clone()))
                {
                    obj["metadata"]["name"] = json!(candidate);
                    break;
                }
            }
        }
        let name = name_of(&obj).to_string();
        let key = (kind, ns, name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res.group, res.plural, &name));
        }
        let uid = inner.uid();
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(now_rfc3339());
        if kind == "DaemonSet" {
            meta["generation"] = json!(1);
        }
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
        }
        if dry_run {
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            return Ok(Arc::new(obj));
        }
        Ok(self.commit(&mut inner, key, obj, EventType::Added, None))
    }

    /// Replaces an object through `change`, which sees the stored object and returns the new
    /// one. A `resourceVersion` in the new object that is not the stored one is a conflict.
    pub fn update<F>(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        dry_run: bool,
        change: F,
    ) -> ApiResult<Obj>
    where
        F: FnOnce(&Value) -> ApiResult<Value>,
    {
        let kind = res.store_kind;
        let mut inner = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let Some(old) = inner.objects.get(&key).map(|s| s.object()) else {
            return Err(ApiError::not_found(res.group, res.plural, name));
        };
        let mut new = change(&old)?;
        let old_rv = old["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        match new["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() && rv != old_rv => {
                return Err(ApiError::conflict(
                    res.group,
                    res.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
            _ => {}
        }
        // Fields the server owns.
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "generateName",
        ] {
            if !old["metadata"][field].is_null() {
                new["metadata"][field] = old["metadata"][field].clone();
            }
        }
        if !old["metadata"]["generation"].is_null() {
            let mut generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            if new["spec"] != old["spec"] {
                generation += 1;
            }
            new["metadata"]["generation"] = json!(generation);
        }
        // An unchanged object keeps its resourceVersion and makes no event, as in the API.
        let mut unchanged = new.clone();
        unchanged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if unchanged == *old {
            return Ok(old);
        }
        if dry_run {
            new["metadata"]["resourceVersion"] = json!(old_rv);
            return Ok(Arc::new(new));
        }
        Ok(self.commit(&mut inner, key, new, EventType::Modified, Some(old)))
    }

    pub fn delete(&self, res: &Resource, ns: &str, name: &str, dry_run: bool) -> ApiResult<Obj> {
        self.delete_if(res, ns, name, dry_run, &Preconditions::default())
    }

    /// Deletes an object if it still has the precondition's uid and resourceVersion (409 as
    /// the API server words it, when not).
    pub fn delete_if(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        dry_run: bool,
        pre: &Preconditions,
    ) -> ApiResult<Obj> {
        let kind = res.store_kind;
        let mut inner = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let Some(stored) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(res.group, res.plural, name));
        };
        let old = stored.object();
        for (field, wanted, label) in [
            ("uid", &pre.uid, "UID"),
            ("resourceVersion", &pre.resource_version, "ResourceVersion"),
        ] {
            let actual = old["metadata"][field].as_str().unwrap_or_default();
            if let Some(w) = wanted
                && w != actual
            {
                return Err(ApiError::conflict(
                    res.group,
                    res.plural,
                    name,
                    &format!(
                        "Precondition failed: {label} in precondition: {w}, {label} in object meta: {actual}"
                    ),
                ));
            }
        }
        if dry_run {
            return Ok(old);
        }
        inner.objects.remove(&key);
        inner.index(&key, Some(&old), None);
        inner.rv += 1;
        let rv = inner.rv;
        let mut gone = (*old).clone();
        gone["metadata"]["resourceVersion"] = json!(rv.to_string());
        let gone = Arc::new(gone);
        let last = Stored::new(kind, gone.clone());
        self.record(&mut inner, kind, EventType::Deleted, &last, None);
        Ok(gone)
    }

    /// Deletes every namespaced object of a namespace (when the namespace goes).
    pub fn delete_namespace_contents(&self, ns: &str) {
        let keys: Vec<Key> = self
            .lock()
            .objects
            .keys()
            .filter(|(k, n, _)| n == ns && *k != "Namespace")
            .cloned()
            .collect();
        for (kind, ns, name) in keys {
            let _ = self.delete(stored(kind), &ns, &name, false);
        }
    }

    /// Starts a watch of every kind after `from` (None: now). A version older than a change
    /// the history no longer holds is 410 Gone.
    pub fn subscribe(&self, from: Option<u64>) -> ApiResult<Subscription> {
        self.subscribe_to(None, from)
    }

    /// Starts a watch of `kind` (None: every kind) after `from` (None: now). A version from
    /// before the last compaction, or older than a change of `kind` the history no longer
    /// holds, is 410 Gone.
    pub fn subscribe_to(&self, kind: Option<&str>, from: Option<u64>) -> ApiResult<Subscription> {
        let inner = self.lock();
        let live = self.tx.subscribe();
        let lost = match kind {
            Some(k) => inner.dropped.get(k).copied().unwrap_or(0),
            None => inner.dropped.values().copied().max().unwrap_or(0),
        };
        let floor = inner.oldest.saturating_sub(1).max(lost);
        let backlog = match from {
            None => Vec::new(),
            Some(rv) if rv < floor => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({floor})"
                )));
            }
            Some(rv) => {
                let mut backlog: Vec<Arc<Change>> = inner
                    .history
                    .iter()
                    .filter(|(k, _)| kind.is_none_or(|want| want == **k))
                    .flat_map(|(_, h)| h.changes.iter().filter(|c| c.rv > rv).cloned())
                    .collect();
                if kind.is_none() {
                    backlog.sort_by_key(|c| c.rv);
                }
                backlog
            }
        };
        Ok(Subscription {
            backlog,
            live,
            current_rv: inner.rv,
        })
    }

    /// Runs `load` without history or events (what a scenario holds at the start), then
    /// compacts: no watch can start before it.
    pub fn load<R>(&self, load: impl FnOnce() -> R) -> R {
        self.lock().quiet = true;
        let out = load();
        self.lock().quiet = false;
        self.compact();
        out
    }

    /// Forgets the history, so that every watch from an older version gets 410 Gone, and
    /// every list being paged through: their next pages are 410 Expired, as after etcd's
    /// compaction.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest = inner.rv + 1;
        inner.dropped.clear();
        self.lock_pages().taken.clear();
    }

    fn commit(
        &self,
        inner: &mut Inner,
        key: Key,
        mut obj: Value,
        event: EventType,
        previous: Option<Obj>,
    ) -> Obj {
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let obj = Arc::new(obj);
        let kind = key.0;
        let stored = Arc::new(Stored::new(kind, obj.clone()));
        let old = inner.objects.insert(key.clone(), stored.clone());
        inner.index(&key, previous.as_deref(), Some(&obj));
        self.record(inner, kind, event, &stored, old.map(|o| o.sel.clone()));
        obj
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: &'static str,
        event: EventType,
        object: &Stored,
        before: Option<Arc<Selectable>>,
    ) {
        if inner.quiet {
            return;
        }
        let change = Arc::new(Change {
            rv: inner.rv,
            kind,
            event,
            json: object.json.clone(),
            now: object.sel.clone(),
            before,
        });
        let history = inner.history.entry(kind).or_default();
        history.bytes += change.weight();
        history.changes.push_back(change.clone());
        let mut forgot = None;
        while history.changes.len() > self.history_limit
            || (history.bytes > self.history_bytes && history.changes.len() > 1)
        {
            if let Some(dropped) = history.changes.pop_front() {
                history.bytes -= dropped.weight();
                forgot = Some(dropped.rv);
            }
        }
        if let Some(rv) = forgot {
            inner.dropped.insert(kind, rv);
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(change);
    }
}

mod change;
mod names;
mod pages;
mod stored;
#[cfg(test)]
mod tests;

pub use change::{Change, EventType};
use pages::Pages;
pub use pages::Snapshot;
#[cfg(test)]
use pages::{PAGED_LIST_TTL, PAGED_LISTS};
pub use stored::Stored;

/// What a DELETE may require of the object it removes.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}
