//! PATCH in its four content types: JSON merge patch, JSON patch (RFC 6902), strategic
//! merge patch (with the PodSpec merge keys and kubectl's directives) and server-side apply.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::fields::{self, is_set_list, merge_keys};
use super::objects::validate;
use super::resources::Resource;
use super::server::{
    Call, Sim, add_warnings, json_response, merge_subresource, prepare, require_namespace, view,
};
use super::status::{ApiError, ApiResult};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Merge,
    Json,
    Strategic,
    Apply,
}

fn kind_of(content_type: &str) -> ApiResult<Kind> {
    let ct = content_type.split(';').next().unwrap_or_default().trim();
    Ok(match ct {
        "application/merge-patch+json" => Kind::Merge,
        "application/json-patch+json" => Kind::Json,
        "application/strategic-merge-patch+json" => Kind::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+json" => Kind::Apply,
        other => return Err(ApiError::unsupported_media_type(other)),
    })
}

pub fn patch(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: &str,
    name: &str,
    status: bool,
) -> ApiResult<Response> {
    if res.group == "events.k8s.io" {
        return Err(ApiError::method_not_allowed());
    }
    let kind = kind_of(call.content_type())?;
    let dry = call.dry_run()?;
    if kind == Kind::Apply {
        return apply(sim, call, res, ns, name, status, dry);
    }
    let patch_body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let manager = call.field_manager();
    let mut warnings = Vec::new();
    let updated = sim.store.update(res, ns, name, dry, |old| {
        let mut doc = old.clone();
        match kind {
            Kind::Merge => json_patch::merge(&mut doc, &patch_body),
            Kind::Json => {
                let ops: json_patch::Patch = serde_json::from_value(patch_body.clone())
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                json_patch::patch(&mut doc, &ops).map_err(|e| {
                    ApiError::invalid(res.kind, name, &[("".into(), e.to_string())])
                })?;
            }
            Kind::Strategic => strategic_merge(&mut doc, &patch_body, "")?,
            Kind::Apply => unreachable!("handled above"),
        }
        if !doc.is_object() || !doc["metadata"].is_object() {
            return Err(ApiError::invalid(
                res.kind,
                name,
                &[(
                    "metadata".into(),
                    "Required value: the patch removed the object's metadata".into(),
                )],
            ));
        }
        // A patch may not move the object elsewhere.
        doc["metadata"]["name"] = json!(name);
        let (mut new, w) = prepare(call, res, doc, ns)?;
        warnings = w;
        new = merge_subresource(res, old, new, status);
        // The patched document keeps the stored resourceVersion unless the patch set one,
        // in which case it is a precondition (409 when stale), whatever the patch type.
        validate(res, &new)?;
        fields::record_update(&mut new, Some(old), &manager, "Update", res);
        Ok(new)
    })?;
    let mut resp = json_response(StatusCode::OK, &view(res, &updated));
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

fn apply(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: &str,
    name: &str,
    status: bool,
    dry: bool,
) -> ApiResult<Response> {
    let manager = match call.param("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set",
            ));
        }
    };
    let force = matches!(call.param("force"), Some("true" | "1"));
    let mut config: Value = serde_yaml::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    super::server::check_identity(res, &mut config, ns)?;
    match config["metadata"]["name"].as_str() {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        None => config["metadata"]["name"] = json!(name),
    }
    let mut warnings = Vec::new();
    // The merged object is read and checked like any write; a partial configuration is fine
    // as long as the result is a valid object.
    let mut finish = |merged: Value| -> ApiResult<Value> {
        let (mut obj, w) = prepare(call, res, merged.clone(), ns)?;
        warnings = w;
        obj["metadata"]["managedFields"] = merged["metadata"]["managedFields"].clone();
        Ok(obj)
    };
    let result = match sim.store.get(res.store_kind, ns, name) {
        None => {
            require_namespace(sim, res, ns)?;
            let obj = finish(fields::apply(None, &config, &manager, force, res)?)?;
            validate(res, &obj)?;
            let created = sim.store.create(res, obj, dry)?;
            let mut resp = json_response(StatusCode::CREATED, &view(res, &created));
            add_warnings(&mut resp, &warnings);
            return Ok(resp);
        }
        Some(_) => sim.store.update(res, ns, name, dry, |old| {
            let mut obj = finish(fields::apply(Some(old), &config, &manager, force, res)?)?;
            if config["metadata"]["resourceVersion"].is_null() {
                obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            }
            // An apply that changes nothing (once defaulted) moves no entry's time, so the
            // object, and its resourceVersion, stay as they were.
            if without_times(&obj) == without_times(old) {
                obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
            }
            let obj = merge_subresource(res, old, obj, status);
            validate(res, &obj)?;
            Ok(obj)
        })?,
    };
    let mut resp = json_response(StatusCode::OK, &view(res, &result));
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// The object with its managedFields' times and resourceVersion left out.
fn without_times(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(list) = v["metadata"]["managedFields"].as_array_mut() {
        for e in list {
            if let Some(e) = e.as_object_mut() {
                e.remove("time");
            }
        }
    }
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    v
}

