//! `status --progress`: the bytes of the pulls under way, read from the nodes' runtimes.

use anyhow::Result;

use super::select;
use crate::core::progress::{self, Overview, Snapshot};

/// `--progress`: nodes read at most, and at once.
const PROGRESS_NODES: usize = 100;
const PROGRESS_AT_ONCE: usize = 8;

/// The overview again, with the bytes of the pulls under way read from their nodes'
/// runtimes (the first [`PROGRESS_NODES`] pulling nodes). A node that cannot be read keeps
/// its estimate, and the first such reason is said on stderr.
pub(super) async fn with_live_bytes(
    client: &kube::Client,
    snapshot: &Snapshot,
    overview: Overview,
    pool: Option<&str>,
    namespace: &str,
) -> Result<Overview> {
    use futures_util::StreamExt;
    let nodes: Vec<String> = overview
        .pools
        .iter()
        .flat_map(|p| &p.nodes)
        .filter(|n| n.pulling())
        .map(|n| n.node.clone())
        .take(PROGRESS_NODES)
        .collect();
    if nodes.is_empty() {
        return Ok(overview);
    }
    let targets = progress::bytes::live_targets(snapshot, &overview, &nodes);
    let mut why_not: Option<String> = None;
    let mut ready = Vec::new();
    for (node, t) in targets {
        match t {
            Ok(t) => ready.push(t),
            Err(e) => {
                why_not.get_or_insert(format!("{node}: {e}"));
            }
        }
    }
    let answers: Vec<_> = futures_util::stream::iter(ready)
        .map(|t| async move {
            let answer = crate::cluster::pulls::read(client, &t).await;
            (t, jiff::Timestamp::now(), answer)
        })
        .buffer_unordered(PROGRESS_AT_ONCE)
        .collect()
        .await;
    let mut tracker = progress::bytes::Tracker::default();
    for (t, at, answer) in answers {
        match answer {
            Ok(pulls) => tracker.observe(&t.node, &t.image, t.since, &pulls, at),
            Err(e) => {
                why_not.get_or_insert(format!("{}: {e}", t.node));
            }
        }
    }
    if let Some(why) = why_not {
        eprintln!("kpreload: --progress: some bytes are estimated: {why}");
    }
    let overview = progress::derive_with(snapshot, jiff::Timestamp::now(), &tracker);
    select(&overview, pool, namespace)
}
