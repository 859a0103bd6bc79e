//! Estimates for a pool: throughput, each node's ETA and the slowest node, from the pulls
//! that finished, the sizes the nodes report and the bytes the pulls under way have
//! received (read from the node, or estimated: see [`super::bytes`]).

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;

use super::bytes::{self, Tracker};
use super::derive::Fast;
use super::{ImageState, NodeProgress, PoolProgress};
use crate::reference::ImageRef;

/// The size a node of the pool reports for an image (by normalized reference,
/// `docker.io/library/nginx:1.25`), from the first node that lists it.
fn reported_size(nodes: &[&Node], normalized: &str) -> Option<u64> {
    nodes.iter().find_map(|n| {
        n.status
            .as_ref()?
            .images
            .as_ref()?
            .iter()
            .find(|i| i.names.iter().flatten().any(|name| name == normalized))
            .and_then(|i| i.size_bytes)
            .map(|s| s as u64)
    })
}

/// Throughput, ETAs and the slowest node, from the pulls that finished.
pub(super) fn estimate(pool: &mut PoolProgress, nodes: &[&Node], now: Timestamp, live: &Tracker) {
    // Sizes of the pool's images: from a pull on any node, else from a node's image list.
    let mut size_of: Fast<String, u64> = Fast::default();
    for n in &pool.nodes {
        for i in n.images.iter() {
            if let ImageState::Pulled { bytes: Some(b), .. } = i.state {
                size_of.insert(i.image.clone(), b);
            }
        }
    }
    // Each image once: parsing a reference and scanning nodes is not free at 5,000 nodes.
    let mut known: Fast<String, Option<u64>> = Fast::default();
    for n in &pool.nodes {
        for i in n.images.iter() {
            if !known.contains_key(&i.image) {
                let size = size_of.get(&i.image).copied().or_else(|| {
                    let r = ImageRef::parse(&i.image).ok()?;
                    reported_size(nodes, &r.normalized())
                });
                known.insert(i.image.clone(), size);
            }
        }
    }
    let lookup = |image: &str| -> Option<u64> { known.get(image).copied().flatten() };
    let (all_bytes, all_seconds) = pool.nodes.iter().fold((0u64, 0f64), |(b, s), n| {
        (b + n.bytes(), s + n.pull_seconds())
    });
    let pool_rate = (all_seconds > 0.0).then(|| all_bytes as f64 / all_seconds);
    let mut throughput = 0.0;
    let mut any_pulling = false;
    for n in &mut pool.nodes {
        let rate = n.rate.or(pool_rate);
        let mut remaining = 0.0;
        let mut known = true;
        // The rate of this node's pull now: read, else its (or the pool's) earlier rate.
        let mut now_rate = None;
        // The images are shared with the read of the pod: copied only where a pull's bytes
        // are estimated anew.
        for ii in 0..n.images.len() {
            let i = &n.images[ii];
            match &i.state {
                ImageState::Queued => match lookup(&i.image) {
                    Some(s) => remaining += s as f64,
                    None => known = false,
                },
                ImageState::Pulling { since, bytes } => {
                    let total = lookup(&i.image);
                    let since = *since;
                    let elapsed = since.map(|t| now.duration_since(t).as_secs_f64().max(0.0));
                    let estimated = bytes::estimate(
                        live.live(&n.node, &i.image, since, now),
                        total,
                        elapsed,
                        rate,
                    );
                    if bytes != &estimated
                        && let ImageState::Pulling { bytes, .. } =
                            &mut Arc::make_mut(&mut n.images)[ii].state
                    {
                        bytes.clone_from(&estimated);
                    }
                    let pull_rate = estimated.as_ref().and_then(|b| b.rate).or(rate);
                    now_rate = now_rate.or(pull_rate);
                    match (total, estimated.as_ref(), pull_rate) {
                        (Some(s), Some(b), Some(_)) => remaining += s.saturating_sub(b.done) as f64,
                        _ => known = false,
                    }
                }
                _ => {}
            }
        }
        if n.pulling() {
            any_pulling = true;
            throughput += now_rate.unwrap_or(0.0);
        }
        let rate = now_rate.or(rate);
        n.eta_seconds = if remaining == 0.0 && known {
            Some(0.0)
        } else {
            match (known, rate) {
                (true, Some(r)) if r > 0.0 => Some(remaining / r),
                _ => None,
            }
        };
    }
    pool.throughput = (any_pulling && throughput > 0.0).then_some(throughput);
    let waiting: Vec<&NodeProgress> = pool
        .nodes
        .iter()
        .filter(|n| {
            n.images
                .iter()
                .any(|i| !i.state.is_done() && !i.state.is_failed())
        })
        .collect();
    if waiting.is_empty() {
        pool.eta_seconds = Some(0.0);
        pool.slowest = pool
            .nodes
            .iter()
            .filter(|n| n.pull_seconds() > 0.0)
            .max_by(|a, b| a.pull_seconds().total_cmp(&b.pull_seconds()))
            .map(|n| n.node.clone());
    } else {
        pool.eta_seconds = waiting
            .iter()
            .map(|n| n.eta_seconds)
            .try_fold(0f64, |m, e| e.map(|e| m.max(e)));
        pool.slowest = waiting
            .iter()
            .max_by(|a, b| {
                let key = |n: &NodeProgress| n.eta_seconds.unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b)).then((b.done()).cmp(&a.done()))
            })
            .map(|n| n.node.clone());
    }
}
