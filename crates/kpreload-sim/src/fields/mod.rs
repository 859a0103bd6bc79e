//! Field ownership (`managedFields`) and server-side apply.
//!
//! A field set is a set of paths in the FieldsV1 notation: `f:spec`, `k:{"name":"x"}` for an
//! item of a list keyed by name, `v:"x"` for a member of a set-like list, `.` for the item
//! itself. Lists without a key are atomic: the list is one field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::resources::Resource;
use super::status::{ApiError, ApiResult};
use super::store::now_rfc3339;

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// The keys that identify the items of associative lists, by field name.
pub fn merge_keys(field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "hostAliases" => match field {
            "hostAliases" => &["ip"],
            _ => &["name"],
        },
        "volumeMounts" | "volumeDevices" => &["mountPath"],
        "ports" => &["containerPort", "protocol"],
        "ownerReferences" => &["uid"],
        "conditions" => &["type"],
        "readinessGates" => &["conditionType"],
        _ => return None,
    })
}

/// Lists whose members are a set (merged as a union by strategic merge).
pub fn is_set_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// The key of a list item: `k:{"name":"x"}`; ports default their protocol to TCP.
fn item_key(field: &str, item: &Value) -> Option<String> {
    let keys = merge_keys(field)?;
    let mut m = Map::new();
    for k in keys {
        match &item[*k] {
            Value::Null if *k == "protocol" => {
                m.insert((*k).into(), json!("TCP"));
            }
            Value::Null => {}
            v => {
                m.insert((*k).into(), v.clone());
            }
        }
    }
    if m.is_empty() {
        return None;
    }
    Some(format!("k:{}", Value::Object(m)))
}

/// Metadata the server owns; never part of a manager's fields.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
];

/// The fields an object sets. `status` is left out unless `status` is true (then only it).
pub fn field_set(obj: &Value, status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            let wanted = match k.as_str() {
                "apiVersion" | "kind" => false,
                "status" => status,
                _ => !status,
            };
            if !wanted || v.is_null() {
                continue;
            }
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if SERVER_METADATA.contains(&mk.as_str()) || mv.is_null() {
                            continue;
                        }
                        walk(mk, mv, vec!["f:metadata".into()], &mut out);
                    }
                }
                continue;
            }
            walk(k, v, vec![], &mut out);
        }
    }
    out
}

fn walk(key: &str, v: &Value, prefix: Path, out: &mut FieldSet) {
    let mut p = prefix;
    p.push(format!("f:{key}"));
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if !child.is_null() {
                    walk(k, child, p.clone(), out);
                }
            }
        }
        Value::Array(items) if merge_keys(key).is_some() => {
            for item in items {
                match item_key(key, item) {
                    Some(k) => {
                        let mut ip = p.clone();
                        ip.push(k);
                        let mut dot = ip.clone();
                        dot.push(".".into());
                        out.insert(dot);
                        if let Value::Object(m) = item {
                            for (ck, cv) in m {
                                if !cv.is_null() {
                                    walk(ck, cv, ip.clone(), out);
                                }
                            }
                        }
                    }
                    None => {
                        out.insert(p.clone());
                    }
                }
            }
        }
        Value::Array(items) if is_set_list(key) => {
            for item in items {
                let mut ip = p.clone();
                ip.push(format!("v:{item}"));
                out.insert(ip);
            }
        }
        _ => {
            out.insert(p);
        }
    }
}

/// FieldsV1 JSON from a set of paths.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for part in path {
            node = node
                .entry(part.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("field set nodes are objects");
        }
    }
    Value::Object(root)
}

/// A set of paths from FieldsV1 JSON (leaves only: every path ends at an empty object).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    prefix.push(k.clone());
                    go(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Managed {
    pub manager: String,
    pub operation: String,
    pub subresource: String,
    pub fields: FieldSet,
    /// When the manager last changed its fields; None: now. Kept when nothing changed, so
    /// a write that changes nothing leaves the object (and its resourceVersion) alone.
    pub time: Option<String>,
}

pub fn read_managed(obj: &Value) -> Vec<Managed> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Managed {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or_default().to_string(),
            subresource: e["subresource"].as_str().unwrap_or_default().to_string(),
            fields: from_fields_v1(&e["fieldsV1"]),
            time: e["time"].as_str().map(str::to_string),
        })
        .collect()
}

