//! A request's authorization attributes, derived as the API server's RequestInfoFactory
//! derives them.

use std::collections::HashMap;

use axum::http::Method;

/// What a request asks to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attributes {
    /// Under `/api/VERSION/…` or `/apis/GROUP/VERSION/…`.
    Resource(ResourceRequest),
    /// Any other path (discovery, `/version`, `/openapi/v3`, …).
    NonResource { verb: String, path: String },
}

/// A resource request's attributes; "" where the request has none (the core group, a
/// cluster-scoped resource, a collection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRequest {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub sub: String,
    pub namespace: String,
    pub name: String,
}

impl ResourceRequest {
    /// `pods/exec`, or `pods` without a subresource: what rules and refusals name.
    pub fn combined(&self) -> String {
        if self.sub.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.sub)
        }
    }
}

/// The attributes of `method` on the path `segments` (percent-decoded) with `query`.
pub fn attributes(
    method: &Method,
    segments: &[String],
    query: &HashMap<String, String>,
) -> Attributes {
    let non_resource = || Attributes::NonResource {
        verb: method.as_str().to_ascii_lowercase(),
        path: format!("/{}", segments.join("/")),
    };
    if segments.len() < 3 {
        return non_resource();
    }
    let (group, rest) = match segments[0].as_str() {
        "api" => (String::new(), &segments[2..]),
        "apis" if segments.len() >= 4 => (segments[1].clone(), &segments[3..]),
        _ => return non_resource(),
    };
    let mut parts: &[String] = rest;
    let mut verb = match *method {
        Method::POST => "create",
        Method::GET | Method::HEAD => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
    .to_string();
    // `/api/v1/watch/…` and `/api/v1/proxy/…`, the old forms.
    if let Some(special) = parts.first().filter(|p| *p == "watch" || *p == "proxy") {
        verb = special.clone();
        parts = &parts[1..];
    }
    let mut namespace = String::new();
    if parts.first().is_some_and(|p| p == "namespaces") && parts.len() > 1 {
        namespace = parts[1].clone();
        if parts.len() > 2 && !matches!(parts[2].as_str(), "status" | "finalize") {
            parts = &parts[2..];
        }
    }
    let resource = parts.first().cloned().unwrap_or_default();
    let mut name = parts.get(1).cloned().unwrap_or_default();
    let sub = if verb == "proxy" {
        String::new()
    } else {
        parts.get(2).cloned().unwrap_or_default()
    };
    if name.is_empty() && verb == "get" {
        verb = if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
            "watch".into()
        } else {
            "list".into()
        };
        // A list or watch of one object by name is authorized as that object.
        if let Some(one) = query.get("fieldSelector").and_then(|s| exact_name(s)) {
            name = one;
        }
    }
    if name.is_empty() && verb == "delete" {
        verb = "deletecollection".into();
    }
    Attributes::Resource(ResourceRequest {
        verb,
        group,
        resource,
        sub,
        namespace,
        name,
    })
}

/// `metadata.name=X` (or `==`), alone in a field selector → X.
fn exact_name(selector: &str) -> Option<String> {
    if selector.contains(',') {
        return None;
    }
    let value = selector
        .strip_prefix("metadata.name==")
        .or_else(|| selector.strip_prefix("metadata.name="))?;
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains('/')
        && !value.contains('%');
    valid.then(|| value.to_string())
}
