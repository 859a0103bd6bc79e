//! `pods/{name}/log`: what a container printed. A simulated container prints what its
//! `echo` commands say (the article's preloaders echo a line per image); the no-op and
//! `sleep infinity` print nothing. Errors word as the kubelet's do.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::server::{Call, Sim};
use super::status::{ApiError, ApiResult};

pub fn serve(sim: &Sim, call: &Call, ns: &str, name: &str) -> ApiResult<Response> {
    let pod = sim
        .store
        .get("Pod", ns, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let (init, main) = (names("initContainers"), names("containers"));
    let container = match call.param("container") {
        Some(c) => c.to_string(),
        None if main.len() == 1 => main[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}] or one of the init containers: [{}]",
                main.join(" "),
                init.join(" ")
            )));
        }
    };
    let (spec, statuses) = if init.contains(&container) {
        ("initContainers", "initContainerStatuses")
    } else if main.contains(&container) {
        ("containers", "containerStatuses")
    } else {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    };
    let state = pod["status"][statuses]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == container.as_str())
        .map(|s| &s["state"]);
    let started =
        state.is_some_and(|s| s.get("running").is_some() || s.get("terminated").is_some());
    if !started {
        let reason = state
            .and_then(|s| s["waiting"]["reason"].as_str())
            .unwrap_or("PodInitializing");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let spec = pod["spec"][spec]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        printed(&spec),
    )
        .into_response())
}

/// What the container's command prints: the words of each `echo` in a `sh -c` script, or of
/// a direct `echo`.
pub fn printed(container: &Value) -> String {
    let words: Vec<&str> = ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let script = match words.as_slice() {
        [sh, "-c", script, ..] if sh.ends_with("sh") => script.to_string(),
        [echo, rest @ ..] if echo.ends_with("echo") => {
            return format!("{}\n", rest.join(" "));
        }
        _ => return String::new(),
    };
    let mut out = String::new();
    for part in script.split([';', '\n']).flat_map(|p| p.split("&&")) {
        if let Some(text) = part.trim().strip_prefix("echo ") {
            out.push_str(unquote(text.trim()));
            out.push('\n');
        }
    }
    out
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn echo_in_a_shell_script_or_direct() {
        let article = json!({"command": ["/bin/sh", "-c", "echo 'Python image pulled'"]});
        assert_eq!(printed(&article), "Python image pulled\n");
        let two = json!({"command": ["sh", "-c"], "args": ["echo \"a b\" && echo c; true"]});
        assert_eq!(printed(&two), "a b\nc\n");
        assert_eq!(
            printed(&json!({"command": ["echo", "hi", "there"]})),
            "hi there\n"
        );
        assert_eq!(printed(&json!({"command": ["/kpreload/true"]})), "");
        assert_eq!(printed(&json!({"command": ["sleep", "infinity"]})), "");
        assert_eq!(printed(&json!({})), "");
    }
}
