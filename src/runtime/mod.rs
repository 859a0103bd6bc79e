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
mod tests;
