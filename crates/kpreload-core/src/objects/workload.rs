//! A pod of any namespace as the all-namespaces watch keeps it: where it runs, which images
//! its containers name and run, and which DaemonSets own it. Nothing else is read of such a
//! pod, and a cluster holds up to 150,000 of them: a [`Pod`] with its `ObjectMeta` is about
//! 1.5 KB in memory, this is about 250 bytes in three allocations, its image and node names
//! shared between pods.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ContainerStatus;

use super::{Container, Pod};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// `namespace/name`: how cleanup names the pod, and the watch's key for it.
    place: Arc<str>,
    /// The node it is bound to; none while it is unscheduled.
    pub node: Option<Arc<str>>,
    /// The images its containers name (the spec: the init containers', the containers',
    /// the ephemeral containers'), then what the kubelet says each container runs (the
    /// statuses' `image` and `imageID`: the init containers', then the others'). One list,
    /// one allocation.
    names: Box<[Arc<str>]>,
    /// Where, in `names`, the containers', the ephemeral containers', the init statuses'
    /// and the other statuses' entries begin.
    at: [u16; 4],
    /// The uids of the DaemonSets that own it.
    pub daemonsets: Box<[Box<str>]>,
}

/// `namespace/name` of an object's metadata (a pod without a namespace is in `default`).
pub fn place(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    let namespace = m.namespace.as_deref().unwrap_or("default");
    let name = m.name.as_deref().unwrap_or("?");
    let mut out = String::with_capacity(namespace.len() + 1 + name.len());
    out.push_str(namespace);
    out.push('/');
    out.push_str(name);
    out
}

impl Workload {
    /// The pod's record, its strings taken through `intern`.
    pub fn of(p: &Pod, intern: &mut impl FnMut(&str) -> Arc<str>) -> Workload {
        // Sized once: the list becomes the record's without being moved again.
        let containers = p.spec.as_ref().map_or(0, |s| {
            s.containers.len()
                + s.init_containers.as_ref().map_or(0, Vec::len)
                + s.ephemeral_containers.as_ref().map_or(0, Vec::len)
        });
        let statuses = p.status.as_ref().map_or(0, |s| {
            2 * [
                &s.init_container_statuses,
                &s.container_statuses,
                &s.ephemeral_container_statuses,
            ]
            .iter()
            .map(|v| v.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
                + s.image_ids.len()
        });
        let mut names = Vec::with_capacity(containers + statuses);
        let mut at = [0u16; 4];
        if let Some(spec) = &p.spec {
            named(&mut names, spec.init_containers.as_deref(), intern);
            at[0] = count(&names);
            named(&mut names, Some(&spec.containers), intern);
            at[1] = count(&names);
            named(&mut names, spec.ephemeral_containers.as_deref(), intern);
        }
        at[2] = count(&names);
        at[3] = at[2];
        if let Some(status) = &p.status {
            running(
                &mut names,
                status.init_container_statuses.as_deref(),
                intern,
            );
            at[3] = count(&names);
            running(&mut names, status.container_statuses.as_deref(), intern);
            running(
                &mut names,
                status.ephemeral_container_statuses.as_deref(),
                intern,
            );
            // A trimmed pod keeps only the kubelet's names and resolved IDs, in that order.
            names.extend(status.image_ids.iter().map(|i| intern(i)));
        }
        let m = &p.metadata;
        Workload {
            place: place(m).into(),
            node: p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .map(&mut *intern),
            names: names.into(),
            at,
            daemonsets: m
                .owner_references
                .iter()
                .flatten()
                .filter(|o| o.kind == "DaemonSet")
                .map(|o| o.uid.as_str().into())
                .collect(),
        }
    }

    /// `namespace/name`, shared (the watch keys its store with it).
    pub fn place(&self) -> &Arc<str> {
        &self.place
    }

    pub fn namespace(&self) -> &str {
        self.place.split_once('/').map_or("", |(n, _)| n)
    }

    pub fn name(&self) -> &str {
        self.place.split_once('/').map_or(&*self.place, |(_, n)| n)
    }

    fn span(&self, from: usize, to: Option<usize>) -> &[Arc<str>] {
        let start = self.at[from] as usize;
        let end = to.map_or(self.names.len(), |t| self.at[t] as usize);
        &self.names[start.min(end)..end]
    }

    /// Its init containers' images, as the spec names them.
    pub fn init_images(&self) -> &[Arc<str>] {
        &self.names[..self.at[0] as usize]
    }

    /// Its containers' images, as the spec names them.
    pub fn container_images(&self) -> &[Arc<str>] {
        self.span(0, Some(1))
    }

    /// Its ephemeral containers' images, as the spec names them.
    pub fn ephemeral_images(&self) -> &[Arc<str>] {
        self.span(1, Some(2))
    }

    /// What the kubelet says its init containers run, by name and resolved ID.
    pub fn init_ran(&self) -> &[Arc<str>] {
        self.span(2, Some(3))
    }

    /// What the kubelet says its other containers run, by name and resolved ID.
    pub fn other_ran(&self) -> &[Arc<str>] {
        self.span(3, None)
    }
}

impl From<&Pod> for Workload {
    /// The record with strings of its own (nothing shared).
    fn from(p: &Pod) -> Workload {
        Workload::of(p, &mut |s| Arc::from(s))
    }
}

fn named(
    out: &mut Vec<Arc<str>>,
    containers: Option<&[Container]>,
    intern: &mut impl FnMut(&str) -> Arc<str>,
) {
    let images = containers.unwrap_or_default().iter();
    out.extend(images.filter_map(|c| c.image.as_deref()).map(intern));
}

fn running(
    out: &mut Vec<Arc<str>>,
    statuses: Option<&[ContainerStatus]>,
    intern: &mut impl FnMut(&str) -> Arc<str>,
) {
    for s in statuses.unwrap_or_default() {
        for id in [&s.image, &s.image_id] {
            if !id.is_empty() {
                out.push(intern(id));
            }
        }
    }
}

/// The position a list's length gives, capped (a pod has at most a few hundred containers;
/// past `u16::MAX` the rest would be read as the last kind, never lost).
fn count(v: &[Arc<str>]) -> u16 {
    u16::try_from(v.len()).unwrap_or(u16::MAX)
}

/// One copy of each string the records share (namespaces, nodes, image names). Strings no
/// record holds any more go at the next [`Interner::prune`].
#[derive(Debug, Default)]
pub struct Interner {
    set: HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }

