//! Writing preloaders: server-side apply with the field manager `kpreload` and no force,
//! always after a server-side dry run, with the resourceVersion a person reviewed as the
//! precondition; deletion with uid and resourceVersion preconditions. A conflict comes
//! back as who changed what, read from the object as it is now.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};

use super::api_error;
use crate::core::edit::{diff, readable_yaml};
use crate::core::render::MANAGER;

/// What an apply did to one DaemonSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Someone else got there first: who, and what they changed or own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// One sentence.
    pub summary: String,
    /// Field managers, with how and when they wrote: `kubectl-edit (Update, 10:01:02Z)`.
    pub managers: Vec<String>,
    /// What differs, as diff lines (`- …`, `+ …`), or the fields another manager owns.
    pub changes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    Conflict(Conflict),
    /// Anything else, in a sentence or two.
    Failed(String),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Conflict(c) => {
                write!(f, "{}", c.summary)?;
                for m in &c.changes {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
            ApplyError::Failed(s) => write!(f, "{s}"),
        }
    }
}

fn api(client: &kube::Client, ds: &DaemonSet) -> Api<DaemonSet> {
    let ns = ds.metadata.namespace.as_deref().unwrap_or("kube-system");
    Api::namespaced(client.clone(), ns)
}

fn name_of(ds: &DaemonSet) -> String {
    ds.metadata.name.clone().unwrap_or_default()
}

/// The DaemonSet as it is now; None when there is none.
pub async fn get(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<DaemonSet>, String> {
    Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| api_error(&e, &format!("read the DaemonSet {namespace}/{name}")))
}

fn params(dry_run: bool) -> PatchParams {
    let mut p = PatchParams::apply(MANAGER);
    p.dry_run = dry_run;
    p
}

/// Whether the cluster runs the rendered preloader's sidecar (Kubernetes 1.29 and later);
/// a version that cannot be read is let through.
async fn sidecars_run(client: &kube::Client) -> Result<(), ApplyError> {
    match client.apiserver_version().await {
        Ok(v) => crate::core::render::sidecars_run_on(&v.major, &v.minor, &v.git_version)
            .map_err(ApplyError::Failed),
        Err(_) => Ok(()),
    }
}

