//! Scenario files: multi-document YAML of plain Kubernetes objects, plus one optional
//! `kind: Simulation` document with what the simulator itself needs to know.
//!
//! ```yaml
//! apiVersion: sim.kpreload.dev/v1
//! kind: Simulation
//! registry:                     # what can be pulled; anything else fails with ErrImagePull
//!   - { image: python:3.12-slim, size: 43474862 }
//!   - { image: registry.example.com/team/app:1.0, size: 10MiB, secret: regcred }  # private
//! nodeDefaults:
//!   bandwidth: 30MiB/s          # one pull's throughput
//!   link: 50MiB/s               # optional: what all of a node's pulls at once share
//!   disk: 100GiB                # image filesystem capacity
//!   kubelet: { imageGCHighThresholdPercent: 85, imageGCLowThresholdPercent: 80, serializeImagePulls: true }
//! generate:                     # many nodes without writing each one
//!   - { pool: web, count: 5000, labels: { workload-type: web }, images: [nginx:1.25-alpine] }
//! speed: 1.0                    # time scale for pulls (tests use a large one)
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::generate::{complete_running_status, generated_node, generated_pod};
use super::objects::{FieldValidation, normalize, validate};
use super::resources::{self, RESOURCES};
use super::server::check_identity;
use super::store::Store;
use crate::rules::reference::ImageRef;
use kpreload_core::pools::without_first_place;
use kpreload_core::yaml_places::places;

pub const SIM_API_VERSION: &str = "sim.kpreload.dev/v1";
pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A scenario that could not be loaded: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: String,
    pub location: Option<(usize, usize)>,
    pub message: String,
}

/// The kubelet settings the simulator honours, as `configz` reports them.
#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KubeletConfig {
    #[serde(rename = "imageGCHighThresholdPercent")]
    pub image_gc_high_threshold_percent: u8,
    #[serde(rename = "imageGCLowThresholdPercent")]
    pub image_gc_low_threshold_percent: u8,
    pub serialize_image_pulls: bool,
    pub max_parallel_image_pulls: Option<u32>,
    pub node_status_max_images: i32,
    #[serde(rename = "imageMinimumGCAge")]
    pub image_minimum_gc_age: String,
    #[serde(rename = "imageMaximumGCAge")]
    pub image_maximum_gc_age: String,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            image_gc_high_threshold_percent: 85,
            image_gc_low_threshold_percent: 80,
            serialize_image_pulls: true,
            max_parallel_image_pulls: None,
            node_status_max_images: 50,
            image_minimum_gc_age: "2m0s".into(),
            image_maximum_gc_age: "0s".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeDefaults {
    /// Bytes per second of one pull.
    pub bandwidth: u64,
    /// Bytes per second all pulls at once share; `None`: each pull has its `bandwidth`.
    pub link: Option<u64>,
    /// Image filesystem capacity in bytes.
    pub disk: u64,
    pub kubelet: KubeletConfig,
}

impl Default for NodeDefaults {
    fn default() -> Self {
        NodeDefaults {
            bandwidth: 30 * 1024 * 1024,
            link: None,
            disk: 100 * 1024 * 1024 * 1024,
            kubelet: KubeletConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegistryImage {
    pub image: ImageRef,
    pub size: u64,
    /// The Secret a pod must name in `imagePullSecrets` to pull it (a private image).
    pub secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generate {
    pub pool: String,
    pub count: usize,
    /// Workload pods bound to each generated node, using the node's images in turn.
    pub pods_per_node: usize,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Value>,
    pub images: Vec<ImageRef>,
}

/// Workload pods started on a schedule: a new pod every `every` simulated seconds, placed by
/// the scheduler, its containers long-running; the oldest deleted beyond `keep`. What the
/// kubelets say of their images (present, or pulled in how long) is the hit rate's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    pub every: f64,
    /// Simulated seconds before the first pod.
    pub after: f64,
    pub keep: usize,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Value>,
    pub images: Vec<ImageRef>,
}

/// The `kind: Simulation` document, with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// Run the DaemonSet controller, the scheduler and the kubelets (default); without
    /// them the simulator is an API server alone.
    pub controllers: bool,
    pub registry: Vec<RegistryImage>,
    pub node_defaults: NodeDefaults,
    pub generate: Vec<Generate>,
    pub workloads: Vec<Workload>,
    pub speed: f64,
    /// Bearer tokens and who they are. With users, every request is authenticated and
    /// authorized by RBAC (see `rbac`); without, every request is the administrator's.
    pub users: Vec<crate::rbac::User>,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            controllers: true,
            registry: Vec::new(),
            node_defaults: NodeDefaults::default(),
            generate: Vec::new(),
            workloads: Vec::new(),
            speed: 1.0,
            users: Vec::new(),
        }
    }
}

