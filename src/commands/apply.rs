//! `kpreload apply`: the pools file's preloaders, applied server-side with the field manager
//! `kpreload`. Every DaemonSet is dry-run first; if any would fail or conflict, none is
//! applied.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::cluster::apply::{self, ApplyError};
use crate::cluster::{Target, connect};
use crate::core::adopt::{Origin, read_preloader};
use crate::core::pools::PoolsFile;
use crate::core::render::render_pool;

pub async fn run(
    target: &Target,
    file: &Path,
    only: Option<&str>,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let pools = PoolsFile::load(file)?;
    let selected = pools
        .select(only, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))?;
    let connection = connect(target).await?;
    let client = &connection.client;
    let desired: Vec<_> = selected.iter().map(|p| render_pool(&pools, p)).collect();

    // Everything is read and dry-run before anything is written.
    let mut live = Vec::new();
    let mut problems = Vec::new();
    for ds in &desired {
        let name = ds.metadata.name.clone().unwrap_or_default();
        let now = apply::get(client, &pools.namespace, &name)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(now) = &now
            && let Some(Ok(p)) = read_preloader(now)
            && p.origin == Origin::HandWritten
        {
            problems.push(format!(
                "{}/{name} exists and was written by hand; applying over it would mix the two forms. \
                 Convert it from the TUI (e on its pool) or delete it first (kubectl delete daemonset -n {} {name})",
                pools.namespace, pools.namespace
            ));
            live.push(now.clone());
            continue;
        }
        if let Err(e) = apply::apply(client, ds, now.as_ref(), true).await {
            problems.push(describe(&name, &e));
        }
        live.push(now.unwrap_or_default());
    }
    if !problems.is_empty() {
        bail!(
            "nothing was applied:\n{}",
            problems
                .iter()
                .map(|p| format!("  {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let mut done: Vec<String> = Vec::new();
    for (ds, now) in desired.iter().zip(&live) {
        let name = ds.metadata.name.clone().unwrap_or_default();
        let seen = now.metadata.name.is_some().then_some(now);
        match apply::apply(client, ds, seen, dry_run).await {
            Ok((outcome, made)) => {
                if !dry_run && outcome != apply::Outcome::Unchanged {
                    let why = format!(
                        "{} from {} (by kpreload apply)",
                        outcome.word(),
                        file.display()
                    );
                    if let Err(e) = apply::record(client, &made, "PreloaderApplied", &why).await {
                        eprintln!(
                            "kpreload: {name} {}, but its audit Event was not recorded: {e}",
                            outcome.word()
                        );
                    }
                }
                writeln!(
                    out,
                    "daemonset.apps/{name} {}{}",
                    outcome.word(),
                    if dry_run { " (server dry run)" } else { "" }
                )?;
                done.push(name);
            }
            Err(e) if done.is_empty() => bail!("{}", describe(&name, &e)),
            Err(e) => bail!(
                "{} ({} {} applied before this; the rest were not)",
                describe(&name, &e),
                done.join(", "),
                if done.len() == 1 { "was" } else { "were" }
            ),
        }
    }
    Ok(())
}

fn describe(name: &str, e: &ApplyError) -> String {
    match e {
        ApplyError::Conflict(c) => {
            let mut s = format!("{name}: {}", c.summary);
            for m in &c.managers {
                s.push_str(&format!("\n    by {m}"));
            }
            for f in &c.changes {
                s.push_str(&format!("\n    {f}"));
            }
            s
        }
        ApplyError::Failed(f) => format!("{name}: {f}"),
    }
}
