//! Preloaders that remove images on their own: a container whose command or arguments run
//! the runtime's removal (`ctr … images rm`, `crictl rmi`, `docker rmi`, `nerdctl rmi`,
//! `podman rmi`, their `image rm` and `prune` forms). The article's improved preloader is
//! one: a loop at 03:00 that sorts versions as text and takes a `host:port` registry for a
//! repository. Such a container removes images outside kpreload's rules (in use, pinned,
//! preloaded, version order), on its own schedule.

use k8s_openapi::api::apps::v1::DaemonSet;

/// A container of a preloader that removes images itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnRemoval {
    pub daemonset: String,
    pub container: String,
    /// The first line of its script that removes images, trimmed.
    pub runs: String,
}

/// The runtimes' command-line tools.
const TOOLS: [&str; 5] = ["ctr", "crictl", "docker", "nerdctl", "podman"];
/// How far after the tool its removal verb may come (flags such as `-n k8s.io` between).
const REACH: usize = 6;

/// Every container (init containers included) of the DaemonSet that removes images.
pub fn own_removals(ds: &DaemonSet) -> Vec<OwnRemoval> {
    let name = ds.metadata.name.clone().unwrap_or_default();
    let Some(spec) = ds.spec.template.spec.as_ref() else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter_map(|c| {
            let words = c
                .command
                .iter()
                .flatten()
                .chain(c.args.iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            let runs = words.lines().find(|l| removes(l))?.trim().to_string();
            Some(OwnRemoval {
                daemonset: name.clone(),
                container: c.name.clone(),
                runs,
            })
        })
        .collect()
}

/// Whether a line of shell runs a runtime's image removal.
fn removes(line: &str) -> bool {
    // A comment says nothing.
    let code = line.split(" #").next().unwrap_or(line);
    if code.trim_start().starts_with('#') {
        return false;
    }
    let words: Vec<&str> = code
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')' | '`' | '"' | '\'')
        })
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        let tool = w.rsplit('/').next().unwrap_or(w);
        if !TOOLS.contains(&tool) {
            return false;
        }
        let after = &words[i + 1..(i + 1 + REACH).min(words.len())];
        after.iter().enumerate().any(|(j, v)| {
            *v == "rmi"
                || (matches!(*v, "images" | "image" | "i" | "img")
                    && after.get(j + 1).is_some_and(|n| {
                        matches!(*n, "rm" | "remove" | "delete" | "del" | "prune")
                    }))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_articles_loop_and_the_other_tools_are_found() {
        for line in [
            "nsenter -t 1 -m -u -i -n -p ctr -n k8s.io images rm \"$old_image\" 2>/dev/null || true",
            "crictl rmi --prune",
            "/usr/bin/crictl rmi $(crictl images -q)",
            "docker image prune -af",
            "docker rmi old:1",
            "nerdctl -n k8s.io image rm x",
            "podman rmi x",
            "for i in $(cat list); do ctr -n=k8s.io i rm $i; done",
        ] {
            assert!(removes(line), "{line}");
        }
        for line in [
            "nsenter -t 1 -m -u -i -n -p ctr -n k8s.io images ls -q | while read image; do",
            "ctr -n k8s.io containers ls -q",
            "# ctr images rm is what the old loop did",
            "echo preloaded python:3.12-slim",
            "sleep infinity",
            "rm -f /tmp/all_images.txt",
            "crictl images",
        ] {
            assert!(!removes(line), "{line}");
        }
    }

    #[test]
    fn the_articles_improved_preloader_has_one_and_ours_has_none() {
        let article: DaemonSet = serde_yaml::from_str(include_str!(
            "../../../../tests/fixtures/article/image-preloader-cleanup.yaml"
        ))
        .unwrap();
        let found = own_removals(&article);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].container, "cleanup");
        assert_eq!(found[0].daemonset, "image-preloader");
        assert!(found[0].runs.contains("images rm"), "{}", found[0].runs);
        let plain: DaemonSet = serde_yaml::from_str(include_str!(
            "../../../../tests/fixtures/article/image-preloader.yaml"
        ))
        .unwrap();
        assert_eq!(own_removals(&plain), Vec::new());
    }
}
