//! The HTTP face of the simulator: Kubernetes API paths, verbs and content negotiation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::discovery;
use super::faults::Faults;
use super::list::{list, respond_object, select};
use super::objects::{FieldValidation, normalize, validate};
use super::openapi;
use super::patch;
use super::resources::{self, Resource};
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::watch;

/// The simulated API server's state.
pub struct Sim {
    pub store: Store,
    pub simulation: super::scenario::Simulation,
    pub faults: Faults,
    /// The controllers', scheduler's and kubelets' own state.
    pub world: super::world::World,
    /// `127.0.0.1:PORT`, for discovery's server address.
    pub address: std::sync::OnceLock<String>,
}

impl Sim {
    pub fn new(store: Store, simulation: super::scenario::Simulation) -> Self {
        Sim {
            store,
            simulation,
            faults: Faults::default(),
            world: super::world::World::default(),
            address: std::sync::OnceLock::new(),
        }
    }
}

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

/// One request, read once.
pub struct Call {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    pub fn wants_table(&self) -> bool {
        self.accept().contains("as=Table")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.param("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }

    /// The manager a write is recorded under, as the API server derives it.
    pub fn field_manager(&self) -> String {
        if let Some(m) = self.param("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let agent = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        agent.split('/').next().unwrap_or("unknown").to_string()
    }

    /// Parses the body as JSON, or YAML when the content type says so.
    pub fn body_value(&self) -> ApiResult<Value> {
        let ct = self.content_type();
        let parsed = if ct.contains("yaml") {
            serde_yaml::from_slice::<Value>(&self.body)
                .map_err(|e| format!("error converting YAML to JSON: {e}"))
        } else {
            serde_json::from_slice::<Value>(&self.body)
                .map_err(|e| format!("couldn't get version/kind; json parse error: {e}"))
        };
        parsed.map_err(ApiError::bad_request)
    }
}

async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    // Who asks, and may they (a scenario with users).
    if let Err(e) = super::rbac::check(
        &sim.store,
        &sim.simulation.users,
        &parts.method,
        &segments,
        &query,
        &parts.headers,
    ) {
        return error_response(&e);
    }
    if let Some((ns, name)) = super::exec::target(parts.uri.path()) {
        return super::exec::serve(sim, parts, ns, name).await;
    }
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::bad_request("the request body is too large")),
    };
    let call = Call {
        method: parts.method,
        segments,
        query,
        headers: parts.headers,
        body,
    };
    if let Some(resp) = sim.faults.before(&call).await {
        return resp;
    }
    match route(&sim, &call).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

pub fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.to_status(),
    );
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

pub fn json_response(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

pub fn ok(value: &Value) -> ApiResult<Response> {
    Ok(json_response(StatusCode::OK, value))
}

async fn route(sim: &Arc<Sim>, call: &Call) -> ApiResult<Response> {
    let seg: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let get = call.method == Method::GET;
    match seg.as_slice() {
        ["version"] if get => ok(&discovery::version()),
        ["healthz" | "readyz" | "livez"] if get => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] if get => ok(&discovery::core_versions(
            sim.address.get().map(String::as_str).unwrap_or("127.0.0.1"),
        )),
        ["apis"] if get => ok(&discovery::group_list()),
        ["apis", g] if get => {
            discovery::group(g).map_or_else(|| Err(ApiError::path_not_found()), |v| ok(&v))
        }
        ["api", v] if get => discovery::resource_list("", v)
            .map_or_else(|| Err(ApiError::path_not_found()), |v| ok(&v)),
        ["apis", g, v] if get => discovery::resource_list(g, v)
            .map_or_else(|| Err(ApiError::path_not_found()), |v| ok(&v)),
        ["openapi", rest @ ..] if get => openapi::serve(rest, call.accept()),
        ["sim", rest @ ..] => sim.faults.control(&sim.store, &call.method, rest, call),
        // The scenario's registry list, over the OCI distribution API.
        ["v2", rest @ ..] => Ok(super::registry::serve(&sim.simulation, &call.method, rest)),
        ["api", v, rest @ ..] => resource_call(sim, call, "", v, rest).await,
        ["apis", g, v, rest @ ..] => resource_call(sim, call, g, v, rest).await,
        _ => Err(ApiError::path_not_found()),
    }
}

/// Where a resource path points.
enum Target<'a> {
    Collection {
        res: &'static Resource,
        ns: Option<&'a str>,
    },
    Object {
        res: &'static Resource,
        ns: Option<&'a str>,
        name: &'a str,
        sub: &'a [&'a str],
    },
}