    /// Forgets the strings only it holds.
    pub fn prune(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The records of `pods`, their strings shared, as the all-namespaces watch keeps them.
pub fn records(pods: &[Arc<Pod>]) -> Vec<Arc<Workload>> {
    let mut names = Interner::default();
    pods.iter()
        .map(|p| Arc::new(Workload::of(p, &mut |s| names.intern(s))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "rs-1"},
                    {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "uid": "ds-1"}]},
            "spec": {"nodeName": node,
                "initContainers": [{"name": "i", "image": "busybox:1.37"}],
                "containers": [{"name": "a", "image": "nginx:1.25"}, {"name": "b"}],
                "ephemeralContainers": [{"name": "e", "image": "debug:1"}]},
            "status": {
                "initContainerStatuses": [{"name": "i", "image": "docker.io/library/busybox:1.37",
                    "imageID": "", "ready": false, "restartCount": 0}],
                "containerStatuses": [{"name": "a", "image": "docker.io/library/nginx:1.25",
                    "imageID": "docker.io/library/nginx@sha256:aa", "ready": true, "restartCount": 0}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_record_keeps_each_kind_of_containers_images_apart() {
        let w = Workload::from(&pod("a-0", "n1"));
        let strs = |v: &[Arc<str>]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            (w.namespace(), w.name(), &**w.place()),
            ("shop", "a-0", "shop/a-0")
        );
        assert_eq!(w.node.as_deref(), Some("n1"));
        assert_eq!(strs(w.init_images()), ["busybox:1.37"]);
        // A container without an image names none.
        assert_eq!(strs(w.container_images()), ["nginx:1.25"]);
        assert_eq!(strs(w.ephemeral_images()), ["debug:1"]);
        // An empty imageID (not resolved yet) is no image.
        assert_eq!(strs(w.init_ran()), ["docker.io/library/busybox:1.37"]);
        assert_eq!(
            strs(w.other_ran()),
            [
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx@sha256:aa"
            ]
        );
        // Only the DaemonSets that own it.
        assert_eq!(&*w.daemonsets, [Box::from("ds-1")]);
        // An unscheduled pod, with no status, is on no node and ran nothing.
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap();
        let b = Workload::from(&bare);
        assert_eq!(
            (b.namespace(), b.name(), b.node.clone()),
            ("default", "b", None)
        );
        assert!(b.init_images().is_empty() && b.other_ran().is_empty());
    }

    #[test]
    fn records_share_their_strings_until_none_holds_one() {
        let pods = [Arc::new(pod("a-0", "n1")), Arc::new(pod("a-1", "n1"))];
        let mut names = Interner::default();
        let a = Workload::of(&pods[0], &mut |s| names.intern(s));
        let b = Workload::of(&pods[1], &mut |s| names.intern(s));
        assert!(Arc::ptr_eq(
            &a.container_images()[0],
            &b.container_images()[0]
        ));
        assert!(Arc::ptr_eq(
            a.node.as_ref().unwrap(),
            b.node.as_ref().unwrap()
        ));
        // Names are the pods' own: not shared, not interned.
        let interned = names.len();
        drop(a);
        names.prune();
        assert_eq!(names.len(), interned, "b still holds every string");
        drop(b);
        names.prune();
        assert!(names.is_empty());
        // Interned or not, a record is the same record.
        assert_eq!(
            records(&pods)[1].as_ref(),
            &Workload::from(pods[1].as_ref())
        );
    }
}
