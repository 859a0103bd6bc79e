//! The node runtime's command surface, pure: the argv kpreload runs on a node to list and
//! remove images (`ctr -n k8s.io …` or `crictl …` behind `nsenter`), and how it reads what
//! comes back ([`ctr`], [`crictl`]). Running the commands is the `kpreload` package's.

pub mod crictl;
pub mod ctr;

use crate::planner::{ImagePlan, InventoryImage, NodeInput, Usage};
use crate::reference::ImageName;

/// The host's namespaces, entered from a privileged container of a `hostPID` pod.
pub(crate) const NSENTER: &[&str] = &["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"];

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
    pub(crate) fn usages(&self) -> Vec<Usage> {
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
pub fn normal(name: &str) -> String {
    ImageName::parse(name).map_or_else(|_| name.to_string(), |n| n.normalized())
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
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
