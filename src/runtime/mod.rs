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
//! The parsing is pure (in the core crate: `kpreload_core::runtime`); [`NodeRuntime`] runs the commands through a
//! [`Runner`]: exec into a pod ([`exec::PodExec`]) or a local process ([`local::Local`]).

pub mod exec;
pub mod local;

use std::collections::BTreeSet;
use std::future::Future;

pub use kpreload_core::runtime::*;

use crate::core::reference::{ImageName, ImageRef};

/// Runs a command where the node's runtime is reachable.
pub trait Runner {
    /// The command's output; Err (one sentence) when it could not be run at all.
    fn run(&self, argv: &[String]) -> impl Future<Output = Result<Output, String>> + Send;
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

    /// The images and containers, read at once, settling the tool on the way: where the
    /// runtime says containerd but `ctr` is not on the host, both are read again with
    /// `crictl`. Two execs on a node with `ctr` (not three, as asking its version first).
    pub async fn settled_inventory(&mut self) -> Result<Inventory, String> {
        if self.surface.tool == Tool::Ctr {
            let (images, containers) = (self.surface.list_images(), self.surface.list_containers());
            let (i, c) = tokio::join!(self.runner.run(&images), self.runner.run(&containers));
            let (i, c) = (i?, c?);
            if !(i.code == 127 || i.stderr.contains("No such file or directory")) {
                for (argv, out) in [(&images, &i), (&containers, &c)] {
                    if out.code != 0 {
                        return Err(failure(&self.surface, argv, out));
                    }
                }
                return Ok(Inventory {
                    images: ctr::parse_images(&i.stdout)?,
                    containers: ctr::parse_containers(&c.stdout)?,
                });
            }
            self.surface = self.surface.with_tool(Tool::Crictl);
        }
        let (images, containers) = tokio::join!(self.images(), self.containers());
        Ok(Inventory {
            images: images?,
            containers: containers?,
        })
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
