//! The pool editor against the simulator: keys in, the editor's work done by the same code
//! the TUI's loop runs, the cluster (or the pools file) checked afterwards.

use crate::support;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload::cluster::watch::{self, PodScope, Update};
use kpreload::tui::app::{Action, App, Effect, Header};
use kpreload::tui::config::Config;
use kpreload::tui::screens::Screen;
use kpreload::tui::screens::edit::{Step, perform};
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::Cluster;
use tokio::sync::mpsc::UnboundedReceiver;

/// Presses keys: characters as typed, and `<Enter>`, `<Esc>`, `<Down>`, `<Up>`, `<Tab>`.
fn press(app: &mut App, keys: &str) {
    let mut rest = keys;
    while !rest.is_empty() {
        let (code, len) = match rest {
            r if r.starts_with("<Enter>") => (KeyCode::Enter, 7),
            r if r.starts_with("<Esc>") => (KeyCode::Esc, 5),
            r if r.starts_with("<Down>") => (KeyCode::Down, 6),
            r if r.starts_with("<Up>") => (KeyCode::Up, 4),
            r if r.starts_with("<Tab>") => (KeyCode::Tab, 5),
            r => {
                let c = r.chars().next().unwrap();
                (KeyCode::Char(c), c.len_utf8())
            }
        };
        rest = &rest[len..];
        // The loop would perform the effects; the tests find them where the app queued them.
        let effects = app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        app.effects.extend(effects);
        app.refresh();
    }
}

