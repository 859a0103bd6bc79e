//! Cluster access: kube-rs over HTTP and nothing else. A kubeconfig (or the built-in demo
//! cluster) becomes a client; watches feed owned snapshots to whoever reads them.

pub mod apply;
pub mod kubelet;
pub mod pulls;
pub mod removal;
pub mod scheduled;
pub mod starts;
pub mod trim;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::Api;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

/// The preloaders' namespace when none is given.
pub(crate) const DEFAULT_NAMESPACE: &str = "kube-system";

/// The demo scenario, embedded so `kpreload demo` runs from any directory.
#[cfg(feature = "demo")]
pub(crate) const DEMO_SCENARIO: &str = include_str!("../../config/scenarios/demo.yaml");

/// Where to connect.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// The built-in simulated cluster instead of a kubeconfig.
    pub demo: bool,
    /// The demo cluster's seed (generated names, pull-time jitter); the same seed tells the
    /// same story.
    pub seed: Option<u64>,
}

/// The demo's seed when none is given.
#[cfg(feature = "demo")]
pub(crate) const DEMO_SEED: u64 = 0x6b70_7265_6c6f_6164;

/// A client and what the header says about it.
pub struct Connection {
    pub client: kube::Client,
    pub context: String,
    pub cluster: String,
    pub server: String,
    /// The preloaders' namespace.
    pub namespace: String,
    /// The in-process simulator of `kpreload demo`, kept alive with the connection.
    pub demo: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Connection {
    /// The demo's simulated registry (`HOST:PORT`, beside its API server) for `registry`
    /// to ask instead of the images' own; nothing for a real cluster.
    pub fn demo_registry(&self, registry: Option<&crate::registry::Registry>) {
        if let (Some(_), Some(registry)) = (&self.demo, registry)
            && let Some(host) = self.server.strip_prefix("http://")
        {
            registry.mirror_to(host.trim_end_matches('/'));
        }
    }
}

/// Connects: reads the kubeconfig (or starts the demo cluster) and builds a client. Nothing is
/// sent to the API yet; the watches find out whether it answers.
pub async fn connect(target: &Target) -> anyhow::Result<Connection> {
    if target.demo {
        return connect_demo(target).await;
    }
    let (file, source) = match &target.kubeconfig {
        Some(path) => (
            Kubeconfig::read_from(path).map_err(|e| kubeconfig_problem(&e, Some(path)))?,
            path.display().to_string(),
        ),
        None => match Kubeconfig::read() {
            Ok(file) => (file, "the kubeconfig".to_string()),
            // In a pod (a CronJob's cleanup) with no kubeconfig: its service account's token
            // and CA, as kubectl does.
            Err(_) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                return connect_in_cluster(target).await;
            }
            Err(e) => return Err(kubeconfig_problem(&e, None)),
        },
    };
    connect_with(file, &source, target, None).await
}

/// The pod's own service account: its token and CA under
/// /var/run/secrets/kubernetes.io/serviceaccount, the API server at
/// $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
async fn connect_in_cluster(target: &Target) -> anyhow::Result<Connection> {
    let config = kube::Config::incluster().map_err(|e| {
        anyhow::anyhow!(
            "no kubeconfig, and this pod's service account cannot be read ({e}); mount its token (automountServiceAccountToken) or pass --kubeconfig"
        )
    })?;
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("cannot build a client for {server}: {e}"))?;
    let namespace = target.namespace.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .map(|n| n.trim().to_string())
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
    });
    Ok(Connection {
        client,
        context: "in-cluster".into(),
        cluster: "in-cluster".into(),
        server,
        namespace,
        demo: None,
    })
}

async fn connect_with(
    file: Kubeconfig,
    source: &str,
    target: &Target,
    demo: Option<Arc<dyn std::any::Any + Send + Sync>>,
) -> anyhow::Result<Connection> {
    let context = target
        .context
        .clone()
        .or_else(|| file.current_context.clone())
        .ok_or_else(|| anyhow::anyhow!("{source} sets no current context; pass --context NAME"))?;
    let Some(named) = file.contexts.iter().find(|c| c.name == context) else {
        let known: Vec<&str> = file.contexts.iter().map(|c| c.name.as_str()).collect();
        anyhow::bail!(
            "{source} has no context named {context:?}; it has: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let cluster = named
        .context
        .as_ref()
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| anyhow::anyhow!("{}", kubeconfig_problem(&e, None)))?;
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("cannot build a client for {server}: {e}"))?;
    Ok(Connection {
        client,
        context,
        cluster,
        server,
        namespace: target
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        demo,
    })
}

