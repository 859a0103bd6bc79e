//! The resources the simulator serves, as discovery describes them.

/// One served resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub has_status: bool,
    /// Events in both groups are one store: the events.k8s.io view reads the core objects.
    pub store_kind: &'static str,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/apps/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if self.plural == "events" && self.group == "events.k8s.io" {
            &["get", "list", "watch"]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// The OpenAPI definition name of the kind, as the real API server names it.
    pub fn definition(&self) -> String {
        let group = match self.group {
            "" => "core",
            "events.k8s.io" => "events",
            "rbac.authorization.k8s.io" => "rbac",
            g => g,
        };
        format!("io.k8s.api.{group}.{}.{}", self.version, self.kind)
    }
}

pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        has_status: true,
        store_kind: "Namespace",
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        has_status: true,
        store_kind: "Node",
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        has_status: true,
        store_kind: "Pod",
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        has_status: false,
        store_kind: "Event",
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        store_kind: "Secret",
    },
    Resource {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        has_status: false,
        store_kind: "ServiceAccount",
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        plural: "daemonsets",
        singular: "daemonset",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
        has_status: true,
        store_kind: "DaemonSet",
    },
    // Stored and served, not run: the simulator has no Job controller.
    Resource {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        singular: "cronjob",
        namespaced: true,
        short_names: &["cj"],
        categories: &["all"],
        has_status: true,
        store_kind: "CronJob",
    },
    Resource {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        has_status: false,
        store_kind: "Event",
    },
    rbac("Role", "roles", "role", true),
    rbac("ClusterRole", "clusterroles", "clusterrole", false),
    rbac("RoleBinding", "rolebindings", "rolebinding", true),
    rbac(
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
    ),
];

/// One of rbac.authorization.k8s.io/v1's kinds: stored and served like the others, and read
/// by the authorizer for every request of a scenario with `users`.
const fn rbac(
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind,
        plural,
        singular,
        namespaced,
        short_names: &[],
        categories: &[],
        has_status: false,
        store_kind: kind,
    }
}

/// The groups served under `/apis`, with their one version.
pub const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("batch", "v1"),
    ("events.k8s.io", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
];

/// Finds a resource by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds the resource a body's `apiVersion` and `kind` name.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The canonical resource stored under a kind (core events, not the events.k8s.io view).
pub fn stored(store_kind: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.store_kind == store_kind)
        .expect("every stored kind has a resource")
}
