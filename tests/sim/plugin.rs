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

/// The placeholder `tests/package` fills with the release archive's sha256.
const SHA256_PLACEHOLDER: &str = "SHA256_OF_THE_ARCHIVE";

/// docs/krew/preload.yaml holds what krew's own validation asks of a manifest (krew's
/// `ValidatePlugin`), and installs as krew installs it: the archive's sha256, its `files`
/// copied, `bin` linked as `kubectl-preload`; then real kubectl runs it.
#[test]
fn the_krew_manifest_is_valid_and_installs_as_krew_installs_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("docs/krew/preload.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let m: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        m["apiVersion"].as_str(),
        Some("krew.googlecontainertools.github.com/v1alpha2")
    );
    assert_eq!(m["kind"].as_str(), Some("Plugin"));
    // The name is the file's, `[\w-]+`, and what kubectl runs: `kubectl preload`.
    let name = m["metadata"]["name"].as_str().unwrap();
    assert_eq!(name, path.file_stem().unwrap().to_str().unwrap());
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    let spec = &m["spec"];
    let short = spec["shortDescription"].as_str().unwrap();
    assert!(!short.is_empty() && !short.contains(['\r', '\n']));
    // The version is the package's, with krew's `v`.
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(spec["version"].as_str(), Some(version.as_str()));
    let platforms = spec["platforms"].as_sequence().unwrap();
    assert!(!platforms.is_empty());
    let platform = &platforms[0];
    for p in platforms {
        let uri = p["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("https://") && uri.contains(&format!("/{version}/")),
            "{uri}"
        );
        assert_eq!(p["sha256"].as_str(), Some(SHA256_PLACEHOLDER));
        assert!(!p["bin"].as_str().unwrap().is_empty());
        let labels = p["selector"]["matchLabels"].as_mapping().unwrap();
        assert!(!labels.is_empty());
        for (k, _) in labels {
            assert!(["os", "arch"].contains(&k.as_str().unwrap()), "{k:?}");
        }
        for f in p["files"].as_sequence().unwrap() {
            assert!(
                !f["from"].as_str().unwrap().is_empty() && !f["to"].as_str().unwrap().is_empty()
            );
        }
    }
    assert_eq!(
        platform["selector"]["matchLabels"]["os"].as_str(),
        Some("linux")
    );

    // The archive as tests/package makes it: the binary and the licence at its top.
    let work = tempfile::tempdir().unwrap();
    let stage = work.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kpreload"), stage.join("kpreload")).unwrap();
    std::fs::copy(root.join("LICENSE"), stage.join("LICENSE")).unwrap();
    std::fs::copy(root.join("README.md"), stage.join("README.md")).unwrap();
    let archive = work.path().join("kpreload.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .args(["kpreload", "LICENSE", "README.md"])
        .status()
        .unwrap();
    assert!(tar.success());
    use sha2::Digest;
    let sum = format!(
        "{:x}",
        sha2::Sha256::digest(std::fs::read(&archive).unwrap())
    );
    // Filled in as tests/package fills it, the sum stands where krew reads it, in its form.
    let filled: serde_yaml::Value =
        serde_yaml::from_str(&text.replace(SHA256_PLACEHOLDER, &sum)).unwrap();
    let platform = &filled["spec"]["platforms"][0];
    let want = platform["sha256"].as_str().unwrap();
    assert!(
        want.len() == 64
            && want
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    // krew: unpack, copy each `files` entry into the plugin's directory, link `bin`.
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(untar.success());
    let installed = work.path().join("store/preload").join(&version);
    std::fs::create_dir_all(&installed).unwrap();
    for f in platform["files"].as_sequence().unwrap() {
        let from = unpacked.join(f["from"].as_str().unwrap());
        assert!(from.exists(), "the archive has no {from:?}");
        let to = installed.join(f["to"].as_str().unwrap());
        std::fs::copy(&from, to.join(from.file_name().unwrap())).unwrap();
    }
    let bin = installed.join(platform["bin"].as_str().unwrap());
    assert!(
        bin.is_file(),
        "bin {bin:?} is not among the files krew copies"
    );
    let bin_dir = work.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(&bin, bin_dir.join(format!("kubectl-{name}"))).unwrap();

    let Some(kubectl) = support::kubectl_path() else {
        return;
    };
    let out = with_plugin(&kubectl, &bin_dir, &["preload", "--version"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("kubectl preload {}", env!("CARGO_PKG_VERSION"))
    );
    let out = with_plugin(&kubectl, &bin_dir, &["plugin", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kubectl-preload"),
        "{out:?}"
    );
}
