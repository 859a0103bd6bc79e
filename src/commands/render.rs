//! `kpreload render`: the pools file's preloader DaemonSets as YAML.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::core::pools::PoolsFile;
use crate::core::render::{render_pool, to_yaml};

pub fn run(file: &Path, only: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let pools = PoolsFile::load(file)?;
    let selected = pools
        .select(only, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!(e))?;
    let daemonsets: Vec<_> = selected.iter().map(|p| render_pool(&pools, p)).collect();
    out.write_all(to_yaml(&daemonsets).as_bytes())?;
    Ok(())
}
