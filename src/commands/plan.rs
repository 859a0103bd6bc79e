//! `kpreload plan`: the cleanup dry run. It reads the cluster (and, with `--deep` or where
//! `status.images` is at the kubelet's cap, each node's runtime) and prints what a cleanup
//! would remove and keep, and why. It never changes anything.

use std::io::Write;

use anyhow::{Result, bail};

use crate::cluster::removal::{deepen, fetch};
use crate::core::cleanup::{self, ClusterPlan, PlanOptions};

pub use super::Format;

/// The filters and settings `plan` and `cleanup` share.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub keep: Option<usize>,
    pub pool: Option<String>,
    pub node: Option<String>,
    pub protect: Option<Vec<String>>,
    pub min_age_secs: Option<i64>,
    pub flavours_together: bool,
    pub deep: bool,
    /// How many nodes are scanned (and cleaned) at once.
    pub concurrency: usize,
}

impl Args {
    pub fn options(&self, now: i64) -> PlanOptions {
        PlanOptions {
            keep: self.keep,
            protect: self.protect.clone(),
            min_age_secs: self.min_age_secs,
            group_flavours: !self.flavours_together,
            pool: self.pool.clone(),
            node: self.node.clone(),
            now,
        }
    }
}

/// Reads the cluster and plans; notes (nodes that could not be scanned) go to `notes`.
pub async fn make(
    client: &kube::Client,
    namespace: &str,
    args: &Args,
    notes: &mut dyn Write,
) -> Result<ClusterPlan> {
    if args.keep == Some(0) {
        bail!("--keep 0 would remove even the newest version; keep at least 1");
    }
    let fetched = fetch(client, namespace).await.map_err(anyhow::Error::msg)?;
    let options = args.options(jiff::Timestamp::now().as_second());
    let mut facts = cleanup::gather(&fetched.nodes, &fetched.pods, &fetched.daemonsets, &options);
    if let Some(node) = &args.node
        && !fetched
            .nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node))
    {
        bail!("There is no node {node} in the cluster; `kubectl get nodes` lists them.");
    }
    if let Some(pool) = &args.pool
        && facts.is_empty()
    {
        let all = cleanup::gather(
            &fetched.nodes,
            &fetched.pods,
            &fetched.daemonsets,
            &PlanOptions {
                pool: None,
                node: None,
                ..options.clone()
            },
        );
        let mut pools: Vec<String> = all.iter().filter_map(|f| f.input.pool.clone()).collect();
        pools.sort();
        pools.dedup();
        if !pools.contains(pool) {
            bail!(
                "There is no pool {pool} in namespace {namespace}; the pools there are: {}.",
                if pools.is_empty() {
                    "none".to_string()
                } else {
                    pools.join(", ")
                }
            );
        }
    }
    let deep = args.deep;
    let problems = deepen(
        client,
        &mut facts,
        |f| deep || f.capped,
        args.concurrency.max(1),
    )
    .await;
    for (node, why) in problems {
        writeln!(
            notes,
            "note: {node}: could not read the runtime's images ({why}); planned from status.images"
        )?;
    }
    let mut plan = cleanup::plan(facts, &options);
    plan.problems = cleanup::blocking_problems(&fetched.daemonsets);
    Ok(plan)
}

pub async fn run(
    target: &crate::cluster::Target,
    args: &Args,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let connection = crate::cluster::connect(target).await?;
    let mut notes = Vec::new();
    let plan = make(&connection.client, &connection.namespace, args, &mut notes).await?;
    std::io::stderr().write_all(&notes)?;
    match format {
        Format::Table => out.write_all(cleanup::table(&plan).as_bytes())?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &cleanup::to_json(&plan))?;
            writeln!(out)?;
        }
    }
    Ok(())
}