fn target<'a>(group: &str, version: &str, rest: &'a [&'a str]) -> ApiResult<Target<'a>> {
    let find = |plural: &str| resources::find(group, version, plural);
    match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let res = find(plural).expect("checked above");
            match tail {
                [] => Ok(Target::Collection { res, ns: Some(ns) }),
                [name, sub @ ..] => Ok(Target::Object {
                    res,
                    ns: Some(ns),
                    name,
                    sub,
                }),
            }
        }
        [plural] => {
            let res = find(plural).ok_or_else(ApiError::path_not_found)?;
            Ok(Target::Collection { res, ns: None })
        }
        [plural, name, sub @ ..] => {
            let res = find(plural).ok_or_else(ApiError::path_not_found)?;
            if res.namespaced {
                return Err(ApiError::path_not_found());
            }
            Ok(Target::Object {
                res,
                ns: None,
                name,
                sub,
            })
        }
        [] => Err(ApiError::path_not_found()),
    }
}

async fn resource_call(
    sim: &Arc<Sim>,
    call: &Call,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Response> {
    let rest: Vec<&str> = rest.to_vec();
    match target(group, version, &rest)? {
        Target::Collection { res, ns } => match call.method {
            Method::GET if is_true(call.param("watch")) => watch::serve(sim, call, res, ns).await,
            Method::GET => list(sim, call, res, ns),
            Method::POST => match (res.namespaced, ns) {
                (true, None) => Err(ApiError::method_not_allowed()),
                _ => create(sim, call, res, ns.unwrap_or_default()),
            },
            Method::DELETE => delete_collection(sim, call, res, ns),
            _ => Err(ApiError::method_not_allowed()),
        },
        Target::Object { res, ns, name, sub } => {
            let ns = ns.unwrap_or_default();
            match sub {
                [] => object_call(sim, call, res, ns, name, false),
                ["status"] if res.has_status => object_call(sim, call, res, ns, name, true),
                ["log"] if res.kind == "Pod" && call.method == Method::GET => {
                    super::pod_log::serve(sim, call, ns, name)
                }
                ["proxy", rest @ ..] if res.kind == "Node" && call.method == Method::GET => {
                    super::node_proxy::serve(sim, name, rest)
                }
                _ => Err(ApiError::path_not_found()),
            }
        }
    }
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1"))
}

fn object_call(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: &str,
    name: &str,
    status: bool,
) -> ApiResult<Response> {
    match call.method {
        Method::GET => {
            let obj = sim
                .store
                .get(res.store_kind, ns, name)
                .ok_or_else(|| ApiError::not_found(res.group, res.plural, name))?;
            respond_object(call, res, obj)
        }
        Method::PUT => replace(sim, call, res, ns, name, status),
        Method::PATCH => patch::patch(sim, call, res, ns, name, status),
        Method::DELETE if !status => {
            let dry = call.dry_run()? || delete_options_dry_run(call)?;
            let pre = delete_preconditions(call)?;
            let gone = sim.store.delete_if(res, ns, name, dry, &pre)?;
            if res.kind == "Namespace" && !dry {
                sim.store.delete_namespace_contents(name);
            }
            ok(&view(res, &gone))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// DeleteOptions' `preconditions`: the uid and resourceVersion the object must still have.
fn delete_preconditions(call: &Call) -> ApiResult<super::store::Preconditions> {
    if call.body.is_empty() {
        return Ok(Default::default());
    }
    let options: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("the DeleteOptions body is not JSON: {e}")))?;
    let field = |k: &str| options["preconditions"][k].as_str().map(str::to_string);
    Ok(super::store::Preconditions {
        uid: field("uid"),
        resource_version: field("resourceVersion"),
    })
}

/// kubectl sends DELETE's dry run in a DeleteOptions body, not the query.
fn delete_options_dry_run(call: &Call) -> ApiResult<bool> {
    if call.body.is_empty() {
        return Ok(false);
    }
    let options: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("the DeleteOptions body is not JSON: {e}")))?;
    match options["dryRun"].as_array() {
        None => Ok(false),
        Some(values) if values.iter().all(|v| v == "All") => Ok(!values.is_empty()),
        Some(_) => Err(ApiError::bad_request(
            "dryRun: Unsupported value: supported values: \"All\"",
        )),
    }
}

/// The object as this resource's group presents it (events.k8s.io reads core Events).
pub fn view(res: &Resource, obj: &Value) -> Value {
    if res.group == "events.k8s.io" {
        return super::events::to_events_v1(obj);
    }
    obj.clone()
}

