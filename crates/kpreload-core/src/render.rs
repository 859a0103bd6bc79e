//! A pool rendered as its preloader DaemonSet.
//!
//! Shape (docs/pools.md): name `image-preloader-<pool>`; our labels under
//! `kpreload.dev/`; required node affinity and tolerations for the pool; first, as an init
//! container, the privileged, `hostPID` cleanup container that kpreload execs into, a sidecar (it
//! runs while the images pull); then an init container copies a static no-op (busybox's
//! `true`) into an emptyDir, then one init container per image, in pull order, runs that
//! no-op, so images without a shell preload too; then an idle, unprivileged `hold`
//! container keeps the pod. Requests are tiny, and no service account token is mounted.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pools::{Pool, PoolsFile};
use super::reference::ImageRef;

pub(crate) const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_POOL: &str = "kpreload.dev/pool";
/// On each DaemonSet of a pool split over several: `2-of-3`.
pub(crate) const LABEL_SHARD: &str = "kpreload.dev/shard";
pub(crate) const ANNOTATION_KEEP: &str = "kpreload.dev/keep";
pub(crate) const ANNOTATION_PROTECT: &str = "kpreload.dev/protect";
pub const MANAGER: &str = "kpreload";
pub(crate) const APP_NAME: &str = "image-preloader";
/// The init container that installs the no-op, and the cleanup container.
pub(crate) const NOOP_CONTAINER: &str = "kpreload-noop";
pub(crate) const CLEANUP_CONTAINER: &str = "cleanup";
/// What every preloader pod runs once its pulls are done: an idle, unprivileged container
/// (a DaemonSet's pod needs one). Only the first (or only) shard has the cleanup sidecar.
pub(crate) const HOLD_CONTAINER: &str = "hold";
const BIN_VOLUME: &str = "kpreload-bin";
const BIN_DIR: &str = "/kpreload";
pub(crate) const NOOP_PATH: &str = "/kpreload/true";

/// The labels that select one pool's preloader pods.
pub(crate) fn selector_labels(pool: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), APP_NAME.to_string()),
        (LABEL_POOL.to_string(), pool.to_string()),
    ])
}

/// One DaemonSet of a pool split over several: `index` counts from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `2-of-3`.
    pub fn parse(text: &str) -> Option<Shard> {
        let (i, n) = text.split_once("-of-")?;
        let (index, count) = (i.parse().ok()?, n.parse().ok()?);
        (1..=count)
            .contains(&index)
            .then_some(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-of-{}", self.index, self.count)
    }
}

/// Splits images over `count` shards balanced by size (largest first onto the lightest
/// shard: never more than the largest image above the best split). Each shard keeps the
/// images in pull order; every image is in exactly one shard; no shard is empty (fewer
/// shards when there are fewer images). An image of unknown size counts as the median of
/// the known ones (as 1 when none is known, which spreads them by count).
pub(crate) fn shard_images(
    images: &[ImageRef],
    count: usize,
    size_of: &dyn Fn(&ImageRef) -> Option<u64>,
) -> Vec<Vec<ImageRef>> {
    shard_images_keeping(images, count, size_of, &[])
}

/// Like [`shard_images`], but an image already in one of `previous` shards (the live ones,
/// same count) stays there, and only new images are placed (largest first onto the
/// lightest), so that a re-render changes no shard but the ones that gain or lose an image,
/// whatever sizes the cluster reports now. With no usable previous split (another count, or
/// a shard that would be left empty), a fresh balance.
pub(crate) fn shard_images_keeping(
    images: &[ImageRef],
    count: usize,
    size_of: &dyn Fn(&ImageRef) -> Option<u64>,
    previous: &[Vec<ImageRef>],
) -> Vec<Vec<ImageRef>> {
    let count = count.clamp(1, images.len().max(1));
    let known: Vec<u64> = {
        let mut k: Vec<u64> = images.iter().filter_map(size_of).collect();
        k.sort_unstable();
        k
    };
    let fallback = known.get(known.len() / 2).copied().unwrap_or(1).max(1);
    let sizes: Vec<u64> = images
        .iter()
        .map(|i| size_of(i).unwrap_or(fallback))
        .collect();
    let mut load = vec![0u64; count];
    let mut owner: Vec<Option<usize>> = vec![None; images.len()];
    if previous.len() == count {
        for (i, image) in images.iter().enumerate() {
            if let Some(s) = previous.iter().position(|p| p.contains(image)) {
                owner[i] = Some(s);
                load[s] += sizes[i];
            }
        }
    }
    let mut order: Vec<usize> = (0..images.len()).filter(|i| owner[*i].is_none()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    for i in order {
        let lightest = (0..count)
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        load[lightest] += sizes[i];
        owner[i] = Some(lightest);
    }
    let mut shards = vec![Vec::new(); count];
    for (i, image) in images.iter().enumerate() {
        shards[owner[i].unwrap_or(0)].push(image.clone());
    }
    if !previous.is_empty() && shards.iter().any(Vec::is_empty) {
        return shard_images_keeping(images, count, size_of, &[]);
    }
    shards.retain(|s: &Vec<ImageRef>| !s.is_empty());
    if shards.is_empty() {
        shards.push(Vec::new());
    }
    shards
}

/// A pool's DaemonSets: one, or `pool.shards` with its images balanced by size. `live`: the
/// cluster's DaemonSets, so that a pool already split the same way keeps its images where
/// they are (see [`shard_images_keeping`]); empty when there is no cluster.
pub fn render_shards(
    file: &PoolsFile,
    pool: &Pool,
    size_of: &dyn Fn(&ImageRef) -> Option<u64>,
    live: &[&DaemonSet],
) -> Vec<DaemonSet> {
    if pool.shards <= 1 {
        return vec![render_pool(file, pool)];
    }
    let count = pool.shards.clamp(1, pool.images.len().max(1));
    let mut previous: Vec<Option<Vec<ImageRef>>> = vec![None; count];
    for ds in live {
        if let Some(Ok(p)) = super::adopt::read_preloader(ds)
            && p.pool.name == pool.name
            && p.namespace == file.namespace
            && let Some(s) = p.shard.filter(|s| s.count == count)
        {
            previous[s.index - 1] = Some(p.pool.images);
        }
    }
    // A shard deleted since (by hand, or an apply stopped part-way) counts as empty: the
    // shards still there keep their images, and the missing shard's are placed afresh.
    let previous: Vec<Vec<ImageRef>> = if previous.iter().any(Option::is_some) {
        previous
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    } else {
        Vec::new()
    };
    let parts = shard_images_keeping(&pool.images, pool.shards, size_of, &previous);
    let count = parts.len();
    if count == 1 {
        return vec![render_pool(file, pool)];
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, images)| {
            let shard = Shard {
                index: i + 1,
                count,
            };
            let part = Pool {
                images,
                ..pool.clone()
            };
            render_one(file, &part, Some(shard))
        })
        .collect()
}

