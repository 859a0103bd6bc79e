//! Reading `crictl`: its `-o json` output is the CRI's messages in protobuf's JSON form
//! (camelCase fields, 64-bit numbers as strings), and `rmi` prints `Deleted: NAME` per name
//! of each removed image, and logs `no such image ID` for one that is gone.
//!
//! crictl is not packaged for the Debian release the tests run on, so these formats are
//! checked against the CRI's own answers from a real containerd (`tests/node/main.rs`)
//! rather than against crictl's binary.

use serde::Deserialize;

use super::{NameResult, Output, RuntimeContainer, RuntimeImage};

/// A protobuf uint64 in JSON: a string, or a number from tools that print it so.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Text(String),
    Int(u64),
}

impl Number {
    fn value(&self) -> Option<u64> {
        match self {
            Number::Text(t) => t.parse().ok(),
            Number::Int(n) => Some(*n),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Image {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    size: Option<Number>,
    #[serde(default)]
    pinned: bool,
}

#[derive(Deserialize)]
struct Images {
    #[serde(default)]
    images: Option<Vec<Image>>,
}

/// `crictl images -o json`.
pub fn parse_images(text: &str) -> Result<Vec<RuntimeImage>, String> {
    let list: Images = serde_json::from_str(text).map_err(|e| {
        format!("`crictl images -o json` printed something else than its JSON: {e}")
    })?;
    let mut out = Vec::new();
    for mut i in list.images.unwrap_or_default() {
        // CRI-O prints bare hex IDs; containerd `sha256:…`. One form for both.
        if i.id.len() == 64 && i.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            i.id = format!("sha256:{}", i.id);
        }
        let mut refs: Vec<String> = i.repo_tags.unwrap_or_default();
        refs.extend(i.repo_digests.unwrap_or_default());
        refs.sort();
        refs.dedup();
        let size = i.size.as_ref().and_then(Number::value);
        out.push(RuntimeImage {
            target: i.id.clone(),
            id: Some(i.id),
            refs,
            size: size.unwrap_or(0),
            size_exact: size.is_some(),
            pinned: i.pinned,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct ImageSpec {
    #[serde(default)]
    image: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    id: String,
    image: Option<ImageSpec>,
    #[serde(default)]
    image_ref: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct Containers {
    #[serde(default)]
    containers: Option<Vec<Container>>,
}

/// `crictl ps -a -o json`.
pub fn parse_containers(text: &str) -> Result<Vec<RuntimeContainer>, String> {
    let list: Containers = serde_json::from_str(text)
        .map_err(|e| format!("`crictl ps -a -o json` printed something else than its JSON: {e}"))?;
    Ok(list
        .containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let bare = |s: String| {
                if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    format!("sha256:{s}")
                } else {
                    s
                }
            };
            let image = bare(c.image.map(|s| s.image).unwrap_or_default());
            let c = Container {
                image: None,
                image_ref: bare(c.image_ref),
                ..c
            };
            let image_ref =
                (!c.image_ref.is_empty() && c.image_ref != image).then_some(c.image_ref);
            RuntimeContainer {
                id: c.id,
                image: if image.is_empty() {
                    image_ref.clone().unwrap_or_default()
                } else {
                    image
                },
                image_ref,
                running: Some(c.state == "CONTAINER_RUNNING"),
            }
        })
        .collect())
}

/// `crictl rmi ID…`: the IDs given are reported one by one.
pub fn parse_remove(ids: &[String], out: &Output) -> Vec<(String, NameResult)> {
    let deleted = out.stdout.lines().any(|l| l.starts_with("Deleted: "));
    ids.iter()
        .map(|id| {
            let said = out.stderr.lines().find(|l| l.contains(id.as_str()));
            let result = match said {
                Some(l) if l.contains("no such image") || l.contains("NotFound") => {
                    NameResult::AlreadyGone
                }
                Some(l) => NameResult::Refused(l.trim().to_string()),
                None if out.code == 0 || deleted => NameResult::Removed,
                None => NameResult::Refused(
                    out.stderr
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .unwrap_or("crictl failed without saying why")
                        .to_string(),
                ),
            };
            (id.clone(), result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_with_their_names_exact_sizes_and_pins() {
        let text = r#"{"images": [
          {"id": "sha256:aa", "repoTags": ["docker.io/library/nginx:1.25"],
           "repoDigests": ["docker.io/library/nginx@sha256:bb"], "size": "67890123",
           "uid": null, "username": "", "spec": null, "pinned": false},
          {"id": "sha256:cc", "repoTags": [], "repoDigests": ["registry.k8s.io/pause@sha256:dd"],
           "size": "321000", "uid": {"value": "65535"}, "username": "", "spec": null, "pinned": true}
        ]}"#;
        let images = parse_images(text).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(
            images[0].refs,
            [
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx@sha256:bb"
            ]
        );
        assert_eq!(images[0].size, 67_890_123);
        assert!(images[0].size_exact);
        assert!(images[1].pinned);
        assert_eq!(images[1].names().last().unwrap(), "sha256:cc");
        assert!(parse_images("E1128 connection refused").is_err());
        assert_eq!(parse_images("{}").unwrap(), []);
    }

    #[test]
    fn containers_in_every_state() {
        let text = r#"{"containers": [
          {"id": "c1", "image": {"image": "sha256:aa"}, "imageRef": "docker.io/library/nginx@sha256:bb",
           "state": "CONTAINER_EXITED"},
          {"id": "c2", "image": {"image": "docker.io/library/redis:7"}, "imageRef": "docker.io/library/redis:7",
           "state": "CONTAINER_RUNNING"}
        ]}"#;
        let c = parse_containers(text).unwrap();
        assert_eq!(c[0].running, Some(false));
        assert_eq!(
            c[0].image_ref.as_deref(),
            Some("docker.io/library/nginx@sha256:bb")
        );
        assert_eq!(c[1].image_ref, None);
        assert_eq!(c[1].running, Some(true));
    }

    #[test]
    fn rmi_results() {
        let ids = vec!["sha256:aa".to_string(), "sha256:bb".to_string()];
        let out = Output {
            stdout: "Deleted: docker.io/library/nginx:1.23\n".into(),
            stderr: "time=\"2026-11-28T10:00:00Z\" level=error msg=\"no such image sha256:bb\"\n"
                .into(),
            code: 1,
        };
        let r = parse_remove(&ids, &out);
        assert_eq!(r[0].1, NameResult::Removed);
        assert_eq!(r[1].1, NameResult::AlreadyGone);
    }
}
