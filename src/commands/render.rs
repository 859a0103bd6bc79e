//! `kpreload render`: the pools file's preloader DaemonSets as YAML.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::core::pools::PoolsFile;
use crate::core::render::{render_pool, to_yaml};

pub fn run(file: &Path, only: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let pools = PoolsFile::load(file)?;
    let selected: Vec<_> = pools
        .pools
        .iter()
        .filter(|p| only.is_none_or(|name| p.name == name))
        .collect();
    if let (Some(name), true) = (only, selected.is_empty()) {
        let known: Vec<_> = pools.pools.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "{} has no pool named \"{name}\"; its pools are {}.",
            file.display(),
            known.join(", ")
        );
    }
    let daemonsets: Vec<_> = selected.iter().map(|p| render_pool(&pools, p)).collect();
    out.write_all(to_yaml(&daemonsets).as_bytes())?;
    Ok(())
}
