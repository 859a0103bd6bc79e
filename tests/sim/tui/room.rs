//! The screens use the room they have: a cluster with the article's two pools, the ml one
//! on provider-named nodes with multi-gigabyte images, drawn at 80×24, 160×48 and 250×80.
//! Names are whole where they fit, each screen's first line answers its question, and no
//! line is left blank while the pools screen has more to say.

use super::*;

const TORCH: &str = "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime";
const TENSORFLOW: &str = "tensorflow/tensorflow:2.15.0-gpu";
const JUPYTER: &str = "jupyter/scipy-notebook:latest";
/// Provider node names: a GKE node pool's.
const GPU: [&str; 3] = [
    "gke-eu-1-ml-a100-pool-5f2a9c1e-x7kq",
    "gke-eu-1-ml-a100-pool-5f2a9c1e-m2pd",
    "gke-eu-1-ml-a100-pool-5f2a9c1e-q9wz",
];
const RATE_LIMITED: &str = "Failed to pull image \"pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\": \
    rpc error: code = Unknown desc = failed to pull and unpack image \
    \"docker.io/pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\": failed to copy: httpReadSeeker: \
    failed open: unexpected status code 429 Too Many Requests - Server message: \
    toomanyrequests: You have reached your pull rate limit.";

fn ml_daemonset() -> Arc<DaemonSet> {
    let text = std::fs::read_to_string("tests/fixtures/article/image-preloader-ml.yaml").unwrap();
    fixtures::daemonset(&text, "ds-ml")
}

fn gpu_node(name: &str, images: Value) -> Arc<Node> {
    fixtures::node(name)
        .labels(json!({"workload-type": "ml"}))
        .taints(json!([{"key": "workload", "value": "ml", "effect": "NoSchedule"}]))
        .images(images)
        .storage("500Gi")
        .ready()
        .build()
}

fn ml_pod(n: usize, init: Value) -> Arc<Pod> {
    fixtures::preloader_pod(
        &ml_daemonset(),
        &format!("image-preloader-ml-{n}"),
        GPU[n],
        "2026-11-28T09:55:00Z",
        json!({"phase": "Pending", "initContainerStatuses": init}),
    )
}

/// The first gpu node has pytorch (3m12s, 6.1 GB) and pulls tensorflow; the second pulls
/// pytorch; the third is rate-limited by Docker Hub on pytorch.
fn ml_pods() -> Vec<Arc<Pod>> {
    vec![
        ml_pod(
            0,
            json!([
                done("preload-pytorch"),
                init("preload-tensorflow"),
                init("preload-jupyter")
            ]),
        ),
        ml_pod(
            1,
            json!([
                init("preload-pytorch"),
                init("preload-tensorflow"),
                init("preload-jupyter")
            ]),
        ),
        ml_pod(
            2,
            json!([
                fixtures::waiting("preload-pytorch", "ErrImagePull", RATE_LIMITED),
                init("preload-tensorflow"),
                init("preload-jupyter")
            ]),
        ),
    ]
}

fn ml_event(n: usize, k: u32, at: &str, warning: bool, message: &str) -> Arc<Event> {
    event(&format!("image-preloader-ml-{n}"), k, at, warning, message)
}

fn busy() -> App {
    let torch_on_node = json!([
        {"names": [format!("docker.io/{TORCH}")], "sizeBytes": 6_123_456_789u64},
    ]);
    let updates = updates()
        .into_iter()
        .map(|u| match u {
            Update::Nodes(mut nodes) => {
                nodes.push(gpu_node(GPU[0], torch_on_node.clone()));
                nodes.push(gpu_node(GPU[1], json!([])));
                nodes.push(gpu_node(GPU[2], json!([])));
                Update::Nodes(nodes)
            }
            Update::Pods(mut pods) => {
                pods.extend(ml_pods());
                Update::Pods(pods)
            }
            Update::Workloads(mut pods) => {
                pods.extend(kpreload::core::objects::records(&ml_pods()));
                Update::Workloads(pods)
            }
            Update::DaemonSets(mut sets) => {
                sets.push(ml_daemonset());
                Update::DaemonSets(sets)
            }
            Update::Events(mut events) => {
                events.extend([
                    ml_event(0, 1, "2026-11-28T09:56:00Z", false, &format!("Pulling image \"{TORCH}\"")),
                    ml_event(
                        0,
                        2,
                        "2026-11-28T09:59:12Z",
                        false,
                        &format!("Successfully pulled image \"{TORCH}\" in 3m12.5s (3m12.5s including waiting). Image size: 6123456789 bytes."),
                    ),
                    ml_event(0, 3, "2026-11-28T09:59:13Z", false, &format!("Pulling image \"{TENSORFLOW}\"")),
                    ml_event(1, 1, "2026-11-28T09:58:40Z", false, &format!("Pulling image \"{TORCH}\"")),
                    ml_event(2, 1, "2026-11-28T09:56:02Z", false, &format!("Pulling image \"{TORCH}\"")),
                    ml_event(2, 2, "2026-11-28T09:56:09Z", true, RATE_LIMITED),
                ]);
                Update::Events(events)
            }
            other => other,
        })
        .collect();
    app_with(false, updates)
}