/// Applies `desired` over `seen` (the object a person reviewed; None: it must not exist):
/// a dry run first, then (unless `dry_run`) the apply itself, both with `seen`'s
/// resourceVersion as the precondition. Returns the outcome and the object the server made.
pub async fn apply(
    client: &kube::Client,
    desired: &DaemonSet,
    seen: Option<&DaemonSet>,
    dry_run: bool,
) -> Result<(Outcome, DaemonSet), ApplyError> {
    sidecars_run(client).await?;
    let api = api(client, desired);
    let name = name_of(desired);
    let mut body = desired.clone();
    body.metadata.managed_fields = None;
    body.status = None;
    body.metadata.resource_version = seen.and_then(|s| s.metadata.resource_version.clone());
    if seen.is_none() {
        // Nothing was there at preview: if something is now, it is someone else's.
        if let Some(now) = api
            .get_opt(&name)
            .await
            .map_err(|e| ApplyError::Failed(api_error(&e, &format!("read the DaemonSet {name}"))))?
        {
            return Err(ApplyError::Conflict(created_meanwhile(&name, &now)));
        }
    }
    // The status moves the resourceVersion all the time (a rollout updates it every few
    // seconds): when only the status changed since `seen`, the reviewed object is still the
    // one there, and the precondition is renewed. Anything else is a conflict.
    let mut current = seen.cloned();
    for _ in 0..5 {
        body.metadata.resource_version = current
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone());
        let mut result = Ok(None);
        for dry in [true, false] {
            if !dry && dry_run {
                break;
            }
            match api.patch(&name, &params(dry), &Patch::Apply(&body)).await {
                Ok(obj) => result = Ok(Some(obj)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        match result {
            Ok(made) => {
                let made = made.expect("the dry run ran");
                let outcome = match &current {
                    None => Outcome::Created,
                    Some(s) if readable_yaml(s) == readable_yaml(&made) => Outcome::Unchanged,
                    Some(_) => Outcome::Configured,
                };
                return Ok((outcome, made));
            }
            Err(e) => {
                let stale = matches!(&e, kube::Error::Api(s) if s.code == 409
                    && field_conflicts(&s.message).0.is_empty());
                if stale && let Some(before) = &current {
                    let ns = desired
                        .metadata
                        .namespace
                        .as_deref()
                        .unwrap_or("kube-system");
                    if let Ok(Some(live)) = get(client, ns, &name).await
                        && readable_yaml(&live) == readable_yaml(before)
                        && managers(&live, Some(before)).is_empty()
                    {
                        current = Some(live);
                        continue;
                    }
                }
                return Err(explain(client, &e, &name, seen, desired, "apply").await);
            }
        }
    }
    Err(ApplyError::Failed(format!(
        "{name} kept changing while kpreload applied; try again in a moment."
    )))
}

/// Replaces the hand-written preloader `old` (as a person reviewed it) by its rendered form
/// `desired`. `old` must still be what was reviewed, apart from its status (its uid and
/// resourceVersion are the deletion's preconditions). Under another name the new one is
/// created first and the old one deleted after; under the same name the old one must go
/// first, so a failure in between leaves the pool without a preloader (said plainly).
pub(crate) async fn convert(
    client: &kube::Client,
    old: &DaemonSet,
    desired: &DaemonSet,
) -> Result<DaemonSet, ApplyError> {
    sidecars_run(client).await?;
    let old_name = name_of(old);
    let same_name = old_name == name_of(desired);
    let ns = old.metadata.namespace.clone().unwrap_or_default();
    // The status moves all the time; anything else is someone's change.
    let Some(now) = get(client, &ns, &old_name)
        .await
        .map_err(ApplyError::Failed)?
    else {
        return Err(deleted_since(&old_name));
    };
    if now.metadata.uid != old.metadata.uid || readable_yaml(&now) != readable_yaml(old) {
        return Err(changed_since(&old_name, old, &now));
    }
    if let Err(e) = delete_unchanged(client, &now, true).await {
        return Err(e.explain(client, &old_name, old, desired).await);
    }
    if !same_name {
        let (_, made) = apply(client, desired, None, false).await?;
        let new_name = name_of(desired);
        let left = match delete_unchanged(client, &now, false).await {
            Ok(()) | Err(DeleteFailed::Gone) => return Ok(made),
            Err(DeleteFailed::Api(e)) => format!(
                "{new_name} was created, but the hand-written {old_name} could not be deleted: {}; both now preload the pool's images. Delete {old_name} with kubectl.",
                api_error(&e, &format!("delete {old_name}"))
            ),
            Err(DeleteFailed::Refused(e)) => {
                let by = match &e {
                    ApplyError::Conflict(c) if !c.managers.is_empty() => c.managers.join(", "),
                    _ => "someone".to_string(),
                };
                format!(
                    "{new_name} was created, but the hand-written {old_name} was changed by {by} meanwhile and was left as it is; both now preload the pool's images. Look at {old_name} and delete it with kubectl."
                )
            }
        };
        return Err(ApplyError::Failed(left));
    }
    if let Err(e) = delete_unchanged(client, &now, false).await {
        return Err(e.explain(client, &old_name, old, desired).await);
    }
    // A DaemonSet of the same name may take a moment to go.
    let mut last = None;
    for _ in 0..50 {
        match apply(client, desired, None, false).await {
            Ok((_, made)) => return Ok(made),
            Err(e @ ApplyError::Conflict(_)) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(half_done(&old_name, e)),
        }
    }
    Err(half_done(
        &old_name,
        last.unwrap_or(ApplyError::Failed("it did not go".into())),
    ))
}

/// `name` is no longer there: someone deleted it after it was shown.
fn deleted_since(name: &str) -> ApplyError {
    ApplyError::Conflict(Conflict {
        summary: format!("{name} was deleted since it was shown; nothing was changed."),
        managers: Vec::new(),
        changes: Vec::new(),
    })
}

/// `name` differs from what was shown (`seen`) in more than its status.
fn changed_since(name: &str, seen: &DaemonSet, now: &DaemonSet) -> ApplyError {
    let who = managers(now, Some(seen));
    let changes: Vec<String> = diff(&readable_yaml(seen), &readable_yaml(now), 0)
        .into_iter()
        .filter(|l| l.sign == '-' || l.sign == '+')
        .map(|l| format!("{} {}", l.sign, l.text.trim()))
        .take(12)
        .collect();
    let by = if who.is_empty() {
        "someone".to_string()
    } else {
        who.join(", ")
    };
    ApplyError::Conflict(Conflict {
        summary: format!(
            "{name} was changed by {by} since kpreload read it; nothing was changed and their change stands. \
             Start again from the new state (in the TUI: e reopens the editor on it)."
        ),
        managers: who,
        changes,
    })
}

fn half_done(old: &str, e: ApplyError) -> ApplyError {
    ApplyError::Failed(format!(
        "The hand-written preloader {old} was deleted but its replacement could not be created: {e} \
         The pool has no preloader now: apply again to create it (in the TUI, p then y: the draft is kept; \
         from the command line, the same kpreload apply)."
    ))
}

/// Deletes a preloader if it is still the one a person confirmed (uid and resourceVersion).
pub async fn delete(client: &kube::Client, seen: &DaemonSet) -> Result<(), ApplyError> {
    if seen.metadata.resource_version.is_none() {
        return Err(ApplyError::Failed(
            "no resourceVersion to delete against".into(),
        ));
    }
    let name = name_of(seen);
    match delete_unchanged(client, seen, false).await {
        Ok(()) | Err(DeleteFailed::Gone) => Ok(()),
        Err(DeleteFailed::Api(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        Err(e) => Err(e.explain(client, &name, seen, seen).await),
    }
}

/// Why [`delete_unchanged`] did not delete.
enum DeleteFailed {
    /// The API server's answer.
    Api(kube::Error),
    /// The object is no longer what was seen, in more than its status.
    Refused(ApplyError),
    /// It was deleted meanwhile.
    Gone,
}

impl DeleteFailed {
    async fn explain(
        self,
        client: &kube::Client,
        name: &str,
        seen: &DaemonSet,
        desired: &DaemonSet,
    ) -> ApplyError {
        match self {
            DeleteFailed::Api(e) => explain(client, &e, name, Some(seen), desired, "delete").await,
            DeleteFailed::Refused(e) => e,
            DeleteFailed::Gone => deleted_since(name),
        }
    }
}

/// Deletes the DaemonSet `seen` if it is still what was seen apart from its status. Its uid
/// and resourceVersion are the preconditions; the DaemonSet controller writes the status on
/// every pod change, so on a busy pool the resourceVersion has often moved by the time the
/// delete arrives. A failed precondition is read again: while only the status differs the
/// delete is retried against the new resourceVersion, otherwise it is refused with what
/// changed and who changed it.
async fn delete_unchanged(
    client: &kube::Client,
    seen: &DaemonSet,
    dry_run: bool,
) -> Result<(), DeleteFailed> {
    let name = name_of(seen);
    let ns = seen.metadata.namespace.as_deref().unwrap_or("kube-system");
    let api = api(client, seen);
    let mut version = seen.metadata.resource_version.clone();
    for _ in 0..10 {
        let params = DeleteParams {
            dry_run,
            preconditions: Some(Preconditions {
                uid: seen.metadata.uid.clone(),
                resource_version: version.clone(),
            }),
            ..Default::default()
        };
        let e = match api.delete(&name, &params).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
            return Err(DeleteFailed::Api(e));
        }
        match get(client, ns, &name).await {
            Ok(Some(now))
                if now.metadata.uid == seen.metadata.uid
                    && readable_yaml(&now) == readable_yaml(seen) =>
            {
                version = now.metadata.resource_version.clone();
            }
            Ok(Some(now)) => return Err(DeleteFailed::Refused(changed_since(&name, seen, &now))),
            Ok(None) => return Err(DeleteFailed::Gone),
            Err(_) => return Err(DeleteFailed::Api(e)),
        }
    }
    Err(DeleteFailed::Refused(ApplyError::Failed(format!(
        "{name} kept changing while kpreload deleted it; nothing was deleted. Try again in a moment."
    ))))
}

fn created_meanwhile(name: &str, now: &DaemonSet) -> Conflict {
    Conflict {
        summary: format!(
            "The DaemonSet {name} was created by someone else since kpreload looked; nothing was changed. \
             Start again from it."
        ),
        managers: managers(now, None),
        changes: Vec::new(),
    }
}

/// Turns an error into sentences; a 409 is read against the object as it is now.
/// The rendered cleanup container's name.
const CLEANUP: &str = "cleanup";

async fn explain(
    client: &kube::Client,
    e: &kube::Error,
    name: &str,
    seen: Option<&DaemonSet>,
    desired: &DaemonSet,
    verb: &str,
) -> ApplyError {
    let doing = format!("{verb} the DaemonSet {name}");
    let kube::Error::Api(status) = e else {
        return ApplyError::Failed(api_error(e, &doing));
    };
    if status.code == 422
        && status.message.contains("Duplicate value")
        && status.message.contains(&format!("\"{CLEANUP}\""))
    {
        // An older kpreload ran the cleanup container after the pulls (a main container);
        // now it is a sidecar beside them. Server-side apply removes the old one only where
        // kpreload wrote it: one written by another tool stays, and the name is taken twice.
        return ApplyError::Failed(format!(
            "Nothing was changed: {name} still has an older kpreload's cleanup container among its \
             main containers, written by another tool (kubectl apply?), which kpreload's apply \
             cannot remove. Apply the new render the way the DaemonSet was written \
             (kpreload render | kubectl apply -f -), or delete the DaemonSet and apply again."
        ));
    }
    if status.code != 409 {
        return ApplyError::Failed(api_error(e, &doing));
    }
    let owners = field_conflicts(&status.message);
    if !owners.0.is_empty() {
        let who = owners.0.iter().cloned().collect::<Vec<_>>().join(", ");
        return ApplyError::Conflict(Conflict {
            summary: format!(
                "Nothing was changed: {who} own{} fields of {name} this change would set differently. \
                 Change them with that tool, or hand them over (remove them there) and apply again.",
                if owners.0.len() == 1 { "s" } else { "" }
            ),
            managers: owners.0.into_iter().collect(),
            changes: owners.1,
        });
    }
    let ns = desired
        .metadata
        .namespace
        .as_deref()
        .unwrap_or("kube-system");
    let live = get(client, ns, name).await.ok().flatten();
    match (live, seen) {
        (Some(live), Some(seen)) => changed_since(name, seen, &live),
        (None, Some(_)) => ApplyError::Conflict(Conflict {
            summary: format!(
                "{name} was deleted since kpreload read it; nothing was applied. Start again to create it anew."
            ),
            managers: Vec::new(),
            changes: Vec::new(),
        }),
        _ => ApplyError::Failed(api_error(e, &doing)),
    }
}

/// The managers whose entries in `live`'s managedFields are new or changed since `seen`
/// (all of them when nothing was seen), with operation and time; status writers left out.
pub fn managers(live: &DaemonSet, seen: Option<&DaemonSet>) -> Vec<String> {
    let entry = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry| {
        (
            m.manager.clone().unwrap_or_default(),
            m.operation.clone().unwrap_or_default(),
            m.time.as_ref().map(|t| t.0.to_string()).unwrap_or_default(),
            m.fields_v1.as_ref().map(|f| f.0.to_string()),
        )
    };
    let before: BTreeSet<_> = seen
        .and_then(|s| s.metadata.managed_fields.as_ref())
        .into_iter()
        .flatten()
        .map(entry)
        .collect();
    let mut out: Vec<String> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        // Status writers (the DaemonSet controller) change nothing a person edits.
        .filter(|m| m.subresource.as_deref() != Some("status"))
        .map(entry)
        .filter(|e| !before.contains(e))
        .map(|(m, op, time, _)| {
            if time.is_empty() {
                format!("{m} ({op})")
            } else {
                format!("{m} ({op}, {time})")
            }
        })
        .collect();
    out.dedup();
    out
}

/// The managers and field paths of a server-side apply conflict message:
/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec…`.
pub(crate) fn field_conflicts(message: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut managers = BTreeSet::new();
    let mut fields = Vec::new();
    if !message.starts_with("Apply failed with") {
        return (managers, fields);
    }
    let mut rest = message;
    while let Some(at) = rest.find("with \"") {
        let after = &rest[at + 6..];
        let Some(end) = after.find('"') else { break };
        managers.insert(after[..end].to_string());
        rest = &after[end + 1..];
    }
    for line in message.lines() {
        let line = line.trim();
        if let Some(f) = line.strip_prefix("- ") {
            fields.push(f.to_string());
        } else if let Some(at) = line.rfind(": .") {
            fields.push(line[at + 2..].to_string());
        }
    }
    (managers, fields)
}

/// An Event on a preloader for audit (reason `PreloaderApplied`, `PreloaderConverted`,
/// `PreloaderDeleted`), in its namespace, where kpreload's role may create Events.
pub async fn record(
    client: &kube::Client,
    ds: &DaemonSet,
    reason: &str,
    message: &str,
) -> Result<(), String> {
    use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let name = name_of(ds);
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond() as u64)),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("DaemonSet".into()),
            name: Some(name),
            namespace: Some(namespace.clone()),
            uid: ds.metadata.uid.clone(),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.chars().take(1000).collect()),
        type_: Some("Normal".into()),
        source: Some(EventSource {
            component: Some(MANAGER.into()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        reporting_component: Some(MANAGER.into()),
        reporting_instance: Some(MANAGER.into()),
        action: Some(reason.trim_start_matches("Preloader").into()),
        count: Some(1),
        ..Default::default()
    };
    Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &event)
        .await
        .map(|_| ())
        .map_err(|e| api_error(&e, &format!("record an Event in {namespace}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_messages_name_managers_and_fields() {
        let (m, f) = field_conflicts(
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.initContainers[name=\"preload-nginx\"].image",
        );
        assert_eq!(m.into_iter().collect::<Vec<_>>(), ["kubectl-edit"]);
        assert_eq!(
            f,
            [".spec.template.spec.initContainers[name=\"preload-nginx\"].image"]
        );
        let (m, f) = field_conflicts(
            "Apply failed with 2 conflicts: conflicts with \"helm\":\n- .spec.a\n- .spec.b",
        );
        assert_eq!(m.into_iter().collect::<Vec<_>>(), ["helm"]);
        assert_eq!(f, [".spec.a", ".spec.b"]);
        let (m, _) = field_conflicts("the object has been modified");
        assert!(m.is_empty());
    }
}