/// Starts the built-in simulated cluster on a loopback port and connects to it over HTTP.
#[cfg(feature = "demo")]
async fn connect_demo(target: &Target) -> anyhow::Result<Connection> {
    use kpreload_sim as sim;
    let scenario = sim::scenario::parse(DEMO_SCENARIO, "demo.yaml")
        .map_err(|e| anyhow::anyhow!("the built-in demo scenario is broken: {e}"))?;
    let simulator = sim::build(scenario, target.seed.unwrap_or(DEMO_SEED))
        .map_err(|e| anyhow::anyhow!("the built-in demo scenario is broken: {e}"))?;
    let running = sim::start(simulator.clone(), "127.0.0.1:0".parse()?).await?;
    let file = Kubeconfig::from_yaml(&sim::kubeconfig::kubeconfig(&running.url()))
        .map_err(|e| anyhow::anyhow!("the demo kubeconfig is broken: {e}"))?;
    // The server task lives as long as the runtime; the simulator as long as the connection.
    std::mem::forget(running);
    let target = Target {
        context: None,
        ..target.clone()
    };
    connect_with(file, "the demo kubeconfig", &target, Some(simulator)).await
}

#[cfg(not(feature = "demo"))]
async fn connect_demo(_: &Target) -> anyhow::Result<Connection> {
    anyhow::bail!(
        "this kpreload was built without its demo cluster (the cargo feature `demo`); build it \
         with the default features to use `kpreload demo` or --demo"
    )
}

/// One sentence for what is wrong with a kubeconfig, and what to do.
fn kubeconfig_problem(e: &KubeconfigError, path: Option<&Path>) -> anyhow::Error {
    let place = path.map_or_else(|| "the kubeconfig".to_string(), |p| p.display().to_string());
    match e {
        // A build without the simulator (`--no-default-features`) has no demo to offer.
        KubeconfigError::FindPath if cfg!(feature = "demo") => anyhow::anyhow!(
            "no kubeconfig found: pass --kubeconfig FILE or set KUBECONFIG (or try `kpreload demo`)"
        ),
        KubeconfigError::FindPath => {
            anyhow::anyhow!("no kubeconfig found: pass --kubeconfig FILE or set KUBECONFIG")
        }
        KubeconfigError::ReadConfig(io, p) => anyhow::anyhow!(
            "cannot read the kubeconfig {}: {}",
            p.display(),
            crate::core::pools::io_reason(io)
        ),
        KubeconfigError::Parse(p) => {
            anyhow::anyhow!("{place} is not a valid kubeconfig: {p}")
        }
        KubeconfigError::LoadContext(c) => {
            anyhow::anyhow!("{place} has no context named {c:?}; pass one it has with --context")
        }
        KubeconfigError::LoadClusterOfContext(c) => anyhow::anyhow!(
            "{place} names a cluster {c:?} it does not define; fix the context or pick another with --context"
        ),
        KubeconfigError::MissingClusterUrl => {
            anyhow::anyhow!("{place}: the context's cluster has no server address")
        }
        KubeconfigError::ParseClusterUrl(u) => {
            anyhow::anyhow!("{place}: the cluster's server address is not a URL ({u})")
        }
        other => anyhow::anyhow!("{place} cannot be used: {other}"),
    }
}

/// One sentence for a failed API call.
/// What a 403 says was refused, in the API server's words (`User "ann" cannot delete
/// resource "daemonsets" in API group "apps" in the namespace "ops"`), which names the verb
/// and the place; nothing when it says nothing of the kind. Control characters are dropped
/// and it is kept short: the words come from the server.
pub(crate) fn forbidden_because(message: &str) -> String {
    let Some((_, why)) = message.split_once("forbidden: ") else {
        return String::new();
    };
    let why: String = why
        .trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if why.is_empty() {
        String::new()
    } else {
        format!(": {why}")
    }
}

