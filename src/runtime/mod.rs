//! The node runtime's command surface: what kpreload runs on a node to list and remove
//! images, and how it reads what comes back.
//!
//! kpreload execs into a preloader's privileged `hostPID` cleanup container and enters the
//! host's namespaces (`nsenter -t 1 -m -u -i -n -p --`), then runs the runtime's own tool:
//! `ctr -n k8s.io …` on containerd, `crictl …` on CRI-O or where `ctr` is missing. Which one
//! is read from `node.status.nodeInfo.containerRuntimeVersion`.
//!
//! The traps this module exists to avoid, each seen on real nodes:
//! - an image pulled through the CRI carries three names (`repo:tag`, `repo@sha256:…` and
//!   `sha256:<id>`); `ctr images rm` of one leaves the others, so every name of an image is
//!   removed together, in one exec per node;
//! - containerd lets you delete an image a container uses, so the node's containers are
//!   listed again right before removal and any candidate now in use is dropped;
//! - pinned images (the sandbox image) are never removed, whatever the plan said;
//! - a name that is already gone is reported as such, so running a removal twice is harmless.
//!
//! The parsing is pure ([`ctr`], [`crictl`]); [`NodeRuntime`] runs the commands through a
//! [`Runner`]: exec into a pod ([`exec::PodExec`]) or a local process ([`local::Local`]).

pub mod crictl;
pub mod ctr;
pub mod exec;
pub mod local;

use std::collections::BTreeSet;
use std::future::Future;

use crate::core::planner::{ImagePlan, InventoryImage, NodeInput, Usage};
use crate::core::reference::{ImageName, ImageRef};

/// The host's namespaces, entered from a privileged container of a `hostPID` pod.
pub const NSENTER: &[&str] = &["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"];

/// The runtime tool a node is driven with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Ctr,
    Crictl,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ctr => "ctr",
            Tool::Crictl => "crictl",
        }
    }
}

/// The tool for a node, from `status.nodeInfo.containerRuntimeVersion`
/// (`containerd://1.7.13`, `cri-o://1.29.1`), or why kpreload cannot drive it.
pub fn tool_for(container_runtime_version: &str) -> Result<Tool, String> {
    let (scheme, _) = container_runtime_version
        .split_once("://")
        .unwrap_or((container_runtime_version, ""));
    match scheme {
        "containerd" => Ok(Tool::Ctr),
        "cri-o" => Ok(Tool::Crictl),
        "" => Err("the node does not report its container runtime \
                   (status.nodeInfo.containerRuntimeVersion is empty)"
            .into()),
        other => Err(format!(
            "the node's container runtime is {other}, and kpreload drives only containerd \
             (with ctr or crictl) and CRI-O (with crictl)"
        )),
    }
}

/// The argv prefixes that reach the node's runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Surface {
    pub tool: Tool,
    /// Run before the tool: [`NSENTER`] on a node, nothing for a local runtime.
    pub host: Vec<String>,
    /// `ctr` with its global flags: `ctr -n k8s.io`, or with `--address SOCKET` locally.
    pub ctr: Vec<String>,
    /// `crictl` with its global flags (`--runtime-endpoint …` locally).
    pub crictl: Vec<String>,
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

impl Surface {
    /// What runs on a node, from inside a preloader's cleanup container.
    pub fn node(tool: Tool) -> Surface {
        Surface {
            tool,
            host: words(NSENTER),
            ctr: words(&["ctr", "-n", "k8s.io"]),
            crictl: words(&["crictl"]),
        }
    }

    /// The same surface with the other tool: `crictl` where `ctr` is missing.
    pub fn with_tool(&self, tool: Tool) -> Surface {
        Surface {
            tool,
            ..self.clone()
        }
    }

