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

pub fn render(namespace: &str, subject: &Subject, read_only: bool) -> String {
    let subject_yaml = match subject.namespace {
        Some(ns) => format!(
            "- kind: {}\n  name: {}\n  namespace: {ns}\n",
            subject.kind, subject.name
        ),
        None => format!(
            "- kind: {}\n  name: {}\n  apiGroup: rbac.authorization.k8s.io\n",
            subject.kind, subject.name
        ),
    };
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
  name: kpreload
  labels: {{app.kubernetes.io/name: kpreload}}
rules:
# Nodes: pools, images on each node, disk and kubelet settings.
- apiGroups: [\"\"]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [\"\"]
  resources: [nodes/proxy]
  verbs: [get]
# Pods everywhere: which pods use an image (cleanup never removes one in use).
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [get, list, watch]
# Events everywhere: the kubelet's words on each workload's image (the hit rate).
- apiGroups: [\"\"]
  resources: [events]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kpreload
  labels: {{app.kubernetes.io/name: kpreload}}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kpreload
subjects:
{subject_yaml}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: kpreload
  namespace: {namespace}
  labels: {{app.kubernetes.io/name: kpreload}}
rules:
# The preloaders and what the kubelet says about their pods.
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [get, list, watch]
- apiGroups: [\"\"]
  resources: [events]
  verbs: [get, list, watch]
{writes}---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kpreload
  namespace: {namespace}
  labels: {{app.kubernetes.io/name: kpreload}}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kpreload
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
        assert!(parse_subject(None, Some("nocolon")).is_err());
    }
}
