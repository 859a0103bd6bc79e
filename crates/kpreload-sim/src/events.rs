//! The events.k8s.io/v1 view of core Events: the same objects, in the newer field names.

use serde_json::{Value, json};

pub fn to_events_v1(core: &Value) -> Value {
    let mut out = json!({
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": core["metadata"].clone(),
        "regarding": core["involvedObject"].clone(),
        "reason": core["reason"].clone(),
        "note": core["message"].clone(),
        "type": core["type"].clone(),
        "reportingController": core["reportingComponent"].as_str().filter(|s| !s.is_empty())
            .map_or_else(|| core["source"]["component"].clone(), |s| json!(s)),
        "reportingInstance": core["reportingInstance"].as_str().filter(|s| !s.is_empty())
            .map_or_else(|| core["source"]["host"].clone(), |s| json!(s)),
        "action": core["action"].clone(),
        "eventTime": core["eventTime"].clone(),
        "deprecatedFirstTimestamp": core["firstTimestamp"].clone(),
        "deprecatedLastTimestamp": core["lastTimestamp"].clone(),
        "deprecatedCount": core["count"].clone(),
        "deprecatedSource": core["source"].clone(),
    });
    if let Some(m) = out.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames() {
        let core = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
            "reason": "Pulled", "message": "Successfully pulled", "type": "Normal",
            "source": {"component": "kubelet", "host": "web-1"}, "count": 1});
        let v1 = to_events_v1(&core);
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "Successfully pulled");
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["reportingInstance"], "web-1");
        assert!(v1.get("action").is_none());
    }
}