fn write_managed(obj: &mut Value, api_version: &str, entries: &[Managed]) {
    let time = now_rfc3339();
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": api_version,
                "time": e.time.clone().unwrap_or_else(|| time.clone()),
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    obj["metadata"]["managedFields"] = json!(list);
}

/// The value at a field path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    let mut field = "";
    for part in path {
        if part == "." {
            return Some(cur);
        }
        if let Some(name) = part.strip_prefix("f:") {
            cur = cur.get(name)?;
            field = name;
        } else if let Some(key) = part.strip_prefix("k:") {
            let want: Value = serde_json::from_str(key).ok()?;
            cur = cur.as_array()?.iter().find(|item| {
                item_key(field, item).as_deref() == Some(part.as_str()) || matches_key(item, &want)
            })?;
        } else if let Some(member) = part.strip_prefix("v:") {
            let want: Value = serde_json::from_str(member).ok()?;
            cur = cur.as_array()?.iter().find(|item| **item == want)?;
        }
    }
    Some(cur)
}

fn matches_key(item: &Value, want: &Value) -> bool {
    want.as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| item.get(k) == Some(v)))
}

/// `.spec.template.spec.containers[name="x"].image`, as conflict messages print paths.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if let Some(f) = part.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = part.strip_prefix("k:") {
            let v: Value = serde_json::from_str(k).unwrap_or(Value::Null);
            let inner: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(v) = part.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes the fields it
/// set or changed; other managers lose the fields it changed.
pub fn record_update(
    new: &mut Value,
    old: Option<&Value>,
    manager: &str,
    operation: &str,
    res: &Resource,
) {
    let status_write = false;
    let mut entries = old.map(read_managed).unwrap_or_default();
    let new_set = field_set(new, status_write);
    let changed: FieldSet = match old {
        None => new_set.clone(),
        Some(old) => new_set
            .iter()
            .filter(|p| p.last().is_some_and(|l| l != ".") && value_at(old, p) != value_at(new, p))
            .cloned()
            .collect(),
    };
    // Fields that no longer exist belong to nobody.
    for e in &mut entries {
        e.fields
            .retain(|p| new_set.contains(p) && !(e.manager != manager && changed.contains(p)));
    }
    if !changed.is_empty() || old.is_none() {
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == operation && e.subresource.is_empty())
        {
            Some(e) => {
                let before = e.fields.len();
                e.fields.extend(with_item_markers(&changed, &new_set));
                if e.fields.len() != before || !changed.is_empty() {
                    e.time = None;
                }
            }
            None => entries.push(Managed {
                manager: manager.to_string(),
                operation: operation.to_string(),
                subresource: String::new(),
                fields: with_item_markers(&changed, &new_set),
                time: None,
            }),
        }
    }
    write_managed(new, &res.api_version(), &entries);
}

/// Adds the `.` markers of the list items that a set's paths go through.
fn with_item_markers(set: &FieldSet, all: &FieldSet) -> FieldSet {
    let mut out = set.clone();
    for p in set {
        for i in 0..p.len() {
            if p[i].starts_with("k:") {
                let mut dot = p[..=i].to_vec();
                dot.push(".".into());
                if all.contains(&dot) {
                    out.insert(dot);
                }
            }
        }
    }
    out
}

