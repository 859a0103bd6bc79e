//! `kpreload rbac`: the least-privilege RBAC kpreload needs, as YAML for `kubectl apply -f -`.
//! Cluster-wide it only reads (nodes, the kubelet's configz and stats, pods for "used by");
//! it writes only in the preloaders' namespace.

use std::io::Write;

use anyhow::{Result, bail};

pub struct Subject<'a> {
    /// `User` or `ServiceAccount`.
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
}

pub(crate) fn parse_subject<'a>(user: Option<&'a str>, sa: Option<&'a str>) -> Result<Subject<'a>> {
    match (user, sa) {
        (Some(_), Some(_)) => bail!("give --user or --service-account, not both"),
        (None, Some(sa)) => match sa.split_once(':') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok(Subject {
                kind: "ServiceAccount",
                name,
                namespace: Some(ns),
            }),
            _ => bail!("--service-account takes NAMESPACE:NAME, e.g. ops:kpreload; got {sa:?}"),
        },
        (user, None) => Ok(Subject {
            kind: "User",
            name: user.unwrap_or("kpreload"),
            namespace: None,
        }),
    }
}

pub fn run(namespace: &str, subject: &Subject, read_only: bool, out: &mut dyn Write) -> Result<()> {
    out.write_all(render(namespace, subject, read_only).as_bytes())?;
    Ok(())
}

/// The roles' names: the read-only one is its own role, so granting it to one person never
/// takes writes from another.
pub fn role_name(read_only: bool) -> &'static str {
    if read_only {
        "kpreload-read-only"
    } else {
        "kpreload"
    }
}

/// A binding's name: the role and who it binds, so that binding a second user or service
/// account adds a binding instead of taking the first one's place. `/` and `%` cannot be
/// in an object's name; an OIDC user name may have them.
pub fn binding_name(subject: &Subject, read_only: bool) -> String {
    let who = match subject.namespace {
        Some(ns) => format!("serviceaccount:{ns}:{}", subject.name),
        None => format!("user:{}", subject.name),
    };
    let who: String = who
        .chars()
        .map(|c| if c == '/' || c == '%' { '-' } else { c })
        .collect();
    format!("{}:{who}", role_name(read_only))
}

/// `s` as a YAML scalar: plain where YAML reads it back as this very string, else quoted (a
/// JSON string is a YAML string), so a name with `: `, ` #`, quotes or digits only stays one
/// string.
fn yaml_string(s: &str) -> String {
    match serde_yaml::from_str::<serde_yaml::Value>(s) {
        Ok(serde_yaml::Value::String(back)) if back == s => s.to_string(),
        _ => serde_json::to_string(s).expect("a string is JSON"),
    }
}