    /// The tool with these arguments, behind the host prefix.
    pub fn command(&self, args: &[&str]) -> Vec<String> {
        let mut argv = self.host.clone();
        argv.extend(match self.tool {
            Tool::Ctr => self.ctr.iter().cloned(),
            Tool::Crictl => self.crictl.iter().cloned(),
        });
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Asks the tool for its version: a cheap check that it is there.
    pub fn version(&self) -> Vec<String> {
        match self.tool {
            Tool::Ctr => self.command(&["version"]),
            Tool::Crictl => self.command(&["version"]),
        }
    }

    pub fn list_images(&self) -> Vec<String> {
        match self.tool {
            Tool::Ctr => self.command(&["images", "ls"]),
            Tool::Crictl => self.command(&["images", "-o", "json"]),
        }
    }

    /// Every container, running or not: a created container holds its image too.
    pub fn list_containers(&self) -> Vec<String> {
        match self.tool {
            Tool::Ctr => self.command(&["containers", "ls"]),
            Tool::Crictl => self.command(&["ps", "-a", "-o", "json"]),
        }
    }

    /// Pulls under way (containerd only: crictl has no such view).
    pub fn content_active(&self) -> Option<Vec<String>> {
        match self.tool {
            Tool::Ctr => Some(self.command(&["content", "active"])),
            Tool::Crictl => None,
        }
    }

    /// Removes every name given, in one command. With crictl the names are image IDs: CRI
    /// RemoveImage removes every name of an image at once.
    pub fn remove(&self, names: &[String]) -> Vec<String> {
        let mut args = match self.tool {
            Tool::Ctr => vec!["images", "rm"],
            Tool::Crictl => vec!["rmi"],
        };
        args.extend(names.iter().map(String::as_str));
        self.command(&args)
    }
}

/// One image in the runtime's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeImage {
    /// `sha256:<config digest>`, the image ID; None when its ID record is gone (ctr).
    pub id: Option<String>,
    /// What the image's names resolve to: the index or manifest digest (ctr), or the ID.
    pub target: String,
    /// Every name but the ID: `repo:tag` and `repo@sha256:…`, sorted.
    pub refs: Vec<String>,
    /// Bytes; ctr prints them to a tenth of their unit (`4.8 MiB`), crictl exactly.
    pub size: u64,
    pub size_exact: bool,
    pub pinned: bool,
}

impl RuntimeImage {
    /// Every name the runtime knows the image by, the ID record included.
    pub fn names(&self) -> Vec<String> {
        let mut names = self.refs.clone();
        names.extend(self.id.clone());
        names
    }

    /// The image as the planner reads it.
    pub fn to_inventory(&self) -> InventoryImage {
        InventoryImage {
            id: self.id.clone(),
            refs: self.names(),
            size: self.size,
            pinned: self.pinned,
            created: None,
        }
    }
}

/// A container the runtime knows, in any state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeContainer {
    pub id: String,
    /// The image as the container names it: a reference or an image ID.
    pub image: String,
    /// Another name of the same image, where the tool gives one (crictl's `imageRef`).
    pub image_ref: Option<String>,
    /// None where the tool does not say (`ctr containers ls`).
    pub running: Option<bool>,
}

/// A pull under way: `ctr content active`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivePull {
    /// The ingest's ref, e.g. `layer-sha256:…`.
    pub reference: String,
    /// Bytes received so far (to ctr's four significant digits).
    pub offset: u64,
    /// Seconds since the transfer started, where ctr says (`About a minute` reads as 60).
    pub age_seconds: Option<u64>,
}

/// Everything the runtime says about a node's images.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub images: Vec<RuntimeImage>,
    pub containers: Vec<RuntimeContainer>,
}

impl Inventory {
    /// The containers as the planner's usages (`by`: `container <id>`).
    pub fn usages(&self) -> Vec<Usage> {
        let mut out = Vec::new();
        for c in &self.containers {
            for image in std::iter::once(&c.image).chain(c.image_ref.iter()) {
                out.push(Usage {
                    image: image.clone(),
                    by: format!("container {}", c.id),
                });
            }
        }
        out
    }

    /// What the planner needs from the runtime for one node; the caller adds the pool and
    /// what it preloads.
    pub fn node_input(&self, node: &str) -> NodeInput {
        NodeInput {
            node: node.to_string(),
            images: self.images.iter().map(RuntimeImage::to_inventory).collect(),
            in_use: self.usages(),
            ..Default::default()
        }
    }