/// The DaemonSet name of one shard: `image-preloader-web-2-of-3`.
pub(crate) fn shard_name(pool: &Pool, shard: Shard) -> String {
    format!("{}-{shard}", pool.daemonset_name())
}

/// Renders one pool of a pools file as one DaemonSet (whatever its `shards`).
pub fn render_pool(file: &PoolsFile, pool: &Pool) -> DaemonSet {
    render_one(file, pool, None)
}

fn render_one(file: &PoolsFile, pool: &Pool, shard: Option<Shard>) -> DaemonSet {
    let mut selector = selector_labels(&pool.name);
    if let Some(s) = shard {
        selector.insert(LABEL_SHARD.into(), s.to_string());
    }
    let mut labels = selector.clone();
    labels.insert(LABEL_MANAGED_BY.into(), MANAGER.into());
    let mut annotations = BTreeMap::new();
    if let Some(keep) = pool.keep {
        annotations.insert(ANNOTATION_KEEP.to_string(), keep.to_string());
    }
    if let Some(protect) = &pool.protect {
        let json = serde_json::to_string(protect).expect("a list of strings serialises");
        annotations.insert(ANNOTATION_PROTECT.to_string(), json);
    }

    let name = match shard {
        Some(s) => shard_name(pool, s),
        None => pool.daemonset_name(),
    };
    // Only the first (or only) DaemonSet runs the privileged cleanup container: first of
    // the init containers and a sidecar (`restartPolicy: Always`), so it runs while the
    // images pull and kpreload can read their bytes through it.
    let cleans = shard.is_none_or(|s| s.index == 1);
    let mut init_containers = Vec::new();
    if cleans {
        init_containers.push(cleanup_container(&file.helper_image));
    }
    init_containers.push(noop_installer(&file.helper_image));
    let names = container_names(&pool.images);
    init_containers.extend(
        pool.images
            .iter()
            .zip(names)
            .map(|(image, name)| preload_container(name, image)),
    );

    let main = hold_container(&file.helper_image);
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(file.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector),
                match_expressions: None,
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::String("10%".into())),
                    max_surge: None,
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    affinity: pool.selector.to_affinity(),
                    tolerations: (!pool.tolerations.is_empty())
                        .then(|| pool.tolerations.iter().map(|t| t.to_k8s()).collect()),
                    host_pid: cleans.then_some(true),
                    image_pull_secrets: (!pool.pull_secrets.is_empty()).then(|| {
                        pool.pull_secrets
                            .iter()
                            .map(|s| k8s_openapi::api::core::v1::LocalObjectReference {
                                name: s.clone(),
                            })
                            .collect()
                    }),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(5),
                    init_containers: Some(init_containers),
                    containers: vec![main],
                    volumes: Some(vec![Volume {
                        name: BIN_VOLUME.into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        status: None,
    }
}

/// Every pool of the file, in the file's order; split pools balanced by count (no sizes).
pub fn render_all(file: &PoolsFile) -> Vec<DaemonSet> {
    file.pools
        .iter()
        .flat_map(|p| render_shards(file, p, &|_| None, &[]))
        .collect()
}

/// Image sizes as the nodes report them (`status.images`), by normalised reference: the
/// largest any node reports.
pub fn sizes_from_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Node>,
) -> std::collections::HashMap<String, u64> {
    let mut sizes = std::collections::HashMap::new();
    for node in nodes {
        for image in node.status.iter().flat_map(|s| s.images.iter().flatten()) {
            let size = image.size_bytes.unwrap_or(0).max(0) as u64;
            if size == 0 {
                continue;
            }
            for name in image.names.iter().flatten() {
                if let Ok(r) = ImageRef::parse(name) {
                    let e = sizes.entry(r.normalized()).or_insert(0);
                    *e = (*e).max(size);
                }
            }
        }
    }
    sizes
}

