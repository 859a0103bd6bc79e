//! `kpreload render --cronjob`: the scheduled cleanup in the cluster. A CronJob that runs
//! `kpreload cleanup --yes` in the preloaders' namespace, its ServiceAccount, and exactly
//! the RBAC cleanup needs: reading nodes and pods everywhere (what each node holds and what
//! uses it), reading the preloaders, exec into their cleanup containers, and the audit
//! Event of each cleaned node. It cannot change a DaemonSet. `kpreload apply` writes these
//! objects for the pools file's `cleanup:` section (`apply` below).

use anyhow::{Result, bail};

/// What the CronJob is made of.
pub struct CronJobOptions<'a> {
    pub namespace: &'a str,
    /// The image holding the kpreload binary (the Containerfile builds one).
    pub image: &'a str,
    pub schedule: &'a str,
    /// Only this pool's nodes are cleaned (else every pool's).
    pub pool: Option<&'a str>,
}

/// The name of the CronJob, its account and its roles.
pub fn name(pool: Option<&str>) -> String {
    match pool {
        Some(p) => format!("kpreload-cleanup-{p}"),
        None => "kpreload-cleanup".into(),
    }
}

fn check_schedule(schedule: &str) -> Result<()> {
    match crate::core::pools::cron_problem(schedule) {
        Some(p) => bail!("--schedule {p}"),
        None => Ok(()),
    }
}

/// The scheduled cleanup of a pools file: its `cleanup:` section, with what the command line
/// gives over it. None when neither says which image runs it.
pub fn of_file<'a>(
    pools: &'a crate::core::pools::PoolsFile,
    image: Option<&'a str>,
    schedule: Option<&'a str>,
    pool: Option<&'a str>,
) -> Option<CronJobOptions<'a>> {
    let section = pools.cleanup.as_ref();
    Some(CronJobOptions {
        namespace: &pools.namespace,
        image: image.or(section.map(|c| c.image.as_str()))?,
        schedule: schedule
            .or(section.map(|c| c.schedule.as_str()))
            .unwrap_or(crate::core::pools::DEFAULT_CLEANUP_SCHEDULE),
        pool: pool.or(section.and_then(|c| c.pool.as_deref())),
    })
}

/// The rendered objects, one JSON value each, in the order they are applied (the account and
/// its permissions before the CronJob that runs as it).
pub fn objects(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("kpreload's own YAML parses"))
        .collect()
}

/// `s` as a YAML scalar that reads back as this very string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string is JSON")
}

