//! The statuses the kubelet writes: a container waiting, a pod condition, an entry of a
//! status list.

use serde_json::{Value, json};

use crate::store::now_rfc3339;

pub(super) fn waiting(container: &Value, reason: &str, message: Option<&str>) -> Value {
    let mut w = json!({"reason": reason});
    if let Some(m) = message {
        w["message"] = json!(m);
    }
    json!({
        "name": container["name"], "image": container["image"], "imageID": "",
        "ready": false, "restartCount": 0, "started": false,
        "state": {"waiting": w},
    })
}

pub(super) fn set_condition(status: &mut Value, kind: &str, ok: bool, reason: Option<&str>) {
    let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let value = if ok { "True" } else { "False" };
    if let Some(c) = conditions.iter_mut().find(|c| c["type"] == kind) {
        if c["status"] == value {
            return;
        }
        *c = json!({"type": kind, "status": value, "lastTransitionTime": now_rfc3339()});
    } else {
        conditions
            .push(json!({"type": kind, "status": value, "lastTransitionTime": now_rfc3339()}));
    }
    if let (Some(r), Some(c)) = (reason, conditions.iter_mut().find(|c| c["type"] == kind)) {
        c["reason"] = json!(r);
    }
    status["conditions"] = json!(conditions);
}

/// Sets entry `index` of a status list, growing the list if a client shortened it.
pub(super) fn set_entry(status: &mut Value, list: &str, index: usize, entry: Value) {
    if !status[list].is_array() {
        status[list] = json!([]);
    }
    if let Some(items) = status[list].as_array_mut() {
        while items.len() <= index {
            items.push(json!({}));
        }
        items[index] = entry;
    }
}

/// The status list that reports a spec list's containers.
pub(super) fn status_list(list: &str) -> &'static str {
    if list == "initContainers" {
        "initContainerStatuses"
    } else {
        "containerStatuses"
    }
}
