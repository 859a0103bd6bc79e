//! A node's container runtime, for real: containerd (Debian `containerd`) with its own root,
//! state and socket under a temporary directory, and a registry (Debian `docker-registry`) on
//! 127.0.0.1. Images are generated here (a tar layer of chosen size, a config, a manifest and
//! an index — no internet), pushed over the registry's HTTP API, and pulled the way a kubelet
//! pulls them: through the CRI image service on containerd's socket, so a node's three names
//! per image (`repo:tag`, `repo@sha256:…`, `sha256:<id>`) appear exactly as in a cluster.
//!
//! Needs root (containerd mounts snapshots). A missing program or root is a visible skip
//! locally and a failure under CI=true (`support::missing`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::{Image, ImageSpec, ListImagesRequest, PullImageRequest};
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::support::missing;

/// A running containerd and registry; both are stopped when this is dropped.
pub struct Node {
    dir: tempfile::TempDir,
    containerd: Child,
    registry: Child,
    /// containerd's socket.
    pub socket: PathBuf,
    /// `127.0.0.1:PORT`, the registry as an image reference names it.
    pub registry_host: String,
    /// Tells the proxies this node started to stop.
    stop: Arc<AtomicBool>,
}

/// What a push put in the registry.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// `host/repo:tag`.
    pub reference: String,
    /// The index's digest: what `repo@sha256:…` names.
    pub index: String,
    /// The config's digest: the image ID.
    pub id: String,
    /// The layer's digest (`sha256:…`), which names its ingest while it is pulled.
    pub layer: String,
    /// Layer bytes (the tar).
    pub layer_size: usize,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not start within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Node {
    /// Starts containerd and a registry, or reports why it cannot (None: skipped locally).
    pub fn start() -> Option<Node> {
        for program in ["containerd", "ctr", "docker-registry"] {
            if !has(program) {
                missing(program, "is not installed");
                return None;
            }
        }
        if !is_root() {
            missing("root", "containerd mounts snapshots, which needs root");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kpreload-node-")
            .tempdir()
            .expect("a temporary directory");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let port = free_port();
        let registry_host = format!("127.0.0.1:{port}");

        std::fs::write(
            d.join("registry.yml"),
            format!(
                "version: 0.1\nlog: {{ level: warn }}\nstorage: {{ filesystem: {{ rootdirectory: {} }}, delete: {{ enabled: true }} }}\nhttp: {{ addr: {registry_host} }}\n",
                d.join("registry").display()
            ),
        )
        .expect("registry config");
        let registry = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("registry.yml"))
            .stdout(Stdio::null())
            .stderr(log_file(d, "registry.log"))
            .spawn()
            .expect("docker-registry starts");

        std::fs::create_dir_all(d.join("certs.d")).expect("hosts directory");
        std::fs::write(
            d.join("containerd.toml"),
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{registry_host}/pause:3.9"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{hosts}"
"#,
                root = d.join("root").display(),
                state = d.join("state").display(),
                socket = socket.display(),
                hosts = d.join("certs.d").display(),
            ),
        )
        .expect("containerd config");
        let containerd = Command::new("containerd")
            .arg("--config")
            .arg(d.join("containerd.toml"))
            .stdout(Stdio::null())
            .stderr(log_file(d, "containerd.log"))
            .spawn()
            .expect("containerd starts");

        let mut node = Node {
            dir,
            containerd,
            registry,
            socket,
            registry_host,
            stop: Arc::new(AtomicBool::new(false)),
        };
        node.plain_http(&node.registry_host.clone());
        wait_until("the registry", Duration::from_secs(20), || {
            http(&node.registry_host, "GET", "/v2/", &[], &[]).is_ok_and(|r| r.status == 200)
        });
        wait_until("containerd", Duration::from_secs(30), || {
            node.ctr_raw(&["version"]).status.success()
        });
        Some(node)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Lets containerd's CRI pull from `host` over plain HTTP (a hosts.toml, read per pull).
    pub fn plain_http(&mut self, host: &str) {
        let dir = self.dir.path().join("certs.d").join(host);
        std::fs::create_dir_all(&dir).expect("hosts directory");
        std::fs::write(
            dir.join("hosts.toml"),
            format!(
                "server = \"http://{host}\"\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .expect("hosts.toml");
    }

    /// `ctr --address SOCKET ARGS…` (no namespace chosen).
    pub fn ctr_raw(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("ctr runs")
    }

    /// `ctr -n k8s.io ARGS…`, which must succeed; its stdout.
    pub fn ctr(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", "k8s.io"];
        all.extend_from_slice(args);
        let out = self.ctr_raw(&all);
        assert!(
            out.status.success(),
            "ctr {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The argv prefix that reaches this containerd with ctr: what a node runs as `ctr`.
    pub fn ctr_argv(&self) -> Vec<String> {
        vec![
            "ctr".into(),
            "--address".into(),
            self.socket.display().to_string(),
        ]
    }

    /// Generates an image of about `size` bytes and pushes it as `repo:tag`.
    pub fn push(&self, repo: &str, tag: &str, size: usize) -> Pushed {
        self.push_to(&self.registry_host.clone(), repo, tag, size)
    }

    /// Pushes to the registry, naming the image with `host` (a proxy in front of it, say).
    pub fn push_to(&self, host: &str, repo: &str, tag: &str, size: usize) -> Pushed {
        let r = &self.registry_host;
        let layer = tar_layer(&format!("{repo}:{tag}"), size);
        let layer_digest = digest(&layer);
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux",
            "created": "2026-01-02T03:04:05Z",
            "config": {"Cmd": ["/data"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .expect("config json");
        let config_digest = digest(&config);
        upload_blob(r, repo, &layer);
        upload_blob(r, repo, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer.len()}],
        }))
        .expect("manifest json");
        let manifest_digest = digest(&manifest);
        put_manifest(
            r,
            repo,
            &manifest_digest,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": manifest_digest, "size": manifest.len(),
                           "platform": {"architecture": arch, "os": "linux"}}],
        }))
        .expect("index json");
        let index_digest = digest(&index);
        put_manifest(
            r,
            repo,
            tag,
            "application/vnd.oci.image.index.v1+json",
            &index,
        );
        Pushed {
            reference: format!("{host}/{repo}:{tag}"),
            index: index_digest,
            id: config_digest,
            layer: layer_digest,
            layer_size: layer.len(),
        }
    }

    async fn channel(&self) -> Channel {
        let path = self.socket.clone();
        Endpoint::try_from("http://[::]:50051")
            .expect("endpoint")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .expect("containerd's CRI socket")
    }

    /// Pulls through the CRI image service, as the kubelet does; the image ID it returns.
    pub async fn cri_pull(&self, reference: &str) -> String {
        let mut client = ImageServiceClient::new(self.channel().await);
        let request = PullImageRequest {
            image: Some(ImageSpec {
                image: reference.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        };
        match client.pull_image(request).await {
            Ok(r) => r.into_inner().image_ref,
            Err(e) => panic!(
                "CRI pull of {reference} failed: {e}\ncontainerd's log:\n{}",
                self.log("containerd.log")
            ),
        }
    }

    /// The CRI's image list (what `crictl images -o json` prints).
    pub async fn cri_images(&self) -> Vec<Image> {
        let mut client = ImageServiceClient::new(self.channel().await);
        client
            .list_images(ListImagesRequest { filter: None })
            .await
            .expect("CRI ListImages")
            .into_inner()
            .images
    }

    /// A container record using `image` (created, never started): the image is in use.
    pub fn create_container(&self, image: &str, id: &str) {
        self.ctr(&["containers", "create", "--snapshotter", "native", image, id]);
    }

    /// Pins an image as containerd's CRI pins the sandbox image.
    pub fn pin(&self, reference: &str) {
        self.ctr(&[
            "images",
            "label",
            reference,
            "io.cri-containerd.pinned=pinned",
        ]);
    }

    /// The image records' names, sorted: `ctr images ls -q`.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctr(&["images", "ls", "-q"])
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Node {
    /// A TCP proxy on loopback in front of the registry that sends at most `rate` bytes a
    /// second towards the client; returns its `127.0.0.1:PORT`, already trusted over HTTP.
    /// It stops with this node.
    pub fn throttled_proxy(&mut self, rate: usize) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let host = listener.local_addr().expect("its address").to_string();
        listener.set_nonblocking(true).expect("nonblocking accept");
        let upstream = self.registry_host.clone();
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let upstream = upstream.clone();
                        let stop = stop.clone();
                        std::thread::spawn(move || relay(client, &upstream, rate, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        self.plain_http(&host);
        host
    }
}

/// Copies a connection to the registry and back, slowing the way back to `rate` bytes/s.
fn relay(client: TcpStream, upstream: &str, rate: usize, stop: &AtomicBool) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut server, mut client) = (server, client);
    let chunk = (rate / 20).max(1);
    let mut buf = vec![0u8; chunk];
    while !stop.load(Ordering::Relaxed) {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for child in [&mut self.containerd, &mut self.registry] {
            let _ = child.kill();
            let _ = child.wait();
        }
        // containerd's native snapshots hold plain directories; nothing stays mounted.
    }
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::File::create(dir.join(name))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A tar holding one file of `size` pseudo-random (incompressible) bytes, different per seed.
fn tar_layer(seed: &str, size: usize) -> Vec<u8> {
    let mut state: u64 = seed.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(size);

    let mut header = [0u8; 512];
    let field = |h: &mut [u8; 512], at: usize, text: &[u8]| {
        h[at..at + text.len()].copy_from_slice(text);
    };
    field(&mut header, 0, b"data");
    field(&mut header, 100, b"0000644\0");
    field(&mut header, 108, b"0000000\0");
    field(&mut header, 116, b"0000000\0");
    field(&mut header, 124, format!("{size:011o}\0").as_bytes());
    field(&mut header, 136, b"00000000000\0");
    field(&mut header, 148, b"        ");
    header[156] = b'0';
    field(&mut header, 257, b"ustar\0");
    field(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|&b| b as u32).sum();
    field(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());

    let mut tar = header.to_vec();
    tar.extend_from_slice(&data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection.
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response { status, headers })
}

fn upload_blob(registry: &str, repo: &str, blob: &[u8]) {
    let started = http(
        registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        &[],
    )
    .expect("registry reachable");
    assert_eq!(started.status, 202, "starting an upload to {repo}");
    let location = started.header("Location").expect("upload location");
    let path = location
        .strip_prefix(&format!("http://{registry}"))
        .unwrap_or(location);
    let sep = if path.contains('?') { '&' } else { '?' };
    let done = http(
        registry,
        "PUT",
        &format!("{path}{sep}digest={}", digest(blob)),
        &[("Content-Type", "application/octet-stream")],
        blob,
    )
    .expect("registry reachable");
    assert_eq!(done.status, 201, "uploading a blob to {repo}");
}

fn put_manifest(registry: &str, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
    let r = http(
        registry,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        body,
    )
    .expect("registry reachable");
    assert_eq!(r.status, 201, "putting manifest {repo}:{reference}");
}
