//! What a command run through `kubectl exec` in a simulated pod prints: the container
//! runtime's own tools (`ctr`, `crictl`) behind `nsenter` in a privileged `hostPID`
//! container, answered from the node's image store; anything else is a shell's "not found".

use serde_json::{Value, json};

use super::NodeState;
use super::images::NodeImage;
use crate::server::Sim;

/// What a command printed and how it ended.
#[derive(Debug, Default, PartialEq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Output {
    fn ok(stdout: String) -> Self {
        Output {
            stdout,
            ..Default::default()
        }
    }

    fn fail(stderr: String, code: i32) -> Self {
        Output {
            stderr,
            code,
            ..Default::default()
        }
    }
}

/// Whether the container may reach the host's runtime: privileged, in a `hostPID` pod.
pub fn can_reach_host(pod: &Value, container: &str) -> bool {
    let c = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .chain(pod["spec"]["initContainers"].as_array())
        .flatten()
        .find(|c| c["name"] == container);
    pod["spec"]["hostPID"] == true && c.is_some_and(|c| c["securityContext"]["privileged"] == true)
}

pub fn run(sim: &Sim, node: &NodeState, host: bool, argv: &[String]) -> Output {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (entered, rest) = strip_nsenter(&words);
    if entered && !host {
        // Not privileged or not in the host's PID namespace: nsenter cannot join PID 1's.
        return Output::fail(
            "nsenter: reassociate to namespace 'ns/ipc' failed: Operation not permitted\n".into(),
            1,
        );
    }
    match rest {
        ["true"] | [] => Output::default(),
        ["echo", args @ ..] => Output::ok(format!("{}\n", args.join(" "))),
        ["ctr", args @ ..] if entered && host => ctr(sim, node, args),
        ["crictl", args @ ..] if entered && host => crictl(sim, node, args),
        [program, ..] => Output::fail(format!("sh: {program}: not found\n"), 127),
    }
}

/// `nsenter -t 1 -m -u -i -n -p [--] CMD…` → (true, CMD…).
fn strip_nsenter<'a>(words: &'a [&'a str]) -> (bool, &'a [&'a str]) {
    if words.first().is_none_or(|w| !w.ends_with("nsenter")) {
        return (false, words);
    }
    let mut i = 1;
    while i < words.len() {
        match words[i] {
            "--" => return (true, &words[i + 1..]),
            "-t" | "--target" => i += 2,
            w if w.starts_with('-') => i += 1,
            _ => return (true, &words[i..]),
        }
    }
    (true, &words[words.len()..])
}

/// How a ctr command sets up Go's `text/tabwriter`.
#[derive(Clone, Copy, Debug)]
pub struct TabStyle {
    pub min_width: usize,
    pub tab_width: usize,
    pub padding: usize,
    pub pad_char: char,
}

/// `ctr images ls`: `tabwriter.NewWriter(w, 1, 8, 1, ' ', 0)`.
pub const IMAGES: TabStyle = TabStyle {
    min_width: 1,
    tab_width: 8,
    padding: 1,
    pad_char: ' ',
};
/// `ctr containers ls`: `tabwriter.NewWriter(w, 4, 8, 4, ' ', 0)`.
pub const CONTAINERS: TabStyle = TabStyle {
    min_width: 4,
    tab_width: 8,
    padding: 4,
    pad_char: ' ',
};
/// `ctr content active`: `tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)`.
pub const ACTIVE: TabStyle = TabStyle {
    min_width: 1,
    tab_width: 8,
    padding: 1,
    pad_char: '\t',
};

/// Go's tabwriter over rows whose every cell ends with a tab, as ctr writes them: a column
/// is as wide as its widest cell plus the padding (at least the minimum width); padded with
/// tabs, the width rounds up to a tab stop and each cell gets as many tabs as reach it.
pub fn tabwriter(rows: &[Vec<String>], style: TabStyle) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            let widest = rows
                .iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0);
            let mut width = (widest + style.padding).max(style.min_width);
            if style.pad_char == '\t' {
                width = width.div_ceil(style.tab_width) * style.tab_width;
            }
            width
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            let gap = widths[c] - cell.chars().count();
            if style.pad_char == '\t' {
                out.extend(std::iter::repeat_n('\t', gap.div_ceil(style.tab_width)));
            } else {
                out.extend(std::iter::repeat_n(style.pad_char, gap));
            }
        }
        out.push('\n');
    }
    out
}

fn table(rows: &[Vec<String>]) -> String {
    tabwriter(rows, IMAGES)
}

