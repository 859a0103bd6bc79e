//! The scenario's registry list served over the OCI distribution API (read-only, manifests
//! only), at `/v2/` beside the API server: what `kpreload demo` asks before an edit, as it
//! would ask a real registry. The wording and codes are the CNCF distribution's (`docker
//! registry`): `GET /v2/` answers 200 with `Docker-Distribution-API-Version: registry/2.0`;
//! a manifest is served with its media type and `Docker-Content-Digest` (the sha256 of the
//! body); an unknown one is 404 `MANIFEST_UNKNOWN` "manifest unknown"; a private image (one
//! with `secret:`) is 401 `UNAUTHORIZED` "authentication required" with a Basic challenge.
//!
//! A client asks for `docker.io/library/nginx:1.25` as repository
//! `docker.io/library/nginx`: one server for every registry the scenario names, the way a
//! pull-through mirror is addressed by path. Each image is one manifest: its layers split as
//! the simulated pulls split them, adding up (with the config) to the scenario's size. The
//! simulated kubelets record the same digest for what they pull, so the findings compare
//! like with like.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::rules::reference::ImageRef;
use crate::scenario::Simulation;
use crate::world::images::digest_of;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Bytes of the (never served) config blob, counted in the image's size.
const CONFIG: u64 = 1_024;

/// The manifest of an image of `size` bytes, and its digest.
pub fn manifest(normalized: &str, size: u64) -> (Vec<u8>, String) {
    let layers: Vec<serde_json::Value> = crate::world::layer_sizes(size.saturating_sub(CONFIG))
        .into_iter()
        .enumerate()
        .map(|(k, bytes)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": format!("sha256:{}", digest_of(normalized, &format!("blob-{k}"))),
                "size": bytes,
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", digest_of(normalized, "config")),
            "size": size.min(CONFIG),
        },
        "layers": layers,
    }))
    .unwrap_or_default();
    let hash = Sha256::digest(&body);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    (body, format!("sha256:{hex}"))
}

/// `GET|HEAD /v2/...`.
pub fn serve(sim: &Simulation, method: &Method, rest: &[&str]) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
        );
    }
    let version = HeaderValue::from_static("registry/2.0");
    let [name @ .., "manifests", reference] = rest else {
        if rest.is_empty() {
            let mut r = (StatusCode::OK, "{}").into_response();
            r.headers_mut()
                .insert("Docker-Distribution-API-Version", version);
            return r;
        }
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let name = name.join("/");
    let found = sim.registry.iter().find(|r| {
        let normalized = r.image.normalized();
        if reference.starts_with("sha256:") {
            r.image.name() == name && manifest(&normalized, r.size).1 == *reference
        } else {
            ImageRef::parse(&format!("{name}:{reference}")).is_ok_and(|want| want == r.image)
        }
    });
    let Some(image) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        );
    };
    if image.secret.is_some() {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"kpreload-sim\""),
        );
        return r;
    }
    let (body, digest) = manifest(&image.image.normalized(), image.size);
    let length = body.len();
    let mut r = Response::new(if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MANIFEST));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(d) = HeaderValue::from_str(&digest) {
        h.insert("Docker-Content-Digest", d);
    }
    h.insert("Docker-Distribution-API-Version", version);
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
