//! TUI benchmark: `cargo bench --bench tui` (release build; prints figures).
//!
//! A simulator serving `config/scenarios/large.yaml` (5,000 nodes, 100,000 pods) runs as its
//! own process, so that this process measures the client side alone, as the TUI runs it:
//! - time until the pools view is complete (every watch listed, overview derived, drawn),
//!   beside `kubectl get nodes -o json` against the same simulator;
//! - this process's resident memory then (watch caches trimmed; one malloc arena, as the
//!   binary sets before it starts the TUI);
//! - render time per frame at 250x80 for each view (median and p99 of 1,000);
//! - time from a change in the cluster to the screen (ten preloaders applied one by one);
//! - CPU while nothing is asked of it.
//!
//! Everything listens on 127.0.0.1 and stops by itself.

/// Frames drawn per view: the p99 then has ten frames above it, not one.
const FRAMES: usize = 1000;

#[path = "common.rs"]
mod common;

use common::{median, rss_mib};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload::cluster::watch::{self, Link, PodScope, Update};
use kpreload::cluster::{Target, connect};
use kpreload::core::progress;
use kpreload::tui::app::{Action, App, Header};
use kpreload::tui::config::Config;
use kube::api::{Api, Patch, PatchParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// CPU seconds this process has used (user + system).
/// One frame of the TUI as its loop draws one: what it needs worked out, then drawn.
fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    app.before_draw(terminal.size().unwrap().into());
    terminal
        .draw(|f| kpreload::tui::views::draw(f, app))
        .unwrap();
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

struct Sim(std::process::Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    // As the binary does before it starts the TUI: one malloc arena.
    kpreload::cli::one_malloc_arena();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // `tests/bench/scale --scenario` runs this on another scenario.
    let scenario = std::env::var("KPRELOAD_BENCH_SCENARIO")
        .unwrap_or_else(|_| "config/scenarios/large.yaml".to_string());
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .args(["sim", "--scenario", &scenario, "--write-kubeconfig"])
        .arg(&kubeconfig)
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut sim = Some(Sim(child));
    println!(
        "simulator (own process) serving large.yaml after {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let kubectl = std::env::var_os("KPRELOAD_KUBECTL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/tools/py/bin/kubectl"));
    let kubectl_seconds = if kubectl.exists() {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let out = Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["get", "nodes", "-o", "json"])
                .output()
                .unwrap();
            assert!(out.status.success());
            times.push(t.elapsed().as_secs_f64());
        }
        let m = median(times);
        println!("kubectl get nodes -o json (5,000 nodes): {m:.2} s median of 3");
        Some(m)
    } else {
        println!("kubectl get nodes: skipped, no kubectl 1.37 (tests/run installs it)");
        None
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let rss_before = rss_mib();
        let t = Instant::now();
        let target = Target {
            kubeconfig: Some(kubeconfig.clone()),
            ..Default::default()
        };
        let connection = connect(&target).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _tasks = watch::spawn_all(
            &connection.client,
            &connection.namespace,
            PodScope::AllNamespaces,
            &tx,
        );
        let header = Header {
            context: connection.context.clone(),
            cluster: connection.cluster.clone(),
            server: connection.server.clone(),
            namespace: connection.namespace.clone(),
        };
        let mut app = App::new(
            Config::default_config(),
            header,
            false,
            jiff::Timestamp::now(),
        );
        let mut terminal = Terminal::new(TestBackend::new(250, 80)).unwrap();
        while !app.links.all_live() {
            let u = rx.recv().await.unwrap();
            app.update(Action::Cluster(u));
        }
        app.refresh();
        draw(&mut app, &mut terminal);
        let complete = t.elapsed().as_secs_f64();
        println!(
            "pools view complete (5,000 nodes, {} pods listed, derived, drawn): {complete:.2} s{}",
            app.snapshot.workloads.len(),
            kubectl_seconds
                .map(|k| format!(" = {:.2}× kubectl get nodes -o json", complete / k))
                .unwrap_or_default()
        );
        println!(
            "RSS: {:.0} MiB (before connecting {:.0} MiB)",
            rss_mib(),
            rss_before
        );

        // Ten preloaders, applied one by one (5,000 nodes rolling out), then forty more that
        // select no node while those rollouts run; each is timed until it is on the screen.
        let api: Api<DaemonSet> = Api::namespaced(connection.client.clone(), "kube-system");
        let mut pools: Vec<(String, String)> = [
            "web", "api", "batch", "ml", "gpu", "data", "cache", "edge", "ci", "general",
        ]
        .iter()
        .map(|p| (p.to_string(), p.to_string()))
        .collect();
        pools.extend((0..40).map(|i| (format!("probe-{i}"), format!("none-{i}"))));
        let mut latencies = Vec::new();
        let mut arrivals = Vec::new();
        let mut waits: Vec<(f64, String)> = Vec::new();
        // The resourceVersion each apply's answer carries: how fast the cluster changed
        // meanwhile (every kind's changes move it).
        let mut versions: Vec<(Instant, u64)> = Vec::new();
        // The forty probes go one every PACE, so that they span the rollouts' busiest part
        // whether or not the simulator answers quickly.
        const PACE: Duration = Duration::from_millis(500);
        let mut previous: Option<Instant> = None;
        for (i, (pool, selects)) in pools.iter().enumerate() {
            if i >= 10
                && let Some(p) = previous
            {
                // Meanwhile the loop goes on as the TUI's does: updates in, derived, drawn.
                let until = tokio::time::sleep_until((p + PACE).into());
                tokio::pin!(until);
                loop {
                    tokio::select! {
                        () = &mut until => break,
                        u = rx.recv() => {
                            app.update(Action::Cluster(u.unwrap()));
                            while let Ok(u) = rx.try_recv() {
                                app.update(Action::Cluster(u));
                            }
                            app.refresh();
                            draw(&mut app, &mut terminal);
                        }
                    }
                }
            }
            previous = Some(Instant::now());
            let pool = pool.as_str();
            let text = format!(
                "namespace: kube-system\nhelperImage: busybox:1.37\npools:\n  - name: {pool}\n    nodeSelector: {{matchLabels: {{workload-type: {selects}}}}}\n    tolerations: [{{key: workload, operator: Exists}}]\n    images: [nginx:1.25, python:3.13-slim, golang:1.25]\n"
            );
            let file = kpreload::core::pools::PoolsFile::parse(&text, "bench").unwrap();
            let ds = kpreload::core::render::render_pool(&file, &file.pools[0]);
            let name = ds.metadata.name.clone().unwrap();
            let t = Instant::now();
            let answer = api
                .patch(
                    &name,
                    &PatchParams::apply("kpreload").force(),
                    &Patch::Apply(&ds),
                )
                .await
                .unwrap();
            let applied = t.elapsed();
            if let Some(rv) = answer
                .metadata
                .resource_version
                .and_then(|v| v.parse::<u64>().ok())
            {
                versions.push((Instant::now(), rv));
            }
            // Where the wait went: taking updates in, deriving, and how many batches.
            let (mut taking, mut deriving, mut batches) = (0.0, 0.0, 0);
            // What the refreshes derived again: pools, and preloader pods read anew.
            let (mut pools_derived, mut pods_read) = (0, 0);
            // And the watches that failed or came back meanwhile (a relist is one of them).
            let mut links: Vec<String> = Vec::new();
            let mut note = |u: &Update| {
                if let Update::Link(w, l) = u {
                    let what = match l {
                        Link::Live => "live".to_string(),
                        Link::Connecting => "connecting".to_string(),
                        Link::Retrying(why) => format!("retrying ({why})"),
                    };
                    links.push(format!(
                        "{} {what} at {:.0} ms",
                        w.resource(),
                        t.elapsed().as_secs_f64() * 1000.0
                    ));
                }
            };
            loop {
                let u = rx.recv().await.unwrap();
                let took = Instant::now();
                note(&u);
                app.update(Action::Cluster(u));
                while let Ok(u) = rx.try_recv() {
                    note(&u);
                    app.update(Action::Cluster(u));
                }
                taking += took.elapsed().as_secs_f64() * 1000.0;
                batches += 1;
                let arrived = app
                    .snapshot
                    .daemonsets
                    .iter()
                    .any(|d| d.metadata.name.as_deref() == Some(name.as_str()));
                if arrived && arrivals.len() < latencies.len() + 1 {
                    arrivals.push((applied.as_secs_f64(), t.elapsed().as_secs_f64()));
                }
                let derived = Instant::now();
                app.refresh();
                deriving += derived.elapsed().as_secs_f64() * 1000.0;
                let (d, _, r) = app.derived();
                pools_derived += d;
                pods_read += r;
                if app.overview.pools.iter().any(|p| p.pool == pool) {
                    draw(&mut app, &mut terminal);
                    break;
                }
            }
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let answer = applied.as_secs_f64() * 1000.0;
            let event = arrivals.last().map_or(f64::NAN, |a| a.1 * 1000.0);
            waits.push((
                *latencies.last().unwrap(),
                format!(
                    "{pool}: answered at {answer:.0} ms, its DaemonSet here at {event:.0} ms; {batches} batches taken in ({taking:.0} ms) and derived ({deriving:.0} ms: {pools_derived} pools, {pods_read} pods read){}",
                    if links.is_empty() {
                        String::new()
                    } else {
                        format!("; watches: {}", links.join(", "))
                    }
                ),
            ));
        }
        waits.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        println!(
            "change to screen (a preloader applied → its pool drawn, {} during a 5,000-node rollout): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; the first ten (each starting a 500-node rollout) median {:.0} ms",
            latencies.len(),
            rank(0.5),
            rank(0.99),
            sorted.last().copied().unwrap_or(0.0),
            median(latencies[..10].to_vec()),
        );
        println!(
            "  of which: the apply's answer {:.0} ms, its watch event here {:.0} ms after the answer (medians)",
            median(arrivals.iter().map(|a| a.0 * 1000.0).collect()),
            median(arrivals.iter().map(|a| (a.1 - a.0) * 1000.0).collect()),
        );
        for (ms, what) in waits.iter().take(3) {
            println!("  slowest: {ms:.0} ms, {what}");
        }
        if let (Some(first), Some(last)) = (versions.first(), versions.last()) {
            let seconds = last.0.duration_since(first.0).as_secs_f64();
            let nodes: Vec<&kpreload::core::progress::NodeProgress> =
                app.overview.pools.iter().flat_map(|p| &p.nodes).collect();
            let done = nodes.iter().filter(|n| n.ready()).count();
            println!(
                "  meanwhile the cluster changed {:.0} times a second (resourceVersion {} → {} in {seconds:.1} s); at the end {done} of {} preloader pods were ready",
                (last.1 - first.1) as f64 / seconds.max(1e-9),
                first.1,
                last.1,
                nodes.len(),
            );
        }

        // Let the rollouts run a little, then measure frames.
        let settle = Instant::now() + Duration::from_secs(5);
        while Instant::now() < settle {
            if let Ok(Some(u)) =
                tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
            {
                app.update(Action::Cluster(u));
            }
        }
        app.refresh();
        // The TUI's loop with nothing typed while the rollouts and heartbeats arrive.
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let mut updates = 0;
        let mut frames = 0;
        let mut last_frame = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(16), rx.recv()).await {
                updates += 1;
                app.update(Action::Cluster(u));
            }
            if app.dirty && last_frame.elapsed() >= Duration::from_millis(16) {
                app.refresh();
                draw(&mut app, &mut terminal);
                app.dirty = false;
                frames += 1;
                last_frame = Instant::now();
            }
        }
        let cpu = cpu_seconds() - cpu0;
        println!(
            "CPU over 10 s with rollouts and heartbeats arriving: {:.1} % of one core ({updates} updates, {frames} frames)",
            cpu / 10.0 * 100.0
        );
        // Derivation and frames are measured with the simulator stopped, so that its 5,000
        // simulated kubelets do not share the two cores with what is measured.
        drop(sim.take());
        let mut times = Vec::new();
        let mut pools_seen = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let derived = progress::derive(&app.snapshot, jiff::Timestamp::now());
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            pools_seen = derived.pools.len();
        }
        println!(
            "deriving the overview ({pools_seen} pools, {} preloader pods, {} events): {:.1} ms median of 5",
            app.snapshot.pods.len(),
            app.snapshot.events.len(),
            median(times)
        );
        // What the TUI does on a change: derive again with what it derived before kept, one
        // preloader pod changed (a status update).
        let mut deriver = progress::Deriver::default();
        let now = jiff::Timestamp::now();
        let tracker = Default::default();
        deriver.derive(&app.snapshot, now, &tracker);
        let mut snap = app.snapshot.clone();
        let mut times = Vec::new();
        for i in 0..5 {
            let k = (i * 997) % snap.pods.len().max(1);
            if let Some(p) = snap.pods.get_mut(k) {
                *p = std::sync::Arc::new((**p).clone());
            }
            let t = Instant::now();
            deriver.derive(&snap, now, &tracker);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (derived, reused) = deriver.last();
        println!(
            "deriving again after one preloader pod changed: {:.1} ms median of 5 ({derived} pool derived, {reused} reused; {} pod read again)",
            median(times),
            deriver.pods_read()
        );
        // A second later and nothing else changed: every pool again (its estimates move
        // with the clock), no pod read again.
        let mut times = Vec::new();
        for i in 1..=5 {
            let later = now + jiff::SignedDuration::from_secs(i);
            let t = Instant::now();
            deriver.derive(&snap, later, &tracker);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (derived, reused) = deriver.last();
        println!(
            "deriving again a second later, nothing else changed: {:.1} ms median of 5 ({derived} pools derived, {reused} reused; {} pods read again)",
            median(times),
            deriver.pods_read()
        );
        // The findings, disks and sizing the TUI derives (at most once a second while things
        // change): every pool's facts from every node and pod.
        let kubelets = kpreload::tui::kubelets::Kubelets::default();
        let mut times = Vec::new();
        let mut findings = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let insight = kpreload::tui::insight::Insight::compute(&app.snapshot, &kubelets, &Default::default(), &[], 0);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            findings = insight.findings.len();
        }
        println!(
            "deriving the insight ({findings} findings from {} nodes, {} pods): {:.1} ms median of 5",
            app.snapshot.nodes.len(),
            app.snapshot.workloads.len(),
            median(times)
        );
        for (name, keys) in [("pools", ""), ("first pool listed (500 nodes)", "\n"), ("node", "\n\n")] {
            let mut app2 = App::new(app.config.clone(), app.header.clone(), false, app.now);
            app2.snapshot = app.snapshot.clone();
            app2.links = app.links.clone();
            // Derived as the TUI derives it (the rows' figures with it).
            app2.stale = true;
            app2.refresh();
            for c in keys.chars() {
                let code = if c == '\n' {
                    crossterm::event::KeyCode::Enter
                } else {
                    crossterm::event::KeyCode::Char(c)
                };
                app2.update(Action::Key(crossterm::event::KeyEvent::new(
                    code,
                    crossterm::event::KeyModifiers::NONE,
                )));
            }
            let mut times = Vec::new();
            for _ in 0..FRAMES {
                app2.before_draw(terminal.size().unwrap().into());
                let t = Instant::now();
                terminal
                    .draw(|f| kpreload::tui::views::draw(f, &app2))
                    .unwrap();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "frame at 250x80, {name} view: median {:.2} ms, p99 {:.2} ms of {FRAMES}",
                median(times.clone()),
                times[FRAMES * 99 / 100 - 1]
            );
        }

    });
}