/// A logrus line as ctr and crictl write them on stderr.
fn log_line(level: &str, msg: &str) -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "time=\"{now}\" level={level} msg=\"{}\"\n",
        msg.replace('"', "\\\"")
    )
}

/// go-units' `HumanSize` (decimal, four significant digits): `12.35MB`, as `ctr content active`
/// prints an ingest's offset.
fn go_units_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g4(v), UNITS[i])
}

/// Go's `%.4g` for the values `HumanSize` prints (below 1000): no trailing zeros.
fn go_g4(v: f64) -> String {
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// go-units' `HumanDuration`, as `ctr content active` prints an ingest's age.
fn go_units_duration(seconds: f64) -> String {
    let s = seconds as u64;
    let minutes = s / 60;
    let hours = (seconds / 3600.0).round() as u64;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ => format!("{hours} hours"),
    }
}

/// containerd's `progress.Bytes`: `67.3 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn records(images: &[NodeImage]) -> Vec<(String, &NodeImage)> {
    let mut out: Vec<(String, &NodeImage)> = Vec::new();
    for i in images {
        for r in &i.refs {
            out.push((r.clone(), i));
        }
        if i.id_record {
            out.push((i.id.clone(), i));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn manifest_digest(image: &NodeImage) -> String {
    image
        .refs
        .iter()
        .find_map(|r| r.split_once('@').map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| image.id.clone())
}

/// Containers on the node: (id, image, running) for every started container of its pods.
fn containers(sim: &Sim, node: &str) -> Vec<(String, String, bool)> {
    let (_, pods) = sim.store.pods_on(node);
    let mut out = Vec::new();
    for pod in &pods {
        for list in ["initContainerStatuses", "containerStatuses"] {
            for s in pod["status"][list].as_array().into_iter().flatten() {
                let Some(id) = s["containerID"].as_str() else {
                    continue;
                };
                let id = id.trim_start_matches("containerd://").to_string();
                let image = crate::rules::reference::ImageName::parse(
                    s["image"].as_str().unwrap_or_default(),
                )
                .map(|n| n.normalized())
                .unwrap_or_default();
                out.push((id, image, !s["state"]["running"].is_null()));
            }
        }
    }
    out.sort();
    out
}

fn ctr(sim: &Sim, node: &NodeState, args: &[&str]) -> Output {
    let mut args = args.to_vec();
    let mut namespace = "default";
    while let Some(first) = args.first() {
        match *first {
            "-n" | "--namespace" if args.len() > 1 => {
                namespace = args[1];
                args.drain(..2);
            }
            w if w.starts_with("--namespace=") => {
                namespace = &w["--namespace=".len()..];
                args.remove(0);
            }
            _ => break,
        }
    }
    if namespace != "k8s.io" {
        // The CRI's images live in k8s.io; other namespaces are empty here.
        return match args.as_slice() {
            ["images" | "image" | "i", "ls" | "list", ..] => Output::ok(table(&[header_images()])),
            _ => Output::ok(String::new()),
        };
    }
    match args.as_slice() {
        ["images" | "image" | "i", "ls" | "list", flags @ ..] => {
            let images = node.images.lock().unwrap_or_else(|p| p.into_inner());
            let recs = records(&images.images);
            if flags.contains(&"-q") || flags.contains(&"--quiet") {
                return Output::ok(recs.iter().map(|(r, _)| format!("{r}\n")).collect());
            }
            let mut rows = vec![header_images()];
            for (r, i) in recs {
                let mut labels = "io.cri-containerd.image=managed".to_string();
                if i.pinned {
                    labels.push_str(",io.cri-containerd.pinned=pinned");
                }
                rows.push(vec![
                    r,
                    "application/vnd.oci.image.index.v1+json".into(),
                    manifest_digest(i),
                    human_bytes(i.size),
                    "linux/amd64".into(),
                    labels,
                ]);
            }
            Output::ok(table(&rows))
        }
        [
            "images" | "image" | "i",
            "rm" | "remove" | "del" | "delete",
            names @ ..,
        ] => {
            let names: Vec<&&str> = names.iter().filter(|n| !n.starts_with('-')).collect();
            if names.is_empty() {
                return Output::fail("ctr: must specify at least one image\n".into(), 1);
            }
            let mut images = node.images.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Output::default();
            for name in names {
                if images.remove_record(name) {
                    out.stdout.push_str(&format!("{name}\n"));
                } else {
                    // containerd: a missing name is a warning, and the command succeeds.
                    out.stderr
                        .push_str(&log_line("warning", &format!("{name}: image not found")));
                }
            }
            drop(images);
            super::kubelet::publish_node_images(sim, node);
            out
        }
        ["containers" | "container" | "c", "ls" | "list", flags @ ..] => {
            let list = containers(sim, &node.name);
            if flags.contains(&"-q") || flags.contains(&"--quiet") {
                return Output::ok(list.iter().map(|(id, _, _)| format!("{id}\n")).collect());
            }
            let mut rows = vec![vec![
                "CONTAINER".to_string(),
                "IMAGE".into(),
                "RUNTIME".into(),
            ]];
            for (id, image, _) in list {
                rows.push(vec![id, image, "io.containerd.runc.v2".into()]);
            }
            Output::ok(tabwriter(&rows, CONTAINERS))
        }
        ["containers" | "container" | "c", "info", id] => {
            match containers(sim, &node.name)
                .into_iter()
                .find(|(c, _, _)| c == id)
            {
                Some((id, image, _)) => {
                    let info = json!({"ID": id, "Labels": {"io.cri-containerd.kind": "container"},
                        "Image": image, "Runtime": {"Name": "io.containerd.runc.v2"}, "SnapshotKey": id,
                        "Snapshotter": "overlayfs"});
                    Output::ok(format!(
                        "{}\n",
                        serde_json::to_string_pretty(&info).unwrap_or_default()
                    ))
                }
                None => Output::fail(
                    format!("ctr: container \"{id}\" in namespace \"k8s.io\": not found\n"),
                    1,
                ),
            }
        }
        ["content", "active", ..] => {
            let active = node
                .active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let mut rows = vec![vec!["REF".into(), "SIZE".into(), "AGE".into()]];
            for pull in &active {
                let elapsed = pull.started.elapsed().as_secs_f64() * sim.simulation.speed;
                rows.push(vec![
                    pull.reference.clone(),
                    go_units_size(pull.offset(sim.simulation.speed)),
                    go_units_duration(elapsed),
                ]);
            }
            Output::ok(tabwriter(&rows, ACTIVE))
        }
        _ => Output::fail(
            format!("ctr: unknown command or flags: {}\n", args.join(" ")),
            1,
        ),
    }
}

fn header_images() -> Vec<String> {
    ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn crictl(sim: &Sim, node: &NodeState, args: &[&str]) -> Output {
    match args {
        ["images" | "image" | "img", "-o", "json"]
        | ["images" | "image" | "img", "--output", "json"] => {
            let images = node.images.lock().unwrap_or_else(|p| p.into_inner());
            let list: Vec<Value> = images
                .images
                .iter()
                .map(|i| {
                    let tags: Vec<&String> = i.refs.iter().filter(|r| !r.contains('@')).collect();
                    let digests: Vec<&String> = i.refs.iter().filter(|r| r.contains('@')).collect();
                    json!({"id": i.id, "repoTags": tags, "repoDigests": digests, "size": i.size.to_string(),
                           "uid": null, "username": "", "spec": null, "pinned": i.pinned})
                })
                .collect();
            Output::ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({"images": list})).unwrap_or_default()
            ))
        }
        ["ps", flags @ ..] if flags.contains(&"-o") && flags.contains(&"json") => {
            let all = flags.contains(&"-a") || flags.contains(&"--all");
            let list: Vec<Value> = containers(sim, &node.name)
                .into_iter()
                .filter(|(_, _, running)| all || *running)
                .map(|(id, image, running)| {
                    json!({"id": id, "image": {"image": image}, "imageRef": image,
                           "state": if running { "CONTAINER_RUNNING" } else { "CONTAINER_EXITED" }})
                })
                .collect();
            Output::ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({"containers": list})).unwrap_or_default()
            ))
        }
        ["rmi", ids @ ..] if !ids.is_empty() => {
            let mut images = node.images.lock().unwrap_or_else(|p| p.into_inner());
            // crictl: the image's status first; a missing one is logged and makes the run
            // fail at the end; a removed one prints `Deleted:` per tag, or per digest when it
            // has no tag.
            let mut out = Output::default();
            for id in ids {
                let target = images
                    .images
                    .iter()
                    .find(|i| {
                        i.id == *id
                            || i.id.trim_start_matches("sha256:").starts_with(id)
                            || i.refs.iter().any(|r| r == id)
                    })
                    .cloned();
                match target {
                    Some(t) => {
                        images.remove_image(&t.id);
                        let tags: Vec<&String> =
                            t.refs.iter().filter(|r| !r.contains('@')).collect();
                        let shown: Vec<&String> = if tags.is_empty() {
                            t.refs.iter().filter(|r| r.contains('@')).collect()
                        } else {
                            tags
                        };
                        for name in shown {
                            out.stdout.push_str(&format!("Deleted: {name}\n"));
                        }
                    }
                    None => {
                        out.stderr
                            .push_str(&log_line("error", &format!("no such image {id}")));
                        out.code = 1;
                    }
                }
            }
            if out.code != 0 {
                out.stderr
                    .push_str(&log_line("fatal", "unable to remove the image(s)"));
            }
            drop(images);
            super::kubelet::publish_node_images(sim, node);
            out
        }
        _ => Output::fail(
            format!("crictl: unknown command or flags: {}\n", args.join(" ")),
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsenter_prefixes() {
        let w = [
            "nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "ctr", "-n", "k8s.io",
            "images", "ls",
        ];
        let (entered, rest) = strip_nsenter(&w);
        assert!(entered);
        assert_eq!(rest, ["ctr", "-n", "k8s.io", "images", "ls"]);
        let w = ["nsenter", "--target", "1", "-m", "crictl", "images"];
        assert_eq!(strip_nsenter(&w).1, ["crictl", "images"]);
        let w = ["ctr", "images", "ls"];
        assert!(!strip_nsenter(&w).0);
    }

    #[test]
    fn content_active_lists_the_pulls_under_way_with_their_progress() {
        use crate::scenario::Simulation;
        use crate::store::Store;
        use std::sync::{Arc, Mutex};
        use std::time::{Duration, Instant};

        let sim = Sim::new(Store::new(10, 1), Simulation::default());
        let node = NodeState {
            name: "web-1".into(),
            images: Mutex::new(Default::default()),
            pulls: Arc::new(tokio::sync::Semaphore::new(1)),
            bandwidth: 1,
            link: None,
            disk: 1,
            kubelet: Default::default(),
            active: Mutex::new(Vec::new()),
            active_changed: Default::default(),
        };
        let argv: Vec<String> = ["nsenter", "-t", "1", "-m", "--", "ctr", "-n", "k8s.io"]
            .iter()
            .chain(&["content", "active"])
            .map(|s| s.to_string())
            .collect();
        assert_eq!(run(&sim, &node, true, &argv).stdout, "REF\tSIZE\tAGE\t\n");
        {
            let _pull = super::super::ActiveGuard::start(
                &node,
                super::super::ActivePull::new(
                    "layer-sha256:abc".into(),
                    100_000_000,
                    Instant::now() - Duration::from_secs(5),
                    10_000_000.0,
                ),
            );
            let out = run(&sim, &node, true, &argv).stdout;
            let row = out.lines().nth(1).expect("one pull");
            let cells: Vec<&str> = row.split('\t').filter(|c| !c.is_empty()).collect();
            assert_eq!(cells[0], "layer-sha256:abc");
            // Half way through at speed 1: about 50 MB of 100 MB.
            let mb: f64 = cells[1].trim_end_matches("MB").parse().unwrap();
            assert!((49.0..=56.0).contains(&mb), "{row}");
            assert_eq!(&cells[2..], ["5 seconds"]);
        }
        // Finished or cut short: gone from the list.
        assert_eq!(run(&sim, &node, true, &argv).stdout, "REF\tSIZE\tAGE\t\n");
    }

    #[test]
    fn tables_and_sizes() {
        let t = table(&[
            vec!["REF".into(), "SIZE".into()],
            vec!["docker.io/library/nginx:1.25".into(), "67.3 MiB".into()],
        ]);
        assert_eq!(
            t,
            "REF                          SIZE     \ndocker.io/library/nginx:1.25 67.3 MiB \n"
        );
        assert_eq!(human_bytes(70_615_040), "67.3 MiB");
        assert_eq!(human_bytes(268_051), "261.8 KiB");
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(go_units_size(12_345_678), "12.35MB");
        assert_eq!(go_units_size(129_338_587), "129.3MB");
        assert_eq!(go_units_size(1_000), "1kB");
        assert_eq!(go_units_size(999), "999B");
        assert_eq!(go_units_size(0), "0B");
        assert_eq!(go_units_duration(0.4), "Less than a second");
        assert_eq!(go_units_duration(1.9), "1 second");
        assert_eq!(go_units_duration(42.0), "42 seconds");
        assert_eq!(go_units_duration(61.0), "About a minute");
        assert_eq!(go_units_duration(600.0), "10 minutes");
    }
}
