//! The editor's work outside the update step: the preview (the live DaemonSet, the server's
//! dry run, or the pools file; the kubelets' free space), apply, conversion, deletion, the
//! file's write, and the audit Events. The loop runs [`perform`] in a task; tests call it.

use std::collections::HashMap;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::DaemonSet;

use super::{Done, Previewed, Work};
use crate::cluster::apply::{self, ApplyError, Conflict};
use crate::core::adopt::read_preloader;
use crate::core::edit;
use crate::core::gitops;
use crate::core::pools::{Pool, PoolsFile};
use crate::core::reference::ImageRef;

/// Does the work the editor asked for, and says how it went.
pub async fn perform(client: &kube::Client, work: Work) -> Done {
    match work {
        Work::Preview {
            pool,
            original,
            namespace,
            daemonset,
            new: _,
            file,
            nodes,
        } => Done::Previewed(
            preview(
                client,
                &pool,
                original.as_deref(),
                &namespace,
                &daemonset,
                file,
                &nodes,
            )
            .await
            .map(Box::new),
        ),
        Work::Apply {
            desired,
            seen,
            note,
        } => Done::Applied(match apply::apply(client, &desired, seen.as_deref(), false).await {
            Ok((apply::Outcome::Unchanged, made)) => {
                Ok(format!("{} unchanged", made.metadata.name.unwrap_or_default()))
            }
            Ok((outcome, made)) => {
                let name = made.metadata.name.clone().unwrap_or_default();
                let message = format!("{name} {}; following its rollout", outcome.word());
                Ok(audited(client, &made, "PreloaderApplied", &note, message).await)
            }
            Err(e) => Err(e),
        }),
        Work::Convert { old, desired, note } => {
            Done::Applied(match apply::convert(client, &old, &desired).await {
                Ok(made) => {
                    let message = format!(
                        "{} converted to the rendered form; following its rollout",
                        made.metadata.name.clone().unwrap_or_default()
                    );
                    Ok(audited(client, &made, "PreloaderConverted", &note, message).await)
                }
                Err(e) => Err(e),
            })
        }
        Work::WriteFile {
            path,
            before,
            after,
        } => Done::Applied(write_file(&path, &before, &after)),
        Work::Delete {
            namespace,
            name,
            uid,
            spec,
        } => Done::Applied(delete(client, &namespace, &name, uid.as_deref(), spec.as_deref()).await),
        Work::DeleteFromFile { path, pool } => Done::Applied(
            std::fs::read_to_string(&path)
                .map_err(|e| ApplyError::Failed(format!("cannot read {}: {e}", path.display())))
                .and_then(|before| {
                    let after = gitops::remove_pool(&before, &path.display().to_string(), &pool)
                        .map_err(ApplyError::Failed)?;
                    write_file(&path, &before, &after)
                })
                .map(|m| format!("{m}: pool {pool} removed (its preloader goes when your GitOps tool applies it)")),
        ),
    }
}

async fn delete(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
    spec: Option<&k8s_openapi::api::apps::v1::DaemonSetSpec>,
) -> Result<String, ApplyError> {
    let Some(seen) = apply::get(client, namespace, name)
        .await
        .map_err(ApplyError::Failed)?
    else {
        return Ok(format!("{name} was already gone"));
    };
    if uid.is_some() && seen.metadata.uid.as_deref() != uid {
        return Err(ApplyError::Conflict(Conflict {
            summary: format!(
                "{name} was replaced by another DaemonSet of that name since it was shown; nothing was deleted."
            ),
            managers: apply::managers(&seen, None),
            changes: Vec::new(),
        }));
    }
    if spec.is_some_and(|shown| *shown != seen.spec) {
        return Err(ApplyError::Conflict(Conflict {
            summary: format!(
                "{name} changed since it was shown; nothing was deleted. Look at it again first."
            ),
            managers: apply::managers(&seen, None),
            changes: Vec::new(),
        }));
    }
    apply::delete(client, &seen).await?;
    let message = format!("{name} deleted; its pods go, the images stay on the nodes");
    Ok(audited(
        client,
        &seen,
        "PreloaderDeleted",
        "deleted from kpreload",
        message,
    )
    .await)
}

