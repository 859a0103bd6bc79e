//! A pool rendered as its preloader DaemonSet.
//!
//! Shape (DESIGN.md, "Pools and preloaders"): name `image-preloader-<pool>`; our labels under
//! `kpreload.dev/`; required node affinity and tolerations for the pool; a first init
//! container copies a static no-op (busybox's `true`) into an emptyDir, then one init
//! container per image, in pull order, runs that no-op, so images without a shell preload
//! too; then the privileged, `hostPID` cleanup container that kpreload execs into. Requests
//! are tiny, and no service account token is mounted.

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

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_POOL: &str = "kpreload.dev/pool";
pub const ANNOTATION_KEEP: &str = "kpreload.dev/keep";
pub const ANNOTATION_PROTECT: &str = "kpreload.dev/protect";
pub const MANAGER: &str = "kpreload";
pub const APP_NAME: &str = "image-preloader";
/// The init container that installs the no-op, and the cleanup container.
pub const NOOP_CONTAINER: &str = "kpreload-noop";
pub const CLEANUP_CONTAINER: &str = "cleanup";
const BIN_VOLUME: &str = "kpreload-bin";
const BIN_DIR: &str = "/kpreload";
pub const NOOP_PATH: &str = "/kpreload/true";

/// The labels that select one pool's preloader pods.
pub fn selector_labels(pool: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), APP_NAME.to_string()),
        (LABEL_POOL.to_string(), pool.to_string()),
    ])
}

/// Renders one pool of a pools file.
pub fn render_pool(file: &PoolsFile, pool: &Pool) -> DaemonSet {
    let mut labels = selector_labels(&pool.name);
    labels.insert(LABEL_MANAGED_BY.into(), MANAGER.into());
    let mut annotations = BTreeMap::new();
    if let Some(keep) = pool.keep {
        annotations.insert(ANNOTATION_KEEP.to_string(), keep.to_string());
    }
    if let Some(protect) = &pool.protect {
        let json = serde_json::to_string(protect).expect("a list of strings serialises");
        annotations.insert(ANNOTATION_PROTECT.to_string(), json);
    }

    let mut init_containers = vec![noop_installer(&file.helper_image)];
    let names = container_names(&pool.images);
    init_containers.extend(
        pool.images
            .iter()
            .zip(names)
            .map(|(image, name)| preload_container(name, image)),
    );

    DaemonSet {
        metadata: ObjectMeta {
            name: Some(pool.daemonset_name()),
            namespace: Some(file.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(&pool.name)),
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
                    host_pid: Some(true),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(5),
                    init_containers: Some(init_containers),
                    containers: vec![cleanup_container(&file.helper_image)],
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

/// Every pool of the file, in the file's order.
pub fn render_all(file: &PoolsFile) -> Vec<DaemonSet> {
    file.pools.iter().map(|p| render_pool(file, p)).collect()
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

fn cleanup_container(helper: &ImageRef) -> Container {
    Container {
        name: CLEANUP_CONTAINER.into(),
        image: Some(helper.written().into()),
        image_pull_policy: Some("IfNotPresent".into()),
        // Idle until kpreload execs the runtime's tools in it; removal is never scheduled here.
        command: Some(vec!["/bin/sleep".into(), "2147483647".into()]),
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
mod tests {
    use super::*;

    fn file() -> PoolsFile {
        PoolsFile::parse(include_str!("../../config/pools.yaml"), "config/pools.yaml").unwrap()
    }

    #[test]
    fn shape_of_a_rendered_preloader() {
        let f = file();
        let ds = render_pool(&f, &f.pools[1]);
        assert_eq!(ds.metadata.name.as_deref(), Some("image-preloader-ml"));
        assert_eq!(ds.metadata.namespace.as_deref(), Some("kube-system"));
        let spec = ds.spec.template.spec.unwrap();
        assert_eq!(spec.host_pid, Some(true));
        assert_eq!(spec.automount_service_account_token, Some(false));
        let init = spec.init_containers.unwrap();
        assert_eq!(init[0].name, NOOP_CONTAINER);
        let images: Vec<_> = init[1..].iter().map(|c| c.image.clone().unwrap()).collect();
        assert_eq!(
            images,
            [
                "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
                "tensorflow/tensorflow:2.15.0-gpu",
                "jupyter/scipy-notebook:latest"
            ]
        );
        for c in &init[1..] {
            assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
            assert_eq!(c.command.as_deref(), Some(&[NOOP_PATH.to_string()][..]));
        }
        assert_eq!(spec.containers.len(), 1);
        let cleanup = &spec.containers[0];
        assert_eq!(
            cleanup.security_context.as_ref().unwrap().privileged,
            Some(true)
        );
        let terms = spec
            .affinity
            .unwrap()
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert_eq!(spec.tolerations.unwrap()[0].value.as_deref(), Some("ml"));
    }

    #[test]
    fn container_names_are_unique_and_valid() {
        let digest = format!("app@sha256:{}", "0".repeat(64));
        let images: Vec<ImageRef> = ["a/app:1", "b/app:1", "x.io/my_app.v2:1", digest.as_str()]
            .iter()
            .map(|s| ImageRef::parse(s).unwrap())
            .collect();
        let names = container_names(&images);
        assert_eq!(names[0], "preload-app");
        assert_eq!(names[1], "preload-app-2");
        assert_eq!(names[2], "preload-my-app-v2");
        assert_eq!(names[3], "preload-app-3");
        for n in &names {
            assert!(
                super::super::pools::dns_label_problem(n, 63).is_none(),
                "{n}"
            );
        }
    }
}