/// Checks a body's apiVersion, kind and namespace against the path, and fills them in.
pub fn check_identity(res: &Resource, body: &mut Value, ns: &str) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request is not a {} object",
            res.kind
        )));
    }
    if !(body["metadata"].is_object() || body["metadata"].is_null()) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    let api_version = body["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = body["kind"].as_str().unwrap_or_default().to_string();
    if !api_version.is_empty() && api_version != res.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    if !kind.is_empty() && kind != res.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            res.kind
        )));
    }
    body["apiVersion"] = json!(res.api_version());
    body["kind"] = json!(res.kind);
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    if res.namespaced {
        match body["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => body["metadata"]["namespace"] = json!(ns),
        }
    } else if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(())
}

pub fn require_namespace(sim: &Sim, res: &Resource, ns: &str) -> ApiResult<()> {
    if res.namespaced && sim.store.get("Namespace", "", ns).is_none() {
        return Err(ApiError::not_found("", "namespaces", ns));
    }
    Ok(())
}

/// Reads, normalises and validates a body for a write; returns it and any warnings.
pub fn prepare(
    call: &Call,
    res: &'static Resource,
    mut body: Value,
    ns: &str,
) -> ApiResult<(Value, Vec<String>)> {
    check_identity(res, &mut body, ns)?;
    let validation = FieldValidation::parse(call.param("fieldValidation"))?;
    let (obj, warnings) = normalize(res, body, validation)?;
    Ok((obj, warnings))
}

fn create(sim: &Arc<Sim>, call: &Call, res: &'static Resource, ns: &str) -> ApiResult<Response> {
    if res.group == "events.k8s.io" {
        return Err(ApiError::method_not_allowed());
    }
    let body = call.body_value()?;
    let (mut obj, warnings) = prepare(call, res, body, ns)?;
    require_namespace(sim, res, ns)?;
    let generate = obj["metadata"]["generateName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
        && !generate.is_empty()
    {
        // Validate with a stand-in name; the store picks the real one.
        let mut probe = obj.clone();
        probe["metadata"]["name"] = json!(format!("{generate}xxxxx"));
        validate(res, &probe)?;
    } else {
        validate(res, &obj)?;
    }
    super::fields::record_update(&mut obj, None, &call.field_manager(), "Update", res);
    let created = sim.store.create(res, obj, call.dry_run()?)?;
    let mut resp = json_response(StatusCode::CREATED, &view(res, &created));
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "'"))) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

fn replace(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: &str,
    name: &str,
    status: bool,
) -> ApiResult<Response> {
    let body = call.body_value()?;
    let (obj, warnings) = prepare(call, res, body, ns)?;
    let body_name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let manager = call.field_manager();
    let updated = sim.store.update(res, ns, name, call.dry_run()?, |old| {
        let new = merge_subresource(res, old, obj, status);
        validate(res, &new)?;
        let mut new = new;
        super::fields::record_update(&mut new, Some(old), &manager, "Update", res);
        Ok(new)
    })?;
    let mut resp = json_response(StatusCode::OK, &view(res, &updated));
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// A write to the main resource keeps the stored status; a write to `status` changes only
/// the status.
pub fn merge_subresource(res: &Resource, old: &Value, mut new: Value, status: bool) -> Value {
    if status {
        let mut merged = old.clone();
        merged["status"] = new["status"].take();
        if !new["metadata"]["resourceVersion"].is_null() {
            merged["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
        }
        return merged;
    }
    if res.has_status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    new
}

fn delete_collection(
    sim: &Arc<Sim>,
    call: &Call,
    res: &'static Resource,
    ns: Option<&str>,
) -> ApiResult<Response> {
    let (_, items) = select(sim, call, res, ns)?;
    let dry = call.dry_run()? || delete_options_dry_run(call)?;
    let mut gone = Vec::new();
    for o in items {
        let (ns, name) = o.key();
        if let Ok(g) = sim.store.delete(res, &ns, &name, dry) {
            gone.push(view(res, &g));
        }
    }
    ok(&json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": sim.store.current_rv().to_string()},
        "items": gone,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = target("", "v1", &["namespaces", "default", "pods", "a", "status"]).unwrap();
        assert!(matches!(
            t,
            Target::Object {
                name: "a",
                sub: ["status"],
                ns: Some("default"),
                ..
            }
        ));
        let t = target("", "v1", &["namespaces", "default"]).unwrap();
        assert!(matches!(
            t,
            Target::Object {
                name: "default",
                ns: None,
                ..
            }
        ));
        let t = target("", "v1", &["namespaces", "default", "status"]).unwrap();
        assert!(matches!(
            t,
            Target::Object {
                name: "default",
                sub: ["status"],
                ..
            }
        ));
        let t = target("apps", "v1", &["daemonsets"]).unwrap();
        assert!(matches!(t, Target::Collection { ns: None, .. }));
        assert!(target("", "v1", &["pods", "x"]).is_err());
        assert!(target("", "v1", &["widgets"]).is_err());
    }
}
