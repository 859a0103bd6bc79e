//! The images' registries, asked from the operator's machine (not the nodes): does a tag
//! exist, which digest does it name now, how many compressed bytes does each platform's
//! image hold. One request chain per distinct image and platform set per run (answers are
//! kept for the process's life), four at once, each given 15 seconds.
//!
//! Credentials are the ecosystem's: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, with its `auths`, `credHelpers` and `credsStore` (a
//! `docker-credential-*` helper is run); anonymous otherwise, with the registry's token
//! handshake for public images. They are sent only to the registry they are for and are
//! never printed or logged. A registry on loopback (`localhost`, `127.0.0.0/8`, `::1`) is
//! asked over plain HTTP, as Docker does; every other one over HTTPS with the system's
//! trusted roots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::{OnceCell, Semaphore};

use crate::core::reference::ImageRef;
use crate::core::registry::{Answer, Found, Manifest, Platform};

/// Images asked about at once.
pub const AT_ONCE: usize = 4;
/// The most one image's questions may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

type Cell = Arc<OnceCell<Answer>>;

/// The registries, with what they answered so far.
pub struct Registry {
    clients: Mutex<HashMap<String, Arc<Client>>>,
    credentials: Mutex<HashMap<String, Credentials>>,
    answers: Mutex<HashMap<String, Cell>>,
    limit: Semaphore,
    options: Options,
    /// Every image is asked of this server, by a path naming its registry
    /// (`docker.io/library/nginx`): the demo's simulated registry. Set once.
    mirror: std::sync::OnceLock<String>,
    asked: std::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
struct Credentials {
    auth: RegistryAuth,
    /// Where they came from, to name in a refusal.
    place: Option<String>,
}

/// Where to ask, and with which credentials.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Every image is asked of this host instead of its own, anonymously and over HTTP,
    /// as `HOST/<registry>/<repository>` (the demo's simulated registry).
    pub mirror: Option<String>,
    /// The Docker config directory (holding `config.json`); None: `$DOCKER_CONFIG`, else
    /// `~/.docker`.
    pub docker_config: Option<std::path::PathBuf>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(Options::default())
    }
}

