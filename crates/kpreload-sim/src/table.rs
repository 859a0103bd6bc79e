//! `as=Table` responses, so `kubectl get` prints its usual columns.

use serde_json::{Value, json};

use super::store::Obj;

struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        priority,
    }
}

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Node" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ],
        "Pod" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        "DaemonSet" => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Node Selector", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        // The API server's printers (pkg/printers/internalversion).
        "CronJob" => vec![
            col("Name", "string", 0),
            col("Schedule", "string", 0),
            col("Timezone", "string", 0),
            col("Suspend", "boolean", 0),
            col("Active", "integer", 0),
            col("Last Schedule", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "ServiceAccount" => vec![
            col("Name", "string", 0),
            col("Secrets", "string", 0),
            col("Age", "string", 0),
        ],
        "Secret" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Data", "string", 0),
            col("Age", "string", 0),
        ],
        "Event" => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Subobject", "string", 1),
            col("Source", "string", 1),
            col("Message", "string", 0),
            col("First Seen", "string", 1),
            col("Count", "string", 1),
            col("Name", "string", 1),
        ],
        _ => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
    }
}

/// A Table of the objects; `include_object` puts the whole object in each row (else only
/// its metadata, as `includeObject=Metadata`).
pub fn table(
    kind: &str,
    objects: &[Obj],
    resource_version: &str,
    include_object: bool,
    now: i64,
) -> Value {
    let defs: Vec<Value> = columns(kind)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": if c.name == "Name" { "name" } else { "" },
                "description": "",
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = if include_object {
                (**o).clone()
            } else {
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"].clone(),
                })
            };
            json!({"cells": cells(kind, o, now), "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

fn cells(kind: &str, o: &Value, now: i64) -> Vec<Value> {
    let name = s(&o["metadata"]["name"]);
    let age = age(&o["metadata"]["creationTimestamp"], now);
    match kind {
        "Node" => {
            let ready = o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            let mut status = match ready.map(|c| s(&c["status"])) {
                Some(x) if x == "True" => "Ready".to_string(),
                _ => "NotReady".to_string(),
            };
            if o["spec"]["unschedulable"] == true {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .collect();
            let address = |t: &str| {
                o["status"]["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["type"] == t)
                    .map(|a| s(&a["address"]))
                    .unwrap_or_default()
            };
            let info = &o["status"]["nodeInfo"];
            vec![
                json!(name),
                json!(status),
                json!(or_none(roles.join(","))),
                json!(age),
                json!(s(&info["kubeletVersion"])),
                json!(or_none(address("InternalIP"))),
                json!(or_none(address("ExternalIP"))),
                json!(s(&info["osImage"])),
                json!(s(&info["kernelVersion"])),
                json!(s(&info["containerRuntimeVersion"])),
            ]
        }
        "Pod" => {
            let statuses = o["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|c| c["restartCount"].as_i64())
                .sum();
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                json!(age),
                json!(or_none(s(&o["status"]["podIP"]))),
                json!(or_none(s(&o["spec"]["nodeName"]))),
                json!(or_none(s(&o["status"]["nominatedNodeName"]))),
                json!("<none>"),
            ]
        }
        "CronJob" => {
            let spec = &o["spec"];
            let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
            let list = |field: &str| -> String {
                let all: Vec<String> = pod["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| s(&c[field]))
                    .collect();
                all.join(",")
            };
            vec![
                json!(name),
                json!(s(&spec["schedule"])),
                json!(or_none(s(&spec["timeZone"]))),
                // printBoolPtr: the words, as the API server's printer writes them.
                json!(match spec["suspend"].as_bool() {
                    Some(true) => "True",
                    Some(false) => "False",
                    None => "<unset>",
                }),
                json!(o["status"]["active"].as_array().map_or(0, Vec::len)),
                json!(match parse_time(&o["status"]["lastScheduleTime"]) {
                    Some(t) => human_duration(now - t),
                    None => "<none>".to_string(),
                }),
                json!(age),
                json!(list("name")),
                json!(list("image")),
                json!("<none>"),
            ]
        }
        "ServiceAccount" => vec![
            json!(name),
            json!(o["secrets"].as_array().map_or(0, Vec::len).to_string()),
            json!(age),
        ],
        "Secret" => {
            let data = o["data"].as_object().map_or(0, |d| d.len())
                + o["stringData"].as_object().map_or(0, |d| d.len());
            vec![
                json!(name),
                json!(s(&o["type"])),
                json!(data.to_string()),
                json!(age),
            ]
        }
        "DaemonSet" => {
            let st = &o["status"];
            let n = |f: &str| st[f].as_i64().unwrap_or(0);
            let selector: Vec<String> = o["spec"]["template"]["spec"]["nodeSelector"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let containers = o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names: Vec<String> = containers.iter().map(|c| s(&c["name"])).collect();
            let images: Vec<String> = containers.iter().map(|c| s(&c["image"])).collect();
            let match_labels: Vec<String> = o["spec"]["selector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            vec![
                json!(name),
                json!(n("desiredNumberScheduled")),
                json!(n("currentNumberScheduled")),
                json!(n("numberReady")),
                json!(n("updatedNumberScheduled")),
                json!(n("numberAvailable")),
                json!(or_none(selector.join(","))),
                json!(age),
                json!(names.join(",")),
                json!(images.join(",")),
                json!(match_labels.join(",")),
            ]
        }
        "Event" => {
            let last = if o["lastTimestamp"].is_null() {
                &o["eventTime"]
            } else {
                &o["lastTimestamp"]
            };
            let first = if o["firstTimestamp"].is_null() {
                last
            } else {
                &o["firstTimestamp"]
            };
            let inv = &o["involvedObject"];
            let object = format!("{}/{}", s(&inv["kind"]).to_lowercase(), s(&inv["name"]));
            vec![
                json!(age_or_unknown(last, now)),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(object),
                json!(s(&inv["fieldPath"])),
                json!(format!(
                    "{}{}",
                    s(&o["source"]["component"]),
                    o["source"]["host"]
                        .as_str()
                        .map(|h| format!(", {h}"))
                        .unwrap_or_default()
                )),
                json!(s(&o["message"])),
                json!(age_or_unknown(first, now)),
                json!(o["count"].as_i64().unwrap_or(1).to_string()),
                json!(name),
            ]
        }
        _ => vec![json!(name), json!(s(&o["status"]["phase"])), json!(age)],
    }
}

/// The STATUS column, as kubectl derives it.
pub fn pod_status(pod: &Value) -> String {
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating".into();
    }
    let mut reason = pod["status"]["reason"]
        .as_str()
        .or_else(|| pod["status"]["phase"].as_str())
        .unwrap_or("Pending")
        .to_string();
    let inits = pod["status"]["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total_inits = pod["spec"]["initContainers"].as_array().map_or(0, Vec::len);
    for (i, c) in inits.iter().enumerate() {
        let state = &c["state"];
        if state["terminated"]["exitCode"] == 0 && !state["terminated"].is_null() {
            continue;
        }
        if !state["terminated"].is_null() {
            let r = s(&state["terminated"]["reason"]);
            return if r.is_empty() {
                format!("Init:ExitCode:{}", state["terminated"]["exitCode"])
            } else {
                format!("Init:{r}")
            };
        }
        let waiting = s(&state["waiting"]["reason"]);
        if !waiting.is_empty() && waiting != "PodInitializing" {
            return format!("Init:{waiting}");
        }
        return format!("Init:{i}/{total_inits}");
    }
    if total_inits > inits.len() && inits.is_empty() && reason == "Pending" && total_inits > 0 {
        return format!("Init:0/{total_inits}");
    }
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let state = &c["state"];
        let waiting = s(&state["waiting"]["reason"]);
        if !waiting.is_empty() {
            reason = waiting;
        } else if !state["terminated"].is_null() {
            let r = s(&state["terminated"]["reason"]);
            reason = if r.is_empty() { "Completed".into() } else { r };
        }
    }
    reason
}

fn parse_time(v: &Value) -> Option<i64> {
    v.as_str()?
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

fn age(v: &Value, now: i64) -> String {
    parse_time(v).map_or_else(|| "<unknown>".into(), |t| human_duration(now - t))
}

fn age_or_unknown(v: &Value, now: i64) -> String {
    age(v, now)
}

/// kubectl's short durations: `45s`, `5m3s`, `3h12m`, `4d`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_column() {
        let init = json!({"spec": {"initContainers": [{}, {}], "containers": [{}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0}}},
                {"state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        assert_eq!(pod_status(&init), "Init:ImagePullBackOff");
        let pulling = json!({"spec": {"initContainers": [{}, {}], "containers": [{}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0}}},
                {"state": {"waiting": {"reason": "PodInitializing"}}}]}});
        assert_eq!(pod_status(&pulling), "Init:1/2");
        let running = json!({"spec": {"containers": [{}]}, "status": {"phase": "Running",
            "containerStatuses": [{"state": {"running": {}}}]}});
        assert_eq!(pod_status(&running), "Running");
        assert_eq!(human_duration(65), "65s");
        assert_eq!(human_duration(303), "5m3s");
        assert_eq!(human_duration(4 * 86400), "4d0h");
    }
}