pub fn render(o: &CronJobOptions) -> Result<String> {
    check_schedule(o.schedule)?;
    if o.image.trim().is_empty() {
        bail!("--image is empty; give the image that holds the kpreload binary");
    }
    let name = name(o.pool);
    // A CronJob's name leaves 11 characters for its Jobs' suffix.
    if name.len() > 52 {
        bail!(
            "the CronJob's name {name} is longer than Kubernetes allows (52); render it for a pool with a shorter name"
        );
    }
    let ns = q(o.namespace);
    let mut args = vec![q("cleanup"), q("--yes"), q("--namespace"), q(o.namespace)];
    if let Some(p) = o.pool {
        args.push(q("--pool"));
        args.push(q(p));
    }
    let args = args.join(", ");
    let labels = "{app.kubernetes.io/name: kpreload, app.kubernetes.io/component: cleanup}";
    let subject = format!("- kind: ServiceAccount\n  name: {name}\n  namespace: {ns}\n");
    let image = q(o.image);
    let schedule = q(o.schedule.trim());
    Ok(format!(
        "\
# kpreload's scheduled cleanup: `kpreload cleanup --yes` in the preloaders' namespace, with
# only the permissions cleanup needs. Apply with: kpreload render --cronjob … | kubectl apply -f -
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  namespace: {ns}
  labels: {labels}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
  labels: {labels}
rules:
# Each node's images (status.images).
- apiGroups: [\"\"]
  resources: [nodes]
  verbs: [list]
# Which pods use an image: cleanup never removes one in use.
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {name}
  labels: {labels}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {name}
subjects:
{subject}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}
  namespace: {ns}
  labels: {labels}
rules:
# The preloaders: which images each pool preloads (never removed) and its keep and protect.
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [list]
# The runtime's tools in each preloader's cleanup container. kube-rs execs over WebSocket,
# a GET: the API server asks for get, and since Kubernetes 1.35 create too.
- apiGroups: [\"\"]
  resources: [pods/exec]
  verbs: [get, create]
# The audit: an Event for every cleaned node.
- apiGroups: [\"\"]
  resources: [events]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}
  namespace: {ns}
  labels: {labels}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {name}
subjects:
{subject}---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
  namespace: {ns}
  labels: {labels}
spec:
  schedule: {schedule}
  # One cleanup at a time; a run missed by more than an hour waits for the next.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 3600
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      # A failed node fails the Job (exit 1), and it is not run again until the next
      # schedule: a cleanup is planned afresh each time.
      backoffLimit: 0
      activeDeadlineSeconds: 3600
      template:
        metadata:
          labels: {labels}
        spec:
          serviceAccountName: {name}
          restartPolicy: Never
          # The Containerfile builds for x86_64.
          nodeSelector: {{kubernetes.io/os: linux, kubernetes.io/arch: amd64}}
          containers:
          - name: cleanup
            image: {image}
            args: [{args}]
            resources:
              requests: {{cpu: 50m, memory: 64Mi}}
              limits: {{memory: 256Mi}}
            securityContext:
              runAsNonRoot: true
              runAsUser: 65532
              allowPrivilegeEscalation: false
              readOnlyRootFilesystem: true
              capabilities: {{drop: [ALL]}}
"
    ))
}

/// The scheduled cleanup's objects, once every preloader is in (they were dry-run with
/// them); and a word on a scheduled cleanup the file no longer asks for.
pub(super) async fn apply(
    client: &kube::Client,
    pools: &crate::core::pools::PoolsFile,
    file: &std::path::Path,
    only: Option<&str>,
    scheduled: &[serde_json::Value],
    dry_run: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use crate::cluster::scheduled;
    if only.is_some() {
        if pools.cleanup.is_some() {
            writeln!(
                out,
                "(the scheduled cleanup in {} is applied with the whole file, not with --pool)",
                file.display()
            )?;
        }
        return Ok(());
    }
    let mut done: Vec<String> = Vec::new();
    for o in scheduled {
        let outcome = scheduled::apply(client, o, dry_run).await.map_err(|e| {
            anyhow::anyhow!(
                "{e} (every preloader was applied{}; run apply again to finish the scheduled cleanup)",
                if done.is_empty() {
                    String::new()
                } else {
                    format!(", and {}", done.join(", "))
                }
            )
        })?;
        done.push(scheduled::title(o));
        writeln!(
            out,
            "{} {}{}",
            scheduled::title(o),
            outcome.word(),
            if dry_run { " (server dry run)" } else { "" }
        )?;
    }
    let applied: Vec<&str> = scheduled
        .iter()
        .filter(|o| o["kind"] == "CronJob")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for name in scheduled::cronjobs(client, &pools.namespace)
        .await
        .unwrap_or_default()
    {
        if !applied.contains(&name.as_str()) {
            writeln!(
                out,
                "cronjob.batch/{name} stays: {}; `kubectl delete -n {ns} cronjob,rolebinding,role,serviceaccount {name} && kubectl delete clusterrolebinding,clusterrole {name}` removes it and its permissions",
                match &pools.cleanup {
                    None => format!("{} has no cleanup: section", file.display()),
                    Some(_) => format!(
                        "the cleanup: section of {} makes {} instead",
                        file.display(),
                        applied.join(", ")
                    ),
                },
                ns = pools.namespace
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<serde_yaml::Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    }

    fn options<'a>(schedule: &'a str, pool: Option<&'a str>) -> CronJobOptions<'a> {
        CronJobOptions {
            namespace: "kube-system",
            image: "registry.local:5000/kpreload:0.1.0",
            schedule,
            pool,
        }
    }

    #[test]
    fn the_cronjob_runs_one_cleanup_at_a_time_as_its_own_account() {
        let text = render(&options("0 3 * * *", Some("web"))).unwrap();
        let d = docs(&text);
        let kinds: Vec<&str> = d.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "CronJob"
            ]
        );
        let cj = &d[5];
        assert_eq!(cj["spec"]["schedule"], "0 3 * * *");
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
        let job = &cj["spec"]["jobTemplate"]["spec"];
        assert_eq!(job["backoffLimit"], 0);
        let pod = &job["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "kpreload-cleanup-web");
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["nodeSelector"]["kubernetes.io/arch"], "amd64");
        let args: Vec<&str> = pod["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "cleanup",
                "--yes",
                "--namespace",
                "kube-system",
                "--pool",
                "web"
            ]
        );
        // Every binding names the account the pod runs as.
        for b in [&d[2], &d[4]] {
            assert_eq!(b["subjects"][0]["name"], "kpreload-cleanup-web");
            assert_eq!(b["subjects"][0]["namespace"], "kube-system");
        }
    }

    #[test]
    fn the_account_cannot_change_a_daemonset_or_write_outside_its_namespace() {
        let d = docs(&render(&options("@daily", None)).unwrap());
        let verbs = |o: &serde_yaml::Value| -> Vec<String> {
            o["rules"]
                .as_sequence()
                .unwrap()
                .iter()
                .flat_map(|r| r["verbs"].as_sequence().unwrap().clone())
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert!(verbs(&d[1]).iter().all(|v| v == "list"));
        let ds_rule = d[3]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["resources"][0] == "daemonsets")
            .unwrap();
        assert_eq!(ds_rule["verbs"].as_sequence().unwrap().len(), 1);
        assert_eq!(d[5]["metadata"]["name"], "kpreload-cleanup");
    }

    #[test]
    fn a_schedule_that_is_not_cron_is_refused_before_anything_is_printed() {
        for bad in [
            "",
            "daily",
            "0 3 * *",
            "0 3 * * * *",
            "@ daily",
            "0 3 * * ; rm",
        ] {
            let e = render(&options(bad, None)).unwrap_err().to_string();
            assert!(e.contains("is not a cron schedule"), "{bad:?}: {e}");
        }
        for good in ["0 3 * * *", "*/15 * * * *", "0 3 * * mon-fri", "@weekly"] {
            assert!(render(&options(good, None)).is_ok(), "{good:?}");
        }
        let long = "a".repeat(40);
        let e = render(&options("@daily", Some(&long)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than Kubernetes allows"), "{e}");
    }
}
