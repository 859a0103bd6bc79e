//! Pulls in bytes against the simulator: `ctr content active` read through the rendered
//! preloader's cleanup sidecar over `pods/exec`, during the demo's pytorch pull; the TUI
//! reading only the nodes on its screen; `status --progress`; the article's hand-written
//! preloader, which has no container to read through, estimated and said why.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kpreload::cluster::watch::{Link, Update, Watch};
use kpreload::core::objects::{Event, Pod};
use kpreload::core::progress::bytes::{Tracker, live_targets};
use kpreload::core::progress::{self, ImageState, Snapshot};
use kube::Api;
use kube::api::ListParams;

use crate::support::{self, Cluster};

const DEMO: &str = "config/scenarios/demo.yaml";
const PYTORCH: &str = "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime";
/// Its size in the demo's registry.
const PYTORCH_SIZE: u64 = 3_874_211_840;

async fn list<K>(api: Api<K>) -> Vec<Arc<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(Arc::new)
        .collect()
}

/// What the TUI's watches would hold now.
/// The lists one after another, events first: what an event says has happened is then
/// never newer than the pods read after it. (Read the other way round on a busy machine, a
/// "Pulling" event can come with a pod whose status the kubelet has not written yet.)
async fn snapshot(client: &kube::Client) -> Snapshot {
    let events = list::<Event>(Api::namespaced(client.clone(), "kube-system")).await;
    let daemonsets = list::<DaemonSet>(Api::namespaced(client.clone(), "kube-system")).await;
    let pods = list::<Pod>(Api::namespaced(client.clone(), "kube-system")).await;
    Snapshot {
        nodes: list::<Node>(Api::all(client.clone())).await,
        pods,
        workloads: kpreload::core::objects::records(&list::<Pod>(Api::all(client.clone())).await),
        daemonsets,
        events,
    }
}

fn state_on<'a>(o: &'a progress::Overview, node: &str, image: &str) -> Option<&'a ImageState> {
    o.pools
        .iter()
        .flat_map(|p| &p.nodes)
        .filter(|n| n.node == node)
        .flat_map(|n| n.images.iter())
        .find(|i| i.image == image)
        .map(|i| &i.state)
}

#[test]
fn the_demos_pytorch_pull_read_through_the_sidecar_grows_on_every_read_and_ends_at_its_size() {
    // ml-1 takes pytorch's 3.9 GB at 90 MiB/s: 41 simulated seconds, about 4 s here.
    let cluster = Cluster::start_at(DEMO, Some(10.0));
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let mut tracker = Tracker::default();
        // (bytes done, the blobs `content active` listed) at each reading.
        let mut readings: Vec<(u64, BTreeSet<String>)> = Vec::new();
        let started = Instant::now();
        let pulled = loop {
            assert!(started.elapsed() < Duration::from_secs(90), "{readings:?}");
            let snap = snapshot(&client).await;
            let now = jiff::Timestamp::now();
            let o = progress::derive_with(&snap, now, &tracker);
            match state_on(&o, "ml-1", PYTORCH) {
                Some(ImageState::Pulling { .. }) => {
                    let targets = live_targets(&snap, &o, &["ml-1".to_string()]);
                    let [(node, Ok(target))] = targets.as_slice() else {
                        panic!("ml-1 can be read through its preloader: {targets:?}");
                    };
                    assert_eq!((node.as_str(), target.image.as_str()), ("ml-1", PYTORCH));
                    assert_eq!(target.exec.container, "cleanup");
                    let pulls = kpreload::cluster::pulls::read(&client, target)
                        .await
                        .expect("content active, through the sidecar");
                    tracker.observe(
                        "ml-1",
                        PYTORCH,
                        target.since,
                        &pulls,
                        jiff::Timestamp::now(),
                    );
                    let live = tracker
                        .live("ml-1", PYTORCH, target.since, jiff::Timestamp::now())
                        .unwrap()
                        .bytes;
                    // Read from the pull's first blob on: nothing unseen, nothing estimated.
                    assert!(!live.estimated, "{live:?}");
                    readings.push((
                        live.done,
                        pulls.iter().map(|p| p.reference.clone()).collect(),
                    ));
                }
                // Done by the pod's status, the size comes with the kubelet's "Pulled" event,
                // which may be a list behind it.
                Some(ImageState::Pulled {
                    bytes: Some(bytes), ..
                }) if !readings.is_empty() => break Some(*bytes),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        };
        assert!(readings.len() >= 8, "{readings:?}");
        for w in readings.windows(2) {
            assert!(w[1].0 >= w[0].0, "never backwards: {readings:?}");
            // Between readings of the same blobs, the figure grows (ctr rounds to four
            // digits: 1 MB at this size; 150 ms here is 140 MB there).
            if w[0].1 == w[1].1 && !w[0].1.is_empty() {
                assert!(w[1].0 > w[0].0, "grows on every read: {readings:?}");
            }
        }
        // Its three layers came one after another: a layer was committed (it left the list)
        // while the figure kept what it had counted.
        let blobs: BTreeSet<&String> = readings.iter().flat_map(|(_, b)| b).collect();
        assert!(blobs.len() >= 2, "{readings:?}");
        // The kubelet's figure when done is the image's size, and no reading passed it.
        assert_eq!(pulled, Some(PYTORCH_SIZE));
        let last = readings.last().unwrap().0;
        assert!(last <= PYTORCH_SIZE + 1_000_000, "{readings:?}");
        assert!(
            last > PYTORCH_SIZE / 2,
            "the last reading came late in the pull: {readings:?}"
        );
        // Only the node read was exec'd into.
        let execs = cluster.sim().world.execs();
        assert_eq!(execs.keys().collect::<Vec<_>>(), ["ml-1"], "{execs:?}");
        assert_eq!(execs["ml-1"] as usize, readings.len());
    });
}