    /// The image a name resolves to: any of its names, compared in normalised form.
    pub fn find(&self, name: &str) -> Option<&RuntimeImage> {
        let wanted = normal(name);
        self.images
            .iter()
            .find(|i| i.names().iter().any(|n| normal(n) == wanted) || i.target == name)
    }
}

/// A name in normalised form (`nginx:1` → `docker.io/library/nginx:1`), or as written.
fn normal(name: &str) -> String {
    ImageName::parse(name).map_or_else(|_| name.to_string(), |n| n.normalized())
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs a command where the node's runtime is reachable.
pub trait Runner {
    /// The command's output; Err (one sentence) when it could not be run at all.
    fn run(&self, argv: &[String]) -> impl Future<Output = Result<Output, String>> + Send;
}

/// An image the plan would remove, with the names it was seen under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: Option<String>,
    pub refs: Vec<String>,
    pub size: u64,
}

impl From<&ImagePlan> for Candidate {
    fn from(plan: &ImagePlan) -> Self {
        Candidate {
            id: plan.id.clone(),
            refs: plan.refs.clone(),
            size: plan.size,
        }
    }
}

/// What happened to one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameResult {
    Removed,
    AlreadyGone,
    /// The runtime refused; its words.
    Refused(String),
}

/// What happened to one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every name removed (some may have been gone already).
    Removed,
    /// Nothing left to remove: every name was gone before this run.
    AlreadyGone,
    /// Kept, and why: in use, pinned, or changed since the plan.
    Skipped(String),
    /// The runtime refused or the image is still listed afterwards; why.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub candidate: Candidate,
    pub outcome: Outcome,
    /// Per name, for the names that were sent to the runtime.
    pub names: Vec<(String, NameResult)>,
}

impl Removal {
    /// Bytes this removal freed (the image's size when it was removed by this run).
    pub fn freed(&self) -> u64 {
        match self.outcome {
            Outcome::Removed => self.candidate.size,
            _ => 0,
        }
    }
}

/// A node's runtime, reached through a runner.
pub struct NodeRuntime<R> {
    pub surface: Surface,
    pub runner: R,
}

impl<R: Runner + Sync> NodeRuntime<R> {
    pub fn new(surface: Surface, runner: R) -> Self {
        NodeRuntime { surface, runner }
    }

    /// Where the runtime's version says containerd but `ctr` is not on the host, switch to
    /// `crictl`. Returns the tool now in use.
    pub async fn settle_tool(&mut self) -> Result<Tool, String> {
        if self.surface.tool == Tool::Ctr {
            let out = self.runner.run(&self.surface.version()).await?;
            if out.code == 127 || out.stderr.contains("No such file or directory") {
                self.surface = self.surface.with_tool(Tool::Crictl);
            }
        }
        Ok(self.surface.tool)
    }

    async fn checked(&self, argv: &[String]) -> Result<String, String> {
        let out = self.runner.run(argv).await?;
        if out.code != 0 {
            return Err(failure(&self.surface, argv, &out));
        }
        Ok(out.stdout)
    }

    pub async fn images(&self) -> Result<Vec<RuntimeImage>, String> {
        let out = self.checked(&self.surface.list_images()).await?;
        match self.surface.tool {
            Tool::Ctr => ctr::parse_images(&out),
            Tool::Crictl => crictl::parse_images(&out),
        }
    }

    pub async fn containers(&self) -> Result<Vec<RuntimeContainer>, String> {
        let out = self.checked(&self.surface.list_containers()).await?;
        match self.surface.tool {
            Tool::Ctr => ctr::parse_containers(&out),
            Tool::Crictl => crictl::parse_containers(&out),
        }
    }

    pub async fn inventory(&self) -> Result<Inventory, String> {
        Ok(Inventory {
            images: self.images().await?,
            containers: self.containers().await?,
        })
    }