impl Registry {
    pub fn new(options: Options) -> Registry {
        // reqwest's rustls is built without a crypto provider of its own: use ring, as
        // the Kubernetes client does. A second call finds it installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Registry {
            clients: Mutex::default(),
            credentials: Mutex::default(),
            answers: Mutex::default(),
            limit: Semaphore::new(AT_ONCE),
            mirror: options
                .mirror
                .clone()
                .map(std::sync::OnceLock::from)
                .unwrap_or_default(),
            options,
            asked: Default::default(),
        }
    }

    /// From now on, asks every image of `host` (the demo's simulator, once it listens).
    pub fn mirror_to(&self, host: &str) {
        let _ = self.mirror.set(host.to_string());
    }

    /// How many images were asked of a registry (not answered from memory), for tests.
    pub fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the registry says of `image`, for nodes of `platforms` (empty: the tag only,
    /// and a single image's size).
    pub async fn check(&self, image: &ImageRef, platforms: &[Platform]) -> Answer {
        let cell = {
            let mut answers = lock(&self.answers);
            answers.entry(key(image, platforms)).or_default().clone()
        };
        cell.get_or_init(|| async {
            let _turn = self.limit.acquire().await;
            self.asked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let host = self.host(image);
            match tokio::time::timeout(TIMEOUT, self.ask(image, platforms)).await {
                Ok(answer) => answer,
                Err(_) => Answer::Unreachable {
                    registry: host,
                    why: format!("no answer within {} s", TIMEOUT.as_secs()),
                },
            }
        })
        .await
        .clone()
    }

    /// [`check`](Self::check) for several images, a few at once, in their order.
    pub async fn check_all(
        &self,
        images: &[(ImageRef, Vec<Platform>)],
    ) -> Vec<(ImageRef, Vec<Platform>, Answer)> {
        let mut out: Vec<(usize, ImageRef, Vec<Platform>, Answer)> =
            futures_util::stream::iter(images.iter().cloned().enumerate())
                .map(|(i, (image, platforms))| async move {
                    let answer = self.check(&image, &platforms).await;
                    (i, image, platforms, answer)
                })
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
        out.sort_by_key(|o| o.0);
        out.into_iter().map(|(_, i, p, a)| (i, p, a)).collect()
    }

    /// The host asked for `image`.
    fn host(&self, image: &ImageRef) -> String {
        self.mirror
            .get()
            .cloned()
            .unwrap_or_else(|| image.registry().to_string())
    }

    /// The repository asked for: behind a mirror, under its registry's name.
    fn repository(&self, image: &ImageRef) -> String {
        match self.mirror.get() {
            Some(_) => format!("{}/{}", image.registry(), image.repository()),
            None => image.repository().to_string(),
        }
    }

    async fn ask(&self, image: &ImageRef, platforms: &[Platform]) -> Answer {
        let host = self.host(image);
        let repository = self.repository(image);
        let reference = match (image.tag(), image.digest()) {
            (Some(tag), Some(digest)) => Reference::with_tag_and_digest(
                host.clone(),
                repository,
                tag.to_string(),
                digest.to_string(),
            ),
            (_, Some(digest)) => {
                Reference::with_digest(host.clone(), repository, digest.to_string())
            }
            (tag, None) => Reference::with_tag(
                host.clone(),
                repository,
                tag.unwrap_or("latest").to_string(),
            ),
        };
        let client = self.client(&host);
        let credentials = self.credentials_for(&host);
        let failed = |e: OciDistributionError| answer_for(&host, &credentials, e);
        let (manifest, digest) = match client.pull_manifest(&reference, &credentials.auth).await {
            Ok(m) => m,
            Err(e) => return failed(e),
        };
        match manifest {
            OciManifest::Image(m) => Answer::Found(Found {
                registry: host.clone(),
                digest: digest.clone(),
                index: false,
                offered: Vec::new(),
                images: vec![Manifest {
                    platform: None,
                    digest,
                    bytes: compressed(&m),
                }],
            }),
            OciManifest::ImageIndex(index) => {
                let entries: Vec<(Platform, String)> = index
                    .manifests
                    .iter()
                    .filter_map(|e| {
                        let p = e.platform.as_ref()?;
                        // Attestations are listed as `unknown/unknown`: not a platform.
                        let os = p.os.to_string();
                        let arch = p.architecture.to_string();
                        (os != "unknown").then(|| {
                            let mut platform = Platform::new(&os, &arch);
                            platform.variant = p.variant.clone();
                            (platform, e.digest.clone())
                        })
                    })
                    .collect();
                let mut images = Vec::new();
                for want in platforms {
                    let Some((platform, d)) = entries.iter().find(|(p, _)| want.serves(p)) else {
                        continue;
                    };
                    if images.iter().any(|m: &Manifest| m.digest == *d) {
                        continue;
                    }
                    let one = reference.clone_with_digest(d.clone());
                    match client.pull_manifest(&one, &credentials.auth).await {
                        Ok((OciManifest::Image(m), d)) => images.push(Manifest {
                            platform: Some(platform.clone()),
                            digest: d,
                            bytes: compressed(&m),
                        }),
                        Ok((OciManifest::ImageIndex(_), _)) => {}
                        Err(e) => return failed(e),
                    }
                }
                let mut offered: Vec<Platform> = entries.into_iter().map(|(p, _)| p).collect();
                offered.dedup();
                Answer::Found(Found {
                    registry: host.clone(),
                    digest,
                    index: true,
                    offered,
                    images,
                })
            }
        }
    }

    fn client(&self, host: &str) -> Arc<Client> {
        let mut clients = lock(&self.clients);
        clients
            .entry(host.to_string())
            .or_insert_with(|| {
                let plain = self.mirror.get().is_some() || loopback(host);
                Arc::new(Client::new(oci_client::client::ClientConfig {
                    protocol: if plain {
                        oci_client::client::ClientProtocol::Http
                    } else {
                        oci_client::client::ClientProtocol::Https
                    },
                    connect_timeout: Some(Duration::from_secs(5)),
                    read_timeout: Some(Duration::from_secs(10)),
                    user_agent: concat!("kpreload/", env!("CARGO_PKG_VERSION")),
                    // Index entries are chosen here, per platform of the pool's nodes.
                    platform_resolver: None,
                    ..Default::default()
                }))
            })
            .clone()
    }

    fn credentials_for(&self, host: &str) -> Credentials {
        if self.mirror.get().is_some() {
            return Credentials {
                auth: RegistryAuth::Anonymous,
                place: None,
            };
        }
        lock(&self.credentials)
            .entry(host.to_string())
            .or_insert_with(|| docker_credentials(self.options.docker_config.as_deref(), host))
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One image asked about for some platforms: the key answers are kept under.
pub fn key(image: &ImageRef, platforms: &[Platform]) -> String {
    let mut key = image.normalized();
    for p in platforms {
        key.push(' ');
        key.push_str(&p.to_string());
    }
    key
}

/// Compressed bytes a node downloads for one image manifest: its layers and config.
fn compressed(m: &oci_client::manifest::OciImageManifest) -> u64 {
    m.layers
        .iter()
        .chain(std::iter::once(&m.config))
        .map(|l| l.size.max(0) as u64)
        .sum()
}

/// Whether a registry host is on this machine: asked over plain HTTP.
pub fn loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) && !n.ends_with(':') => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The credentials Docker would use for `host`.
fn docker_credentials(dir: Option<&std::path::Path>, host: &str) -> Credentials {
    let dir = dir
        .map(std::path::Path::to_path_buf)
        .or_else(|| std::env::var_os("DOCKER_CONFIG").map(std::path::PathBuf::from));
    let (place, found) = match dir {
        Some(dir) => {
            let file = dir.join("config.json");
            (
                file.display().to_string(),
                std::fs::File::open(&file).ok().map(|f| {
                    docker_credential::get_credential_from_reader(std::io::BufReader::new(f), host)
                }),
            )
        }
        None => (
            "~/.docker/config.json".to_string(),
            Some(docker_credential::get_credential(host)),
        ),
    };
    match found.and_then(Result::ok) {
        Some(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            Credentials {
                auth: RegistryAuth::Basic(user, password),
                place: Some(place),
            }
        }
        // An identity token is a refresh token for an OAuth exchange the client does not
        // make: asked anonymously, a private image then reads as needing a login.
        Some(docker_credential::DockerCredential::IdentityToken(_)) | None => Credentials {
            auth: RegistryAuth::Anonymous,
            place: None,
        },
    }
}

/// The answer an error of the registry client stands for.
fn answer_for(host: &str, credentials: &Credentials, e: OciDistributionError) -> Answer {
    let registry = host.to_string();
    let denied = |words: String| Answer::Denied {
        registry: registry.clone(),
        words,
        credentials: credentials.place.clone(),
    };
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let first = envelope.errors.first();
            let words = first
                .map(|e| e.message.clone())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no message".into());
            match first.map(|e| &e.code) {
                Some(
                    OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound
                    | OciErrorCode::ManifestBlobUnknown,
                ) => Answer::Missing { registry, words },
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => denied(words),
                _ => Answer::Unreachable {
                    registry,
                    why: format!("it answered \"{words}\""),
                },
            }
        }
        OciDistributionError::ImageManifestNotFoundError(words) => Answer::Missing {
            registry,
            words: one_line(&words),
        },
        OciDistributionError::UnauthorizedError { .. } => denied("401 Unauthorized".into()),
        OciDistributionError::AuthenticationFailure(words) => denied(one_line(&words)),
        OciDistributionError::ServerError { code, message, .. } => match code {
            404 => Answer::Missing {
                registry,
                words: if message.trim().is_empty() {
                    "404 Not Found".into()
                } else {
                    one_line(&message)
                },
            },
            401 | 403 => denied(format!("{code} {}", one_line(&message))),
            _ => Answer::Unreachable {
                registry,
                why: format!("it answered {code}"),
            },
        },
        OciDistributionError::RequestError(e) => Answer::Unreachable {
            registry,
            why: request_failure(&e),
        },
        other => Answer::Unreachable {
            registry,
            why: one_line(&other.to_string()),
        },
    }
}

/// Why a request got no answer, in a few words: the innermost cause.
fn request_failure(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut dns = false;
    let mut cause = e.source();
    while let Some(c) = cause {
        if c.to_string().contains("dns error") {
            dns = true;
        }
        innermost = c;
        cause = c.source();
    }
    if let Some(io) = innermost.downcast_ref::<std::io::Error>() {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
            std::io::ErrorKind::TimedOut => return "the connection timed out".into(),
            std::io::ErrorKind::ConnectionReset => return "the connection was reset".into(),
            _ => {}
        }
    }
    if dns {
        return "its name does not resolve".into();
    }
    let text = innermost.to_string();
    if text.contains("timed out") || text.contains("deadline") {
        "the connection timed out".into()
    } else {
        one_line(&text)
    }
}

fn one_line(text: &str) -> String {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    t.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_asked_over_http() {
        for h in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "registry.local:5000",
            "localhost.example.com",
        ] {
            assert!(!loopback(h), "{h}");
        }
    }
}
