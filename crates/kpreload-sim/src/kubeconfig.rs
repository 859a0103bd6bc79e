//! The kubeconfig that points kubectl and kube-rs at a simulator.

pub const CONTEXT: &str = "kpreload-sim";

/// A kubeconfig for a scenario with `users`: the context `kpreload-sim` is the
/// administrator's (`system:masters`), and each user has its own, `kpreload-sim:NAME`.
/// `ca_pem` is the certificate authority of a simulator that serves HTTPS.
pub fn kubeconfig_for(server: &str, users: &[crate::rbac::User], ca_pem: Option<&str>) -> String {
    if users.is_empty() && ca_pem.is_none() {
        return kubeconfig(server);
    }
    let q = |s: &str| serde_json::to_string(s).expect("a string is JSON");
    let mut people = vec![(CONTEXT.to_string(), crate::rbac::ADMIN_TOKEN.to_string())];
    people.extend(
        users
            .iter()
            .map(|u| (format!("{CONTEXT}:{}", u.name), u.token.clone())),
    );
    let mut out = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\n"
    );
    if let Some(pem) = ca_pem {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(pem);
        out += &format!("    certificate-authority-data: {data}\n");
    }
    out += "users:\n";
    for (name, token) in &people {
        out += &format!("- name: {}\n  user:\n    token: {}\n", q(name), q(token));
    }
    out += "contexts:\n";
    for (name, _) in &people {
        out += &format!(
            "- name: {n}\n  context:\n    cluster: {CONTEXT}\n    user: {n}\n    namespace: default\n",
            n = q(name)
        );
    }
    out += &format!("current-context: {CONTEXT}\n");
    out
}

pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server}
users:
- name: {CONTEXT}
  user: {{}}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
"
    )
}