struct Session {
    app: App,
    rx: UnboundedReceiver<Update>,
    client: kube::Client,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Session {
    async fn start(cluster: &Cluster, gitops: Option<std::path::PathBuf>) -> Session {
        let mut s = Session::start_until(cluster, |a| {
            a.overview.pools.iter().any(|p| p.pool == "web")
        })
        .await;
        s.app.gitops = gitops;
        s
    }

    /// Starts the watches and takes in updates until they are live and `ready` holds.
    async fn start_until(cluster: &Cluster, ready: impl Fn(&App) -> bool) -> Session {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let tasks = watch::spawn_all(&client, "kube-system", PodScope::AllNamespaces, &tx);
        let header = Header {
            namespace: "kube-system".into(),
            ..Default::default()
        };
        let app = App::new(Config::default_config(), header, false, Timestamp::now());
        let mut s = Session {
            app,
            rx,
            client,
            _tasks: tasks,
        };
        let live = s.until(30, |a| a.links.all_live() && ready(a)).await;
        assert!(live, "the watches came up");
        s
    }

    /// Takes in the cluster's updates until `done` holds (true) or time is up (false).
    async fn until(&mut self, seconds: u64, done: impl Fn(&App) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            while let Ok(u) = self.rx.try_recv() {
                self.app.update(Action::Cluster(u));
            }
            self.app.now = Timestamp::now();
            self.app.stale = true;
            self.app.refresh();
            if done(&self.app) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Does the work the editor asked for, as the loop would, and hands back the answer.
    async fn work(&mut self) {
        let Some(Effect::Edit(work)) = self.app.effects.pop() else {
            panic!("the editor asked for no work; step: {:?}", self.step());
        };
        let done = perform(&self.client, work).await;
        self.app.update(Action::Edit(done));
        self.app.refresh();
    }

    fn step(&self) -> String {
        self.app
            .edit
            .as_ref()
            .map(|e| format!("{:?}", e.step))
            .unwrap_or_else(|| "closed".into())
    }

    async fn web(&self) -> DaemonSet {
        Api::<DaemonSet>::namespaced(self.client.clone(), "kube-system")
            .get("image-preloader-web")
            .await
            .unwrap()
    }
}

fn init_images(ds: &DaemonSet) -> Vec<String> {
    ds.spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .iter()
        .flatten()
        // Not the cleanup sidecar: the no-op installer, then the pulls.
        .filter(|c| c.restart_policy.as_deref() != Some("Always"))
        .filter_map(|c| c.image.clone())
        .collect()
}

#[test]
fn adding_an_image_applies_server_side_and_the_pool_view_follows_it_onto_every_node() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        let web_nodes: Vec<String> = s
            .app
            .overview
            .pools
            .iter()
            .find(|p| p.pool == "web")
            .unwrap()
            .nodes
            .iter()
            .map(|n| n.node.clone())
            .collect();
        assert_eq!(web_nodes.len(), 4);
        press(&mut s.app, ":pool web<Enter>e");
        assert_eq!(s.app.view().screen, Screen::Edit);
        press(&mut s.app, "agolang:1.23<Enter>p");
        s.work().await;
        assert!(s.step().starts_with("Preview"), "{}", s.step());
        {
            let Step::Preview(p) = &s.app.edit.as_ref().unwrap().step else {
                panic!("a preview: {}", s.step());
            };
            assert_eq!(p.summary, ["+ golang:1.23  (pulled 2nd)"]);
            assert!(
                p.diff
                    .iter()
                    .any(|l| l.sign == '+' && l.text.contains("image: golang:1.23"))
            );
            assert_eq!(p.pulls.len(), 4, "every node of the pool");
            assert!(
                p.pulls
                    .iter()
                    .all(|n| n.images.iter().any(|(i, _)| i == "golang:1.23"))
            );
            assert!(
                p.pulls.iter().all(|n| n.free.is_some()),
                "free space read from each kubelet"
            );
        }
        // The preview sent nothing: the DaemonSet is as it was.
        assert!(!init_images(&s.web().await).contains(&"golang:1.23".to_string()));

        press(&mut s.app, "y");
        s.work().await;
        assert_eq!(
            s.app.view().screen,
            Screen::Pool("web".into()),
            "{:?}",
            s.app.notice
        );
        assert!(
            s.app.notice.as_deref().unwrap().contains("configured"),
            "{:?}",
            s.app.notice
        );

        let ds = s.web().await;
        let images = init_images(&ds);
        assert_eq!(
            images[1..3],
            ["nginx:1.25-alpine".to_string(), "golang:1.23".to_string()]
        );
        let managers: Vec<(String, String)> = ds
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert!(
            managers.contains(&("kpreload".into(), "Apply".into())),
            "{managers:?}"
        );

        // The rollout: every node of the pool pulls golang, and the pool view shows it.
        let pulled = s
            .until(90, |a| {
                a.overview
                    .pools
                    .iter()
                    .find(|p| p.pool == "web")
                    .is_some_and(|p| {
                        p.images
                            .iter()
                            .any(|i| i == "docker.io/library/golang:1.23")
                            && p.nodes.len() == 4
                            && p.nodes.iter().all(|n| {
                                n.images.iter().any(|i| {
                                    i.image == "golang:1.23"
                                        && matches!(
                                            i.state,
                                            kpreload::core::progress::ImageState::Pulled { .. }
                                        )
                                })
                            })
                    })
            })
            .await;
        let pool = s
            .app
            .overview
            .pools
            .iter()
            .find(|p| p.pool == "web")
            .unwrap();
        assert!(
            pulled,
            "golang pulled on every web node: {:?}",
            pool.nodes
                .iter()
                .map(|n| (
                    n.node.clone(),
                    n.images
                        .iter()
                        .map(|i| format!("{}={}", i.image, i.state.word()))
                        .collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>()
        );
    });
}

#[test]
fn a_change_made_between_preview_and_apply_is_a_conflict_naming_who_and_theirs_stands() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, None).await;
        press(&mut s.app, ":pool web<Enter>e");
        // Move redis first, and preview.
        press(&mut s.app, "GKKp");
        s.work().await;
        assert!(s.step().starts_with("Preview"), "{}", s.step());

        // Meanwhile someone edits the preloader by hand.
        let api = Api::<DaemonSet>::namespaced(s.client.clone(), "kube-system");
        let patch = serde_json::json!({"metadata": {"annotations": {"team": "payments"}}});
        let params = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        api.patch("image-preloader-web", &params, &Patch::Merge(&patch))
            .await
            .unwrap();

        press(&mut s.app, "y");
        s.work().await;
        let Step::Conflict(c) = &s.app.edit.as_ref().unwrap().step else {
            panic!("a conflict: {}", s.step());
        };
        assert!(
            c.summary.contains("changed by kubectl-edit (Update"),
            "{}",
            c.summary
        );
        assert!(
            c.managers
                .iter()
                .any(|m| m.starts_with("kubectl-edit (Update")),
            "{:?}",
            c.managers
        );
        assert!(
            c.changes.iter().any(|l| l == "+ team: payments"),
            "what changed: {:?}",
            c.changes
        );
        // Nothing of the draft went in, and their change stands.
        let ds = s.web().await;
        assert_eq!(init_images(&ds)[1], "nginx:1.25-alpine");
        assert_eq!(
            ds.metadata
                .annotations
                .unwrap()
                .get("team")
                .map(String::as_str),
            Some("payments")
        );

        // `e` reopens the editor on the new state.
        press(&mut s.app, "e");
        let e = s.app.edit.as_ref().expect("the editor is open again");
        assert!(matches!(e.step, Step::List));
        assert!(!e.draft.changed(), "a fresh draft of what is there now");
    });
}

