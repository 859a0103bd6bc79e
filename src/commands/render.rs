//! `kpreload render`: the pools file's preloader DaemonSets as YAML, and with the whole file,
//! the scheduled cleanup its `cleanup:` section asks for (see `cronjob`).
//!
//! A pool split over shards (`shards:` in the file, or `--shards K`) has its images balanced
//! by size; the sizes are those the cluster's nodes report, when a cluster can be reached
//! (the usual `--kubeconfig`/`--context`/`--demo`). Without one, the images are spread by
//! count, and stderr says so; stdout is always just the YAML. A pool the cluster already has
//! split the same way keeps its split (only added images are placed), so rendering again
//! after the nodes report new sizes does not move images between DaemonSets.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::cluster::Target;
use crate::core::pools::{PoolsFile, SHARDS_MAX};
use crate::core::render::{render_shards, sizes_from_nodes, to_yaml};

pub struct RenderOptions<'a> {
    pub file: &'a Path,
    pub pool: Option<&'a str>,
    /// Split every selected pool over this many DaemonSets.
    pub shards: Option<usize>,
    /// Asked whether each image exists (None: `--no-registry`).
    pub registry: Option<&'a crate::registry::Registry>,
}

pub fn run(target: &Target, options: &RenderOptions, out: &mut dyn Write) -> Result<()> {
    let file = options.file;
    let pools = PoolsFile::load(file)?;
    let mut selected: Vec<_> = pools
        .select(options.pool, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))?
        .into_iter()
        .cloned()
        .collect();
    if let Some(k) = options.shards {
        if !(1..=SHARDS_MAX).contains(&k) {
            anyhow::bail!("--shards {k}: a pool can be split over 1 to {SHARDS_MAX} DaemonSets");
        }
        for p in &mut selected {
            p.shards = k;
        }
    }
    // Each image's tag must exist: without a cluster, the nodes' platforms are not known,
    // so an index is taken as it is.
    if let Some(registry) = options.registry {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let asks: Vec<_> = selected.iter().map(|p| (p, Vec::new())).collect();
        let cleanup = pools
            .cleanup
            .as_ref()
            .filter(|_| options.pool.is_none())
            .and_then(|c| crate::core::reference::ImageRef::parse(&c.image).ok());
        rt.block_on(super::images::check_with(
            registry,
            &asks,
            cleanup.as_ref(),
            "rendered",
        ))?;
    }
    let (sizes, live) = if selected.iter().any(|p| p.shards > 1 && p.images.len() > 1) {
        match from_cluster(target, &pools.namespace) {
            Ok(s) => s,
            Err(why) => {
                eprintln!(
                    "kpreload: the images are spread over the shards by count, not size: {why}"
                );
                (HashMap::new(), Vec::new())
            }
        }
    } else {
        (HashMap::new(), Vec::new())
    };
    let live: Vec<&DaemonSet> = live.iter().collect();
    let size_of = |i: &crate::core::reference::ImageRef| sizes.get(&i.normalized()).copied();
    let mut unknown: Vec<String> = Vec::new();
    let mut daemonsets = Vec::new();
    for p in &selected {
        if p.shards > 1 && !sizes.is_empty() {
            unknown.extend(
                p.images
                    .iter()
                    .filter(|i| size_of(i).is_none())
                    .map(|i| i.written().to_string()),
            );
        }
        if p.shards > p.images.len().max(1) {
            eprintln!(
                "kpreload: the pool {} has {} image(s), so it is split over {} DaemonSet(s), not {}",
                p.name,
                p.images.len(),
                p.images.len(),
                p.shards
            );
        }
        daemonsets.extend(render_shards(&pools, p, &size_of, &live));
    }
    if !unknown.is_empty() {
        eprintln!(
            "kpreload: no node reports the size of {}; counted as a typical image of the pool",
            unknown.join(", ")
        );
    }
    let mut yaml = to_yaml(&daemonsets);
    // The whole file's rendering holds its scheduled cleanup too, as `apply` applies it.
    if options.pool.is_none()
        && let Some(cleanup) = super::cronjob::of_file(&pools, None, None, None)
    {
        yaml.push_str("---\n");
        yaml.push_str(&super::cronjob::render(&cleanup)?);
    }
    out.write_all(yaml.as_bytes())?;
    Ok(())
}

/// The image sizes the cluster's nodes report, and the DaemonSets in the preloaders'
/// namespace (a pool split the same way keeps its split), within 10 seconds.
fn from_cluster(
    target: &Target,
    namespace: &str,
) -> Result<(HashMap<String, u64>, Vec<DaemonSet>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let work = async {
            let connection = crate::cluster::connect(target)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let nodes =
                crate::cluster::list_all(Api::<Node>::all(connection.client.clone()), "list nodes")
                    .await?;
            let daemonsets = crate::cluster::list_all(
                Api::<DaemonSet>::namespaced(connection.client.clone(), namespace),
                &format!("list the DaemonSets in {namespace}"),
            )
            .await?;
            Ok::<_, String>((
                sizes_from_nodes(nodes.iter().map(|n| n.as_ref())),
                daemonsets.iter().map(|d| d.as_ref().clone()).collect(),
            ))
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .unwrap_or_else(|_| Err("the cluster did not answer within 10 seconds".into()))
    })
}
