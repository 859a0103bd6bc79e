//! A real registry (Debian `docker-registry`, the CNCF distribution) on 127.0.0.1, alone or
//! behind htpasswd basic auth, with images pushed over its HTTP API: a single-platform
//! manifest, or an index of several platforms. No root needed. A missing `docker-registry`
//! is a visible skip locally and a failure under CI=true.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::missing;

/// The user and password of a registry started with [`Registry::start_with_login`]; the
/// hash is bcrypt (cost 4) of the password, as htpasswd files hold it.
pub const USER: &str = "preloader";
pub const PASSWORD: &str = "kpreload-test";
const BCRYPT: &str = "$2b$04$w6uN.nxGj7NRzHLZA/by6eBI1Vug2jXEM/Kh8uP2DaRhappDX8yky";

/// A running registry, stopped when dropped.
pub struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    /// `127.0.0.1:PORT`, as an image reference names it.
    pub host: String,
    login: bool,
}

/// What a push put in the registry.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// `host/repo:tag`.
    pub reference: String,
    /// What the tag names: the manifest's digest, or the index's.
    pub digest: String,
    /// Compressed bytes per platform (`linux/amd64`): layers and config, as the manifest
    /// lists them.
    pub bytes: Vec<(String, u64)>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

impl Registry {
    /// An open registry (None: docker-registry is not installed, and this is not CI).
    pub fn start() -> Option<Registry> {
        Registry::launch(false)
    }

    /// A registry that answers 401 with a `Basic` challenge (no token service) to any
    /// request without [`USER`] and [`PASSWORD`].
    pub fn start_with_login() -> Option<Registry> {
        Registry::launch(true)
    }

    fn launch(login: bool) -> Option<Registry> {
        let installed = Command::new("docker-registry")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            missing("docker-registry", "is not installed");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("kpreload-registry-")
            .tempdir()
            .expect("a temporary directory");
        let d = dir.path();
        let host = format!("127.0.0.1:{}", free_port());
        let auth = if login {
            std::fs::write(d.join("htpasswd"), format!("{USER}:{BCRYPT}\n")).expect("htpasswd");
            format!(
                "auth: {{ htpasswd: {{ realm: kpreload-test, path: {} }} }}\n",
                d.join("htpasswd").display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            d.join("registry.yml"),
            format!(
                "version: 0.1\nlog: {{ level: warn }}\nstorage: {{ filesystem: {{ rootdirectory: {} }} }}\nhttp: {{ addr: {host} }}\n{auth}",
                d.join("data").display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("registry.yml"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(d.join("registry.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry {
            dir,
            child,
            host,
            login,
        };
        let start = Instant::now();
        while !registry
            .request("GET", "/v2/", &[], &[])
            .is_ok_and(|r| r.0 == 200)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry did not start within 20 s: {}",
                std::fs::read_to_string(registry.dir.path().join("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// A directory for a test's own files (a Docker config, say), removed with the registry.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Pushes `repo:tag` as one image of `size` layer bytes.
    pub fn push(&self, repo: &str, tag: &str, size: usize) -> Pushed {
        let (manifest, bytes) = self.image(repo, tag, size, "linux", "amd64");
        let digest = digest(&manifest);
        self.put_manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
        Pushed {
            reference: format!("{}/{repo}:{tag}", self.host),
            digest,
            bytes: vec![("linux/amd64".into(), bytes)],
        }
    }

    /// Pushes `repo:tag` as an index of one image per `(os, arch, size)`.
    pub fn push_index(&self, repo: &str, tag: &str, platforms: &[(&str, &str, usize)]) -> Pushed {
        let mut entries = Vec::new();
        let mut bytes = Vec::new();
        for (os, arch, size) in platforms {
            let (manifest, b) = self.image(repo, &format!("{tag}-{os}-{arch}"), *size, os, arch);
            let d = digest(&manifest);
            self.put_manifest(
                repo,
                &d,
                "application/vnd.oci.image.manifest.v1+json",
                &manifest,
            );
            entries.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d, "size": manifest.len(),
                "platform": {"architecture": arch, "os": os},
            }));
            bytes.push((format!("{os}/{arch}"), b));
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .expect("index json");
        self.put_manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index);
        Pushed {
            reference: format!("{}/{repo}:{tag}", self.host),
            digest: digest(&index),
            bytes,
        }
    }

    /// Uploads a layer and a config, and returns the manifest naming them (not yet put)
    /// with its compressed bytes.
    fn image(&self, repo: &str, seed: &str, size: usize, os: &str, arch: &str) -> (Vec<u8>, u64) {
        let layer = noise(&format!("{repo}:{seed}"), size);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": os,
            "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
        }))
        .expect("config json");
        self.upload(repo, &layer);
        self.upload(repo, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest(&layer), "size": layer.len()}],
        }))
        .expect("manifest json");
        (manifest, (layer.len() + config.len()) as u64)
    }

    fn upload(&self, repo: &str, blob: &[u8]) {
        let (status, location) = self
            .request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], &[])
            .expect("registry reachable");
        assert_eq!(status, 202, "starting an upload to {repo}");
        let location = location.expect("an upload location");
        let path = location
            .strip_prefix(&format!("http://{}", self.host))
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _) = self
            .request(
                "PUT",
                &format!("{path}{sep}digest={}", digest(blob)),
                &[("Content-Type", "application/octet-stream")],
                blob,
            )
            .expect("registry reachable");
        assert_eq!(status, 201, "uploading a blob to {repo}");
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let (status, _) = self
            .request(
                "PUT",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("Content-Type", media_type)],
                body,
            )
            .expect("registry reachable");
        assert_eq!(status, 201, "putting manifest {repo}:{reference}");
    }

    /// One request (with the login, for a registry that wants one): status and Location.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Option<String>)> {
        let mut stream = TcpStream::connect(&self.host)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if self.login {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            request.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
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
        let location = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.trim().to_string());
        Ok((status, location))
    }

    /// A Docker config directory holding a login for this registry (`auths`, base64 of
    /// `user:password`, as `docker login` writes it), for `DOCKER_CONFIG`.
    pub fn docker_config(&self, password: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let dir = self
            .dir
            .path()
            .join(format!("docker-{}", &digest(password.as_bytes())[7..15]));
        std::fs::create_dir_all(&dir).expect("docker config directory");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        std::fs::write(
            dir.join("config.json"),
            serde_json::json!({"auths": {self.host.clone(): {"auth": auth}}}).to_string(),
        )
        .expect("docker config");
        dir
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `size` pseudo-random bytes, different per seed (the registry does not look inside).
fn noise(seed: &str, size: usize) -> Vec<u8> {
    let mut state: u64 = seed.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(size);
    data
}

/// A loopback address where nothing listens (a port just freed).
pub fn silent_host() -> String {
    format!("127.0.0.1:{}", free_port())
}
