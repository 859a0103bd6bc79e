//! Simulator benchmark: `cargo bench --bench sim` (release build; prints figures).
//!
//! - the simulator's resident memory for `config/scenarios/large.yaml` and
//!   `config/scenarios/huge.yaml` (150,000 pods), each in a process of its own: after loading,
//!   and with its controllers running after every pod was listed in pages of 500;
//! - loading `config/scenarios/large.yaml` (5,000 nodes with 50 images each, 100,000 pods);
//! - all 100,000 pods listed over HTTP in pages of 500;
//! - a full 5,000-node list over HTTP, and `kubectl get nodes -o json --chunk-size=500`
//!   (when kubectl 1.37 is installed: `tests/run` puts it in target/tools);
//! - 10 concurrent watchers receiving a burst of 1,000 changes.
//!
//! Everything listens on 127.0.0.1 and stops by itself.

#[path = "common.rs"]
mod common;

use common::{median, rss_mib};

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kpreload::sim;
use serde_json::json;

/// The whole HTTP response to a GET, head and body.
fn http_get_raw(addr: &str, path: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    buf
}

fn http_get(addr: &str, path: &str) -> usize {
    http_get_raw(addr, path).len()
}

/// Every pod, in pages of 500; returns the count.
fn list_pods_paged(addr: &str) -> usize {
    let mut token = String::new();
    let mut count = 0;
    loop {
        let path = format!("/api/v1/pods?limit=500&continue={token}");
        let buf = String::from_utf8_lossy(&http_get_raw(addr, &path)).into_owned();
        let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        count += v["items"].as_array().map_or(0, Vec::len);
        match v["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => token = c.to_string(),
            _ => return count,
        }
    }
}