/// Records the audit Event; a failure to record it is said after `message`, and the change
/// stands.
async fn audited(
    client: &kube::Client,
    ds: &DaemonSet,
    reason: &str,
    note: &str,
    message: String,
) -> String {
    let text = if note.is_empty() {
        format!("{reason} by kpreload")
    } else {
        format!("{note} (by kpreload)")
    };
    match apply::record(client, ds, reason, &text).await {
        Ok(()) => message,
        Err(e) => format!("{message} (the audit Event was not recorded: {e})"),
    }
}

fn write_file(path: &std::path::Path, before: &str, after: &str) -> Result<String, ApplyError> {
    let now = std::fs::read_to_string(path)
        .map_err(|e| ApplyError::Failed(format!("cannot read {}: {e}", path.display())))?;
    if now != before {
        return Err(ApplyError::Conflict(Conflict {
            summary: format!(
                "{} changed on disk since the preview; nothing was written. Reopen the editor (e) to start from it.",
                path.display()
            ),
            managers: Vec::new(),
            changes: edit::diff(before, &now, 0)
                .into_iter()
                .filter(|l| l.sign == '-' || l.sign == '+')
                .map(|l| format!("{} {}", l.sign, l.text.trim()))
                .take(12)
                .collect(),
        }));
    }
    gitops::write_atomically(path, after)
        .map_err(|e| ApplyError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(format!("wrote {}", path.display()))
}

async fn preview(
    client: &kube::Client,
    pool: &Pool,
    original: Option<&[ImageRef]>,
    namespace: &str,
    daemonset: &str,
    file: Option<PathBuf>,
    nodes: &[String],
) -> Result<Previewed, ApplyError> {
    let new = original.is_none();
    let (free, free_note) = free_space(client, nodes).await;
    if let Some(path) = file {
        let label = path.display().to_string();
        let before = std::fs::read_to_string(&path)
            .map_err(|e| ApplyError::Failed(format!("cannot read {label}: {e}")))?;
        if let Some(original) = original {
            let now =
                PoolsFile::parse(&before, &label).map_err(|e| ApplyError::Failed(e.to_string()))?;
            let now = now.pools.iter().find(|p| p.name == pool.name);
            changed_meanwhile(
                &pool.name,
                &label,
                original,
                now.map(|p| p.images.as_slice()),
                Vec::new(),
            )?;
        }
        let after = if new {
            gitops::add_pool(&before, &label, pool)
        } else {
            gitops::set_images(&before, &label, &pool.name, &pool.images)
        }
        .map_err(ApplyError::Failed)?;
        return Ok(Previewed {
            diff: edit::diff(&before, &after, 3),
            diff_of: label.clone(),
            work: Work::WriteFile {
                path,
                before,
                after,
            },
            converts: None,
            note: None,
            free,
            free_note,
        });
    }
    let mut live = apply::get(client, namespace, daemonset)
        .await
        .map_err(ApplyError::Failed)?;
    let mut note = None;
    match (&live, original) {
        (Some(_), None) => {
            return Err(ApplyError::Failed(format!(
                "a DaemonSet named {daemonset} already exists in {namespace}; pick another pool name"
            )));
        }
        (Some(ds), Some(original)) => {
            let now = read_preloader(ds)
                .and_then(Result::ok)
                .map(|p| p.pool.images);
            changed_meanwhile(
                &pool.name,
                daemonset,
                original,
                now.as_deref(),
                apply::managers(ds, None),
            )?;
        }
        (None, Some(_)) => {
            // Gone since the editor opened (or a conversion stopped half-way): applying
            // creates the rendered preloader from the draft, if that name is free.
            let rendered = pool.daemonset_name();
            live = apply::get(client, namespace, &rendered)
                .await
                .map_err(ApplyError::Failed)?;
            if live.is_some() {
                return Err(ApplyError::Conflict(Conflict {
                    summary: format!(
                        "{daemonset} is gone and {rendered} exists now; nothing was changed. Reopen the editor on it (e)."
                    ),
                    managers: Vec::new(),
                    changes: Vec::new(),
                }));
            }
            note = Some(format!(
                "{daemonset} is not in the cluster any more: applying creates {rendered} from this draft"
            ));
        }
        (None, None) => {}
    }
    let desired = edit::desired(live.as_ref(), pool, namespace);
    let before = live.as_ref().map(edit::readable_yaml).unwrap_or_default();
    if let (Some(old_name), Some(old)) = (desired.replaces.clone(), live.clone()) {
        return Ok(Previewed {
            diff: edit::diff(&before, &edit::readable_yaml(&desired.daemonset), 3),
            diff_of: format!("DaemonSet {old_name} → {}", pool.daemonset_name()),
            work: Work::Convert {
                old: Box::new(old),
                desired: Box::new(desired.daemonset),
                note: String::new(),
            },
            converts: Some(old_name),
            note,
            free,
            free_note,
        });
    }
    let (_, made) = apply::apply(client, &desired.daemonset, live.as_ref(), true).await?;
    let name = desired.daemonset.metadata.name.clone().unwrap_or_default();
    Ok(Previewed {
        diff: edit::diff(&before, &edit::readable_yaml(&made), 3),
        diff_of: format!("DaemonSet {namespace}/{name} (server-side dry run)"),
        work: Work::Apply {
            desired: Box::new(desired.daemonset),
            seen: live.map(Box::new),
            note: String::new(),
        },
        converts: None,
        note,
        free,
        free_note,
    })
}

/// A conflict when the pool's images are no longer those the editor started from.
fn changed_meanwhile(
    pool: &str,
    place: &str,
    original: &[ImageRef],
    now: Option<&[ImageRef]>,
    managers: Vec<String>,
) -> Result<(), ApplyError> {
    let Some(now) = now else {
        return Err(ApplyError::Conflict(Conflict {
            summary: format!(
                "pool {pool} is not in {place} any more; nothing was changed. Esc, then look again."
            ),
            managers,
            changes: Vec::new(),
        }));
    };
    if now == original {
        return Ok(());
    }
    Err(ApplyError::Conflict(Conflict {
        summary: format!(
            "The images of pool {pool} in {place} changed since the editor opened; nothing was changed, \
             and applying your draft would undo theirs. Reopen the editor on the new list (e)."
        ),
        managers,
        changes: edit::summary(original, now),
    }))
}

/// Free bytes on each node's image file system, from the kubelet's stats (through the API
/// server's node proxy), a few nodes at a time.
async fn free_space(
    client: &kube::Client,
    nodes: &[String],
) -> (HashMap<String, u64>, Option<String>) {
    use futures_util::StreamExt;
    let results: Vec<(String, Result<u64, String>)> =
        futures_util::stream::iter(nodes.iter().cloned())
            .map(|n| async move {
                let path = format!("/api/v1/nodes/{n}/proxy/stats/summary");
                let request = match http::Request::get(&path).body(Vec::new()) {
                    Ok(r) => r,
                    Err(e) => return (n, Err(e.to_string())),
                };
                // A node that does not answer does not hold the preview up.
                let answer = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.request_text(request),
                )
                .await;
                let Ok(answer) = answer else {
                    return (n, Err("a kubelet did not answer within 5 s".to_string()));
                };
                let r = match answer {
                    Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                        .map_err(|e| e.to_string())
                        .and_then(|v| {
                            let node = &v["node"];
                            node["runtime"]["imageFs"]["availableBytes"]
                                .as_u64()
                                .or_else(|| node["fs"]["availableBytes"].as_u64())
                                .ok_or_else(|| "no file system figures".to_string())
                        }),
                    Err(kube::Error::Api(s)) if s.code == 403 => {
                        Err("not allowed to read nodes/proxy (the kubelet's stats)".into())
                    }
                    Err(e) => Err(e.to_string()),
                };
                (n, r)
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let mut free = HashMap::new();
    let mut problems: Vec<String> = Vec::new();
    for (n, r) in results {
        match r {
            Ok(b) => {
                free.insert(n, b);
            }
            Err(e) => {
                if !problems.contains(&e) {
                    problems.push(e);
                }
            }
        }
    }
    let note = (!problems.is_empty())
        .then(|| format!("free space unknown on some nodes: {}", problems.join("; ")));
    (free, note)
}