#[test]
fn in_gitops_mode_an_edit_goes_to_the_file_and_round_trips() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(40.0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pools.yaml");
    let original = std::fs::read_to_string("config/pools.yaml").unwrap();
    std::fs::write(&path, &original).unwrap();
    cluster.rt.block_on(async {
        let mut s = Session::start(&cluster, Some(path.clone())).await;
        let before = s.web().await;
        press(&mut s.app, ":pool web<Enter>e");
        // nginx 1.25-alpine → 1.26 (typed), then preview: the file's diff.
        press(&mut s.app, "t1.26<Enter>p");
        s.work().await;
        let Step::Preview(p) = &s.app.edit.as_ref().unwrap().step else {
            panic!("a preview: {}", s.step());
        };
        let changed: Vec<String> = p
            .diff
            .iter()
            .filter(|l| l.sign != ' ' && l.sign != '…')
            .map(|l| format!("{}{}", l.sign, l.text))
            .collect();
        assert_eq!(
            changed,
            ["-      - nginx:1.25-alpine", "+      - nginx:1.26"]
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            original,
            "a preview writes nothing"
        );

        press(&mut s.app, "y");
        s.work().await;
        assert!(
            s.app.notice.as_deref().unwrap().starts_with("wrote "),
            "{:?}",
            s.app.notice
        );
        let written = std::fs::read_to_string(&path).unwrap();
        let file = kpreload::core::pools::PoolsFile::parse(&written, "pools.yaml").unwrap();
        let web = file.pools.iter().find(|p| p.name == "web").unwrap();
        let images: Vec<&str> = web.images.iter().map(|i| i.written()).collect();
        assert_eq!(images, ["nginx:1.26", "node:20-alpine", "redis:7-alpine"]);
        assert_eq!(
            written.lines().count(),
            original.lines().count(),
            "comments and layout kept"
        );
        // The cluster was not touched.
        assert_eq!(init_images(&s.web().await), init_images(&before));

        // The file changes on disk between preview and apply: refused, nothing written.
        press(&mut s.app, "e");
        press(&mut s.app, "Jp");
        s.work().await;
        std::fs::write(&path, format!("{written}# edited by hand\n")).unwrap();
        press(&mut s.app, "y");
        s.work().await;
        assert!(
            matches!(s.app.edit.as_ref().unwrap().step, Step::Conflict(_)),
            "{}",
            s.step()
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("# edited by hand\n")
        );
    });
}

mod payoff;
mod pools;

#[test]
fn node_pools_from_the_providers_labels_and_n_makes_a_preloader_on_exactly_one() {
    let cluster = Cluster::start("tests/fixtures/scenarios/nodepools.yaml");
    cluster.rt.block_on(async {
        let mut s = Session::start_until(&cluster, |a| a.node_pools.len() == 3).await;
        // Every node pool by its name, in natural order, then the node in none.
        let rows: Vec<String> = s.app.rows().iter().map(|r| r.key.clone()).collect();
        assert_eq!(rows, ["api", "batch", "web", "bastion-1"]);
        let sources: Vec<&str> = s.app.node_pools.iter().map(|p| p.source.as_str()).collect();
        assert_eq!(
            sources,
            [
                "eks.amazonaws.com/nodegroup",
                "karpenter.sh/nodepool",
                "cloud.google.com/gke-nodepool"
            ]
        );
        assert!(s.app.node_pools.iter().all(|p| p.uncovered()));
        // A node pool's nodes count as numbers: api-2 before api-10.
        press(&mut s.app, "<Enter>");
        assert_eq!(s.app.view().screen, Screen::NodePool("api".into()));
        let nodes: Vec<String> = s.app.rows().iter().map(|r| r.key.clone()).collect();
        let expected: Vec<String> = (1..=12).map(|i| format!("api-{i}")).collect();
        assert_eq!(nodes, expected);
        press(&mut s.app, "<Esc>");

        // n on batch: its label as the selector, its taint's toleration ticked.
        press(&mut s.app, "jn");
        assert_eq!(s.app.view().screen, Screen::Edit);
        {
            let e = s.app.edit.as_ref().unwrap();
            assert_eq!(e.pool.name, "batch");
            let Step::NewTolerations { proposed, .. } = &e.step else {
                panic!("the tolerations, proposed: {}", s.step());
            };
            assert_eq!(proposed.len(), 1);
            assert!(proposed[0].1, "ticked");
            assert_eq!(proposed[0].0.key, "karpenter.sh/spot");
        }
        press(&mut s.app, "<Enter>nginx:1.25<Enter><Esc>p");
        s.work().await;
        assert!(s.step().starts_with("Preview"), "{}", s.step());
        press(&mut s.app, "y");
        s.work().await;
        assert!(
            s.app
                .notice
                .as_deref()
                .unwrap_or_default()
                .contains("created"),
            "{:?}",
            s.app.notice
        );
        // The preloader lands on exactly the node pool's nodes, and the pool is complete.
        let done = s
            .until(60, |a| {
                a.overview
                    .pools
                    .iter()
                    .any(|p| p.pool == "batch" && p.nodes.len() == 3 && p.complete())
            })
            .await;
        assert!(done, "{:?}", s.app.overview.pools);
        let pods =
            Api::<k8s_openapi::api::core::v1::Pod>::namespaced(s.client.clone(), "kube-system")
                .list(&Default::default())
                .await
                .unwrap();
        let mut on: Vec<String> = pods
            .items
            .iter()
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        on.sort();
        assert_eq!(on, ["batch-1", "batch-2", "batch-3"]);
        let batch = s.app.node_pools.iter().find(|p| p.name == "batch").unwrap();
        assert_eq!(batch.covered, 3);
        assert_eq!(batch.preloaders[0].0, "batch");
    });
}