/// The updates the TUI's watches would send for `snap`.
fn updates(snap: Snapshot) -> Vec<Update> {
    let mut out = vec![
        Update::Nodes(snap.nodes),
        Update::Workloads(snap.workloads),
        Update::Pods(snap.pods),
        Update::DaemonSets(snap.daemonsets),
        Update::Events(snap.events),
    ];
    for w in [
        Watch::Nodes,
        Watch::Pods,
        Watch::DaemonSets,
        Watch::Events,
        Watch::Workloads,
    ] {
        out.push(Update::Link(w, Link::Live));
    }
    out
}

#[test]
fn the_tui_execs_only_into_the_pulling_nodes_on_its_screen() {
    let cluster = Cluster::start_at(DEMO, Some(10.0));
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let header = kpreload::tui::app::Header::default();
        let config = kpreload::tui::config::Config::default_config();
        let mut app = kpreload::tui::app::App::new(config, header, false, jiff::Timestamp::now());
        // The ml pool on a screen 12 lines high: 9 below the bars, the head 3, the recent
        // pulls 3, the matrix 3 (its title, its header, one node of the three).
        let (width, height) = (100u16, 12u16);
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
        let mut in_view: BTreeSet<String> = BTreeSet::new();
        let mut read_ml = false;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(6) {
            for u in updates(snapshot(&client).await) {
                app.update(kpreload::tui::app::Action::Cluster(u));
            }
            app.update(kpreload::tui::app::Action::Tick(jiff::Timestamp::now()));
            if app.stack.len() == 1 && app.overview.pools.iter().any(|p| p.pool == "ml") {
                app.open(kpreload::tui::screens::Screen::Pool("ml".into()));
            }
            app.refresh();
            app.before_draw(ratatui::layout::Rect::new(0, 0, width, height));
            terminal
                .draw(|f| kpreload::tui::views::draw(f, &app))
                .unwrap();
            if app.stack.len() < 2 {
                // The pools list reads each pool's slowest node: not what this test counts.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            in_view.extend(app.drawn_rows.borrow().1.iter().cloned());
            for effect in app.background(8) {
                if let kpreload::tui::app::Effect::ReadPulls(targets) = effect {
                    for t in targets {
                        read_ml |= t.node.starts_with("ml-");
                        let answer = kpreload::cluster::pulls::read(&client, &t).await;
                        assert!(answer.is_ok(), "{answer:?}");
                        app.update(kpreload::tui::app::Action::Pulls(
                            t,
                            jiff::Timestamp::now(),
                            answer,
                        ));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(read_ml, "the ml pool's pulls were read");
        assert!(
            in_view.len() < 3,
            "some of the ml nodes are off screen: {in_view:?}"
        );
        let execs = cluster.sim().world.execs();
        let exec_nodes: BTreeSet<String> = execs.keys().cloned().collect();
        assert!(
            exec_nodes.is_subset(&in_view),
            "execs {execs:?} only into nodes in view {in_view:?}"
        );
    });
}

#[test]
fn status_progress_reads_the_bytes_and_without_it_they_are_estimates_and_nothing_is_execd() {
    let cluster = Cluster::start_at(DEMO, Some(2.0));
    // Wait for ml-1's pytorch pull to be under way.
    let pulling = |v: &serde_json::Value| -> Option<serde_json::Value> {
        v["pools"]
            .as_array()?
            .iter()
            .flat_map(|p| p["nodes"].as_array().into_iter().flatten())
            .filter(|n| n["node"] == "ml-1")
            .flat_map(|n| n["images"].as_array().into_iter().flatten())
            .find(|i| i["image"] == PYTORCH && i["state"] == "pulling")
            .cloned()
    };
    let status = |args: &[&str]| -> serde_json::Value {
        let out = support::kpreload(
            &[
                &[
                    "--kubeconfig",
                    cluster.kubeconfig.to_str().unwrap(),
                    "status",
                    "-o",
                    "json",
                ],
                args,
            ]
            .concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = support::eventually(30, || status(&[]), |v| pulling(v).is_some());
    let image = pulling(&plain).unwrap();
    assert_eq!(image["estimated"], true, "{image}");
    assert!(
        cluster.sim().world.execs().is_empty(),
        "no exec without --progress"
    );
    let read = status(&["--progress"]);
    let image = pulling(&read).expect("still pulling");
    assert_eq!(image["estimated"], false, "{image}");
    // ml-3 already holds pytorch: its size is known.
    assert_eq!(image["bytes_total"], PYTORCH_SIZE, "{image}");
    let done = image["bytes_done"].as_u64().unwrap();
    assert!(done > 0 && done < PYTORCH_SIZE, "{image}");
    assert_eq!(image["restarts"], 0);
    assert!(
        cluster
            .sim()
            .world
            .execs()
            .get("ml-1")
            .is_some_and(|n| *n >= 1)
    );
}

#[test]
fn the_articles_hand_written_preloader_is_estimated_and_the_pool_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = support::demo_with_articles_ml(dir.path());
    let cluster = Cluster::start_at(scenario.to_str().unwrap(), Some(10.0));
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "pytorch never pulled on ml-1"
            );
            let snap = snapshot(&client).await;
            let o = progress::derive(&snap, jiff::Timestamp::now());
            if let Some(ImageState::Pulling { .. }) = state_on(&o, "ml-1", PYTORCH) {
                let targets = live_targets(&snap, &o, &["ml-1".to_string()]);
                let [(_, Err(why))] = targets.as_slice() else {
                    panic!("nothing to read through: {targets:?}");
                };
                assert!(
                    why.contains("image-preloader-ml has no privileged container"),
                    "{why}"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(cluster.sim().world.execs().is_empty());
}

/// 500 nodes in a pool whose one image (5 GB at 10 MiB/s: minutes) is pulling on all of
/// them, or (`present`) already on every node; the pool rendered by kpreload.
fn five_hundred_nodes(dir: &std::path::Path, present: bool) -> std::path::PathBuf {
    let file = kpreload::core::pools::PoolsFile::parse(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\n\
         pools:\n- name: big\n  nodeSelector: {matchLabels: {workload-type: big}}\n  images: [team/big:1]\n",
        "big.yaml",
    )
    .unwrap();
    let ds = kpreload::core::render::to_yaml(&[kpreload::core::render::render_pool(
        &file,
        &file.pools[0],
    )]);
    let on_nodes = if present {
        "[team/big:1, busybox:1.37.0-musl]"
    } else {
        "[]"
    };
    let text = format!(
        "apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nspeed: 1.0\n\
         registry:\n- {{image: team/big:1, size: 5000000000}}\n- {{image: busybox:1.37.0-musl, size: 1000000}}\n\
         nodeDefaults: {{bandwidth: 10MiB/s, disk: 200GiB}}\n\
         generate:\n- {{pool: big, count: 500, podsPerNode: 0, labels: {{workload-type: big}}, taints: [], images: {on_nodes}}}\n\
         ---\n{ds}"
    );
    let path = dir.join(format!("big-{present}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The TUI's loop on a 160×48 pool screen for `seconds`: watches' updates from lists,
/// a tick a second, its reads performed. The execs the simulator counted, and the nodes in
/// view.
async fn run_pool_screen(
    cluster: &Cluster,
    seconds: u64,
) -> (
    std::collections::HashMap<String, u64>,
    BTreeSet<String>,
    u64,
) {
    let client = support::kube_client(&cluster.kubeconfig).await;
    let mut app = kpreload::tui::app::App::new(
        kpreload::tui::config::Config::default_config(),
        kpreload::tui::app::Header {
            namespace: "kube-system".into(),
            ..Default::default()
        },
        false,
        jiff::Timestamp::now(),
    );
    let (width, height) = (160u16, 48u16);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    let mut in_view = BTreeSet::new();
    let mut last_list = Instant::now() - Duration::from_secs(10);
    let started = Instant::now();
    let mut measuring: Option<(Instant, u64)> = None;
    // At least `seconds`, and on a machine so busy that no node came round again in that
    // time, on until one does (or a minute): the test is about the rate, not the machine.
    let read_again = || {
        let execs = cluster.sim().world.execs();
        // Nothing read at all (nothing pulls) is no reason to wait on.
        execs.is_empty() || execs.values().sum::<u64>() > execs.len() as u64
    };
    while measuring.is_none_or(|(t, _)| {
        t.elapsed() < Duration::from_secs(seconds)
            || (t.elapsed() < Duration::from_secs(60) && !read_again())
    }) {
        assert!(started.elapsed() < Duration::from_secs(seconds + 120));
        if last_list.elapsed() > Duration::from_secs(2) {
            for u in updates(snapshot(&client).await) {
                app.update(kpreload::tui::app::Action::Cluster(u));
            }
            last_list = Instant::now();
        }
        app.update(kpreload::tui::app::Action::Tick(jiff::Timestamp::now()));
        if app.stack.len() == 1 && app.overview.pools.iter().any(|p| p.nodes.len() == 500) {
            app.open(kpreload::tui::screens::Screen::Pool("big".into()));
        }
        app.refresh();
        app.before_draw(ratatui::layout::Rect::new(0, 0, width, height));
        terminal
            .draw(|f| kpreload::tui::views::draw(f, &app))
            .unwrap();
        if app.stack.len() < 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let total: u64 = cluster.sim().world.execs().values().sum();
        let since = measuring.get_or_insert((Instant::now(), total));
        let _ = since;
        in_view.extend(app.drawn_rows.borrow().1.iter().cloned());
        for effect in app.background(8) {
            if let kpreload::tui::app::Effect::ReadPulls(targets) = effect {
                let reads = targets.into_iter().map(|t| {
                    let client = client.clone();
                    async move {
                        let answer = kpreload::cluster::pulls::read(&client, &t).await;
                        (t, answer)
                    }
                });
                for (t, answer) in futures_util::future::join_all(reads).await {
                    app.update(kpreload::tui::app::Action::Pulls(
                        t,
                        jiff::Timestamp::now(),
                        answer,
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (t, before) = measuring.unwrap();
    let execs = cluster.sim().world.execs();
    let total: u64 = execs.values().sum::<u64>() - before;
    println!(
        "{} execs in {:.1} s ({:.1}/s) over {} of the 500 nodes, {} in view",
        total,
        t.elapsed().as_secs_f64(),
        total as f64 / t.elapsed().as_secs_f64(),
        execs.len(),
        in_view.len()
    );
    (execs, in_view, t.elapsed().as_secs())
}

#[test]
fn a_500_node_pool_on_a_160x48_screen_costs_a_bounded_few_execs_a_second_and_none_idle() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_at(
        five_hundred_nodes(dir.path(), false).to_str().unwrap(),
        None,
    );
    let seconds = 10;
    let (execs, in_view, seconds) = cluster.rt.block_on(run_pool_screen(&cluster, seconds));
    let total: u64 = execs.values().sum();
    let nodes: BTreeSet<String> = execs.keys().cloned().collect();
    assert!(nodes.is_subset(&in_view), "{nodes:?} beyond {in_view:?}");
    assert!(in_view.len() < 50, "{}", in_view.len());
    // 8 a second at most over the time it ran (a second of slack for the edges), and nodes
    // are read again while they pull (how often depends on how fast the simulator answers,
    // so no rate is asked).
    assert!(total <= 8 * (seconds + 1), "{total} execs in {seconds} s");
    assert!(
        total > nodes.len() as u64,
        "{total} execs over {} nodes: none read again",
        nodes.len()
    );

    // The same pool with its image already on every node: nothing pulls, nothing is read.
    let cluster = Cluster::start_at(five_hundred_nodes(dir.path(), true).to_str().unwrap(), None);
    let (execs, _, _) = cluster.rt.block_on(run_pool_screen(&cluster, 5));
    assert_eq!(execs.values().sum::<u64>(), 0, "{execs:?}");
}
