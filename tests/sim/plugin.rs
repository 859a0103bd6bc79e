//! kpreload as kubectl's plugin (`kubectl-preload` on the PATH, run by real kubectl), its
//! shell completions and manual page, and the demo's seed.

use crate::support;

use std::process::Command;

use serde_json::Value;

/// A directory holding `kubectl-preload`, a copy of the binary under the plugin's name.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-preload");
    std::fs::copy(env!("CARGO_BIN_EXE_kpreload"), &plugin).unwrap();
    dir
}

fn with_plugin(
    kubectl: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(kubectl)
        .args(args)
        .env("PATH", path)
        .env("KPRELOAD_NO_REGISTRY", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn kubectl_runs_kpreload_as_its_preload_plugin() {
    let Some(kubectl) = support::kubectl_path() else {
        return;
    };
    let dir = plugin_dir();
    let out = with_plugin(&kubectl, dir.path(), &["plugin", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("kubectl-preload"), "{listed}");

    let out = with_plugin(&kubectl, dir.path(), &["preload", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        help.contains("Usage: kubectl preload [OPTIONS] [COMMAND]"),
        "{help}"
    );
    assert!(help.contains("check"), "{help}");

    // A command through kubectl, against the demo cluster: the pools as JSON.
    let out = with_plugin(
        &kubectl,
        dir.path(),
        &["preload", "--demo", "status", "-o", "json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pools: Vec<&str> = status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pool"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["ml", "web"]);

    // A usage error names the plugin's own command line.
    let out = with_plugin(&kubectl, dir.path(), &["preload", "stauts"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kubectl preload"), "{err}");
}

#[test]
fn completions_and_the_manual_page_generate() {
    for (shell, expect) in [
        ("bash", "complete -F _kpreload"),
        ("zsh", "#compdef kpreload"),
        ("fish", "complete -c kpreload"),
    ] {
        let o = support::kpreload(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(expect),
            "{shell}: {}",
            &text[..text.len().min(300)]
        );
        // Every command is offered.
        for command in ["check", "cleanup", "render", "completions", "man"] {
            assert!(text.contains(command), "{shell} lacks {command}");
        }
    }
    let o = support::kpreload(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));

    let o = support::kpreload(&["man"]);
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.starts_with(".ie"), "{}", &page[..page.len().min(200)]);
    assert!(
        page.contains(".TH kpreload 1"),
        "{}",
        &page[..page.len().min(400)]
    );
    assert!(
        page.contains("\\-\\-kubeconfig"),
        "the global flags are in it"
    );
    // `man` itself reads it, where it is installed.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), page.as_bytes()).unwrap();
    let man = Command::new("man")
        .arg("-l")
        .arg(file.path())
        .env("MANPAGER", "cat")
        .env("COLUMNS", "100")
        .output();
    if let Ok(o) = man
        && o.status.success()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("kpreload"), "{text}");
    }
}

/// The web pool's pulls as the demo's kubelets report them, once it is complete.
fn web_pulls(seed: &str) -> Vec<(String, String, String, String)> {
    let o = support::kpreload(&[
        "--demo",
        "--seed",
        seed,
        "status",
        "--pool",
        "web",
        "-o",
        "json",
        "--wait",
        "--timeout",
        "120s",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out = Vec::new();
    for node in status["pools"][0]["nodes"].as_array().unwrap() {
        for image in node["images"].as_array().unwrap() {
            out.push((
                node["node"].as_str().unwrap().to_string(),
                node["pod"].as_str().unwrap_or_default().to_string(),
                image["image"].as_str().unwrap().to_string(),
                format!("{} {}", image["state"], image["seconds"]),
            ));
        }
    }
    out
}

#[test]
fn the_same_seed_tells_the_same_story() {
    let runs: Vec<_> = ["7", "7", "8"]
        .map(|s| std::thread::spawn(move || web_pulls(s)))
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1], "seed 7 twice");
    assert_ne!(runs[0], runs[2], "seeds 7 and 8");
    let pulled = runs[0]
        .iter()
        .filter(|p| p.3.starts_with("\"pulled\""))
        .count();
    assert!(pulled > 0, "{:?}", runs[0]);

    let o = support::kpreload(&["--seed", "7", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use it with `kpreload demo` or --demo"));
}
