//! The kubelet's image garbage collection, as it behaves on a real node: when the image
//! filesystem is above `imageGCHighThresholdPercent`, remove unused images, least recently
//! used first, until it is below `imageGCLowThresholdPercent`; images older (unused) than
//! `imageMaximumGCAge` go regardless. Images any container uses, pinned images and images
//! younger than `imageMinimumGCAge` are never removed. This is what evicts preloaded images.

use std::collections::HashSet;

use super::NodeState;
use crate::rules::reference::ImageName;
use crate::server::Sim;

/// Parses a Go duration as the kubelet config writes them: `2m0s`, `72h`, `0s`, `90s`.
pub fn go_seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
        any = true;
    }
    if !number.is_empty() {
        // A bare number is seconds.
        total += number.parse::<f64>().ok()?;
        any = true;
    }
    any.then_some(total)
}

/// Images (normalised names) of the node's containers that have not exited: running, or
/// still to run. An init container that has exited holds nothing: this is how a preloader's
/// images, pulled and done with, become fair game for the GC.
fn in_use(sim: &Sim, node: &str) -> HashSet<String> {
    let (_, pods) = sim.store.pods_on(node);
    let mut out = HashSet::new();
    for pod in &pods {
        for (list, statuses) in [
            ("initContainers", "initContainerStatuses"),
            ("containers", "containerStatuses"),
            ("ephemeralContainers", "ephemeralContainerStatuses"),
        ] {
            for (i, c) in pod["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if !pod["status"][statuses][i]["state"]["terminated"].is_null() {
                    continue;
                }
                if let Some(n) = c["image"].as_str().and_then(|i| ImageName::parse(i).ok()) {
                    out.insert(n.normalized());
                }
            }
        }
    }
    out
}

/// Runs one garbage collection on a node; returns how many images it removed. The node's
/// containers are only looked at when there is something to collect.
pub fn collect(sim: &Sim, node: &NodeState, now: i64) -> usize {
    let config = &node.kubelet;
    let speed = sim.simulation.speed;
    let min_age = go_seconds(&config.image_minimum_gc_age).unwrap_or(120.0);
    let max_age = go_seconds(&config.image_maximum_gc_age).unwrap_or(0.0);
    let high = u64::from(config.image_gc_high_threshold_percent);
    let low = u64::from(config.image_gc_low_threshold_percent);
    let capacity = node.disk.max(1);
    let over = {
        let images = node.images.lock().unwrap_or_else(|p| p.into_inner());
        high < 100 && images.used_bytes() * 100 / capacity >= high
    };
    if !over && max_age <= 0.0 {
        return 0;
    }
    let used_names = in_use(sim, &node.name);
    let mut images = node.images.lock().unwrap_or_else(|p| p.into_inner());
    // Simulated seconds since a moment.
    let age = |t: i64| (now - t) as f64 * speed;
    let removable = |i: &super::images::NodeImage| {
        !i.pinned && !i.refs.iter().any(|r| used_names.contains(r)) && age(i.created) >= min_age
    };
    let before = images.images.len();
    if max_age > 0.0 {
        images
            .images
            .retain(|i| !(removable(i) && age(i.last_used) > max_age));
    }
    if high < 100 && images.used_bytes() * 100 / capacity >= high {
        let target = capacity * low / 100;
        let mut candidates: Vec<(i64, String)> = images
            .images
            .iter()
            .filter(|i| removable(i))
            .map(|i| (i.last_used, i.id.clone()))
            .collect();
        candidates.sort();
        for (_, id) in candidates {
            if images.used_bytes() <= target {
                break;
            }
            images.images.retain(|i| i.id != id);
        }
    }
    before - images.images.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_seconds("2m0s"), Some(120.0));
        assert_eq!(go_seconds("72h"), Some(259_200.0));
        assert_eq!(go_seconds("0s"), Some(0.0));
        assert_eq!(go_seconds("1h30m"), Some(5400.0));
        assert_eq!(go_seconds("500ms"), Some(0.5));
        assert_eq!(go_seconds("soon"), None);
    }
}
