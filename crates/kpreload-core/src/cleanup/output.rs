//! The plan in words: its table, its settings line, its JSON contract.

use serde_json::{Value, json};

use super::*;

/// The `plan -o json` contract: `keep`, `nodes[].{node, pool, images[].{refs, size,
/// decision, reason}, remove_bytes}`, `totals.{remove_images, remove_bytes}`; more fields
/// are added beside them, never renamed.
pub fn to_json(plan: &ClusterPlan) -> Value {
    serde_json::to_value(JsonPlan(plan)).unwrap_or(Value::Null)
}

/// Writes the `plan -o json` document (pretty, keys in order) as it goes: no copy of the
/// plan is made, so 5,000 nodes' plans cost their bytes on the way out and nothing more.
pub fn write_json(plan: &ClusterPlan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonPlan(plan)).map_err(std::io::Error::other)?;
    writeln!(out)
}

// The document's shape. Keys are written in alphabetical order, as `serde_json::Value`
// writes them, so the output is the one the contract has always shown.
struct JsonPlan<'a>(&'a ClusterPlan);
struct JsonNode<'a>(&'a PlannedNode);
struct JsonImage<'a>(&'a ImagePlan);
struct JsonNodes<'a>(&'a [PlannedNode]);
struct JsonImages<'a>(&'a [ImagePlan]);

impl serde::Serialize for JsonPlan<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let plan = self.0;
        let o = &plan.options;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("keep", &o.keep.unwrap_or(crate::planner::DEFAULT_KEEP))?;
        m.serialize_entry("nodes", &JsonNodes(&plan.nodes))?;
        m.serialize_entry("problems", &plan.problems)?;
        m.serialize_entry(
            "settings",
            &json!({
                "keep": o.keep,
                "protect": o.protect,
                "min_age_seconds": o.min_age_secs,
                "group_flavours": o.group_flavours,
            }),
        )?;
        m.serialize_entry(
            "totals",
            &json!({
                "remove_images": plan.remove_images(),
                "remove_bytes": plan.remove_bytes(),
                "nodes": plan.nodes.len(),
                "nodes_to_clean": plan.nodes_to_clean(),
            }),
        )?;
        m.end()
    }
}

impl serde::Serialize for JsonNodes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonNode))
    }
}

impl serde::Serialize for JsonImages<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonImage))
    }
}

impl serde::Serialize for JsonNode<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let n = self.0;
        let blocked = n.facts.blocked();
        let mut m = s.serialize_map(Some(10))?;
        m.serialize_entry("cleanup_blocked", &blocked)?;
        m.serialize_entry("cleanup_possible", &blocked.is_none())?;
        m.serialize_entry("images", &JsonImages(&n.plan.images))?;
        m.serialize_entry("incomplete", &n.facts.capped)?;
        m.serialize_entry(
            "inventory",
            if n.facts.deep {
                "runtime"
            } else {
                "status.images"
            },
        )?;
        m.serialize_entry("keep", &n.facts.settings.keep)?;
        m.serialize_entry("node", &n.plan.node)?;
        m.serialize_entry("pool", &n.plan.pool)?;
        m.serialize_entry("protect", &n.facts.settings.protect)?;
        m.serialize_entry("remove_bytes", &n.plan.remove_bytes)?;
        m.end()
    }
}

impl serde::Serialize for JsonImage<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Shown<'a>(&'a crate::planner::Reason);
        impl serde::Serialize for Shown<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self.0)
            }
        }
        let i = self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("decision", &i.decision)?;
        m.serialize_entry("id", &i.id)?;
        m.serialize_entry("reason", &Shown(&i.reason))?;
        m.serialize_entry("refs", &i.refs)?;
        m.serialize_entry("size", &i.size)?;
        m.end()
    }
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
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = write_table(plan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the plan's table as it goes (the same text as [`table`]).
pub fn write_table(plan: &ClusterPlan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}", settings_line(plan))?;
    for p in &plan.problems {
        writeln!(out, "WARNING: {p}: cleanup cannot run until it is fixed")?;
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
        writeln!(out)?;
        let label = match pool {
            Some(p) => format!("POOL {p}"),
            None => "NO POOL".to_string(),
        };
        writeln!(
            out,
            "{label}: remove {count} image{} ({}) on {} node{}",
            plural(count),
            units::bytes(bytes),
            nodes.len(),
            plural(nodes.len())
        )?;
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
            writeln!(
                out,
                "  {}  remove {} ({}) · {}",
                n.plan.node,
                n.plan.removals().count(),
                units::bytes(n.plan.remove_bytes),
                notes.join(" · ")
            )?;
            if let Some(why) = f.blocked().filter(|_| n.plan.removals().next().is_some()) {
                writeln!(out, "    cleanup cannot run here: {why}")?;
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
                writeln!(
                    out,
                    "    {decision:<6}  {name:<width$}  {:>9}  {}",
                    units::bytes(i.size),
                    i.reason
                )?;
            }
        }
    }
    writeln!(
        out,
        "\nTOTAL: remove {} image{} ({}) on {} of {} node{}",
        plan.remove_images(),
        plural(plan.remove_images()),
        units::bytes(plan.remove_bytes()),
        plan.nodes_to_clean(),
        plan.nodes.len(),
        plural(plan.nodes.len())
    )?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
