//! The OpenAPI v3 documents kubectl reads: to learn that the server validates fields
//! itself (`fieldValidation` on PATCH), and for `kubectl explain`. The schemas come from the
//! same k8s-openapi types the server decodes bodies with.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::{apps, core};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::discovery::GIT_VERSION;
use super::fields::{is_set_list, merge_keys};
use super::resources::{RESOURCES, Resource};
use super::server::json_response;
use super::status::{ApiError, ApiResult};

/// `/openapi/v3` and the documents below it; `/openapi/v2` is served without schemas.
///
/// kubectl asks for v2 (as protobuf) only for kinds the v3 documents do not name, to
/// validate them on the client; an empty document lets it go on and report the kind as
/// unknown, as it does against a real server.
pub fn serve(rest: &[&str], accept: &str) -> ApiResult<Response> {
    let docs = documents();
    let key = rest.join("/");
    match key.as_str() {
        "v2" if accept.contains("protobuf") => Ok((
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )],
            Vec::<u8>::new(),
        )
            .into_response()),
        "v2" => Ok(json_response(
            StatusCode::OK,
            &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": {}, "definitions": {}}),
        )),
        "v3" => Ok(json_response(StatusCode::OK, &docs.index)),
        _ => {
            let gv = key
                .strip_prefix("v3/")
                .ok_or_else(ApiError::path_not_found)?;
            let doc = docs
                .by_group_version
                .get(gv)
                .ok_or_else(ApiError::path_not_found)?;
            Ok(json_response(StatusCode::OK, doc))
        }
    }
}

struct Documents {
    index: Value,
    by_group_version: BTreeMap<String, Value>,
}

fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(build)
}

fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

fn build() -> Documents {
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<core::v1::Namespace>();
    generator.subschema_for::<core::v1::Node>();
    generator.subschema_for::<core::v1::Pod>();
    generator.subschema_for::<core::v1::Event>();
    generator.subschema_for::<core::v1::Secret>();
    generator.subschema_for::<core::v1::ServiceAccount>();
    generator.subschema_for::<apps::v1::DaemonSet>();
    generator.subschema_for::<k8s_openapi::api::batch::v1::CronJob>();
    generator.subschema_for::<k8s_openapi::api::rbac::v1::Role>();
    generator.subschema_for::<k8s_openapi::api::rbac::v1::ClusterRole>();
    generator.subschema_for::<k8s_openapi::api::rbac::v1::RoleBinding>();
    generator.subschema_for::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>();
    generator.subschema_for::<k8s_openapi::api::events::v1::Event>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    for r in RESOURCES {
        if let Some(Value::Object(s)) = schemas.get_mut(&r.definition()) {
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": r.group, "version": r.version, "kind": r.kind}]),
            );
        }
    }
    for schema in schemas.values_mut() {
        add_patch_extensions(schema);
    }
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    let schemas = Value::Object(schemas);

    let mut by_group_version = BTreeMap::new();
    let mut index = Map::new();
    let mut groups: Vec<String> = RESOURCES.iter().map(gv_path).collect();
    groups.dedup();
    for gv in groups {
        let mut paths = Map::new();
        for r in RESOURCES.iter().filter(|r| gv_path(r) == gv) {
            add_paths(&mut paths, r);
        }
        let doc = json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths,
            "components": {"schemas": schemas},
        });
        let hash = format!("{:016X}", fnv(doc.to_string().as_bytes()));
        index.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}),
        );
        by_group_version.insert(gv, doc);
    }
    Documents {
        index: json!({"paths": index}),
        by_group_version,
    }
}

/// Marks keyed lists (`containers` by name, …) as the real schema does, so kubectl builds
/// strategic merge patches that merge them by key and delete items with `$patch: delete`.
fn add_patch_extensions(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        let Some(p) = prop.as_object_mut() else {
            continue;
        };
        if p.get("type").and_then(Value::as_str) != Some("array") {
            continue;
        }
        if let Some(keys) = merge_keys(name) {
            p.insert("x-kubernetes-patch-merge-key".into(), json!(keys[0]));
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            p.insert("x-kubernetes-list-type".into(), json!("map"));
            p.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        } else if is_set_list(name) {
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            p.insert("x-kubernetes-list-type".into(), json!("set"));
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &Resource, action: &str, id: &str, schema: &str, writes: bool) -> Value {
    let mut params = vec![query(
        "pretty",
        "If 'true', then the output is pretty printed.",
    )];
    if writes {
        params.push(query(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        params.push(query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
        params.push(query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."));
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    if action == "list" || action == "watch" {
        for p in [
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "watch",
            "allowWatchBookmarks",
            "sendInitialEvents",
            "timeoutSeconds",
        ] {
            params.push(query(p, ""));
        }
    }
    let mut op = json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}
        }}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    });
    if writes && action != "delete" {
        let body_types: &[&str] = if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else {
            &["application/json"]
        };
        let content: Map<String, Value> = body_types
            .iter()
            .map(|t| {
                let schema = if action == "patch" {
                    json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"})
                } else {
                    json!({"$ref": format!("#/components/schemas/{schema}")})
                };
                (t.to_string(), json!({"schema": schema}))
            })
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

fn add_paths(paths: &mut Map<String, Value>, r: &Resource) {
    let prefix = format!("/{}", gv_path(r));
    let base = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let def = r.definition();
    let id = |verb: &str, suffix: &str| format!("{verb}{}{}", r.kind, suffix);
    let read_only = r.verbs().len() == 3;
    let mut collection = json!({
        "get": operation(r, "list", &id("list", ""), &def, false),
    });
    let mut item = json!({
        "get": operation(r, "get", &id("read", ""), &def, false),
    });
    if !read_only {
        collection["post"] = operation(r, "post", &id("create", ""), &def, true);
        collection["delete"] = operation(
            r,
            "deletecollection",
            &id("deleteCollection", ""),
            &def,
            true,
        );
        item["put"] = operation(r, "put", &id("replace", ""), &def, true);
        item["patch"] = operation(r, "patch", &id("patch", ""), &def, true);
        item["delete"] = operation(r, "delete", &id("delete", ""), &def, true);
    }
    paths.insert(base.clone(), collection);
    paths.insert(format!("{base}/{{name}}"), item);
    if r.has_status {
        paths.insert(
            format!("{base}/{{name}}/status"),
            json!({
                "get": operation(r, "get", &id("read", "Status"), &def, false),
                "put": operation(r, "put", &id("replace", "Status"), &def, true),
                "patch": operation(r, "patch", &id("patch", "Status"), &def, true),
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_patch_declares_field_validation_and_its_kind() {
        let docs = documents();
        let apps = &docs.by_group_version["apis/apps/v1"];
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "DaemonSet"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let schema = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DaemonSet"];
        assert_eq!(
            schema["x-kubernetes-group-version-kind"][0]["kind"],
            "DaemonSet"
        );
        assert!(schema["properties"]["spec"].is_object());
        assert!(
            docs.index["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
    }
}
