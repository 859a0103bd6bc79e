//! The `kpreload` binary as a person runs it: output, exit codes, one-sentence errors.

use std::process::{Command, Output};

fn kpreload(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .args(args)
        .env("KPRELOAD_NO_REGISTRY", "1")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn render_prints_one_daemonset_per_pool() {
    let o = kpreload(&["render", "-f", "config/pools.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = String::from_utf8(o.stdout).unwrap();
    let names: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(
        names,
        [
            "image-preloader-default",
            "image-preloader-ml",
            "image-preloader-web"
        ]
    );
    assert_eq!(yaml.matches("\n---\n").count(), 2);
}

#[test]
fn render_one_pool() {
    let o = kpreload(&["render", "-f", "config/pools.yaml", "--pool", "web"]);
    assert!(o.status.success());
    let yaml = String::from_utf8(o.stdout).unwrap();
    assert!(yaml.contains("name: image-preloader-web\n"));
    assert!(!yaml.contains("image-preloader-ml"));
}

#[test]
fn errors_are_one_sentence_with_exit_1() {
    let o = kpreload(&["render", "-f", "config/pools.yaml", "--pool", "gpu"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kpreload: config/pools.yaml has no pool named \"gpu\"; its pools are default, ml, web.\n"
    );

    let o = kpreload(&["render", "-f", "tests/invalid/pools/uppercase-image.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kpreload: tests/invalid/pools/uppercase-image.yaml:6:9: pools[0].images[1]: the repository \"Nginx\" has uppercase letters; repository names must be lowercase.\n"
    );
    assert!(o.stdout.is_empty(), "nothing half-rendered on stdout");

    let o = kpreload(&["render", "-f", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kpreload: missing.yaml: there is no such pools file; pass its path with -f FILE.\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = kpreload(&["render", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unexpected argument '--no-such-flag'"));
    let o = kpreload(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_lists_only_working_commands_and_kubectls_flags() {
    let o = kpreload(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    for flag in [
        "--kubeconfig <FILE>",
        "--context <NAME>",
        "-n, --namespace <NAMESPACE>",
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
    assert!(help.contains("render"));
    assert!(!help.to_lowercase().contains("not implemented"));
}

#[test]
fn sim_serves_until_sigterm_and_writes_a_kubeconfig() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("k");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .args([
            "sim",
            "--scenario",
            "tests/fixtures/scenarios/small.yaml",
            "--write-kubeconfig",
        ])
        .arg(&kubeconfig)
        .args(["--faults", r#"{"watchSeconds": 5}"#])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("serving on ")
        .expect(&line)
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(written.contains(&format!("server: {url}")));
    assert!(written.contains("current-context: kpreload-sim"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn sim_refuses_what_it_cannot_serve() {
    let o = kpreload(&[
        "sim",
        "--scenario",
        "tests/fixtures/scenarios/small.yaml",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kpreload: the simulator listens on loopback only; 0.0.0.0:0 is not a loopback address (use 127.0.0.1:PORT).\n"
    );
    let o = kpreload(&["sim", "--scenario", "nope.yaml"]);
    assert_eq!(
        stderr(&o),
        "kpreload: cannot read the scenario nope.yaml: no such file.\n"
    );
    let o = kpreload(&[
        "sim",
        "--scenario",
        "tests/fixtures/scenarios/small.yaml",
        "--faults",
        "{\"bogus\": 1}",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("kpreload: --faults is not valid: unknown field `bogus`"),
        "{}",
        stderr(&o)
    );
}

fn with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kpreload"));
    c.args(args).env("KPRELOAD_NO_REGISTRY", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

#[test]
fn a_bad_tui_config_is_an_error_with_its_place_before_the_screen_changes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("config.yaml");
    std::fs::write(&bad, "keys:\n  quit: [q]\n  jump: [x]\n").unwrap();
    let o = with_env(&["demo"], &[("KPRELOAD_CONFIG", bad.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "kpreload: {}:3:9: there is no command \"jump\"; the commands are up, down, left, right, page-up, page-down, top, bottom, open, back, filter, command, help, quit, cleanup, keep-more, keep-less, exclude, edit, new-pool, delete-pool, add, remove, tag, pin, pull-secrets, move-up, move-down, undo, preview, apply, findings, refresh, add-suggested.\n",
            bad.display()
        )
    );
    // Nothing was drawn: no alternate screen, no escape sequences.
    assert!(o.stdout.is_empty());

    let missing = dir.path().join("nope.yaml");
    let o = with_env(&["demo"], &[("KPRELOAD_CONFIG", missing.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("kpreload: cannot read the config"),
        "{}",
        stderr(&o)
    );
}

/// One context, `a`, whose server is loopback port 1, where nothing listens.
const UNREACHABLE_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\nusers:\n- name: u\n  user: {}\n";

#[test]
fn a_kubeconfig_without_the_context_says_which_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("kubeconfig");
    std::fs::write(&k, UNREACHABLE_KUBECONFIG).unwrap();
    let o = kpreload(&[
        "--kubeconfig",
        k.to_str().unwrap(),
        "--context",
        "prod",
        "status",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "kpreload: {} has no context named \"prod\"; it has: a.\n",
            k.display()
        )
    );
    let o = kpreload(&["status", "--timeout", "5m"]);
    assert_eq!(o.status.code(), Some(2), "--timeout needs --wait");
    let o = kpreload(&["status", "--wait", "--timeout", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"soon\" is not a duration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rbac_prints_a_role_for_a_service_account() {
    let o = kpreload(&["rbac", "--service-account", "ops:kpreload", "-n", "preload"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let yaml = String::from_utf8(o.stdout).unwrap();
    assert!(yaml.contains("kind: ServiceAccount\n  name: kpreload\n  namespace: ops"));
    assert!(yaml.contains("kind: Role\nmetadata:\n  name: kpreload\n  namespace: preload"));
    let o = kpreload(&["rbac", "--service-account", "kpreload"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NAMESPACE:NAME"));
}

#[test]
fn an_unreachable_cluster_is_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("kubeconfig");
    std::fs::write(&k, UNREACHABLE_KUBECONFIG).unwrap();
    let o = kpreload(&["--kubeconfig", k.to_str().unwrap(), "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "kpreload: cannot read the cluster at http://127.0.0.1:1/: cannot reach the API server (is it up, is the address right?).\n"
    );
}

/// `tests/run` checks the room where cargo builds (`CARGO_TARGET_DIR` when set), and a `df`
/// that cannot answer only skips that warning: it never stops the test command.
#[test]
fn the_test_command_checks_the_build_dirs_room_and_survives_a_failing_df() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("bin");
    std::fs::create_dir(&fake).unwrap();
    let target = dir.path().join("build/not/made/yet");
    let run = |df: &str| -> Output {
        let script = fake.join("df");
        std::fs::write(&script, format!("#!/bin/sh\n{df}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
        Command::new("bash")
            .args(["tests/run", "--check-disk"])
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap()
    };
    // Little room: said, naming the nearest folder of CARGO_TARGET_DIR that exists.
    let o = run(
        "echo 'Filesystem 1048576-blocks Used Available Capacity Mounted'; \
         echo \"/dev/x 1000 900 100 90% $2\"",
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("only 100 MB free under {}", dir.path().display())),
        "{err}"
    );
    // df fails: no warning, and the script does not stop there (before, `set -e` did).
    let o = run("echo 'df: cannot read' >&2; exit 1");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("MB free"), "{err}");
}
