//! The fault soak: kpreload's TUI data path (every watch) and its commands against a
//! simulator while a driver with a fixed seed injects faults together, for a bounded time.
//!
//!   tests/soak [--seconds N] [--seed S]      (default 90 s under CI=true, else 30 s)
//!
//! Each round sets one to three faults at once (watches ended early, 410 Gone after a
//! compaction, 429 with Retry-After, 500, slow answers, exec that cannot reach a node, a 409
//! on a preloader, a kubelet gone silent) and, while they hold, does what a cluster does:
//! workload pods start and stop on the web nodes, nodes join and leave, another field
//! manager edits the preloader (without and with taking a field kpreload owns), a preloader
//! pod is deleted while a cleanup runs, and kpreload runs `status`, `plan`, `cleanup --yes`
//! and `apply`. Then the faults are lifted and the watches must converge: what they hold
//! equals what the server holds. What must hold throughout and at the end:
//! - no panic in the process or in a command, and every command that fails says why;
//! - no edit lost: the other manager's annotation is what it last wrote, a field it took is
//!   reported as a conflict and never overwritten, and the preloader's images are those of
//!   the last `apply` that succeeded;
//! - no cleanup removes an image a pod on that node uses, an image the pool preloads, or a
//!   pinned one (checked against the simulator's own node stores);
//! - at the end, the watches' state equals what real kubectl reads (`get -o json`).
//!
//! It prints the faults injected, the recoveries seen, the time to converge (p50, p99) and
//! the process's peak RSS, and its RSS after the first and the last convergence.

#[path = "fault-soak/driver.rs"]
mod driver;
#[path = "fault-soak/rounds.rs"]
mod rounds;
#[path = "fault-soak/state.rs"]
mod state;
#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tests/soak: {e}\nusage: tests/soak [--seconds N] [--seed S]");
            std::process::exit(2);
        }
    };
    if args.list {
        println!("soak: test");
        return;
    }
    if args.filtered_out {
        println!("soak: filtered out");
        return;
    }
    let Some(kubectl) = support::kubectl_path() else {
        // `missing` has said so (and failed under CI).
        return;
    };
    let report = driver::soak(&args, kubectl);
    println!("{}", report.summary());
    if !report.failures.is_empty() {
        eprintln!("\nthe soak FAILED:");
        for f in &report.failures {
            eprintln!("- {f}");
        }
        std::process::exit(1);
    }
}

pub struct Args {
    pub seconds: u64,
    pub seed: u64,
    /// A `cargo test -- FILTER` that does not name the soak: then it does not run.
    pub filtered_out: bool,
    pub list: bool,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let mut args = Args {
            seconds: if in_ci { 90 } else { 30 },
            seed: 42,
            filtered_out: false,
            list: false,
        };
        while let Some(a) = it.next() {
            let mut number = |what: &str| -> Result<u64, String> {
                let v = it.next().ok_or(format!("{what} needs a number"))?;
                v.parse()
                    .map_err(|_| format!("{what} takes a whole number; got {v:?}"))
            };
            match a.as_str() {
                "--seconds" => args.seconds = number("--seconds")?.max(5),
                "--seed" => args.seed = number("--seed")?,
                "--list" => args.list = true,
                // What `cargo test` may pass to every test binary (`tests/run -- …`).
                "--test-threads" | "--skip" | "--format" | "--color" => {
                    it.next();
                }
                other if other.starts_with("--") || other == "-q" => {}
                filter => args.filtered_out |= !"soak".contains(filter),
            }
        }
        Ok(args)
    }
}

/// Resident memory of this process, from /proc (0 where there is none).
pub fn rss_bytes() -> u64 {
    status_kb("VmRSS:") * 1024
}

/// Peak resident memory of this process (VmHWM).
pub fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// A kB figure of /proc/self/status (0 where there is none).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

/// p-th percentile (0..=100) of durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