    /// Pulls under way; empty where the tool cannot tell (crictl).
    pub async fn active(&self) -> Result<Vec<ActivePull>, String> {
        match self.surface.content_active() {
            Some(argv) => ctr::parse_active(&self.checked(&argv).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Removes the candidates: re-lists the node's images and containers first and keeps
    /// any candidate that is now in use, pinned, or named differently than in the plan;
    /// removes every name of the others in one command; lists the images again to confirm.
    pub async fn remove(&self, candidates: &[Candidate]) -> Result<Vec<Removal>, String> {
        let now = self.inventory().await?;
        let mut removals: Vec<Removal> = Vec::new();
        let mut send: Vec<String> = Vec::new();
        for c in candidates {
            let image = match recheck(&now, c) {
                Ok(image) => image,
                Err(outcome) => {
                    removals.push(Removal {
                        candidate: c.clone(),
                        outcome,
                        names: Vec::new(),
                    });
                    continue;
                }
            };
            let names = match self.surface.tool {
                Tool::Ctr => image.names(),
                Tool::Crictl => vec![image.id.clone().unwrap_or_else(|| image.target.clone())],
            };
            send.extend(names.iter().cloned());
            removals.push(Removal {
                candidate: c.clone(),
                outcome: Outcome::Removed,
                names: names
                    .into_iter()
                    .map(|n| (n, NameResult::Removed))
                    .collect(),
            });
        }
        if send.is_empty() {
            return Ok(removals);
        }
        let argv = self.surface.remove(&send);
        // A command cut off (a dropped connection, a timeout) may have removed some names:
        // what is still listed afterwards tells.
        let (results, cut_off) = match self.runner.run(&argv).await {
            Ok(out) => (
                match self.surface.tool {
                    Tool::Ctr => ctr::parse_remove(&send, &out),
                    Tool::Crictl => crictl::parse_remove(&send, &out),
                },
                None,
            ),
            Err(e) => (Vec::new(), Some(e)),
        };
        let after = self.images().await.map_err(|e| match &cut_off {
            Some(cut) => format!(
                "the removal was cut off ({cut}) and listing the images afterwards failed \
                 ({e}); what was removed is unknown, so plan again"
            ),
            None => format!("the removal ran, but listing the images afterwards failed: {e}"),
        })?;
        for r in removals.iter_mut().filter(|r| !r.names.is_empty()) {
            for (name, result) in r.names.iter_mut() {
                if let Some((_, got)) = results.iter().find(|(n, _)| n == name) {
                    *result = got.clone();
                } else if let Some(cut) = &cut_off {
                    *result = if listed(&after, name) {
                        NameResult::Refused(format!("the command was cut off: {cut}"))
                    } else {
                        NameResult::Removed
                    };
                }
            }
            r.outcome = settle(r, &after);
        }
        Ok(removals)
    }
}

/// The candidate's image as the runtime has it now, or why it is not removed.
fn recheck<'a>(now: &'a Inventory, c: &Candidate) -> Result<&'a RuntimeImage, Outcome> {
    let image = c.id.iter().chain(c.refs.iter()).find_map(|n| now.find(n));
    let Some(image) = image else {
        return Err(Outcome::AlreadyGone);
    };
    // Found by a name, but another image now: the planned one is gone, and this one was
    // never planned.
    if let (Some(planned), Some(now)) = (&c.id, &image.id)
        && !planned.eq_ignore_ascii_case(now)
    {
        return Err(Outcome::Skipped(format!(
            "its names now belong to another image ({now}); the planned one is gone"
        )));
    }
    if image.pinned {
        return Err(Outcome::Skipped("pinned".into()));
    }
    let names: BTreeSet<String> = image.names().iter().map(|n| normal(n)).collect();
    let planned: BTreeSet<String> = c
        .refs
        .iter()
        .chain(c.id.iter())
        .map(|n| normal(n))
        .collect();
    // A name someone gave the image since the plan; its ID is not one (a plan read from
    // `status.images` never sees the ID).
    let refs: BTreeSet<String> = image.refs.iter().map(|n| normal(n)).collect();
    let new: Vec<&String> = refs.difference(&planned).collect();
    if !new.is_empty() {
        let list: Vec<&str> = new.iter().map(|s| s.as_str()).collect();
        return Err(Outcome::Skipped(format!(
            "named {} since the plan",
            list.join(", ")
        )));
    }
    let mut users: Vec<&str> = Vec::new();
    for container in &now.containers {
        let uses = std::iter::once(&container.image)
            .chain(container.image_ref.iter())
            .any(|n| names.contains(&normal(n)) || *n == image.target);
        if uses {
            users.push(&container.id);
        } else if dangling_in_repository(now, container, image) {
            return Err(Outcome::Skipped(format!(
                "container {} uses {}, which no image on the node is named by now, in the \
                 same repository; kept to be safe",
                container.id, container.image
            )));
        } else if image.id.is_none() && dangling_id(now, container) {
            // The container names an image ID no listed image carries, and this image's
            // ID record is gone: it may be this one.
            return Err(Outcome::Skipped(format!(
                "container {} uses image {}, which no listed image carries, and this image's \
                 ID is not listed either; kept to be safe",
                container.id, container.image
            )));
        }
    }
    if !users.is_empty() {
        users.sort();
        return Err(Outcome::Skipped(format!(
            "in use by container {}",
            users.join(", ")
        )));
    }
    Ok(image)
}

/// A container names a tag no image carries any more (its image was re-tagged away) in the
/// repository of `image`: the container may hold `image` without saying so.
fn dangling_in_repository(
    now: &Inventory,
    container: &RuntimeContainer,
    image: &RuntimeImage,
) -> bool {
    if now.find(&container.image).is_some()
        || container
            .image_ref
            .as_ref()
            .is_some_and(|r| now.find(r).is_some())
    {
        return false;
    }
    let Ok(used) = ImageRef::parse(&container.image) else {
        return false;
    };
    image
        .refs
        .iter()
        .filter_map(|r| ImageRef::parse(r).ok())
        .any(|r| r.name() == used.name())
}

/// A container names an image by ID (`sha256:…`), and no listed image has that ID.
fn dangling_id(now: &Inventory, container: &RuntimeContainer) -> bool {
    std::iter::once(&container.image)
        .chain(container.image_ref.iter())
        .any(|n| matches!(ImageName::parse(n), Ok(ImageName::Id(_))) && now.find(n).is_none())
}

/// Whether a name is still listed.
fn listed(after: &[RuntimeImage], name: &str) -> bool {
    let n = normal(name);
    after
        .iter()
        .any(|i| i.names().iter().any(|m| normal(m) == n) || i.target == n)
}

/// The candidate's outcome from its names' results and the images listed afterwards.
fn settle(r: &Removal, after: &[RuntimeImage]) -> Outcome {
    let left: Vec<&String> = r
        .names
        .iter()
        .map(|(n, _)| n)
        .filter(|n| listed(after, n))
        .collect();
    let refused: Vec<String> = r
        .names
        .iter()
        .filter_map(|(n, res)| match res {
            NameResult::Refused(why) => Some(format!("{n}: {why}")),
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        return Outcome::Failed(refused.join("; "));
    }
    if !left.is_empty() {
        let list: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
        return Outcome::Failed(format!("still listed after removal: {}", list.join(", ")));
    }
    if r.names
        .iter()
        .all(|(_, res)| *res == NameResult::AlreadyGone)
    {
        Outcome::AlreadyGone
    } else {
        Outcome::Removed
    }
}

/// One sentence for a command that ran and failed.
fn failure(surface: &Surface, argv: &[String], out: &Output) -> String {
    let tool = surface.tool.name();
    let said = out
        .stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("nothing on stderr");
    if out.code == 127 {
        return format!(
            "{tool} is not on the node's host ({said}); kpreload needs the runtime's own tool there"
        );
    }
    if said.contains("nsenter") {
        return format!(
            "could not enter the host's namespaces ({said}); the cleanup container must be \
             privileged in a hostPID pod"
        );
    }
    let shown: Vec<&str> = argv
        .iter()
        .skip(surface.host.len())
        .map(String::as_str)
        .collect();
    format!(
        "`{}` exited with status {}: {said}",
        shown.join(" "),
        out.code
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers commands from a script, in order, and records what it was asked.
    #[derive(Default)]
    struct Script {
        answers: Mutex<Vec<Output>>,
        asked: Mutex<Vec<Vec<String>>>,
    }

    impl Script {
        fn new(answers: Vec<Output>) -> Self {
            Script {
                answers: Mutex::new(answers.into_iter().rev().collect()),
                asked: Mutex::default(),
            }
        }
    }

    impl Runner for Script {
        async fn run(&self, argv: &[String]) -> Result<Output, String> {
            self.asked.lock().unwrap().push(argv.to_vec());
            self.answers
                .lock()
                .unwrap()
                .pop()
                .ok_or_else(|| "no more answers".to_string())
        }
    }

    fn ok(stdout: &str) -> Output {
        Output {
            stdout: stdout.into(),
            ..Default::default()
        }
    }

    fn crictl_images(entries: &[(&str, &str)]) -> String {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(id, tag)| {
                serde_json::json!({"id": id, "repoTags": [tag], "repoDigests": [], "size": "100",
                                   "pinned": false})
            })
            .collect();
        serde_json::json!({ "images": list }).to_string()
    }

    #[test]
    fn the_tool_follows_the_runtime() {
        assert_eq!(tool_for("containerd://1.7.13"), Ok(Tool::Ctr));
        assert_eq!(tool_for("cri-o://1.29.1"), Ok(Tool::Crictl));
        let docker = tool_for("docker://24.0.7").unwrap_err();
        assert!(docker.contains("docker"), "{docker}");
        assert!(tool_for("").unwrap_err().contains("does not report"));
        let s = Surface::node(Tool::Ctr);
        assert_eq!(
            s.remove(&["a:1".into(), "sha256:x".into()]).join(" "),
            "nsenter -t 1 -m -u -i -n -p -- ctr -n k8s.io images rm a:1 sha256:x"
        );
        assert_eq!(
            s.with_tool(Tool::Crictl).list_containers().join(" "),
            "nsenter -t 1 -m -u -i -n -p -- crictl ps -a -o json"
        );
    }

    #[tokio::test]
    async fn without_ctr_on_the_host_it_falls_back_to_crictl() {
        let missing = Output {
            stderr: "nsenter: failed to execute ctr: No such file or directory\n".into(),
            code: 127,
            ..Default::default()
        };
        let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![missing]));
        assert_eq!(rt.settle_tool().await, Ok(Tool::Crictl));
        let present = Output::default();
        let mut rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![present]));
        assert_eq!(rt.settle_tool().await, Ok(Tool::Ctr));
    }

    #[tokio::test]
    async fn a_failed_command_is_one_sentence() {
        let denied = Output {
            stderr: "nsenter: reassociate to namespace 'ns/ipc' failed: Operation not permitted\n"
                .into(),
            code: 1,
            ..Default::default()
        };
        let rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![denied]));
        let err = rt.images().await.unwrap_err();
        assert!(err.contains("privileged in a hostPID pod"), "{err}");
        let broken = Output {
            stderr: "ctr: failed to dial \"/run/containerd/containerd.sock\": connection refused\n"
                .into(),
            code: 1,
            ..Default::default()
        };
        let rt = NodeRuntime::new(Surface::node(Tool::Ctr), Script::new(vec![broken]));
        let err = rt.images().await.unwrap_err();
        assert_eq!(
            err,
            "`ctr -n k8s.io images ls` exited with status 1: ctr: failed to dial \
             \"/run/containerd/containerd.sock\": connection refused"
        );
    }

    #[tokio::test]
    async fn crictl_removes_by_id_after_its_own_recheck() {
        let images = crictl_images(&[
            ("sha256:aa", "docker.io/library/app:1.0"),
            ("sha256:bb", "docker.io/library/app:1.1"),
        ]);
        let containers = r#"{"containers": [{"id": "c9", "image": {"image": "sha256:bb"},
            "imageRef": "sha256:bb", "state": "CONTAINER_EXITED"}]}"#;
        let after = crictl_images(&[("sha256:bb", "docker.io/library/app:1.1")]);
        let script = Script::new(vec![
            ok(&images),
            ok(containers),
            ok("Deleted: docker.io/library/app:1.0\n"),
            ok(&after),
        ]);
        let rt = NodeRuntime::new(Surface::node(Tool::Crictl), script);
        let candidates = vec![
            Candidate {
                id: Some("sha256:aa".into()),
                refs: vec!["docker.io/library/app:1.0".into()],
                size: 100,
            },
            Candidate {
                id: Some("sha256:bb".into()),
                refs: vec!["docker.io/library/app:1.1".into()],
                size: 100,
            },
        ];
        let r = rt.remove(&candidates).await.unwrap();
        assert_eq!(r[0].outcome, Outcome::Removed);
        assert_eq!(r[0].freed(), 100);
        assert_eq!(
            r[1].outcome,
            Outcome::Skipped("in use by container c9".into())
        );
        let asked = rt.runner.asked.lock().unwrap();
        assert_eq!(
            asked[2][asked[2].len() - 2..],
            ["rmi".to_string(), "sha256:aa".to_string()],
            "one ID, the one not in use"
        );
    }

    #[tokio::test]
    async fn an_image_renamed_since_the_plan_or_left_behind_is_not_counted_removed() {
        let images = crictl_images(&[("sha256:aa", "docker.io/library/app:1.0")]);
        // Since the plan, the image was also tagged for a pool.
        let renamed = r#"{"images": [{"id": "sha256:aa", "repoTags": ["docker.io/library/app:1.0",
            "docker.io/library/app:stable"], "repoDigests": [], "size": "100"}]}"#;
        let none = r#"{"containers": []}"#;
        let candidate = Candidate {
            id: Some("sha256:aa".into()),
            refs: vec!["docker.io/library/app:1.0".into()],
            size: 100,
        };
        let rt = NodeRuntime::new(
            Surface::node(Tool::Crictl),
            Script::new(vec![ok(renamed), ok(none)]),
        );
        let r = rt.remove(std::slice::from_ref(&candidate)).await.unwrap();
        assert_eq!(
            r[0].outcome,
            Outcome::Skipped("named docker.io/library/app:stable since the plan".into())
        );
        // The runtime says it deleted it, but it is still listed: a failure, not a success.
        let rt = NodeRuntime::new(
            Surface::node(Tool::Crictl),
            Script::new(vec![ok(&images), ok(none), ok("Deleted: x\n"), ok(&images)]),
        );
        let r = rt.remove(&[candidate]).await.unwrap();
        assert!(
            matches!(&r[0].outcome, Outcome::Failed(why) if why.contains("still listed")),
            "{r:?}"
        );
        assert_eq!(r[0].freed(), 0);
    }

    #[tokio::test]
    async fn a_name_now_on_another_image_is_not_the_planned_image() {
        // Planned: sha256:aa named app:1.0. Now app:1.0 names sha256:ee, and aa is gone.
        let images = crictl_images(&[("sha256:ee", "docker.io/library/app:1.0")]);
        let none = r#"{"containers": []}"#;
        let rt = NodeRuntime::new(
            Surface::node(Tool::Crictl),
            Script::new(vec![ok(&images), ok(none)]),
        );
        let r = rt
            .remove(&[Candidate {
                id: Some("sha256:aa".into()),
                refs: vec!["docker.io/library/app:1.0".into()],
                size: 1,
            }])
            .await
            .unwrap();
        assert!(
            matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("another image")),
            "{r:?}"
        );
        assert_eq!(rt.runner.asked.lock().unwrap().len(), 2, "nothing removed");
    }

    /// A runner whose third command (the removal) is cut off.
    struct CutOff(Script);

    impl Runner for CutOff {
        async fn run(&self, argv: &[String]) -> Result<Output, String> {
            let n = self.0.asked.lock().unwrap().len();
            let out = self.0.run(argv).await;
            if n == 2 {
                return Err("the connection dropped".into());
            }
            out
        }
    }

    #[tokio::test]
    async fn a_removal_cut_off_is_settled_by_listing_again() {
        let before = crictl_images(&[
            ("sha256:aa", "docker.io/library/app:1.0"),
            ("sha256:bb", "docker.io/library/app:1.1"),
        ]);
        let none = r#"{"containers": []}"#;
        // Only aa went before the connection dropped.
        let after = crictl_images(&[("sha256:bb", "docker.io/library/app:1.1")]);
        let rt = NodeRuntime::new(
            Surface::node(Tool::Crictl),
            CutOff(Script::new(vec![ok(&before), ok(none), ok(""), ok(&after)])),
        );
        let candidates: Vec<Candidate> = [("sha256:aa", "1.0"), ("sha256:bb", "1.1")]
            .iter()
            .map(|(id, tag)| Candidate {
                id: Some(id.to_string()),
                refs: vec![format!("docker.io/library/app:{tag}")],
                size: 10,
            })
            .collect();
        let r = rt.remove(&candidates).await.unwrap();
        assert_eq!(r[0].outcome, Outcome::Removed);
        assert!(
            matches!(&r[1].outcome, Outcome::Failed(why) if why.contains("cut off")),
            "{r:?}"
        );
    }

    #[test]
    fn cri_o_prints_bare_ids() {
        let hex = "a".repeat(64);
        let images = crictl::parse_images(&format!(
            r#"{{"images": [{{"id": "{hex}", "repoTags": ["docker.io/library/app:1.0"], "repoDigests": [], "size": "5"}}]}}"#
        ))
        .unwrap();
        assert_eq!(
            images[0].id.as_deref(),
            Some(format!("sha256:{hex}").as_str())
        );
        let inv = images[0].to_inventory();
        assert!(
            inv.refs
                .iter()
                .all(|r| !r.starts_with("docker.io/library/aaaa")),
            "the ID is not read as a repository: {inv:?}"
        );
    }

    #[tokio::test]
    async fn a_container_on_an_unknown_id_keeps_images_whose_id_is_gone() {
        use crate::sim::world::runtime_cli::{CONTAINERS, IMAGES, tabwriter};
        let cell = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let digest = format!("sha256:{}", "2".repeat(64));
        let by_digest = format!("docker.io/library/other@{digest}");
        let images = tabwriter(
            &[
                cell(&["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]),
                cell(&[
                    &by_digest,
                    "application/vnd.oci.image.index.v1+json",
                    &digest,
                    "1.0 MiB",
                    "linux/amd64",
                    "-",
                ]),
            ],
            IMAGES,
        );
        let unknown = format!("sha256:{}", "3".repeat(64));
        let containers = tabwriter(
            &[
                cell(&["CONTAINER", "IMAGE", "RUNTIME"]),
                cell(&["c7", &unknown, "io.containerd.runc.v2"]),
            ],
            CONTAINERS,
        );
        let rt = NodeRuntime::new(
            Surface::node(Tool::Ctr),
            Script::new(vec![ok(&images), ok(&containers)]),
        );
        let r = rt
            .remove(&[Candidate {
                id: None,
                refs: vec![by_digest],
                size: 1,
            }])
            .await
            .unwrap();
        assert!(
            matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("container c7")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_container_on_a_tag_no_image_carries_keeps_its_repository() {
        // ctr: the container was made from app:1.0, whose tag has since moved off this image
        // and the new image is gone too; the old image may be the container's.
        use crate::sim::world::runtime_cli::{CONTAINERS, IMAGES, tabwriter};
        let cells = |rows: &[&[&str]]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        let digest = format!("sha256:{}", "1".repeat(64));
        let by_digest = format!("docker.io/library/app@{digest}");
        let images = tabwriter(
            &cells(&[
                &["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"],
                &[
                    &by_digest,
                    "application/vnd.oci.image.index.v1+json",
                    &digest,
                    "1.0 MiB",
                    "linux/amd64",
                    "-",
                ],
            ]),
            IMAGES,
        );
        let containers = tabwriter(
            &cells(&[
                &["CONTAINER", "IMAGE", "RUNTIME"],
                &["old", "docker.io/library/app:1.0", "io.containerd.runc.v2"],
            ]),
            CONTAINERS,
        );
        let rt = NodeRuntime::new(
            Surface::node(Tool::Ctr),
            Script::new(vec![ok(&images), ok(&containers)]),
        );
        let candidate = Candidate {
            id: None,
            refs: vec![by_digest],
            size: 1,
        };
        let r = rt.remove(&[candidate]).await.unwrap();
        assert!(
            matches!(&r[0].outcome, Outcome::Skipped(why) if why.contains("kept to be safe")),
            "{r:?}"
        );
    }
}
