//! `kpreload cleanup`: shows the plan, asks for a typed `yes` (or takes `--yes`), plans
//! again right before removing — a removal that was not in the preview needs its own
//! confirmation — then cleans node by node and reports what each removed, freed, skipped
//! or failed. Exit 1 when any node failed.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use tokio::sync::mpsc;

use super::plan::{Args, make};
use crate::cluster::removal::{NodeReport, Step, execute};
use crate::core::cleanup::{self, ClusterPlan, display_name};
use crate::core::units;

/// Where the confirmation comes from.
pub trait Ask {
    /// Whether a person can answer (a terminal); otherwise only `--yes` goes on.
    fn interactive(&self) -> bool;
    /// Prints the question and returns the answer line, or None at end of input.
    fn ask(&mut self, question: &str) -> Option<String>;
}

/// The terminal: stdin and stderr.
pub struct Terminal;

impl Ask for Terminal {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }
}

fn summary(plan: &ClusterPlan) -> String {
    format!(
        "{} image{} ({}) on {} node{}",
        plan.remove_images(),
        if plan.remove_images() == 1 { "" } else { "s" },
        units::bytes(plan.remove_bytes()),
        plan.nodes_to_clean(),
        if plan.nodes_to_clean() == 1 { "" } else { "s" }
    )
}

fn confirmed(ask: &mut dyn Ask, question: &str) -> bool {
    ask.ask(question).is_some_and(|a| a == "yes")
}

pub async fn run(
    target: &crate::cluster::Target,
    args: &Args,
    yes: bool,
    ask: &mut dyn Ask,
    out: &mut dyn Write,
) -> Result<()> {
    let connection = crate::cluster::connect(target).await?;
    let (client, ns) = (&connection.client, connection.namespace.as_str());
    let mut notes = Vec::new();
    let preview = make(client, ns, args, &mut notes).await?;
    out.write_all(&notes)?;
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut *out);
        cleanup::write_table(&preview, &mut buffered)?;
        buffered.flush()?;
    }
    if let Some(why) = cleanup::blocked_run(&preview) {
        bail!("{why}");
    }
    if preview.remove_images() == 0 {
        writeln!(out, "Nothing to remove.")?;
        return Ok(());
    }
    if !yes {
        if !ask.interactive() {
            bail!(
                "Refusing to remove images without a confirmation, and there is no terminal to \
                 ask on; read the plan above and run `kpreload cleanup --yes` to go ahead."
            );
        }
        let question = format!("\nRemove {}? Type yes to go on: ", summary(&preview));
        if !confirmed(ask, &question) {
            writeln!(out, "Nothing removed.")?;
            return Ok(());
        }
    }

    // Plan again: what changed since the preview counts, not what the preview said.
    let mut notes = Vec::new();
    let mut plan = make(client, ns, args, &mut notes).await?;
    out.write_all(&notes)?;
    let previewed = preview.removal_keys();
    let now = plan.removal_keys();
    let grew: BTreeSet<&(String, String)> = now.difference(&previewed).collect();
    let mut allowed = previewed.clone();
    if !grew.is_empty() {
        let mut lines = Vec::new();
        for (node, key) in &grew {
            let name = plan
                .nodes
                .iter()
                .filter(|n| &n.plan.node == node)
                .flat_map(|n| n.plan.removals())
                .find(|i| cleanup::image_key(i) == *key)
                .map(display_name)
                .unwrap_or_else(|| key.clone());
            lines.push(format!("  {node}: {name}"));
        }
        writeln!(
            out,
            "\nSince the preview, {} more image{} became removable:\n{}",
            grew.len(),
            if grew.len() == 1 { "" } else { "s" },
            lines.join("\n")
        )?;
        if !yes && confirmed(ask, "Remove these too? Type yes to include them: ") {
            allowed.extend(grew.iter().map(|k| (*k).clone()));
        } else {
            writeln!(out, "They are left for the next run.")?;
        }
    }
    if let Some(why) = cleanup::blocked_run(&plan) {
        bail!("{why}");
    }
    let dropped = plan.restrict_to(&allowed);
    let _ = dropped;
    if plan.remove_images() == 0 {
        writeln!(
            out,
            "Nothing left to remove: the cluster changed since the preview."
        )?;
        return Ok(());
    }
    writeln!(out, "\nRemoving {}…", summary(&plan))?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let concurrency = args.concurrency.max(1);
    let run = execute(client, &plan, concurrency, Some(tx));
    tokio::pin!(run);
    // While removals run, a failed write (a closed pipe) must not cancel them: the run
    // finishes either way, and the summary below reports the error.
    let reports = loop {
        tokio::select! {
            reports = &mut run => break reports,
            Some(step) = rx.recv() => {
                if let Step::Finished(r) = step {
                    for line in crate::cluster::removal::report_lines(&r) {
                        let _ = writeln!(out, "{line}");
                    }
                    let _ = out.flush();
                }
            }
        }
    };
    // Reports the loop did not print before the run ended.
    while let Ok(step) = rx.try_recv() {
        if let Step::Finished(r) = step {
            for line in crate::cluster::removal::report_lines(&r) {
                writeln!(out, "{line}")?;
            }
        }
    }
    let removed: usize = reports.iter().map(NodeReport::removed).sum();
    let freed: u64 = reports.iter().map(NodeReport::freed).sum();
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.node.as_str())
        .collect();
    writeln!(
        out,
        "\nRemoved {removed} image{} and freed {} on {} node{}.",
        if removed == 1 { "" } else { "s" },
        units::bytes(freed),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    )?;
    if failed.len() == reports.len() && !failed.is_empty() {
        bail!(
            "Cleanup failed on every node it had work on ({}). See above for why, and run it again once that is fixed.",
            failed.join(", ")
        );
    }
    if !failed.is_empty() {
        bail!(
            "Cleanup failed on {} of {} nodes ({}); the others were cleaned. See above for why, and run it again once that is fixed.",
            failed.len(),
            reports.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
