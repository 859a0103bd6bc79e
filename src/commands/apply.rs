//! `kpreload apply`: the pools file's preloaders, applied server-side with the field manager
//! `kpreload`. Every DaemonSet is dry-run first; if any would fail or conflict, none is
//! applied.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::cluster::apply::{self, ApplyError};
use crate::cluster::{Target, connect};
use crate::core::adopt::{Origin, read_preloader};
use crate::core::pools::PoolsFile;
use crate::core::render::{LABEL_MANAGED_BY, LABEL_POOL, MANAGER, render_shards, sizes_from_nodes};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

pub async fn run(
    target: &Target,
    file: &Path,
    only: Option<&str>,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let pools = PoolsFile::load(file)?;
    let selected = pools
        .select(only, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))?;
    let connection = connect(target).await?;
    let client = &connection.client;
    // A split pool's images are balanced by the sizes the nodes report.
    let sizes = if selected.iter().any(|p| p.shards > 1) {
        let nodes = crate::cluster::list_all(Api::<Node>::all(client.clone()), "list nodes")
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        sizes_from_nodes(nodes.iter().map(|n| n.as_ref()))
    } else {
        Default::default()
    };
    let size_of = |i: &crate::core::reference::ImageRef| sizes.get(&i.normalized()).copied();
    // Our DaemonSets now: a pool already split keeps its images where they are, and those
    // a pool's new shape no longer has are removed after the apply.
    let ours = ours(client, &pools.namespace).await?;
    let live: Vec<&DaemonSet> = ours.iter().collect();
    let desired: Vec<_> = selected
        .iter()
        .flat_map(|p| render_shards(&pools, p, &size_of, &live))
        .collect();
    let stale = stale(&ours, &selected, &desired);

    // Everything is read and dry-run before anything is written.
    let mut live = Vec::new();
    let mut problems = Vec::new();
    for ds in &desired {
        let name = ds.metadata.name.clone().unwrap_or_default();
        let now = apply::get(client, &pools.namespace, &name)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(now) = &now
            && let Some(Ok(p)) = read_preloader(now)
            && p.origin == Origin::HandWritten
        {
            problems.push(format!(
                "{}/{name} exists and was written by hand; applying over it would mix the two forms. \
                 Convert it from the TUI (e on its pool) or delete it first (kubectl delete daemonset -n {} {name})",
                pools.namespace, pools.namespace
            ));
            live.push(now.clone());
            continue;
        }
        if let Err(e) = apply::apply(client, ds, now.as_ref(), true).await {
            problems.push(describe(&name, &e));
        }
        live.push(now.unwrap_or_default());
    }
    if !problems.is_empty() {
        bail!(
            "nothing was applied:\n{}",
            problems
                .iter()
                .map(|p| format!("  {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let mut done: Vec<String> = Vec::new();
    for (ds, now) in desired.iter().zip(&live) {
        let name = ds.metadata.name.clone().unwrap_or_default();
        let seen = now.metadata.name.is_some().then_some(now);
        match apply::apply(client, ds, seen, dry_run).await {
            Ok((outcome, made)) => {
                if !dry_run && outcome != apply::Outcome::Unchanged {
                    let why = format!(
                        "{} from {} (by kpreload apply)",
                        outcome.word(),
                        file.display()
                    );
                    if let Err(e) = apply::record(client, &made, "PreloaderApplied", &why).await {
                        eprintln!(
                            "kpreload: {name} {}, but its audit Event was not recorded: {e}",
                            outcome.word()
                        );
                    }
                }
                writeln!(
                    out,
                    "daemonset.apps/{name} {}{}",
                    outcome.word(),
                    if dry_run { " (server dry run)" } else { "" }
                )?;
                done.push(name);
            }
            Err(e) if done.is_empty() => bail!("{}", describe(&name, &e)),
            Err(e) => bail!(
                "{} ({} {} applied before this; the rest were not)",
                describe(&name, &e),
                done.join(", "),
                if done.len() == 1 { "was" } else { "were" }
            ),
        }
    }
    // Only once every new DaemonSet is in: the ones a pool no longer has (it was split
    // differently, or not at all), so its images are not pulled twice over.
    for old in &stale {
        let name = old.metadata.name.clone().unwrap_or_default();
        if dry_run {
            writeln!(
                out,
                "daemonset.apps/{name} deleted (dry run: its pool is now split differently)"
            )?;
            continue;
        }
        // Read again right before: a status update since the listing must not stop it,
        // and one replaced meanwhile (another uid) is not ours to delete.
        let now = apply::get(client, &pools.namespace, &name)
            .await
            .map_err(|e| anyhow::anyhow!("{e} (every new DaemonSet was applied)"))?;
        let Some(now) = now.filter(|n| n.metadata.uid == old.metadata.uid) else {
            continue;
        };
        apply::delete(client, &now).await.map_err(|e| {
            anyhow::anyhow!("{} (every new DaemonSet was applied)", describe(&name, &e))
        })?;
        writeln!(
            out,
            "daemonset.apps/{name} deleted (its pool is now split differently)"
        )?;
    }
    Ok(())
}

/// Our DaemonSets in the namespace (by our managed-by label).
async fn ours(client: &kube::Client, namespace: &str) -> Result<Vec<DaemonSet>> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let listed = api
        .list(&ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}")))
        .await
        .map_err(|e| {
            anyhow::anyhow!(crate::cluster::api_error(
                &e,
                &format!("list the DaemonSets in {namespace}")
            ))
        })?;
    Ok(listed.items)
}

/// Our DaemonSets of the applied pools that the new rendering does not have.
fn stale(
    ours: &[DaemonSet],
    pools: &[&crate::core::pools::Pool],
    desired: &[DaemonSet],
) -> Vec<DaemonSet> {
    let wanted: Vec<&str> = desired
        .iter()
        .filter_map(|d| d.metadata.name.as_deref())
        .collect();
    ours.iter()
        .filter(|ds| {
            let pool = ds.metadata.labels.as_ref().and_then(|l| l.get(LABEL_POOL));
            pool.is_some_and(|p| pools.iter().any(|x| &x.name == p))
                && !wanted.contains(&ds.metadata.name.as_deref().unwrap_or_default())
        })
        .cloned()
        .collect()
}

fn describe(name: &str, e: &ApplyError) -> String {
    match e {
        ApplyError::Conflict(c) => {
            let mut s = format!("{name}: {}", c.summary);
            for m in &c.managers {
                s.push_str(&format!("\n    by {m}"));
            }
            for f in &c.changes {
                s.push_str(&format!("\n    {f}"));
            }
            s
        }
        ApplyError::Failed(f) => format!("{name}: {f}"),
    }
}
