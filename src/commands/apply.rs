//! `kpreload apply`: the pools file's preloaders, applied server-side with the field manager
//! `kpreload`. Every DaemonSet is dry-run first; if any would fail or conflict, none is
//! applied. A pool whose preloader was written by hand (the article's) is refused, unless
//! `--adopt`: then the change is shown, confirmed (typed `yes`, or `--yes`), and the
//! hand-written DaemonSet replaced by kpreload's with the TUI's preconditions.

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

/// How `apply` treats the pools' hand-written preloaders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adopt {
    /// Convert them (else refuse).
    pub adopt: bool,
    /// Without asking.
    pub yes: bool,
}

/// What `apply` was asked to do, beside the file.
pub struct ApplyOptions<'a> {
    /// Only this pool.
    pub only: Option<&'a str>,
    pub dry_run: bool,
    pub adopt: Adopt,
    /// Asked about every image first (None: `--no-registry`).
    pub registry: Option<&'a crate::registry::Registry>,
}

pub async fn run(
    target: &Target,
    file: &Path,
    options: ApplyOptions<'_>,
    ask: &mut dyn super::cleanup::Ask,
    out: &mut dyn Write,
) -> Result<()> {
    let ApplyOptions {
        only,
        dry_run,
        adopt,
        registry,
    } = options;
    let pools = PoolsFile::load(file)?;
    let selected = pools
        .select(only, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))?;
    // The file's scheduled cleanup, with the whole file only: `--pool` applies one pool.
    let scheduled = match (only, super::cronjob::of_file(&pools, None, None, None)) {
        (None, Some(o)) => super::cronjob::objects(&super::cronjob::render(&o)?),
        _ => Vec::new(),
    };
    let connection = connect(target).await?;
    connection.demo_registry(registry);
    let client = &connection.client;
    // The nodes: which pools a hand-written preloader serves, and the sizes a split pool's
    // images are balanced by.
    let nodes = crate::cluster::list_all(Api::<Node>::all(client.clone()), "list nodes")
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    // Every image is asked of its registry, for its pool's nodes' platforms, before
    // anything is read further or written.
    if let Some(registry) = registry {
        let asks: Vec<_> = selected
            .iter()
            .map(|p| (*p, super::images::platforms_of(p, &nodes)))
            .collect();
        let cleanup = pools
            .cleanup
            .as_ref()
            .filter(|_| only.is_none())
            .and_then(|c| crate::core::reference::ImageRef::parse(&c.image).ok());
        super::images::check_with(registry, &asks, cleanup.as_ref(), "applied").await?;
    }
    let sizes = if selected.iter().any(|p| p.shards > 1) {
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

    // The pools' hand-written preloaders, whatever their names: the one named for a pool,
    // and any that serves some of a pool's nodes. Applying beside one would preload its
    // nodes twice (and an own removal loop would go on removing what kpreload preloads).
    let all = crate::cluster::list_all(
        Api::<DaemonSet>::namespaced(client.clone(), &pools.namespace),
        &format!("list the DaemonSets in {}", pools.namespace),
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let hand_written = hand_written(&all, &selected, &nodes)?;
    if !hand_written.is_empty() && !adopt.adopt {
        bail!(
            "nothing was applied:\n{}",
            hand_written
                .iter()
                .map(|(pool, d)| format!("  {}", refusal(&pools.namespace, pool, d)))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let conversions = conversions(&hand_written, &selected, &desired)?;
    let converted: Vec<&str> = conversions
        .iter()
        .filter_map(|(_, new)| new.metadata.name.as_deref())
        .collect();
    let desired: Vec<DaemonSet> = desired
        .iter()
        .filter(|d| !converted.contains(&d.metadata.name.as_deref().unwrap_or_default()))
        .cloned()
        .collect();

    // Everything is read and dry-run before anything is written: a conversion's new
    // DaemonSet under another name too (one under the same name can only be made once the
    // old one is gone; its deletion is dry-run first when it runs).
    let mut live = Vec::new();
    let mut problems = Vec::new();
    for (old, new) in &conversions {
        if old.metadata.name != new.metadata.name
            && let Err(e) = apply::apply(client, new, None, true).await
        {
            problems.push(describe(
                new.metadata.name.as_deref().unwrap_or_default(),
                &e,
            ));
        }
    }
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
    // The first refusal says it for all: the objects are one administrator's to apply.
    for o in &scheduled {
        if let Err(e) = crate::cluster::scheduled::apply(client, o, true).await {
            problems.push(e);
            break;
        }
    }
    if !problems.is_empty() {
        bail!(
            "nothing was applied{}:\n{}",
            if conversions.is_empty() {
                ""
            } else {
                " or converted"
            },
            problems
                .iter()
                .map(|p| format!("  {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let mut done: Vec<String> = Vec::new();
    if !conversions.is_empty() {
        show_conversions(&conversions, out)?;
        if dry_run {
            writeln!(out, "(dry run: nothing converted)")?;
        } else {
            confirm(&conversions, adopt, ask)?;
            for (old, new) in &conversions {
                let old_name = old.metadata.name.clone().unwrap_or_default();
                let new_name = new.metadata.name.clone().unwrap_or_default();
                let made = match apply::convert(client, old, new).await {
                    Ok(made) => made,
                    Err(e) if done.is_empty() => bail!("{}", describe(&old_name, &e)),
                    Err(e) => bail!(
                        "{} (before this, {} {} converted; nothing else was applied)",
                        describe(&old_name, &e),
                        done.join(", "),
                        if done.len() == 1 { "was" } else { "were" }
                    ),
                };
                let why = format!(
                    "converted from the hand-written {old_name} with {} (by kpreload apply --adopt)",
                    file.display()
                );
                if let Err(e) = apply::record(client, &made, "PreloaderConverted", &why).await {
                    eprintln!(
                        "kpreload: {new_name} was converted, but its audit Event was not recorded: {e}"
                    );
                }
                writeln!(
                    out,
                    "daemonset.apps/{old_name} converted to daemonset.apps/{new_name}"
                )?;
                done.push(new_name);
            }
        }
    }
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
    super::cronjob::apply(client, &pools, file, only, &scheduled, dry_run, out).await
}

/// Each hand-written preloader with the pool of the file it stands for: by its name, or by
/// the nodes it serves. One serving nodes of two of the file's pools is refused: which of
/// them it would become cannot be told.
fn hand_written(
    all: &[std::sync::Arc<DaemonSet>],
    selected: &[&crate::core::pools::Pool],
    nodes: &[std::sync::Arc<Node>],
) -> Result<Vec<(String, DaemonSet)>> {
    let no_labels = std::collections::BTreeMap::new();
    let facts: Vec<(
        &std::collections::BTreeMap<String, String>,
        Vec<crate::core::selector::Taint>,
    )> = nodes
        .iter()
        .map(|n| {
            (
                n.metadata.labels.as_ref().unwrap_or(&no_labels),
                crate::core::selector::Taint::of_node(n),
            )
        })
        .collect();
    let mut out = Vec::new();
    for d in all {
        let Some(Ok(p)) = read_preloader(d) else {
            continue;
        };
        if p.origin != Origin::HandWritten {
            continue;
        }
        // Preloaders for one node overlap by design (the article's cluster-wide one beside
        // its pool ones): the same pool is one of that name, or one pulling the same images
        // on some of the same nodes.
        let images = |pool: &crate::core::pools::Pool| -> std::collections::BTreeSet<String> {
            pool.images.iter().map(|i| i.normalized()).collect()
        };
        let named: Vec<&str> = selected
            .iter()
            .filter(|s| s.name == p.pool.name)
            .map(|s| s.name.as_str())
            .collect();
        let related: Vec<&str> = if !named.is_empty() {
            named
        } else {
            selected
                .iter()
                .filter(|s| {
                    images(s) == images(&p.pool)
                        && facts
                            .iter()
                            .any(|(l, t)| p.pool.covers(l, t) && s.covers(l, t))
                })
                .map(|s| s.name.as_str())
                .collect()
        };
        match related.as_slice() {
            [] => {}
            [one] => out.push((one.to_string(), d.as_ref().clone())),
            many => bail!(
                "nothing was applied: the hand-written preloader {} serves nodes of {} of the file's \
                 pools ({}); which one it is cannot be told. Convert it from the TUI (e on its \
                 pool) or delete it first (kubectl delete daemonset -n {} {})",
                d.metadata.name.as_deref().unwrap_or_default(),
                many.len(),
                many.join(", "),
                d.metadata.namespace.as_deref().unwrap_or_default(),
                d.metadata.name.as_deref().unwrap_or_default(),
            ),
        }
    }
    Ok(out)
}

/// Why a pool with a hand-written preloader is not applied, and what to do.
fn refusal(namespace: &str, pool: &str, ds: &DaemonSet) -> String {
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    format!(
        "{namespace}/{name} exists and was written by hand: it is the pool {pool}'s preloader (by \
         its name, or its images on the pool's nodes), and applying beside or over it would \
         preload them twice or mix the two forms. \
         `kpreload apply --adopt` converts it (shows the change and asks first); or convert it \
         from the TUI (e on its pool), or delete it (kubectl delete daemonset -n {namespace} {name})"
    )
}

/// Each hand-written preloader with the DaemonSet that replaces it: one of each per pool,
/// and only to one DaemonSet (a split is made once the pool is kpreload's).
fn conversions(
    hand_written: &[(String, DaemonSet)],
    pools: &[&crate::core::pools::Pool],
    desired: &[DaemonSet],
) -> Result<Vec<(DaemonSet, DaemonSet)>> {
    let mut out = Vec::new();
    for pool in pools {
        let old: Vec<&DaemonSet> = hand_written
            .iter()
            .filter(|(p, _)| *p == pool.name)
            .map(|(_, d)| d)
            .collect();
        let Some(first) = old.first() else { continue };
        if old.len() > 1 {
            bail!(
                "nothing was applied: the pool {} has {} hand-written preloaders ({}); delete \
                 all but one with kubectl, then adopt it",
                pool.name,
                old.len(),
                old.iter()
                    .filter_map(|d| d.metadata.name.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let new: Vec<&DaemonSet> = desired
            .iter()
            .filter(|d| {
                d.metadata.labels.as_ref().and_then(|l| l.get(LABEL_POOL)) == Some(&pool.name)
            })
            .collect();
        let [new] = new.as_slice() else {
            bail!(
                "nothing was applied: the pool {} is split over {} DaemonSets in the file; \
                 adopt it with shards: 1 first, then split it",
                pool.name,
                new.len()
            );
        };
        out.push(((*first).clone(), (*new).clone()));
    }
    Ok(out)
}

/// What each conversion changes: the DaemonSet's diff, and the removal loop it ends.
fn show_conversions(conversions: &[(DaemonSet, DaemonSet)], out: &mut dyn Write) -> Result<()> {
    use crate::core::edit::{diff, readable_yaml};
    for (old, new) in conversions {
        let old_name = old.metadata.name.as_deref().unwrap_or_default();
        let new_name = new.metadata.name.as_deref().unwrap_or_default();
        writeln!(
            out,
            "daemonset.apps/{old_name} (hand-written) → daemonset.apps/{new_name} (kpreload's):"
        )?;
        for l in diff(&readable_yaml(old), &readable_yaml(new), 2) {
            writeln!(out, "  {} {}", l.sign, l.text.trim_end())?;
        }
        // What the file does not say is not carried over: say so, not only in the diff.
        if let (Some(Ok(was)), Some(Ok(will))) = (read_preloader(old), read_preloader(new)) {
            let lost: Vec<&String> = was
                .pool
                .pull_secrets
                .iter()
                .filter(|s| !will.pool.pull_secrets.contains(s))
                .collect();
            if !lost.is_empty() {
                writeln!(
                    out,
                    "  its pull secrets {} are not in the file: the new preloader pulls without them (add pullSecrets to the pool)",
                    lost.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            if was.pool.tolerations != will.pool.tolerations {
                writeln!(
                    out,
                    "  its tolerations differ from the file's (see the diff): the new preloader may run on other nodes"
                )?;
            }
            if was.pool.selector != will.pool.selector {
                writeln!(
                    out,
                    "  its node selector differs from the file's (see the diff): the new preloader may run on other nodes"
                )?;
            }
        }
        for r in crate::core::adopt::own_removals(old) {
            writeln!(
                out,
                "  its container {} removes images itself (`{}`); it goes with the conversion",
                r.container, r.runs
            )?;
        }
    }
    Ok(())
}

/// A typed yes, or `--yes`; never silently from a pipe.
fn confirm(
    conversions: &[(DaemonSet, DaemonSet)],
    adopt: Adopt,
    ask: &mut dyn super::cleanup::Ask,
) -> Result<()> {
    if adopt.yes {
        return Ok(());
    }
    let n = conversions.len();
    let what = format!(
        "{n} hand-written preloader{}",
        if n == 1 { "" } else { "s" }
    );
    if !ask.interactive() {
        bail!(
            "nothing was converted or applied: converting {what} needs a yes; run again with --yes"
        );
    }
    match ask.ask(&format!("Convert {what}? Type yes to go on: ")) {
        Some(a) if a == "yes" => Ok(()),
        _ => bail!("nothing was converted or applied"),
    }
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