impl Scenario {
    /// The same scenario at another time scale (tests run the demo's minute in a second).
    pub fn with_speed(mut self, speed: f64) -> Self {
        self.simulation.speed = speed;
        self
    }
}

impl Simulation {
    /// The Secret a private image needs, if it is one.
    pub fn secret_of(&self, image: &ImageRef) -> Option<&str> {
        self.registry
            .iter()
            .find(|r| r.image == *image)
            .and_then(|r| r.secret.as_deref())
    }

    /// The registry's size for an image, if the registry has it.
    pub fn size_of(&self, image: &ImageRef) -> Option<u64> {
        self.registry
            .iter()
            .find(|r| r.image == *image)
            .map(|r| r.size)
    }
}

/// A loaded scenario: the simulation settings and the objects to create.
#[derive(Debug)]
pub struct Scenario {
    pub simulation: Simulation,
    /// (store kind, object), in file order; the generated nodes and pods come from
    /// [`generated`], one at a time as they are stored.
    pub objects: Vec<(&'static str, Value)>,
}

/// The nodes and pods of a simulation's `generate`, each made as it is taken: 100,000 pods
/// are never all held as trees at once.
pub fn generated(simulation: &Simulation) -> impl Iterator<Item = (&'static str, Value)> + '_ {
    simulation.generate.iter().flat_map(move |g| {
        (1..=g.count).flat_map(move |i| {
            std::iter::once(("Node", generated_node(g, i, simulation))).chain(
                (0..g.pods_per_node).map(move |j| {
                    let mut pod = generated_pod(g, i, j);
                    complete_running_status(&mut pod);
                    ("Pod", pod)
                }),
            )
        })
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSimulation {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    registry: Vec<RawRegistryImage>,
    #[serde(default)]
    node_defaults: RawNodeDefaults,
    #[serde(default)]
    generate: Vec<RawGenerate>,
    #[serde(default)]
    workloads: Vec<RawWorkload>,
    speed: Option<f64>,
    controllers: Option<bool>,
    #[serde(default)]
    users: Vec<crate::rbac::User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistryImage {
    image: String,
    size: Size,
    /// A private image: pulled only by a pod that names this Secret in its
    /// `imagePullSecrets`, the Secret existing in the pod's namespace.
    secret: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNodeDefaults {
    bandwidth: Option<String>,
    link: Option<String>,
    disk: Option<Size>,
    kubelet: Option<KubeletConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGenerate {
    pool: String,
    count: usize,
    #[serde(default)]
    pods_per_node: usize,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Vec<Value>,
    #[serde(default)]
    images: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorkload {
    name: String,
    namespace: Option<String>,
    every: String,
    after: Option<String>,
    keep: Option<usize>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    tolerations: Vec<Value>,
    images: Vec<String>,
}

/// A size: a number of bytes, or text with a unit (`43474862`, `100GiB`, `1.5GB`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// Parses `100GiB`, `30MiB`, `1.5GB`, `512` into bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "TB" | "T" => 1e12,
        "KiB" | "Ki" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (n >= 0.0 && n.is_finite()).then(|| (n * factor).round() as u64)
}

/// Loads a scenario's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let err = |location: Option<(usize, usize)>, message: String| ScenarioError {
        file: file.to_string(),
        location,
        message,
    };
    let doc_places = places(text);
    let mut simulation: Option<Simulation> = None;
    let mut objects = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let here = |path: &str| doc_places.get(index).and_then(|d| d.get(path)).copied();
        let value: serde_yaml::Value = serde_yaml::Value::deserialize(doc).map_err(|e| {
            err(
                e.location().map(|l| (l.line(), l.column())),
                without_first_place(&e.to_string()),
            )
        })?;
        if value.is_null() {
            continue;
        }
        let json: Value = serde_json::to_value(&value).map_err(|e| {
            err(
                here(""),
                format!("this document cannot be read as JSON: {e}"),
            )
        })?;
        let api_version = json["apiVersion"].as_str().unwrap_or_default();
        let kind = json["kind"].as_str().unwrap_or_default();
        if kind.is_empty() || api_version.is_empty() {
            return Err(err(
                here(""),
                "every document needs apiVersion and kind".into(),
            ));
        }
        if api_version == SIM_API_VERSION && kind == "Simulation" {
            if simulation.is_some() {
                return Err(err(
                    here(""),
                    "there is more than one Simulation document".into(),
                ));
            }
            // Read again from the text, so that errors carry their own line and column.
            let doc = serde_yaml::Deserializer::from_str(text)
                .nth(index)
                .expect("the document was read once already");
            let raw = RawSimulation::deserialize(doc).map_err(|e| {
                err(
                    e.location().map(|l| (l.line(), l.column())).or(here("")),
                    without_first_place(&e.to_string()),
                )
            })?;
            simulation = Some(
                check_simulation(raw)
                    .map_err(|(path, m)| err(here(&path).or(here("")), format!("{path}: {m}")))?,
            );
            continue;
        }
        let Some(res) =
            resources::by_kind(api_version, kind).filter(|r| r.group != "events.k8s.io")
        else {
            let served: Vec<String> = RESOURCES
                .iter()
                .filter(|r| r.group != "events.k8s.io")
                .map(|r| format!("{} ({})", r.kind, r.api_version()))
                .collect();
            return Err(err(
                here("kind"),
                format!(
                    "{kind} ({api_version}) is not something the simulator serves; it serves {} and {SIM_API_VERSION} Simulation",
                    served.join(", ")
                ),
            ));
        };
        let mut obj = json;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        check_identity(res, &mut obj, &ns).map_err(|e| err(here(""), e.message))?;
        let (mut obj, _) =
            normalize(res, obj, FieldValidation::Strict).map_err(|e| err(here(""), e.message))?;
        if res.store_kind == "Pod" {
            complete_running_status(&mut obj);
        }
        validate(res, &obj).map_err(|e| {
            // Point at the first invalid field, as the API's causes name it.
            let field = e
                .details
                .as_ref()
                .and_then(|d| d["causes"][0]["field"].as_str())
                .unwrap_or("");
            err(here(field).or(here("")), e.message)
        })?;
        objects.push((res.store_kind, obj));
    }
    let simulation = simulation.unwrap_or_default();
    Ok(Scenario {
        simulation,
        objects,
    })
}

type Fault = (String, String);

/// An image named in the scenario file. The file is kpreload's own format, so a bad
/// reference is told in kpreload's words; what the reference means (how it is normalised and
/// compared) is the simulated runtime's own rule.
fn scenario_image(text: &str) -> Result<ImageRef, String> {
    kpreload_core::reference::ImageRef::parse(text).map_err(|e| e.to_string())?;
    ImageRef::parse(text).map_err(|e| e.to_string())
}

fn check_simulation(raw: RawSimulation) -> Result<Simulation, Fault> {
    let mut registry = Vec::new();
    for (i, r) in raw.registry.into_iter().enumerate() {
        let image = scenario_image(&r.image).map_err(|e| (format!("registry[{i}].image"), e))?;
        let size = size_of(&r.size).ok_or_else(|| {
            (
                format!("registry[{i}].size"),
                "is not a size; write bytes (43474862) or a size with a unit (100MiB)".into(),
            )
        })?;
        if registry.iter().any(|x: &RegistryImage| x.image == image) {
            return Err((
                format!("registry[{i}].image"),
                format!("{} is listed twice", r.image),
            ));
        }
        if let Some(s) = &r.secret
            && let Some(problem) = kpreload_core::pools::dns_subdomain_problem(s)
        {
            return Err((
                format!("registry[{i}].secret"),
                format!("{s:?} is not a Secret's name: {problem}"),
            ));
        }
        registry.push(RegistryImage {
            image,
            size,
            secret: r.secret,
        });
    }
    let mut defaults = NodeDefaults::default();
    if let Some(b) = raw.node_defaults.bandwidth {
        let per_second = b.trim().strip_suffix("/s").unwrap_or(&b);
        defaults.bandwidth = parse_bytes(per_second).filter(|b| *b > 0).ok_or_else(|| {
            (
                "nodeDefaults.bandwidth".to_string(),
                format!("\"{b}\" is not a bandwidth; write it like 30MiB/s"),
            )
        })?;
    }
    if let Some(b) = raw.node_defaults.link {
        let per_second = b.trim().strip_suffix("/s").unwrap_or(&b);
        defaults.link = Some(parse_bytes(per_second).filter(|b| *b > 0).ok_or_else(|| {
            (
                "nodeDefaults.link".to_string(),
                format!("\"{b}\" is not a bandwidth; write it like 50MiB/s"),
            )
        })?);
    }
    if let Some(d) = raw.node_defaults.disk {
        defaults.disk = size_of(&d).filter(|d| *d > 0).ok_or_else(|| {
            (
                "nodeDefaults.disk".to_string(),
                "is not a size; write it like 100GiB".to_string(),
            )
        })?;
    }
    if let Some(k) = raw.node_defaults.kubelet {
        if k.image_gc_high_threshold_percent > 100
            || k.image_gc_low_threshold_percent > k.image_gc_high_threshold_percent
        {
            return Err((
                "nodeDefaults.kubelet".into(),
                "imageGCLowThresholdPercent must not exceed imageGCHighThresholdPercent, which must not exceed 100".into(),
            ));
        }
        defaults.kubelet = k;
    }
    let mut generate = Vec::new();
    for (i, g) in raw.generate.into_iter().enumerate() {
        if let Some(p) = kpreload_core::pools::dns_label_problem(&g.pool, 40) {
            return Err((
                format!("generate[{i}].pool"),
                format!("the pool name \"{}\" {p}", g.pool),
            ));
        }
        if g.count == 0 || g.count > 100_000 {
            return Err((
                format!("generate[{i}].count"),
                "must be between 1 and 100000".into(),
            ));
        }
        let images = g
            .images
            .iter()
            .enumerate()
            .map(|(j, t)| scenario_image(t).map_err(|e| (format!("generate[{i}].images[{j}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if g.pods_per_node > 0 && images.is_empty() {
            return Err((
                format!("generate[{i}].podsPerNode"),
                "needs images for the pods to use".into(),
            ));
        }
        generate.push(Generate {
            pool: g.pool,
            count: g.count,
            pods_per_node: g.pods_per_node,
            labels: g.labels,
            taints: g.taints,
            images,
        });
    }
    let mut workloads = Vec::new();
    for (i, w) in raw.workloads.into_iter().enumerate() {
        let at = |field: &str| format!("workloads[{i}].{field}");
        if let Some(p) = kpreload_core::pools::dns_label_problem(&w.name, 50) {
            return Err((at("name"), format!("the name \"{}\" {p}", w.name)));
        }
        let namespace = w.namespace.unwrap_or_else(|| "default".into());
        if workloads
            .iter()
            .any(|o: &Workload| o.name == w.name && o.namespace == namespace)
        {
            return Err((
                at("name"),
                format!(
                    "two workloads named \"{}\" in {namespace}: their pods would be one set",
                    w.name
                ),
            ));
        }
        if let Some(p) = kpreload_core::pools::dns_label_problem(&namespace, 63) {
            return Err((at("namespace"), format!("\"{namespace}\" {p}")));
        }
        let every = crate::world::gc::go_seconds(&w.every)
            .filter(|s| (1.0..=31_536_000.0).contains(s))
            .ok_or_else(|| {
                (
                    at("every"),
                    format!(
                        "\"{}\" is not a period from a second to a year; write it like 30s or 2m",
                        w.every
                    ),
                )
            })?;
        let after = match &w.after {
            None => 0.0,
            Some(t) => crate::world::gc::go_seconds(t)
                .filter(|s| (0.0..=31_536_000.0).contains(s))
                .ok_or_else(|| {
                    (
                        at("after"),
                        format!(
                            "\"{t}\" is not a duration of at most a year; write it like 45s or 2m"
                        ),
                    )
                })?,
        };
        let keep = w.keep.unwrap_or(3);
        if keep == 0 || keep > 1000 {
            return Err((at("keep"), "must be between 1 and 1000".into()));
        }
        if w.images.is_empty() {
            return Err((
                at("images"),
                "needs at least one image for the pods to run".into(),
            ));
        }
        let images = w
            .images
            .iter()
            .enumerate()
            .map(|(j, t)| scenario_image(t).map_err(|e| (format!("workloads[{i}].images[{j}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        workloads.push(Workload {
            name: w.name,
            namespace,
            every,
            after,
            keep,
            node_selector: w.node_selector,
            tolerations: w.tolerations,
            images,
        });
    }
    let speed = raw.speed.unwrap_or(1.0);
    if !(speed > 0.0 && speed.is_finite()) {
        return Err((
            "speed".into(),
            format!("{speed} is not a positive time scale"),
        ));
    }
    crate::rbac::check_users(&raw.users)?;
    Ok(Simulation {
        controllers: raw.controllers.unwrap_or(true),
        registry,
        node_defaults: defaults,
        generate,
        workloads,
        speed,
        users: raw.users,
    })
}

fn size_of(s: &Size) -> Option<u64> {
    match s {
        Size::Bytes(b) => Some(*b),
        Size::Text(t) => parse_bytes(t),
    }
}

/// Creates the default namespaces and the scenario's objects in a store, taking each object
/// as it comes, so that a large scenario is not held twice.
pub fn load_into(
    store: &Store,
    objects: impl Iterator<Item = (&'static str, Value)>,
) -> Result<(), String> {
    // Nothing happened before the start, so there is nothing to replay.
    store.load(|| create_all(store, objects))
}

fn create_all(
    store: &Store,
    objects: impl Iterator<Item = (&'static str, Value)>,
) -> Result<(), String> {
    let namespaces = resources::stored("Namespace");
    for ns in DEFAULT_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        store
            .create(namespaces, obj, false)
            .map_err(|e| e.message)?;
    }
    for (kind, obj) in objects {
        let res = resources::stored(kind);
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if res.namespaced && store.get("Namespace", "", &ns).is_none() {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Active"}});
            store
                .create(namespaces, obj, false)
                .map_err(|e| e.message)?;
        }
        // Objects a scenario starts with carry no managedFields: nobody wrote them, and
        // 100,000 pods are lighter without.
        store.create(res, obj, false).map_err(|e| e.message)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