pub fn render(namespace: &str, subject: &Subject, read_only: bool) -> String {
    let q = yaml_string;
    let subject_yaml = match subject.namespace {
        Some(ns) => format!(
            "- kind: {}\n  name: {}\n  namespace: {}\n",
            subject.kind,
            q(subject.name),
            q(ns)
        ),
        None => format!(
            "- kind: {}\n  name: {}\n  apiGroup: rbac.authorization.k8s.io\n",
            subject.kind,
            q(subject.name)
        ),
    };
    let role = role_name(read_only);
    let binding = q(&binding_name(subject, read_only));
    let namespace = q(namespace);
    let writes = if read_only {
        String::new()
    } else {
        "\
# Edit a pool's images: server-side apply of its preloader; delete one (and replace a
# hand-written one by its rendered form).
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [create, patch, delete]
# Cleanup: run the runtime's tools in a preloader's cleanup container. kube-rs execs over
# WebSocket, a GET: the API server asks for get, and since Kubernetes 1.35 create too.
- apiGroups: [\"\"]
  resources: [pods/exec]
  verbs: [get, create]
# Audit: an Event for every cleanup (about the node) and edit (about the preloader), in
# this namespace.
- apiGroups: [\"\"]
  resources: [events]
  verbs: [create]
"
        .to_string()
    };
    format!(
        "\
# The least privilege kpreload needs{ro}. Apply with: kpreload rbac | kubectl apply -f -
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {role}
  labels: {{app.kubernetes.io/name: kpreload}}
rules:
# Nodes: pools, images on each node, disk and kubelet settings.
- apiGroups: [\"\"]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [\"\"]
  resources: [nodes/proxy]
  verbs: [get]
# Pods everywhere: which pods use an image (cleanup never removes one in use), and the
# preloaders' own.
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [list, watch]
# Events everywhere: the kubelet's words on each workload's image (the hit rate) and on
# the preloaders' pulls.
- apiGroups: [\"\"]
  resources: [events]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {binding}
  labels: {{app.kubernetes.io/name: kpreload}}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {role}
subjects:
{subject_yaml}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {role}
  namespace: {namespace}
  labels: {{app.kubernetes.io/name: kpreload}}
rules:
# The preloaders. (What the kubelet says about their pods is read with the events of every
# namespace, above.)
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [get, list, watch]
# The scheduled cleanup's CronJobs: whether old versions are removed where the kubelet's
# GC is off (check).
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [list]
{writes}---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {binding}
  namespace: {namespace}
  labels: {{app.kubernetes.io/name: kpreload}}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {role}
subjects:
{subject_yaml}",
        ro = if read_only { " to read only" } else { "" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_parses_and_writes_only_in_the_namespace() {
        let s = parse_subject(None, Some("ops:kpreload")).unwrap();
        let text = render("kube-system", &s, false);
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 4);
        let cluster_verbs: Vec<&str> = docs[0]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|r| r["verbs"].as_sequence().unwrap())
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            cluster_verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(v))
        );
        assert_eq!(docs[1]["subjects"][0]["namespace"], "ops");
        let ro = render("kube-system", &s, true);
        assert!(!ro.contains("patch") && !ro.contains("pods/exec"));
        assert!(parse_subject(Some("a"), Some("b:c")).is_err());
    }

    fn docs(text: &str) -> Vec<serde_yaml::Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    }

    fn names(text: &str) -> Vec<String> {
        docs(text)
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_second_subject_or_the_read_only_role_adds_objects_instead_of_replacing_them() {
        let ann = parse_subject(Some("ann"), None).unwrap();
        let bob = parse_subject(Some("bob"), None).unwrap();
        let sa = parse_subject(None, Some("ops:ann")).unwrap();
        let full = names(&render("kube-system", &ann, false));
        assert_eq!(
            full,
            [
                "kpreload",
                "kpreload:user:ann",
                "kpreload",
                "kpreload:user:ann"
            ]
        );
        // Bindings: none of another subject's, or of the read-only role, has the same name.
        let others = [
            names(&render("kube-system", &bob, false)),
            names(&render("kube-system", &sa, false)),
            names(&render("kube-system", &ann, true)),
        ];
        for other in &others {
            assert_ne!(other[1], full[1]);
            assert_ne!(other[3], full[3]);
        }
        // The read-only role is its own role: applying it leaves the full role's rules alone.
        assert_eq!(others[2][0], "kpreload-read-only");
        assert_eq!(
            docs(&render("kube-system", &ann, true))[1]["roleRef"]["name"],
            "kpreload-read-only"
        );
    }

    #[test]
    fn a_name_yaml_would_read_otherwise_stays_one_name() {
        for plain in ["kpreload", "kpreload:user:ann", "ops", "a.b-c"] {
            assert_eq!(yaml_string(plain), plain);
        }
        for odd in [
            "123", "true", "null", "a: b", "a #b", " a", "'q'", "[x]", "",
        ] {
            assert_eq!(yaml_string(odd), serde_json::to_string(odd).unwrap());
        }
        let odd = parse_subject(Some("https://issuer.example/#a: b"), None).unwrap();
        let d = docs(&render("kube-system", &odd, false));
        assert_eq!(d[1]["subjects"][0]["name"], "https://issuer.example/#a: b");
        // An object's name cannot have `/`.
        assert_eq!(
            d[1]["metadata"]["name"],
            "kpreload:user:https:--issuer.example-#a: b"
        );
        assert!(parse_subject(None, Some("nocolon")).is_err());
    }
}
