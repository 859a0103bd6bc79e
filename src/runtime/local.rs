//! Running the runtime's tool as a local process: for a runtime on this machine (the tests'
//! containerd; a simulated node backed by a real containerd).

use super::{Output, Runner};

/// Runs commands on this machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Runner for Local {
    async fn run(&self, argv: &[String]) -> Result<Output, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("no command to run".into());
        };
        match tokio::process::Command::new(program)
            .args(args)
            .output()
            .await
        {
            Ok(out) => Ok(Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                code: out.status.code().unwrap_or(-1),
            }),
            // As a shell says it: the caller reads 127 as "the tool is not there".
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Output {
                stdout: String::new(),
                stderr: format!("{program}: not found\n"),
                code: 127,
            }),
            Err(e) => Err(format!("could not run {program}: {e}")),
        }
    }
}