/// Multi-document YAML for `kubectl apply -f -`.
pub fn to_yaml(daemonsets: &[DaemonSet]) -> String {
    daemonsets
        .iter()
        .map(|ds| serde_yaml::to_string(ds).expect("a DaemonSet serialises to YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn requests(cpu: &str, memory: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])),
        ..Default::default()
    }
}

fn unprivileged() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(65534),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

fn bin_mount(read_only: bool) -> Vec<VolumeMount> {
    vec![VolumeMount {
        name: BIN_VOLUME.into(),
        mount_path: BIN_DIR.into(),
        read_only: Some(read_only),
        ..Default::default()
    }]
}

/// Busybox runs the applet named by its file name, so a copy called `true` is a static no-op.
fn noop_installer(helper: &ImageRef) -> Container {
    Container {
        name: NOOP_CONTAINER.into(),
        image: Some(helper.written().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec![
            "/bin/cp".into(),
            "/bin/busybox".into(),
            NOOP_PATH.into(),
        ]),
        volume_mounts: Some(bin_mount(false)),
        resources: Some(requests("5m", "8Mi")),
        security_context: Some(unprivileged()),
        ..Default::default()
    }
}

fn preload_container(name: String, image: &ImageRef) -> Container {
    Container {
        name,
        image: Some(image.written().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec![NOOP_PATH.into()]),
        volume_mounts: Some(bin_mount(true)),
        resources: Some(requests("5m", "8Mi")),
        security_context: Some(unprivileged()),
        ..Default::default()
    }
}

fn hold_container(helper: &ImageRef) -> Container {
    Container {
        name: HOLD_CONTAINER.into(),
        image: Some(helper.written().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sleep".into(), "2147483647".into()]),
        resources: Some(requests("5m", "8Mi")),
        security_context: Some(unprivileged()),
        ..Default::default()
    }
}

/// Whether an API server of this version runs the rendered preloader: its cleanup container
/// is an init container with `restartPolicy: Always`, a sidecar, which Kubernetes runs from
/// 1.29 (1.28 only with the SidecarContainers gate). An older server drops the field, and
/// the container, sleeping for ever, would hold every pull behind it. `major` and `minor`
/// as `/version` gives them (`"1"`, `"28+"`), else its `gitVersion` (`v1.28.3-eks-…`); a
/// version that cannot be read is let through.
pub fn sidecars_run_on(major: &str, minor: &str, git_version: &str) -> Result<(), String> {
    let Some((major, minor)) = leading_number(major)
        .zip(leading_number(minor))
        .or_else(|| major_minor(git_version))
    else {
        return Ok(());
    };
    if (major, minor) >= SIDECARS_FROM {
        return Ok(());
    }
    Err(format!(
        "This cluster runs Kubernetes {major}.{minor}; kpreload's preloader runs its cleanup \
         container as a sidecar, which needs 1.29 or newer (older API servers drop it, and the \
         pulls would never start). Upgrade the control plane, then apply again."
    ))
}

/// The Kubernetes version that runs sidecars by default.
pub(crate) const SIDECARS_FROM: (u32, u32) = (1, 29);

/// The digits a version field starts with: `28` of `"28+"`.
fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Major and minor of a version as Kubernetes prints it: `v1.28.5-eks-5e0fdde` → (1, 28).
pub(crate) fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim_start_matches('v').split('.');
    Some((
        leading_number(parts.next()?)?,
        leading_number(parts.next()?)?,
    ))
}

/// An init container that starts and keeps running beside the others (a sidecar,
/// Kubernetes 1.29 and later).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn cleanup_container(helper: &ImageRef) -> Container {
    Container {
        name: CLEANUP_CONTAINER.into(),
        image: Some(helper.written().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        // Idle until kpreload execs the runtime's tools in it; removal is never scheduled here.
        command: Some(vec!["/bin/sleep".into(), "2147483647".into()]),
        restart_policy: Some("Always".into()),
        resources: Some(requests("5m", "16Mi")),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `preload-<last path component>`, made a valid, unique container name.
fn container_names(images: &[ImageRef]) -> Vec<String> {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    images
        .iter()
        .map(|image| {
            let last = image.repository().rsplit('/').next().unwrap_or("image");
            let mut stem: String = last
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            stem.truncate(40);
            let stem = stem.trim_matches('-');
            let base = format!("preload-{}", if stem.is_empty() { "image" } else { stem });
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}-{n}") }
        })
        .collect()
}

#[cfg(test)]
mod tests;