/// Server-side apply of `applied` by `manager` over `live` (None: the object is new).
/// Returns the merged object with its managedFields, or a 409 listing the conflicts.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    res: &Resource,
) -> ApiResult<Value> {
    let applied_set = field_set(applied, false);
    let mut entries = live.map(read_managed).unwrap_or_default();
    let base = live.cloned().unwrap_or_else(|| json!({}));

    let mut conflicts: Vec<(String, String)> = Vec::new();
    let mut taken: BTreeMap<usize, FieldSet> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.manager == manager {
            continue;
        }
        for p in e.fields.intersection(&applied_set) {
            if p.last().is_some_and(|l| l == ".") {
                continue;
            }
            if value_at(&base, p) != value_at(applied, p) {
                conflicts.push((e.manager.clone(), display_path(p)));
                taken.entry(i).or_default().insert(p.clone());
            }
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort();
        conflicts.dedup();
        return Err(ApiError::apply_conflict(&conflicts));
    }
    for (i, paths) in taken {
        entries[i].fields.retain(|p| !paths.contains(p));
    }

    let mut merged = base.clone();
    merge_apply(&mut merged, applied, "");

    // Fields this manager applied before and no longer applies, owned by nobody else, go.
    let previous: FieldSet = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let others: FieldSet = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply"))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // A field stays while something inside it is owned: by another manager, or by this
    // apply (`spec: {}` applied before, `spec: {containers: …}` now). A list item likewise,
    // by its `.` marker.
    let owned_inside = |field: &[String]| {
        others
            .iter()
            .chain(applied_set.iter())
            .any(|o| o.len() > field.len() && o.starts_with(field))
    };
    let mut dropped: Vec<&Path> = previous
        .iter()
        .filter(|p| !applied_set.contains(*p) && !others.contains(*p))
        .filter(|p| match p.last() {
            Some(l) if l == "." => !owned_inside(&p[..p.len() - 1]),
            _ => !owned_inside(p),
        })
        .collect();
    // Remove list items (the `.` marker) after their fields, deepest first.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        remove_path(&mut merged, p);
    }

    // The entry's time moves when its fields or their values change (as the API says).
    let same_values = applied_set
        .iter()
        .all(|p| value_at(&base, p) == value_at(applied, p));
    let unchanged_time = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.fields == applied_set)
        .filter(|_| same_values)
        .and_then(|e| e.time.clone());
    entries.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    entries.insert(
        0,
        Managed {
            manager: manager.to_string(),
            operation: "Apply".into(),
            subresource: String::new(),
            fields: applied_set,
            time: unchanged_time,
        },
    );
    write_managed(&mut merged, &res.api_version(), &entries);
    Ok(merged)
}

/// Merges an applied configuration: maps recursively, keyed lists by key, the rest replaced.
fn merge_apply(target: &mut Value, applied: &Value, field: &str) {
    match (target.as_object_mut(), applied) {
        (Some(t), Value::Object(a)) => {
            for (k, v) in a {
                if k == "metadata" && field.is_empty() {
                    let tm = t.entry(k.clone()).or_insert_with(|| json!({}));
                    merge_apply(tm, v, "metadata");
                    continue;
                }
                match t.get_mut(k) {
                    Some(existing) if v.is_object() && existing.is_object() => {
                        merge_apply(existing, v, k)
                    }
                    Some(existing)
                        if v.is_array() && existing.is_array() && merge_keys(k).is_some() =>
                    {
                        merge_list(existing, v, k)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = applied.clone(),
    }
}

fn merge_list(target: &mut Value, applied: &Value, field: &str) {
    let (Some(t), Some(a)) = (target.as_array_mut(), applied.as_array()) else {
        return;
    };
    let mut result: Vec<Value> = Vec::new();
    // The applied order first, then live items the applier does not mention.
    for item in a {
        let key = item_key(field, item);
        match t
            .iter()
            .position(|x| key.is_some() && item_key(field, x) == key)
        {
            Some(i) => {
                let mut existing = t.remove(i);
                merge_apply(&mut existing, item, field);
                result.push(existing);
            }
            None => result.push(item.clone()),
        }
    }
    result.append(t);
    *t = result;
}

/// Removes the field at a path (a `.` path removes the list item).
fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    if last == "." {
        let Some((item, list_path)) = parent_path.split_last() else {
            return;
        };
        let field = list_path
            .last()
            .and_then(|f| f.strip_prefix("f:"))
            .unwrap_or_default()
            .to_string();
        if let Some(Value::Array(items)) = value_at_mut(obj, list_path) {
            items.retain(|x| item_key(&field, x).as_deref() != Some(item.as_str()));
        }
        return;
    }
    match value_at_mut(obj, parent_path) {
        Some(Value::Object(m)) => {
            if let Some(f) = last.strip_prefix("f:") {
                m.remove(f);
            }
        }
        Some(Value::Array(items)) => {
            if let Some(v) = last.strip_prefix("v:")
                && let Ok(want) = serde_json::from_str::<Value>(v)
            {
                items.retain(|x| *x != want);
            }
        }
        _ => {}
    }
}

fn value_at_mut<'a>(obj: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    let mut field = String::new();
    for part in path {
        if let Some(name) = part.strip_prefix("f:") {
            cur = cur.get_mut(name)?;
            field = name.to_string();
        } else if part.starts_with("k:") {
            let f = field.clone();
            cur = cur
                .as_array_mut()?
                .iter_mut()
                .find(|item| item_key(&f, item).as_deref() == Some(part.as_str()))?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests;
