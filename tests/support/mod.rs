//! Shared test harness: a simulator started in-process and reached over HTTP, and the outside
//! programs tests drive (kubectl). A missing program skips the test with a clear message
//! locally, and fails it under CI=true, so nothing is silently skipped in CI.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kpreload::sim::{self, Running};

pub const KUBECTL_VERSION: &str = "v1.37.";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports a missing program: a failure under CI, a visible skip otherwise.
pub fn missing(program: &str, why: &str) {
    let message = format!("{program} is needed for this test and {why}; `tests/run` installs it");
    if in_ci() {
        panic!("CI=true and {message}");
    }
    eprintln!("SKIPPED: {message}");
}

/// The kubectl the tests use: $KPRELOAD_KUBECTL (set by tests/run), else `kubectl` on PATH,
/// in either case only if it is version 1.37.
pub fn kubectl_path() -> Option<PathBuf> {
    let candidate = std::env::var_os("KPRELOAD_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| {
            let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/py/bin/kubectl");
            local.exists().then_some(local)
        })
        .unwrap_or_else(|| PathBuf::from("kubectl"));
    let out = Command::new(&candidate)
        .args(["version", "--client"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains(KUBECTL_VERSION) => Some(candidate),
        Ok(o) => {
            missing(
                "kubectl 1.37",
                &format!(
                    "{} is {}",
                    candidate.display(),
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .unwrap_or("of unknown version")
                ),
            );
            None
        }
        Err(_) => {
            missing("kubectl 1.37", "it was not found");
            None
        }
    }
}

/// A simulator running in this process on a loopback port, with a kubeconfig for it.
pub struct Cluster {
    pub rt: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub fn start(scenario: &str) -> Cluster {
        Self::start_at(scenario, None)
    }

    /// Starts a scenario at another time scale than its own.
    pub fn start_at(scenario: &str, speed: Option<f64>) -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
        let mut scenario = kpreload::sim::load(&path).unwrap();
        if let Some(speed) = speed {
            scenario = scenario.with_speed(speed);
        }
        let state = kpreload::sim::build(scenario, 42).unwrap();
        let running = rt
            .block_on(sim::start(state, "127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, running.kubeconfig()).unwrap();
        Cluster {
            rt,
            running: Some(running),
            dir,
            kubeconfig,
        }
    }

    pub fn url(&self) -> String {
        self.running.as_ref().unwrap().url()
    }

    /// Plain HTTP to the simulator's port, for the control endpoint and the registry, which
    /// answer it even where the API is HTTPS (a scenario with users).
    pub fn plain_url(&self) -> String {
        self.running.as_ref().unwrap().plain_url()
    }

    pub fn sim(&self) -> &kpreload::sim::Sim {
        &self.running.as_ref().unwrap().sim
    }

    /// Sets fault injection through the control endpoint, as an outside test would.
    pub fn faults(&self, json: &str) {
        let url = format!("{}/sim/faults", self.plain_url());
        let (code, out) = http("POST", &url, "application/json", json);
        assert_eq!(code, 200, "fault settings refused: {out}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

/// kubectl pointed at a cluster.
pub struct Kubectl {
    pub path: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(cluster: &Cluster) -> Option<Kubectl> {
        Some(Kubectl {
            path: kubectl_path()?,
            kubeconfig: cluster.kubeconfig.clone(),
        })
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, None)
    }

    pub fn run_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut child = Command::new(&self.path)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        if let Some(text) = input {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_input(args, None)
    }

    pub fn ok_with_input(&self, args: &[&str], input: Option<&str>) -> String {
        let o = self.run_with_input(args, input);
        assert!(
            o.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// `kubectl -n NS rollout status ds/NAME`, which must succeed; returns its output.
    pub fn rollout(&self, ns: &str, daemonset: &str) -> String {
        self.ok(&[
            "-n",
            ns,
            "rollout",
            "status",
            &format!("ds/{daemonset}"),
            "--timeout=120s",
        ])
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str], input: Option<&str>) -> String {
        let o = self.run_with_input(args, input);
        assert!(
            !o.status.success(),
            "kubectl {} should have failed",
            args.join(" ")
        );
        String::from_utf8(o.stderr).unwrap()
    }
}

/// The article's single node with its improved preloader (a cleanup loop in its main
/// container, on alpine:3.19), the registry holding that image or not (`pullable`).
pub fn article_with_preloader(dir: &std::path::Path, pullable: bool) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scenario =
        std::fs::read_to_string(root.join("tests/fixtures/scenarios/article.yaml")).unwrap();
    if !pullable {
        let line = "  - { image: alpine:3.19, size: 3417422 }\n";
        assert!(scenario.contains(line));
        scenario = scenario.replace(line, "");
    }
    let preloader =
        std::fs::read_to_string(root.join("tests/fixtures/article/image-preloader-cleanup.yaml"))
            .unwrap();
    assert!(preloader.contains("image: alpine:3.19"));
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, format!("{scenario}\n---\n{preloader}")).unwrap();
    path.to_str().unwrap().to_string()
}

/// The path of one of the article's manifests under tests/fixtures/article.
pub fn article(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/article")
        .join(name)
        .display()
        .to_string()
}

/// The demo's cluster with the article's hand-written ml preloader in place of kpreload's,
/// written to `dir`: a cluster where the article's DaemonSets already run.
pub fn demo_with_articles_ml(dir: &Path) -> PathBuf {
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/demo.yaml"),
    )
    .unwrap();
    let mut docs: Vec<String> = demo
        .split("\n---\n")
        .filter(|d| !d.contains("name: image-preloader-ml\n"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        docs.len() + 1,
        demo.split("\n---\n").count(),
        "one document dropped"
    );
    docs.push(std::fs::read_to_string(article("image-preloader-ml.yaml")).unwrap());
    let path = dir.join("demo-articles-ml.yaml");
    std::fs::write(&path, docs.join("\n---\n")).unwrap();
    path
}

/// The binary, as a person runs it, but for the images' registries: the tests' images name
/// registries on the internet (or none that exist), which are not asked (`--no-registry`
/// through its environment variable); tests of the registry check use [`kpreload_asking`].
pub fn kpreload(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .args(args)
        .env("KPRELOAD_NO_REGISTRY", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// The binary asking the images' registries, with `DOCKER_CONFIG` at `docker_config`.
pub fn kpreload_asking(args: &[&str], docker_config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .args(args)
        .env_remove("KPRELOAD_NO_REGISTRY")
        .env("DOCKER_CONFIG", docker_config)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// A kube-rs client for a cluster, through its kubeconfig as any program would.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// One raw HTTP request; returns the status code and body.
pub fn http(method: &str, url: &str, content_type: &str, body: &str) -> (u16, String) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Polls `probe` (every 100 ms, for up to `seconds`) until `done` holds; returns the last
/// value either way, for the caller's assertion to show.
pub fn eventually<T>(seconds: u64, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let value = probe();
        if done(&value) || std::time::Instant::now() >= deadline {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
