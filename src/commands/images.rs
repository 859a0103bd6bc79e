//! `apply` and `render` ask every image's registry before anything is written: an image that
//! does not exist, or lacks the platform of some of its pool's nodes, stops the command (the
//! rollout would end in `ErrImagePull` on every node); one the registry would not show or
//! could not be asked about is let through, said on stderr, once per registry.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use crate::core::pools::Pool;
use crate::core::reference::ImageRef;
use crate::core::registry::{Answer, Platform};
use crate::core::selector::Taint;
use crate::registry::Registry;

/// The platforms of the nodes each pool covers.
pub fn platforms_of(pool: &Pool, nodes: &[std::sync::Arc<Node>]) -> Vec<Platform> {
    Platform::of_nodes(
        nodes
            .iter()
            .filter(|n| {
                let labels = n.metadata.labels.clone().unwrap_or_default();
                pool.covers(&labels, &Taint::of_node(n))
            })
            .map(|n| n.as_ref()),
    )
}

/// Checks the images of `pools` (each with the platforms of its nodes); the refusals as an
/// error, the images left unchecked written to stderr.
/// `done` says what did not happen: "applied", "rendered".
pub async fn check(
    registry: &Registry,
    pools: &[(&Pool, Vec<Platform>)],
    done: &str,
) -> anyhow::Result<()> {
    check_with(registry, pools, None, done).await
}

/// `check`, and the image the file's scheduled cleanup runs (`cleanup.image`).
pub async fn check_with(
    registry: &Registry,
    pools: &[(&Pool, Vec<Platform>)],
    cleanup: Option<&ImageRef>,
    done: &str,
) -> anyhow::Result<()> {
    let mut asks: Vec<(ImageRef, Vec<Platform>)> = Vec::new();
    let mut whose: Vec<String> = Vec::new();
    for (pool, platforms) in pools {
        for image in &pool.images {
            if !asks
                .iter()
                .any(|(i, p)| i.normalized() == image.normalized() && p == platforms)
            {
                asks.push((image.clone(), platforms.clone()));
                whose.push(format!("pool {}", pool.name));
            }
        }
    }
    if let Some(image) = cleanup {
        asks.push((image.clone(), Vec::new()));
        whose.push("the scheduled cleanup".into());
    }
    let answers = registry.check_all(&asks).await;
    let (refusals, unchecked) = judge(&answers, &whose);
    for line in unchecked {
        eprintln!("kpreload: {line}");
    }
    if refusals.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "nothing was {done}: {} of the pools file cannot be pulled:\n{}\n(--no-registry skips this check)",
        if refusals.len() == 1 {
            "an image"
        } else {
            "some images"
        },
        refusals
            .iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The refusals (one sentence per image, naming its pool) and the unchecked images (one
/// sentence per registry).
/// `pools`: whose each answer is, as said (`pool web`).
pub fn judge(
    answers: &[(ImageRef, Vec<Platform>, Answer)],
    pools: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut refusals = Vec::new();
    // Per registry: its first unchecked answer, and the images it left unchecked.
    let mut unchecked: BTreeMap<String, (Answer, Vec<String>)> = BTreeMap::new();
    for ((image, platforms, answer), pool) in answers.iter().zip(pools) {
        let written = image.written();
        if answer.refuses(platforms) {
            refusals.push(format!("{pool}: {}", answer.sentence(written, platforms)));
        } else if answer.unchecked() {
            let registry = match answer {
                Answer::Denied { registry, .. } | Answer::Unreachable { registry, .. } => {
                    registry.clone()
                }
                _ => String::new(),
            };
            let entry = unchecked
                .entry(registry)
                .or_insert_with(|| (answer.clone(), Vec::new()));
            if !entry.1.iter().any(|w| w == written) {
                entry.1.push(written.to_string());
            }
        }
    }
    let unchecked = unchecked
        .into_values()
        .map(|(answer, images)| answer.unchecked_sentence(&images))
        .collect();
    (refusals, unchecked)
}
