//! Applying the scheduled cleanup (its ServiceAccount, roles, bindings and CronJob):
//! server-side apply with the field manager `kpreload` and no force, as the preloaders are.
//! A field another manager set is a conflict, said with who set it; nothing is forced over.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::Value;

use super::api_error;
use super::apply::{Outcome, field_conflicts};
use crate::core::render::MANAGER;

/// The labels the scheduled cleanup's objects carry.
pub const LABELS: &str = "app.kubernetes.io/name=kpreload,app.kubernetes.io/component=cleanup";

/// An object's kind as kubectl prints it (`cronjob.batch`), its API resource and whether it
/// lives in a namespace.
fn resource(kind: &str) -> Option<(&'static str, ApiResource, bool)> {
    Some(match kind {
        "ServiceAccount" => (
            "serviceaccount",
            ApiResource::erase::<ServiceAccount>(&()),
            true,
        ),
        "ClusterRole" => (
            "clusterrole.rbac.authorization.k8s.io",
            ApiResource::erase::<ClusterRole>(&()),
            false,
        ),
        "ClusterRoleBinding" => (
            "clusterrolebinding.rbac.authorization.k8s.io",
            ApiResource::erase::<ClusterRoleBinding>(&()),
            false,
        ),
        "Role" => (
            "role.rbac.authorization.k8s.io",
            ApiResource::erase::<Role>(&()),
            true,
        ),
        "RoleBinding" => (
            "rolebinding.rbac.authorization.k8s.io",
            ApiResource::erase::<RoleBinding>(&()),
            true,
        ),
        "CronJob" => ("cronjob.batch", ApiResource::erase::<CronJob>(&()), true),
        _ => return None,
    })
}

/// What an object says, without what the server keeps about it (managed fields, versions,
/// times, status): equal before and after an apply that changed nothing.
fn said(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.retain(|k, _| ["name", "namespace", "labels", "annotations"].contains(&k.as_str()));
        }
    }
    v
}

/// `cronjob.batch/kpreload-cleanup`.
pub fn title(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let shown = resource(kind).map(|r| r.0).unwrap_or(kind);
    format!(
        "{shown}/{}",
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Applies one object (or asks the server what it would do, with `dry_run`).
pub async fn apply(
    client: &kube::Client,
    object: &Value,
    dry_run: bool,
) -> Result<Outcome, String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let Some((_, ar, namespaced)) = resource(kind) else {
        return Err(format!("kpreload does not apply {kind} objects"));
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let title = title(object);
    let api: Api<DynamicObject> = if namespaced {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("kube-system");
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let before = api
        .get_opt(name)
        .await
        .map_err(|e| explain(&e, &title, "read"))?;
    let mut params = PatchParams::apply(MANAGER);
    params.dry_run = dry_run;
    let made = api
        .patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| explain(&e, &title, "apply"))?;
    let made = serde_json::to_value(&made).unwrap_or_default();
    Ok(match before {
        None => Outcome::Created,
        Some(b) if said(&serde_json::to_value(&b).unwrap_or_default()) == said(&made) => {
            Outcome::Unchanged
        }
        Some(_) => Outcome::Configured,
    })
}

fn explain(e: &kube::Error, title: &str, verb: &str) -> String {
    // The role `kpreload rbac` prints cannot write RBAC (it would let its holder grant
    // itself more): pointing there would not help.
    if let kube::Error::Api(s) = e
        && s.code == 403
    {
        return format!(
            "Not allowed to {verb} {title}{} (403 Forbidden): the scheduled cleanup's account, roles and CronJob are a cluster administrator's to apply. Apply the file as one, or leave its cleanup: section out",
            super::forbidden_because(&s.message)
        );
    }
    if let kube::Error::Api(s) = e
        && s.code == 409
    {
        let (managers, fields) = field_conflicts(&s.message);
        if !managers.is_empty() {
            let managers: Vec<&str> = managers.iter().map(String::as_str).collect();
            return format!(
                "{title} has fields that {} set ({}); kpreload does not write over them. Put them back as the file has them, or delete {title}, then apply again",
                managers.join(", "),
                fields.join(", ")
            );
        }
    }
    api_error(e, &format!("{verb} {title}"))
}

/// kpreload's scheduled cleanups in the namespace, by their labels.
async fn listed(client: &kube::Client, namespace: &str) -> Result<Vec<CronJob>, String> {
    let api: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default().labels(LABELS))
        .await
        .map(|l| l.items)
        .map_err(|e| api_error(&e, &format!("list the CronJobs in {namespace}")))
}

/// Which pools the namespace's scheduled cleanups clean: for each of kpreload's CronJobs
/// there that is not suspended, the pool its `--pool` names, or None for every pool.
pub async fn cleaned(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<Option<String>>, String> {
    Ok(listed(client, namespace)
        .await?
        .iter()
        .filter(|c| c.spec.suspend != Some(true))
        .map(|c| {
            let args = c
                .spec
                .job_template
                .spec
                .as_ref()
                .and_then(|j| j.template.spec.as_ref())
                .and_then(|p| p.containers.first())
                .and_then(|c| c.args.clone())
                .unwrap_or_default();
            args.iter()
                .position(|a| a == "--pool")
                .and_then(|i| args.get(i + 1).cloned())
                .or_else(|| {
                    args.iter()
                        .find_map(|a| a.strip_prefix("--pool=").map(str::to_string))
                })
        })
        .collect())
}

/// The names of the scheduled cleanup's CronJobs in the namespace; None when they cannot be
/// read (the account may not list CronJobs: this only adds a hint).
pub async fn cronjobs(client: &kube::Client, namespace: &str) -> Option<Vec<String>> {
    let listed = listed(client, namespace).await.ok()?;
    Some(listed.into_iter().filter_map(|c| c.metadata.name).collect())
}
