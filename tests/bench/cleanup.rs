//! Cleanup benchmark: `cargo bench --bench cleanup` (release build; prints figures).
//!
//! - `plan` over `config/scenarios/large.yaml` (5,000 nodes × 50 images, 100,000 pods),
//!   served by a simulator in its own process: fetching (lists over HTTP), reading the
//!   cluster into the planner's input, and planning (250,000 image entries), separately;
//!   memory; and the whole `kpreload plan -o json` command;
//! - `cleanup --yes` across 1,000 simulated nodes (7 images each, 3 to remove) at
//!   concurrency 50 and at the default 10: every node exec'd into four times and an Event
//!   recorded.
//!
//! Everything listens on 127.0.0.1 and stops by itself.

#[path = "common.rs"]
mod common;

use common::{median, rss_mib};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kpreload::cluster::{Target, connect};
use kpreload::commands::cleanup::{Ask, run};
use kpreload::commands::plan::{Args, make};
use kpreload::core::cleanup::{PlanOptions, gather, plan};

struct Sim(std::process::Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A simulator in its own process; its kubeconfig.
fn serve(scenario: &Path, dir: &Path) -> (Sim, PathBuf) {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .arg("sim")
        .arg("--scenario")
        .arg(scenario)
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Sim(child), kubeconfig)
}

struct No;

impl Ask for No {
    fn interactive(&self) -> bool {
        false
    }
    fn ask(&mut self, _: &str) -> Option<String> {
        None
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `cargo bench --bench cleanup -- plan` (or `-- cleanup`) runs one part.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a == "plan" || a == "cleanup")
        .collect();
    let part = |name: &str| only.is_empty() || only.iter().any(|a| a == name);

    // ---- plan over large.yaml ----
    if part("plan") {
        let (sim, kubeconfig) = serve(&root.join("config/scenarios/large.yaml"), dir.path());
        let target = Target {
            kubeconfig: Some(kubeconfig.clone()),
            ..Default::default()
        };
        rt.block_on(async {
        let connection = connect(&target).await.unwrap();
        let rss_before = rss_mib();
        let mut fetches = Vec::new();
        let mut fetched = None;
        for _ in 0..3 {
            let t = Instant::now();
            fetched = Some(
                kpreload::cluster::removal::fetch(&connection.client, "kube-system", &Default::default())
                    .await
                    .unwrap(),
            );
            fetches.push(t.elapsed().as_secs_f64());
        }
        let fetched = fetched.unwrap();
        let entries: usize = fetched
            .nodes
            .iter()
            .map(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.images.as_ref())
                    .map_or(0, Vec::len)
            })
            .sum();
        println!(
            "plan, fetch: {} nodes, {} pods, {} daemonsets, {entries} image entries: {:.2} s median of 3",
            fetched.nodes.len(),
            fetched.pods.len(),
            fetched.daemonsets.len(),
            median(fetches)
        );
        let options = PlanOptions {
            now: jiff::Timestamp::now().as_second(),
            ..PlanOptions::default()
        };
        let (mut gathers, mut plans) = (Vec::new(), Vec::new());
        let mut removals = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let facts = gather(&fetched.nodes, &fetched.pods, &fetched.daemonsets, &options);
            gathers.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let p = plan(facts, &options);
            plans.push(t.elapsed().as_secs_f64());
            removals = p.remove_images();
        }
        println!(
            "plan, reading the cluster into the planner's input: {:.0} ms median of 5",
            median(gathers) * 1e3
        );
        println!(
            "plan, planning {entries} image entries: {:.0} ms median of 5 ({removals} removals)",
            median(plans) * 1e3
        );
        println!(
            "plan, memory: RSS {:.0} MiB after fetching and planning ({:.0} MiB before)",
            rss_mib(),
            rss_before
        );
    });
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_kpreload"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["plan", "-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "kpreload plan -o json (the whole command, 5,000 nodes): {:.2} s, {:.1} MB of JSON",
            t.elapsed().as_secs_f64(),
            out.stdout.len() as f64 / 1e6
        );
        drop(sim);
    }

    // ---- cleanup across 1,000 nodes ----
    for concurrency in [50, 10] {
        if !part("cleanup") {
            break;
        }
        let scenario = dir.path().join(format!("cleanup-{concurrency}.yaml"));
        let rendered = Command::new(env!("CARGO_BIN_EXE_kpreload"))
            .args(["render", "-f", "tests/fixtures/cleanup/pools.yaml"])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(rendered.status.success());
        std::fs::write(
            &scenario,
            format!(
                "apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nspeed: 1000\nregistry:\n\
                 \x20 - {{image: \"nginx:1.23\", size: 57011234}}\n\
                 \x20 - {{image: \"nginx:1.24\", size: 58110000}}\n\
                 \x20 - {{image: \"nginx:1.25\", size: 67340000}}\n\
                 \x20 - {{image: \"nginx:1.26\", size: 68110000}}\n\
                 \x20 - {{image: \"python:3.12\", size: 372150000}}\n\
                 \x20 - {{image: \"python:3.13\", size: 379550000}}\n\
                 \x20 - {{image: \"python:3.14\", size: 384000000}}\n\
                 \x20 - {{image: \"busybox:1.37.0-musl\", size: 1490000}}\n\
                 generate:\n\
                 \x20 - {{pool: web, count: 1000, labels: {{workload-type: web}}, images: \
                 [\"nginx:1.23\", \"nginx:1.24\", \"nginx:1.25\", \"nginx:1.26\", \"python:3.12\", \
                 \"python:3.13\", \"python:3.14\"]}}\n---\n{}",
                String::from_utf8(rendered.stdout).unwrap()
            ),
        )
        .unwrap();
        let (sim, kubeconfig) = serve(&scenario, dir.path());
        let target = Target {
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        };
        rt.block_on(async {
            // Wait for every preloader's cleanup container.
            let connection = connect(&target).await.unwrap();
            let args = Args {
                concurrency,
                ..Default::default()
            };
            let start = Instant::now();
            loop {
                let p = make(&connection.client, "kube-system", &args, &mut Vec::new())
                    .await
                    .unwrap();
                let ready = p.nodes.iter().filter(|n| n.facts.blocked().is_none()).count();
                if ready == 1000 {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(300),
                    "only {ready} of 1000 preloaders ready"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let mut out = Vec::new();
            let t = Instant::now();
            run(&target, &args, true, &mut No, &mut out).await.unwrap();
            let seconds = t.elapsed().as_secs_f64();
            let text = String::from_utf8(out).unwrap();
            let summary = text
                .lines()
                .find(|l| l.starts_with("Removed "))
                .unwrap_or("no summary")
                .to_string();
            println!(
                "cleanup --yes, 1,000 nodes at concurrency {concurrency}: {seconds:.1} s ({:.0} nodes/s) — {summary}",
                1000.0 / seconds
            );
        });
        drop(sim);
    }
}
