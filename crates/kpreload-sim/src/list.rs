//! Reading collections: lists with selectors and `limit`/`continue`, and `kubectl get`'s
//! tables.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::Resource;
use super::selectors;
use super::server::{Call, Sim, ok, view};
use super::status::{ApiError, ApiResult};
use super::store::Obj;
use super::table;

pub fn respond_objects(
    call: &Call,
    res: &'static Resource,
    objects: &[Obj],
    list_meta: Option<Value>,
) -> ApiResult<Response> {
    let now = jiff::Timestamp::now().as_second();
    if call.wants_table() {
        let rv = list_meta
            .as_ref()
            .and_then(|m| m["resourceVersion"].as_str().map(str::to_string))
            .unwrap_or_default();
        let include = call.param("includeObject") == Some("Object");
        let mut t = table::table(res.kind, objects, &rv, include, now);
        if let Some(meta) = list_meta {
            t["metadata"] = meta;
        }
        return ok(&t);
    }
    match list_meta {
        None => ok(&view(res, &objects[0])),
        Some(meta) => Ok(list_response(res, &meta, objects)),
    }
}

/// A List, serialised item by item from the stored objects (no copies of them).
fn list_response(res: &Resource, meta: &Value, objects: &[Obj]) -> Response {
    let mut body = Vec::with_capacity(objects.len() * 2048 + 256);
    body.extend_from_slice(b"{\"kind\":");
    let _ = serde_json::to_writer(&mut body, &format!("{}List", res.kind));
    body.extend_from_slice(b",\"apiVersion\":");
    let _ = serde_json::to_writer(&mut body, &res.api_version());
    body.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut body, meta);
    body.extend_from_slice(b",\"items\":[");
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        if res.group == "events.k8s.io" {
            let _ = serde_json::to_writer(&mut body, &view(res, o));
        } else {
            let _ = serde_json::to_writer(&mut body, &**o);
        }
    }
    body.extend_from_slice(b"]}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// Objects of a collection filtered by the call's selectors.
pub fn select(
    sim: &Sim,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<(u64, Vec<Obj>)> {
    let labels = selectors::parse_labels(call.param("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = selectors::parse_fields(res.store_kind, call.param("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    // The pods of one node come from the store's index by node, as the API server's watch
    // cache indexes them for kubelets; the selectors still decide.
    let on_node = fields.iter().find(|t| {
        res.store_kind == "Pod" && t.field == "spec.nodeName" && !t.negated && !t.value.is_empty()
    });
    let (rv, items) = match on_node {
        Some(t) => sim.store.pods_on(&t.value),
        None => sim.store.list(res.store_kind, ns),
    };
    let items = items
        .into_iter()
        .filter(|o| ns.is_none_or(|ns| super::store::ns_of(o) == ns))
        .filter(|o| selectors::matches_labels(&labels, o) && selectors::matches_fields(&fields, o))
        .collect();
    Ok((rv, items))
}

pub fn list(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<Response> {
    let (rv, items) = select(sim, call, res, ns)?;
    // `continue` carries the key of the last item sent; items after it follow.
    let start = match call.param("continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => {
            let after = decode_continue(token)?;
            items.partition_point(|o| object_key(o) <= after)
        }
    };
    let limit: usize = match call.param("limit") {
        None | Some("") | Some("0") => usize::MAX,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("limit: invalid value {l:?}")))?,
    };
    let end = start.saturating_add(limit).min(items.len());
    let page = &items[start..end];
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if end < items.len()
        && let Some(last) = page.last()
    {
        meta["continue"] = json!(encode_continue(&object_key(last)));
        meta["remainingItemCount"] = json!(items.len() - end);
    }
    respond_objects(call, res, page, Some(meta))
}

pub fn object_key(o: &Value) -> (String, String) {
    (
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn encode_continue(key: &(String, String)) -> String {
    let raw = serde_json::to_vec(&json!([key.0, key.1])).unwrap_or_default();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    let bad = || ApiError::bad_request("continue key is not valid: the token is malformed");
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let v: Value = serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    Ok((
        v[0].as_str().ok_or_else(bad)?.to_string(),
        v[1].as_str().ok_or_else(bad)?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("kube-system".to_string(), "a\"b".to_string());
        assert_eq!(decode_continue(&encode_continue(&key)).unwrap(), key);
        assert_eq!(decode_continue("zz").unwrap_err().code, 400);
    }
}