pub(crate) fn api_error(e: &kube::Error, doing: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "Not allowed to {doing}{} (403 Forbidden); `kpreload rbac` prints the role kpreload needs.",
            forbidden_because(&s.message)
        ),
        kube::Error::Api(s) if s.code == 401 => format!(
            "The cluster does not accept these credentials (401) to {doing}; log in again or \
             check the kubeconfig's user."
        ),
        kube::Error::Api(s) if s.code == 404 => {
            format!("Could not {doing}: not found (404). Is the namespace right?")
        }
        kube::Error::Api(s) if s.code == 429 => format!(
            "The API server asked to slow down (429) while trying to {doing}; try again in a moment."
        ),
        kube::Error::Api(s) if s.code >= 500 => format!(
            "The API server failed ({} {}) while trying to {doing}; try again.",
            s.code, s.message
        ),
        kube::Error::Api(s) => format!("Could not {doing}: {} ({}).", s.message, s.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => format!(
            "Cannot reach the API server to {doing}; is it up, and is the kubeconfig's address right?"
        ),
        other => format!("Could not {doing}: {other}."),
    }
}

/// Every object of a list, page by page (500 at a time).
pub(crate) async fn list_all<K>(api: Api<K>, doing: &str) -> Result<Vec<Arc<K>>, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    list_with(&api, ListParams::default(), doing, |_| {}).await
}

/// Every object of a list with these selectors, page by page (500 at a time), each object
/// trimmed by `trim` as its page arrives (so only what is kept is held). A list whose
/// continue token has expired (410) starts again, at most three times, as kubectl does.
pub(crate) async fn list_with<K>(
    api: &Api<K>,
    params: ListParams,
    doing: &str,
    trim: impl Fn(&mut K),
) -> Result<Vec<Arc<K>>, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    list_fold(api, params, doing, Vec::new, |out, mut o| {
        trim(&mut o);
        out.push(Arc::new(o));
    })
    .await
}

/// A list folded object by object into what `each` keeps of it, page by page (500 at a
/// time), so that no page outlives its reading. A list whose continue token has expired
/// (410) starts again from `start()`, at most three times, as kubectl does.
pub(crate) async fn list_fold<K, A>(
    api: &Api<K>,
    params: ListParams,
    doing: &str,
    start: impl Fn() -> A,
    mut each: impl FnMut(&mut A, K),
) -> Result<A, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let first = params.limit(500);
    let mut restarts = 0;
    'list: loop {
        let mut out = start();
        let mut params = first.clone();
        loop {
            let page = match api.list(&params).await {
                Ok(page) => page,
                Err(kube::Error::Api(s))
                    if s.code == 410 && params.continue_token.is_some() && restarts < 3 =>
                {
                    restarts += 1;
                    continue 'list;
                }
                Err(e) => return Err(api_error(&e, doing)),
            };
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            for o in page.items {
                each(&mut out, o);
            }
            match next {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forbidden_because;

    #[test]
    fn a_refusal_names_the_verb_and_place_the_server_named() {
        assert_eq!(
            forbidden_because(
                "daemonsets.apps \"web\" is forbidden: User \"ann\" cannot delete resource \"daemonsets\" in API group \"apps\" in the namespace \"ops\""
            ),
            ": User \"ann\" cannot delete resource \"daemonsets\" in API group \"apps\" in the namespace \"ops\""
        );
        assert_eq!(
            forbidden_because("forbidden: User \"system:anonymous\" cannot get path \"/api\""),
            ": User \"system:anonymous\" cannot get path \"/api\""
        );
        // A server that says nothing of the kind adds nothing; one that says too much is cut,
        // and cannot move the cursor.
        assert_eq!(forbidden_because("no"), "");
        assert_eq!(forbidden_because("x is forbidden: "), "");
        let long = format!("x is forbidden: \u{1b}[2J{}", "a".repeat(1000));
        let said = forbidden_because(&long);
        assert!(!said.contains('\u{1b}'));
        assert_eq!(said.chars().count(), 2 + 300);
    }
}
