//! Reading collections: lists with selectors and `limit`/`continue`, and `kubectl get`'s
//! tables.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::Resource;
use super::selectors;
use super::server::{Call, Sim, ok, view};
use super::status::{ApiError, ApiResult};
use super::store::{Obj, Snapshot, Stored};
use super::table;

/// One object as the call asks for it (JSON, or a table).
pub fn respond_object(call: &Call, res: &'static Resource, object: Obj) -> ApiResult<Response> {
    if call.wants_table() {
        return table_response(call, res, &[object], None);
    }
    ok(&view(res, &object))
}

/// A list (or a page of one) as the call asks for it: a table, or the stored JSON.
fn respond_list(
    call: &Call,
    res: &'static Resource,
    objects: &[Arc<Stored>],
    meta: Value,
) -> ApiResult<Response> {
    if call.wants_table() {
        let parsed: Vec<Obj> = objects.iter().map(|o| o.object()).collect();
        return table_response(call, res, &parsed, Some(meta));
    }
    Ok(list_response(res, &meta, objects))
}

fn table_response(
    call: &Call,
    res: &'static Resource,
    objects: &[Obj],
    list_meta: Option<Value>,
) -> ApiResult<Response> {
    let now = jiff::Timestamp::now().as_second();
    let rv = list_meta
        .as_ref()
        .and_then(|m| m["resourceVersion"].as_str().map(str::to_string))
        .unwrap_or_default();
    let include = call.param("includeObject") == Some("Object");
    let mut t = table::table(res.kind, objects, &rv, include, now);
    if let Some(meta) = list_meta {
        t["metadata"] = meta;
    }
    ok(&t)
}

/// A List, written item by item from the stored JSON (no copies of the objects).
fn list_response(res: &Resource, meta: &Value, objects: &[Arc<Stored>]) -> Response {
    let mut body =
        Vec::with_capacity(objects.iter().map(|o| o.json.len() + 1).sum::<usize>() + 256);
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
            let _ = serde_json::to_writer(&mut body, &view(res, &o.object()));
        } else {
            body.extend_from_slice(o.json.as_bytes());
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
) -> ApiResult<(u64, Vec<Arc<Stored>>)> {
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
        Some(t) => sim.store.stored_pods_on(&t.value),
        None => sim.store.list_stored(res.store_kind, ns),
    };
    let items = items
        .into_iter()
        .filter(|o| ns.is_none_or(|ns| o.sel.namespace == ns))
        .filter(|o| o.sel.matches(&labels, &fields))
        .collect();
    Ok((rv, items))
}

/// A list, or one page of it. The first page of a list that does not fit takes the
/// matching objects once, as a snapshot the store keeps for a while; its `continue` token
/// names the snapshot and where the next page starts in it, so every page is cut from the
/// same consistent list, at the snapshot's resourceVersion, in O(page). A token whose
/// snapshot is no longer kept is 410 Expired, as the API server answers a token older than
/// its compaction, with a token that goes on from the same key in the current state.
pub fn list(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<Response> {
    let limit: usize = match call.param("limit") {
        None | Some("") | Some("0") => usize::MAX,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("limit: invalid value {l:?}")))?,
    };
    let token = call
        .param("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let (snapshot, start, kept) = match token {
        Some(Continue::Snapshot { after, id, offset }) => match sim.store.snapshot(id) {
            Some(s) if s.kind == res.store_kind && s.ns.as_deref() == ns => {
                if offset > s.items.len() {
                    return Err(malformed());
                }
                (s, offset, Some(id))
            }
            Some(_) => return Err(malformed()),
            None => return Err(ApiError::continue_expired(encode_key(&after))),
        },
        // Goes on after a key in the current state (the token a 410 Expired hands out).
        Some(Continue::Key(after)) => {
            let s = take(sim, call, res, ns)?;
            let start = s.items.partition_point(|o| o.key() <= after);
            (s, start, None)
        }
        None => (take(sim, call, res, ns)?, 0, None),
    };
    let items = &snapshot.items;
    let end = start.saturating_add(limit).min(items.len());
    let page = &items[start..end];
    let mut meta = json!({"resourceVersion": snapshot.rv.to_string()});
    if end < items.len()
        && let Some(last) = page.last()
    {
        let id = kept.unwrap_or_else(|| sim.store.keep_snapshot(snapshot.clone()));
        meta["continue"] = json!(encode_continue(&last.key(), id, end));
        meta["remainingItemCount"] = json!(items.len() - end);
    }
    respond_list(call, res, page, meta)
}

/// The matching objects now, as a snapshot for paging.
fn take(
    sim: &Sim,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<Arc<Snapshot>> {
    let (rv, items) = select(sim, call, res, ns)?;
    Ok(Arc::new(Snapshot {
        kind: res.store_kind,
        ns: ns.map(str::to_string),
        rv,
        items,
        taken: Instant::now(),
    }))
}

/// What a continue token says: the key of the last item sent, and, for a consistent list,
/// its snapshot and the offset of the next item in it.
#[derive(Debug, PartialEq)]
enum Continue {
    Key((String, String)),
    Snapshot {
        after: (String, String),
        id: u64,
        offset: usize,
    },
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token that goes on after `key` in whatever the state is then.
fn encode_key(key: &(String, String)) -> String {
    hex(&serde_json::to_vec(&json!([key.0, key.1])).unwrap_or_default())
}

fn encode_continue(key: &(String, String), id: u64, offset: usize) -> String {
    hex(&serde_json::to_vec(&json!([key.0, key.1, id, offset])).unwrap_or_default())
}

fn malformed() -> ApiError {
    ApiError::bad_request("continue key is not valid: the token is malformed")
}

fn decode_continue(token: &str) -> ApiResult<Continue> {
    let bad = malformed;
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let v: Value = serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let parts = v.as_array().ok_or_else(bad)?;
    let key = (
        v[0].as_str().ok_or_else(bad)?.to_string(),
        v[1].as_str().ok_or_else(bad)?.to_string(),
    );
    match parts.len() {
        2 => Ok(Continue::Key(key)),
        4 => Ok(Continue::Snapshot {
            after: key,
            id: v[2].as_u64().ok_or_else(bad)?,
            offset: v[3]
                .as_u64()
                .and_then(|o| usize::try_from(o).ok())
                .ok_or_else(bad)?,
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let key = ("kube-system".to_string(), "a\"b".to_string());
        assert_eq!(
            decode_continue(&encode_key(&key)).unwrap(),
            Continue::Key(key.clone())
        );
        assert_eq!(
            decode_continue(&encode_continue(&key, 7, 500)).unwrap(),
            Continue::Snapshot {
                after: key,
                id: 7,
                offset: 500
            }
        );
        for bad in [
            "zz",
            "abc",
            &hex(b"[1,2]"),
            &hex(b"[\"a\",\"b\",3]"),
            &hex(b"{}"),
        ] {
            assert_eq!(decode_continue(bad).unwrap_err().code, 400, "{bad}");
        }
    }
}
