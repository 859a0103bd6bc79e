//! The plan in words: its table, its settings line, its JSON contract.

use serde_json::{Value, json};

use super::*;

/// The `plan -o json` contract: `keep`, `nodes[].{node, pool, images[].{refs, size,
/// decision, reason}, remove_bytes}`, `totals.{remove_images, remove_bytes}`; more fields
/// are added beside them, never renamed.
pub fn to_json(plan: &ClusterPlan) -> Value {
    let nodes: Vec<Value> = plan
        .nodes
        .iter()
        .map(|n| {
            let images: Vec<Value> = n
                .plan
                .images
                .iter()
                .map(|i| {
                    json!({
                        "refs": i.refs,
                        "id": i.id,
                        "size": i.size,
                        "decision": i.decision,
                        "reason": i.reason.to_string(),
                    })
                })
                .collect();
            json!({
                "node": n.plan.node,
                "pool": n.plan.pool,
                "keep": n.facts.settings.keep,
                "protect": n.facts.settings.protect,
                "images": images,
                "remove_bytes": n.plan.remove_bytes,
                "inventory": if n.facts.deep { "runtime" } else { "status.images" },
                "incomplete": n.facts.capped,
                "cleanup_possible": n.facts.blocked().is_none(),
                "cleanup_blocked": n.facts.blocked(),
            })
        })
        .collect();
    json!({
        "problems": plan.problems,
        "keep": plan.options.keep.unwrap_or(crate::planner::DEFAULT_KEEP),
        "settings": {
            "keep": plan.options.keep,
            "protect": plan.options.protect,
            "min_age_seconds": plan.options.min_age_secs,
            "group_flavours": plan.options.group_flavours,
        },
        "nodes": nodes,
        "totals": {
            "remove_images": plan.remove_images(),
            "remove_bytes": plan.remove_bytes(),
            "nodes": plan.nodes.len(),
            "nodes_to_clean": plan.nodes_to_clean(),
        },
    })
}

/// The shortest familiar name of an image: `nginx:1.23` for
/// `docker.io/library/nginx:1.23` (its tag, else its digest name, else its ID).
pub fn display_name(i: &ImagePlan) -> String {
    familiar_name(&i.refs)
}

/// The name people write for an image with these names: its tag, else its digest name,
/// else the first name as it is.
pub fn familiar_name(refs: &[String]) -> String {
    let parsed: Vec<ImageRef> = refs
        .iter()
        .filter_map(|r| ImageRef::parse(r).ok())
        .collect();
    parsed
        .iter()
        .find(|r| r.tag().is_some() && r.digest().is_none())
        .or(parsed.first())
        .map(|r| r.familiar())
        .or_else(|| refs.first().cloned())
        .unwrap_or_default()
}

/// The settings line every preview starts with.
pub fn settings_line(plan: &ClusterPlan) -> String {
    let o = &plan.options;
    let keep = match o.keep {
        Some(k) => format!("keep {k} per line"),
        None => format!(
            "keep each pool's own (else {}) per line",
            crate::planner::DEFAULT_KEEP
        ),
    };
    let protect = match &o.protect {
        Some(p) => format!("protect {}", p.join(", ")),
        None => format!(
            "protect each pool's own (else {})",
            DEFAULT_PROTECT.join(", ")
        ),
    };
    let age = match o.min_age_secs {
        Some(s) => format!("min age {}", units::seconds(s as f64)),
        None => "no min age".into(),
    };
    let flavours = if o.group_flavours {
        "flavours apart"
    } else {
        "flavours together"
    };
    format!("{keep} · {protect} · sandbox images always · {age} · {flavours}")
}

/// The plan as a table: pool → node → image, with decision, reason and size, and totals.
pub fn table(plan: &ClusterPlan) -> String {
    let mut out = format!("{}\n", settings_line(plan));
    for p in &plan.problems {
        out.push_str(&format!(
            "WARNING: {p}: cleanup cannot run until it is fixed\n"
        ));
    }
    let mut by_pool: BTreeMap<Option<&str>, Vec<&PlannedNode>> = BTreeMap::new();
    for n in &plan.nodes {
        by_pool.entry(n.plan.pool.as_deref()).or_default().push(n);
    }
    // Pools by name, then nodes in no pool.
    let mut groups: Vec<(Option<&str>, Vec<&PlannedNode>)> = by_pool.into_iter().collect();
    groups.sort_by_key(|(p, _)| (p.is_none(), p.map(str::to_string)));
    for (pool, nodes) in groups {
        let bytes: u64 = nodes.iter().map(|n| n.plan.remove_bytes).sum();
        let count: usize = nodes.iter().map(|n| n.plan.removals().count()).sum();
        out.push('\n');
        match pool {
            Some(p) => out.push_str(&format!(
                "POOL {p}: remove {count} image{} ({}) on {} node{}\n",
                plural(count),
                units::bytes(bytes),
                nodes.len(),
                plural(nodes.len())
            )),
            None => out.push_str(&format!(
                "NO POOL: remove {count} image{} ({}) on {} node{}\n",
                plural(count),
                units::bytes(bytes),
                nodes.len(),
                plural(nodes.len())
            )),
        }
        for n in nodes {
            let f = &n.facts;
            let mut notes = vec![format!("keep {}", f.settings.keep)];
            notes.push(if f.deep {
                "from the runtime".to_string()
            } else {
                "from status.images".to_string()
            });
            if f.capped {
                notes.push(format!(
                    "status.images is at the kubelet's cap of {STATUS_IMAGES_CAP}: smaller \
                     images may be missing (--deep reads the runtime)"
                ));
            }
            out.push_str(&format!(
                "  {}  remove {} ({}) · {}\n",
                n.plan.node,
                n.plan.removals().count(),
                units::bytes(n.plan.remove_bytes),
                notes.join(" · ")
            ));
            if let Some(why) = f.blocked().filter(|_| n.plan.removals().next().is_some()) {
                out.push_str(&format!("    cleanup cannot run here: {why}\n"));
            }
            let mut rows: Vec<(&ImagePlan, String)> =
                n.plan.images.iter().map(|i| (i, display_name(i))).collect();
            rows.sort_by(|a, b| {
                (a.0.decision != Decision::Remove, &a.1)
                    .cmp(&(b.0.decision != Decision::Remove, &b.1))
            });
            let width = rows.iter().map(|(_, d)| d.len()).max().unwrap_or(0);
            for (i, name) in rows {
                let decision = match i.decision {
                    Decision::Remove => "remove",
                    Decision::Keep => "keep",
                };
                out.push_str(&format!(
                    "    {decision:<6}  {name:<width$}  {:>9}  {}\n",
                    units::bytes(i.size),
                    i.reason
                ));
            }
        }
    }
    out.push_str(&format!(
        "\nTOTAL: remove {} image{} ({}) on {} of {} node{}\n",
        plan.remove_images(),
        plural(plan.remove_images()),
        units::bytes(plan.remove_bytes()),
        plan.nodes_to_clean(),
        plan.nodes.len(),
        plural(plan.nodes.len())
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
