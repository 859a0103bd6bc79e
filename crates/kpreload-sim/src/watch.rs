//! Watches: a stream of newline-delimited JSON events from a resourceVersion on.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::resources::Resource;
use super::selectors::{self, FieldTerm, Selectable};
use super::server::{Call, Sim, view};
use super::status::{ApiError, ApiResult};
use super::store::{Change, EventType, Obj};
use super::table;

struct Filter {
    res: &'static Resource,
    ns: Option<String>,
    labels: Vec<crate::rules::labels::Requirement>,
    fields: Vec<FieldTerm>,
    table: bool,
}

impl Filter {
    fn event(&self, kind: &str, obj: &Obj) -> String {
        let object = if self.table {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            table::table(
                self.res.kind,
                std::slice::from_ref(obj),
                rv,
                true,
                jiff::Timestamp::now().as_second(),
            )
        } else {
            view(self.res, obj)
        };
        let mut line =
            serde_json::to_string(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push('\n');
        line
    }

    fn matches_kept(&self, kept: &Selectable) -> bool {
        self.ns.as_deref().is_none_or(|ns| kept.namespace == ns)
            && kept.matches(&self.labels, &self.fields)
    }

    /// The event a change is to this watch, if any. Plain watches send the change's JSON
    /// as it is; tables and the events.k8s.io view are made from it parsed again.
    fn translate(&self, change: &Change) -> Option<String> {
        if change.kind != self.res.store_kind {
            return None;
        }
        let now = self.matches_kept(&change.now);
        let before = change.before.as_ref().is_some_and(|p| self.matches_kept(p));
        let kind = match change.event {
            EventType::Added if now => "ADDED",
            EventType::Deleted if now => "DELETED",
            EventType::Modified if now && (before || change.before.is_none()) => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            _ => return None,
        };
        Some(self.line(kind, &change.json, || Arc::new(change.object())))
    }

    /// A watch event of an object given as its JSON: plain watches send the JSON as it
    /// is; tables and the events.k8s.io view are made from it parsed.
    fn line(&self, kind: &str, json: &str, parsed: impl FnOnce() -> Obj) -> String {
        if self.table || self.res.group == "events.k8s.io" {
            return self.event(kind, &parsed());
        }
        let mut line = String::with_capacity(json.len() + 32);
        line.push_str("{\"object\":");
        line.push_str(json);
        line.push_str(",\"type\":\"");
        line.push_str(kind);
        line.push_str("\"}\n");
        line
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> String {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let mut line = serde_json::to_string(&json!({
            "type": "BOOKMARK",
            "object": {"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta}
        }))
        .unwrap_or_default();
        line.push('\n');
        line
    }
}

/// Sends what of `changes` the watch shows, moving `last_rv` past each; false once the
/// client has gone.
async fn send_backlog(
    tx: &mpsc::Sender<Result<String, std::io::Error>>,
    filter: &Filter,
    changes: &[Arc<Change>],
    last_rv: &mut u64,
) -> bool {
    for change in changes {
        *last_rv = change.rv;
        if let Some(line) = filter.translate(change)
            && tx.send(Ok(line)).await.is_err()
        {
            return false;
        }
    }
    true
}

fn error_line(e: &ApiError) -> String {
    let mut line = serde_json::to_string(&json!({"type": "ERROR", "object": e.to_status()}))
        .unwrap_or_default();
    line.push('\n');
    line
}

pub async fn serve(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<Response> {
    let filter = Filter {
        res,
        ns: ns.map(str::to_string),
        labels: selectors::parse_labels(call.param("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?,
        fields: selectors::parse_fields(res.store_kind, call.param("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?,
        table: call.wants_table(),
    };
    let bookmarks = matches!(call.param("allowWatchBookmarks"), Some("true" | "1"));
    let send_initial = matches!(call.param("sendInitialEvents"), Some("true" | "1"));
    let from: Option<u64> = match call.param("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: must be a number"
            ))
        })?),
    };
    let mut timeout = call
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        // A day at most, so a deadline never overflows.
        .map(|t| Duration::from_secs(t.min(86_400)));
    if let Some(cap) = sim.faults.watch_cap() {
        timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
    }
    let forced_gone = sim.faults.take_watch_gone();

    let (tx, rx) = mpsc::channel::<Result<String, std::io::Error>>(256);
    let mut initial: Vec<String> = Vec::new();
    let subscription = if forced_gone {
        Err(ApiError::gone("too old resource version (injected)"))
    } else if from.is_none() || send_initial {
        // Start with the current state, then the changes after it.
        let (rv, items) = sim.store.list_stored(res.store_kind, None);
        for o in items.iter().filter(|o| filter.matches_kept(&o.sel)) {
            initial.push(filter.line("ADDED", &o.json, || o.object()));
        }
        if send_initial && bookmarks {
            initial.push(filter.bookmark(rv, true));
        }
        sim.store.subscribe_to(Some(res.store_kind), Some(rv))
    } else {
        sim.store.subscribe_to(Some(res.store_kind), from)
    };

    let sub = match subscription {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Ok(error_line(&e))).await;
            drop(tx);
            return Ok(stream_response(rx));
        }
    };
    let bookmark_every = sim.faults.bookmark_interval();
    let sim = sim.clone();
    tokio::spawn(async move {
        let mut last_rv = sub.current_rv;
        for line in initial {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        if !send_backlog(&tx, &filter, &sub.backlog, &mut last_rv).await {
            return;
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut live = sub.live;
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            let until_end = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = until_end => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(Ok(filter.bookmark(last_rv, false))).await.is_err() {
                        return;
                    }
                }
                change = live.recv() => match change {
                    Ok(change) => {
                        if change.rv <= last_rv {
                            continue;
                        }
                        last_rv = change.rv;
                        if let Some(line) = filter.translate(&change)
                            && tx.send(Ok(line)).await.is_err()
                        {
                            return;
                        }
                    }
                    // A reader fallen behind the live changes reads on from the history, as
                    // a watcher of the API server reads from its watch cache; when what it
                    // missed is no longer there, 410 Gone ends the watch and the client lists.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match sim.store.subscribe_to(Some(filter.res.store_kind), Some(last_rv)) {
                            Ok(again) => {
                                live = again.live;
                                if !send_backlog(&tx, &filter, &again.backlog, &mut last_rv).await {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Ok(error_line(&e))).await;
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(stream_response(rx))
}

fn stream_response(rx: mpsc::Receiver<Result<String, std::io::Error>>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}
