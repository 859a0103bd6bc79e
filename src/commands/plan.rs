//! `kpreload plan`: the cleanup dry run. It reads the cluster (and, with `--deep` or where
//! `status.images` is at the kubelet's cap, each node's runtime) and prints what a cleanup
//! would remove and keep, and why. It never changes anything.

use std::io::Write;

use anyhow::{Result, bail};

use crate::cluster::removal::{Gathered, Scope, deepen, gather};
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
    let scope = Scope {
        pool: args.pool.as_deref(),
        node: args.node.as_deref(),
    };
    let options = args.options(jiff::Timestamp::now().as_second());
    let Gathered {
        mut facts,
        blocking,
    } = gather(client, namespace, &scope, &options)
        .await
        .map_err(anyhow::Error::msg)?;
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
    plan.problems = blocking;
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
    // Written as it is made, through a buffer: 5,000 nodes' plans are tens of megabytes.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    match format {
        Format::Table => cleanup::write_table(&plan, &mut out)?,
        Format::Json => cleanup::write_json(&plan, &mut out)?,
    }
    out.flush()?;
    Ok(())
}
