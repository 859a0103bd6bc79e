//! Fault injection, for tests that prove the client side recovers.
//!
//! Set with flags at start or at run time through the control endpoint:
//! `POST /sim/faults` with a JSON body of the fields below (absent fields are unchanged),
//! `GET /sim/faults` to read them, `POST /sim/compact` to forget watch history (every
//! watch resuming from before then gets 410 Gone).

use std::sync::Mutex;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::server::{Call, error_response, json_response};
use super::status::{ApiError, ApiResult};
use super::store::Store;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSettings {
    /// End every watch after this many seconds.
    pub watch_seconds: Option<f64>,
    /// Answer the next N watches with 410 Gone.
    pub watch_gone: u32,
    /// Answer the next N requests (other than /sim) with 429 and this Retry-After.
    pub too_many: u32,
    pub retry_after: u64,
    /// Answer the next N requests with 500.
    pub errors: u32,
    /// Delay every response by this many milliseconds.
    pub delay_ms: u64,
    /// The next write (PUT or PATCH) to this object name gets 409 Conflict.
    pub conflict_on: Option<String>,
    /// Seconds between watch bookmarks (default 10).
    pub bookmark_seconds: Option<f64>,
    /// Nodes whose kubelet stops posting status: after the grace period (40 simulated
    /// seconds) they turn Ready=Unknown with the unreachable taints. Remove a node from
    /// the list and it reports again.
    pub silent_nodes: Vec<String>,
    /// Resources (plural names, e.g. `pods`) every request on which gets 403 Forbidden, as
    /// for a user whose role lacks them.
    pub forbidden: Vec<String>,
    /// Nodes whose kubelet the API server cannot reach for exec: exec into their pods gets
    /// 500 `error dialing backend`, as when a node's port 10250 is firewalled.
    pub exec_unreachable: Vec<String>,
}

impl FaultSettings {
    /// Times must be finite and between a millisecond and a day.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("watchSeconds", self.watch_seconds),
            ("bookmarkSeconds", self.bookmark_seconds),
        ] {
            if let Some(v) = value
                && !(0.001..=86_400.0).contains(&v)
            {
                return Err(format!("{name} is {v}; it must be between 0.001 and 86400"));
            }
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct Faults {
    settings: Mutex<FaultSettings>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, FaultSettings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, s: FaultSettings) {
        *self.lock() = s;
    }

    pub fn watch_cap(&self) -> Option<Duration> {
        self.lock()
            .watch_seconds
            .filter(|s| *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    pub fn exec_unreachable(&self, node: &str) -> bool {
        self.lock().exec_unreachable.iter().any(|n| n == node)
    }

    pub fn silent_nodes(&self) -> Vec<String> {
        self.lock().silent_nodes.clone()
    }

    pub fn bookmark_interval(&self) -> Duration {
        Duration::from_secs_f64(
            self.lock()
                .bookmark_seconds
                .filter(|s| *s > 0.0)
                .unwrap_or(10.0),
        )
    }

    pub fn take_watch_gone(&self) -> bool {
        let mut s = self.lock();
        if s.watch_gone > 0 {
            s.watch_gone -= 1;
            true
        } else {
            false
        }
    }

    /// A fault to answer this call with, if one is due.
    pub async fn before(&self, call: &Call) -> Option<Response> {
        if call.segments.first().is_some_and(|s| s == "sim") {
            return None;
        }
        let (delay, fault) = {
            let mut s = self.lock();
            let denied = call
                .segments
                .iter()
                .skip(2)
                .find(|seg| s.forbidden.iter().any(|f| f == *seg));
            let fault = if let Some(resource) = denied {
                let verb = match call.method {
                    Method::GET if call.param("watch").is_some_and(|w| w == "true" || w == "1") => {
                        "watch"
                    }
                    Method::GET => "list",
                    Method::POST => "create",
                    Method::PATCH => "patch",
                    Method::PUT => "update",
                    Method::DELETE => "delete",
                    _ => "get",
                };
                Some(ApiError::forbidden(format!(
                    "{resource} is forbidden: User \"kpreload\" cannot {verb} resource \"{resource}\" in API group \"\" at the cluster scope"
                )))
            } else if s.too_many > 0 {
                s.too_many -= 1;
                Some(ApiError::too_many_requests(s.retry_after.max(1)))
            } else if s.errors > 0 {
                s.errors -= 1;
                Some(ApiError::internal("injected failure"))
            } else if matches!(call.method, Method::PUT | Method::PATCH)
                && s.conflict_on
                    .as_deref()
                    .is_some_and(|n| call.segments.iter().any(|x| x == n))
            {
                let name = s.conflict_on.take().unwrap_or_default();
                Some(ApiError::conflict(
                    "",
                    "objects",
                    &name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ))
            } else {
                None
            };
            (s.delay_ms, fault)
        };
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        fault.map(|e| error_response(&e))
    }

    pub fn control(
        &self,
        store: &Store,
        method: &Method,
        rest: &[&str],
        call: &Call,
    ) -> ApiResult<Response> {
        match (method, rest) {
            (&Method::GET, ["faults"]) => Ok(json_response(StatusCode::OK, &json!(*self.lock()))),
            (&Method::POST, ["faults"]) => {
                let mut current = serde_json::to_value(&*self.lock()).unwrap_or_default();
                let update: serde_json::Value =
                    serde_json::from_slice(&call.body).map_err(|e| {
                        ApiError::bad_request(format!("the fault settings are not JSON: {e}"))
                    })?;
                json_patch::merge(&mut current, &update);
                let next: FaultSettings = serde_json::from_value(current)
                    .map_err(|e| ApiError::bad_request(format!("bad fault settings: {e}")))?;
                next.check().map_err(ApiError::bad_request)?;
                self.set(next.clone());
                Ok(json_response(StatusCode::OK, &json!(next)))
            }
            (&Method::POST, ["compact"]) => {
                store.compact();
                Ok((StatusCode::OK, "compacted").into_response())
            }
            _ => Err(ApiError::path_not_found()),
        }
    }
}