/// In a process of its own (this bench run again): a scenario's resident memory.
fn memory_of(scenario: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let state =
        kpreload::sim::build(kpreload::sim::load(&root.join(scenario)).unwrap(), 1).unwrap();
    let loaded = t.elapsed().as_secs_f64();
    let pods = state.store.count("Pod");
    let after_load = rss_mib();
    // What the same objects weigh as JSON: what a store of bytes would hold.
    let json_mib = |kind| {
        let (_, items) = state.store.list(kind, None);
        items
            .iter()
            .map(|o| serde_json::to_vec(&**o).unwrap().len())
            .sum::<usize>() as f64
            / (1 << 20) as f64
    };
    println!(
        "{scenario}: its objects as JSON: pods {:.0} MiB, nodes {:.0} MiB",
        json_mib("Pod"),
        json_mib("Node")
    );
    let running = rt
        .block_on(sim::start(state, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = running.addr.to_string();
    let t = Instant::now();
    let listed = list_pods_paged(&addr);
    let paged = t.elapsed().as_secs_f64();
    assert_eq!(listed, pods);
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "{scenario}: {pods} pods loaded in {loaded:.1} s, RSS {after_load:.0} MiB; listed in pages of 500 in {paged:.2} s; RSS with its controllers running {:.0} MiB",
        rss_mib()
    );
    running.stop();
}

fn main() {
    if let Ok(scenario) = std::env::var("KPRELOAD_BENCH_SIM_MEMORY") {
        return memory_of(&scenario);
    }
    for scenario in ["config/scenarios/large.yaml", "config/scenarios/huge.yaml"] {
        let status = Command::new(std::env::current_exe().unwrap())
            .env("KPRELOAD_BENCH_SIM_MEMORY", scenario)
            .status()
            .unwrap();
        assert!(status.success(), "{scenario}: {status}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let t = Instant::now();
    let scenario = kpreload::sim::load(&root.join("config/scenarios/large.yaml")).unwrap();
    let parsed = t.elapsed();
    let state = kpreload::sim::build(scenario, 1).unwrap();
    let loaded = t.elapsed();
    let nodes = state.store.count("Node");
    let pods = state.store.count("Pod");
    println!(
        "load large.yaml: {nodes} nodes, {pods} pods: parse {:.2} s, total {:.2} s; RSS {:.0} MiB",
        parsed.as_secs_f64(),
        loaded.as_secs_f64(),
        rss_mib()
    );

    let running = rt
        .block_on(sim::start(state.clone(), "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = running.addr.to_string();

    let mut lists = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        bytes = http_get(&addr, "/api/v1/nodes");
        lists.push(t.elapsed().as_secs_f64());
    }
    println!(
        "full node list over HTTP: {:.0} ms median of 5 ({:.1} MB)",
        median(lists) * 1e3,
        bytes as f64 / 1e6
    );
    let mut pages = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(list_pods_paged(&addr), pods);
        pages.push(t.elapsed().as_secs_f64());
    }
    println!(
        "all 100,000 pods in pages of 500 over HTTP: {:.2} s median of 3",
        median(pages)
    );

    let kubectl = std::env::var_os("KPRELOAD_KUBECTL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/tools/py/bin/kubectl"));
    if kubectl.exists() {
        let dir = std::env::temp_dir().join(format!("kpreload-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kubeconfig");
        std::fs::write(&kc, sim::kubeconfig::kubeconfig(&running.url())).unwrap();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let out = Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&kc)
                .args(["get", "nodes", "-o", "json", "--chunk-size=500"])
                .output()
                .unwrap();
            assert!(out.status.success());
            runs.push(t.elapsed().as_secs_f64());
        }
        println!(
            "kubectl get nodes -o json --chunk-size=500: {:.2} s median of 3",
            median(runs)
        );
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!(
            "kubectl get nodes: skipped, no kubectl 1.37 at {} (tests/run installs it)",
            kubectl.display()
        );
    }

    // 10 watchers, then 1,000 changes to nodes; time until every watcher has them all.
    let sim_state: Arc<sim::Sim> = state;
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("kpreload-bench-w{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kubeconfig");
        std::fs::write(&kc, sim::kubeconfig::kubeconfig(&running.url())).unwrap();
        let file = kube::config::Kubeconfig::read_from(&kc).unwrap();
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let api: kube::Api<Node> = kube::Api::all(client);
        let rv = sim_state.store.current_rv().to_string();
        let mut watchers = Vec::new();
        for _ in 0..10 {
            let stream = api
                .watch(&kube::api::WatchParams::default().timeout(120), &rv)
                .await
                .unwrap()
                .boxed();
            watchers.push(tokio::spawn(async move {
                let mut stream = stream;
                let mut seen = 0;
                let started = Instant::now();
                while let Some(ev) = stream.next().await {
                    if matches!(ev, Ok(kube::api::WatchEvent::Modified(_))) {
                        seen += 1;
                        if seen == 1000 {
                            return started.elapsed();
                        }
                    }
                }
                Duration::MAX
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let nodes = sim::resources::find("", "v1", "nodes").unwrap();
        let t = Instant::now();
        for i in 0..1000 {
            let name = format!("web-{}", i % 500 + 1);
            sim_state
                .store
                .update(nodes, "", &name, false, |old| {
                    let mut new = old.clone();
                    new["metadata"]["labels"]["bench"] = json!(i.to_string());
                    Ok(new)
                })
                .unwrap();
        }
        let written = t.elapsed();
        let mut slowest = Duration::ZERO;
        for w in watchers {
            slowest = slowest.max(tokio::time::timeout(Duration::from_secs(60), w).await.unwrap().unwrap());
        }
        println!(
            "burst of 1,000 node changes: written in {:.0} ms; all 10 watchers had every change {:.0} ms after the first write",
            written.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
        let _ = slowest;
        let _ = std::fs::remove_dir_all(&dir);
    });
    println!("RSS after the burst: {:.0} MiB", rss_mib());
    running.stop();
    drop(sim_state);

    // A preloader rolled out across all 5,000 nodes, at 1000x speed.
    let scenario = kpreload::sim::load(&root.join("config/scenarios/large.yaml"))
        .unwrap()
        .with_speed(1000.0);
    let state = kpreload::sim::build(scenario, 2).unwrap();
    let running = rt
        .block_on(sim::start(state.clone(), "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let pools = kpreload::core::pools::PoolsFile::parse(
        "helperImage: busybox:1.37\npools:\n  - name: all\n    tolerations: [{ operator: Exists }]\n    images: [nginx:1.26, redis:7.4-alpine]\n",
        "bench",
    )
    .unwrap();
    let ds = kpreload::core::render::render_pool(&pools, &pools.pools[0]);
    let seconds = rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("kpreload-bench-r{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kubeconfig");
        std::fs::write(&kc, sim::kubeconfig::kubeconfig(&running.url())).unwrap();
        let file = kube::config::Kubeconfig::read_from(&kc).unwrap();
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let api: kube::Api<k8s_openapi::api::apps::v1::DaemonSet> =
            kube::Api::namespaced(client, "kube-system");
        let t = Instant::now();
        api.patch(
            "image-preloader-all",
            &kube::api::PatchParams::apply("kpreload"),
            &kube::api::Patch::Apply(&ds),
        )
        .await
        .unwrap();
        loop {
            let live = api.get_status("image-preloader-all").await.unwrap();
            let st = live.status.unwrap_or_default();
            if st.desired_number_scheduled == 5000 && st.number_ready == 5000 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "the rollout did not converge"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        t.elapsed().as_secs_f64()
    });
    println!(
        "a preloader (2 images) rolled out to all 5,000 nodes at 1000x speed: ready in {seconds:.1} s; RSS {:.0} MiB",
        rss_mib()
    );
    running.stop();
}