const SIZES: [(u16, u16); 3] = [(80, 24), (160, 48), (250, 80)];

/// The body's first line (under the two header lines), and the lines it wraps onto: up to
/// the first line that starts a table or panel.
fn first_line(screen: &str) -> String {
    let mut out = Vec::new();
    for line in screen.lines().skip(2).take(4) {
        if line.starts_with(' ') || line.starts_with("kube-system/") || line.starts_with("Ready") {
            break;
        }
        out.push(line.trim());
    }
    out.join(" ")
}

/// The matrix's header row: the line that starts with `NODE`.
fn matrix_header(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.starts_with("NODE"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_screen_at_80x24_160x48_and_250x80() {
    for (w, h) in SIZES {
        let mut app = busy();
        let pools = draw(&mut app, w, h);
        snapshot(&format!("room_pools_{w}x{h}"), pools.clone());
        // Six nodes in two pools: web-1 warm, the rest not; web-3 and the third gpu node
        // fail, web-2 and two gpu nodes pull.
        let first = first_line(&pools);
        assert!(
            first.starts_with("5 of 6 nodes not warm yet: 2 failing"),
            "{w}x{h}: {first}"
        );
        press(&mut app, ":pool ml\n");
        assert_eq!(app.view().screen, Screen::Pool("ml".into()));
        let pool = draw(&mut app, w, h);
        snapshot(&format!("room_pool_{w}x{h}"), pool.clone());
        let first = first_line(&pool);
        assert!(
            first.starts_with(&format!("pool ml: not warm while {} fails", GPU[2])),
            "{w}x{h}: {first}"
        );
        // The selected column's whole reference is in the matrix's title at every size.
        assert!(
            pool.contains(&format!("image 1/3 docker.io/{TORCH}")),
            "{w}x{h}:\n{pool}"
        );
        // Whole node names where they fit (they are what kubectl and the provider's console
        // show); at 80 columns cut in the middle, their distinct ends kept.
        for node in GPU {
            let shown = if w >= 160 {
                node
            } else {
                &node[node.len() - 13..]
            };
            assert!(pool.contains(shown), "{w}x{h}: {shown} cut:\n{pool}");
        }
        // The first row: the nodes are in name order, m2pd first; it pulls pytorch.
        press(&mut app, "\n");
        let node = draw(&mut app, w, h);
        snapshot(&format!("room_node_{w}x{h}"), node.clone());
        let first = first_line(&node);
        assert!(
            first.starts_with(&format!(
                "node {}: waiting for {TORCH} (~3.2/6.1 GB",
                GPU[1]
            )),
            "{w}x{h}: {first}"
        );
    }
}

#[test]
fn image_names_are_whole_when_the_width_allows_and_keep_their_tags_when_cut() {
    let mut app = busy();
    press(&mut app, ":pool ml\n");
    let wide = matrix_header(&draw(&mut app, 250, 80));
    for image in [TORCH, TENSORFLOW, JUPYTER] {
        assert!(wide.contains(image), "{image} cut at 250 columns: {wide}");
    }
    // At 80 columns the three cannot be whole beside a 37-column node name: each keeps
    // its tag's start, cut in the middle of its name.
    let narrow = matrix_header(&draw(&mut app, 80, 24));
    assert!(!narrow.contains(TORCH), "{narrow}");
    assert!(narrow.contains(":2.1.0"), "{narrow}");
    // ← and → move the selected column: its whole reference is in the title.
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Right,
        KeyModifiers::NONE,
    )));
    app.refresh();
    let screen = draw(&mut app, 80, 24);
    assert!(
        screen.contains(&format!("image 2/3 docker.io/{TENSORFLOW}")),
        "{screen}"
    );
}

#[test]
fn the_pools_screen_says_more_rather_than_leave_lines_blank() {
    for (w, h) in SIZES {
        let mut app = busy();
        let screen = draw(&mut app, w, h);
        let body: Vec<&str> = screen.lines().skip(2).take(usize::from(h) - 3).collect();
        let blank = body.iter().filter(|l| l.trim().is_empty()).count();
        let held_back = body.iter().any(|l| l.contains(" more)"));
        assert!(
            !(blank > 0 && held_back),
            "{w}x{h}: {blank} blank lines while items are held back:\n{screen}"
        );
        if h >= 48 {
            // The room shows the slowest pull under way and Docker Hub's refusal.
            assert!(screen.contains("slowest pulls under way"), "{screen}");
            assert!(screen.contains("toomanyrequests"), "{w}x{h}:\n{screen}");
        }
    }
}