/// Applies a strategic merge patch to `target` in place.
pub fn strategic_merge(target: &mut Value, patch: &Value, field: &str) -> ApiResult<()> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(patch);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other:?} in field {field}"
            )));
        }
        None => {}
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made an object above");
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, v) in p {
        if k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(list) = k.strip_prefix("$setElementOrder/") {
            orders.push((list.to_string(), v.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (t.get_mut(list), v.as_array()) {
                items.retain(|x| !gone.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(ApiError::bad_request(format!(
                "unknown patch directive {k:?}"
            )));
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                let entry = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, v, k)?;
                if entry.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => {
                let merged = match (t.get(k), merge_keys(k)) {
                    (Some(Value::Array(existing)), Some(_)) => merge_keyed(existing, items, k)?,
                    (Some(Value::Array(existing)), None) if is_set_list(k) => {
                        let mut out = existing.clone();
                        for i in items {
                            if !out.contains(i) {
                                out.push(i.clone());
                            }
                        }
                        out
                    }
                    _ => items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .map(strip_directives)
                        .collect(),
                };
                t.insert(k.clone(), Value::Array(merged));
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    for (list, order) in orders {
        if let Some(Value::Array(items)) = t.get_mut(&list) {
            reorder(items, &order, &list);
        }
    }
    Ok(())
}

fn merge_keyed(existing: &[Value], patch: &[Value], field: &str) -> ApiResult<Vec<Value>> {
    let keys = merge_keys(field).unwrap_or_default();
    let same = |a: &Value, b: &Value| keys.iter().take(1).all(|k| a.get(*k) == b.get(*k));
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip_directives)
            .collect());
    }
    let mut out: Vec<Value> = existing.to_vec();
    for item in patch {
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = out.iter().position(|x| same(x, item));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                out.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic_merge(&mut out[i], item, field)?,
            (_, None) => out.push(strip_directives(item)),
        }
    }
    Ok(out)
}

/// Orders a keyed list as `$setElementOrder` says; items it does not name keep their place
/// after the named ones.
fn reorder(items: &mut Vec<Value>, order: &[Value], field: &str) {
    let key = merge_keys(field).and_then(|k| k.first().copied());
    let pos = |item: &Value| {
        order.iter().position(|o| match key {
            Some(k) => o.get(k) == item.get(k),
            None => o == item,
        })
    };
    let mut indexed: Vec<(usize, usize, Value)> = items
        .drain(..)
        .enumerate()
        .map(|(i, v)| (pos(&v).unwrap_or(usize::MAX), i, v))
        .collect();
    indexed.sort_by_key(|(p, i, _)| (*p, *i));
    items.extend(indexed.into_iter().map(|(_, _, v)| v));
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}],
            "finalizers": ["x"], "nodeSelector": {"k": "v", "old": "1"}}})
    }

    #[test]
    fn keyed_lists_merge_by_name() {
        let mut doc = spec();
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}});
        strategic_merge(&mut doc, &patch, "").unwrap();
        let c = &doc["spec"]["containers"];
        assert_eq!(c[0]["image"], "a:1");
        assert_eq!(c[0]["env"][0]["value"], "1");
        assert_eq!(c[1]["image"], "b:2");
        assert_eq!(c[2]["name"], "c");
    }

    #[test]
    fn kubectl_directives() {
        let mut doc = spec();
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "$patch": "delete"}, {"name": "b", "image": "b:3"}],
            "$deleteFromPrimitiveList/finalizers": ["x"],
            "nodeSelector": {"old": null}}});
        strategic_merge(&mut doc, &patch, "").unwrap();
        let names: Vec<_> = doc["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(names, [json!("b")]);
        assert_eq!(doc["spec"]["finalizers"], json!([]));
        assert_eq!(doc["spec"]["nodeSelector"], json!({"k": "v"}));

        let mut doc = spec();
        let patch =
            json!({"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}});
        strategic_merge(&mut doc, &patch, "").unwrap();
        assert_eq!(
            doc["spec"]["containers"],
            json!([{"name": "z", "image": "z"}])
        );

        let mut doc = spec();
        let patch = json!({"spec": {"nodeSelector": {"$retainKeys": ["k"], "k": "w"}}});
        strategic_merge(&mut doc, &patch, "").unwrap();
        assert_eq!(doc["spec"]["nodeSelector"], json!({"k": "w"}));
    }

    #[test]
    fn set_element_order_reorders() {
        let mut doc = spec();
        let patch =
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}});
        strategic_merge(&mut doc, &patch, "").unwrap();
        assert_eq!(doc["spec"]["containers"][0]["name"], "b");
    }
}
