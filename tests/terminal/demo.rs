//! The whole program in a real terminal: tmux runs `kpreload demo` at 100x30, keys go in as a
//! person types them, and the screen is read back.

use crate::tmux;

use std::path::Path;

use tmux::{Terminal, Tmux};

/// A 100×30 terminal with a clean shell, HOME in `home`.
fn terminal(home: &Path) -> Option<Tmux> {
    Tmux::start(Terminal {
        columns: 100,
        rows: 30,
        home,
        path_first: None,
        dir: None,
    })
}

#[test]
fn the_demo_in_a_real_terminal() {
    let home = tempfile::tempdir().unwrap();
    let Some(tmux) = terminal(home.path()) else {
        return;
    };
    tmux.keys(&[&format!("{} demo", env!("CARGO_BIN_EXE_kpreload")), "Enter"]);

    // The pools, live.
    let s = tmux.wait(60, |s| {
        s.contains("● live") && s.contains("\nml ") && s.contains("\nweb ")
    });
    assert!(s.contains("● live"), "{s}");
    assert!(s.contains("context kpreload-sim"), "{s}");
    // The general nodes' EKS node group, which nothing preloads for, in a row of its own.
    assert!(
        s.lines()
            .any(|l| l.starts_with("general-m6i ") && l.contains("no preloader")),
        "{s}"
    );

    // Drill into web (the second row) and see a pull complete.
    tmux.keys(&["j", "Enter"]);
    let s = tmux.wait(10, |s| s.contains("pool web"));
    assert!(s.contains("nodes × images"), "{s}");
    let s = tmux.wait(120, |s| {
        s.lines().any(|l| l.starts_with("web-") && l.contains("✓ "))
    });
    assert!(
        s.lines().any(|l| l.starts_with("web-") && l.contains("✓ ")),
        "no pull completed: {s}"
    );
    assert!(s.contains("Successfully pulled image"), "{s}");

    // Filter the nodes.
    tmux.keys(&["/", "web-2"]);
    let s = tmux.wait(10, |s| {
        s.contains("/web-2") && !s.lines().any(|l| l.starts_with("web-1"))
    });
    assert!(s.lines().any(|l| l.starts_with("web-2")), "{s}");
    assert!(!s.lines().any(|l| l.starts_with("web-1")), "{s}");
    tmux.keys(&["Enter"]);

    // Quit; the shell is back and the terminal is out of raw mode.
    tmux.keys(&["q"]);
    let s = tmux.wait(10, |s| !s.contains("nodes × images"));
    assert!(!s.contains("nodes × images"), "{s}");
    tmux.keys(&[
        "clear; echo usable-$((40+2)); stty -a | tr ' ' '\\n' | grep -x -e echo -e icanon",
        "Enter",
    ]);
    let s = tmux.wait(10, |s| s.contains("usable-42") && s.contains("icanon"));
    assert!(s.contains("usable-42"), "{s}");
    assert!(
        s.lines().any(|l| l == "echo") && s.lines().any(|l| l == "icanon"),
        "{s}"
    );
}

#[test]
fn cleanup_in_the_demo_preview_confirm_result() {
    let home = tempfile::tempdir().unwrap();
    let Some(tmux) = terminal(home.path()) else {
        return;
    };
    tmux.keys(&[&format!("{} demo", env!("CARGO_BIN_EXE_kpreload")), "Enter"]);
    tmux.wait(60, |s| s.contains("● live") && s.contains("\nweb "));

    // The web pool's plan: what goes and why, before anything is removed.
    tmux.keys(&[":", "pool web", "Enter"]);
    tmux.wait(10, |s| s.contains("pool web"));
    tmux.keys(&["c"]);
    // The plan is drawn at once; the shop's pods that use an image on the pool may still be
    // starting, so their reason is waited for rather than expected on the first frame.
    let s = tmux.wait(30, |s| {
        s.contains("cleanup plan · pool web")
            && s.contains("older than the newest 2")
            && s.contains("in use by shop/")
    });
    assert!(s.contains("older than the newest 2"), "{s}");
    assert!(s.contains("in use by shop/"), "{s}");
    // Cleanup runs from a preloader's cleanup container, which starts once its pulls are
    // done: wait for the first node.
    let s = tmux.wait(240, |s| {
        s.contains("remove ") && !s.contains("cannot run on 3 of 3")
    });
    assert!(!s.contains("cannot run on 3 of 3"), "{s}");

    tmux.keys(&["c"]);
    let s = tmux.wait(10, |s| s.contains("Type web and Enter"));
    assert!(s.contains("Right before removing"), "{s}");
    // The demo's pulls go on while the dialog is open: an image that becomes removable in
    // the meantime is named and needs the word once more, so a new dialog is answered again.
    let mut s = String::new();
    for _ in 0..5 {
        // Enter only once the word is on the screen, so that an empty prompt afterwards
        // can only mean the dialog asked again.
        tmux.keys(&["w", "e", "b"]);
        let typed = tmux.wait(10, |s| s.contains("> web▏"));
        assert!(typed.contains("> web▏"), "{typed}");
        tmux.keys(&["Enter"]);
        s = tmux.wait(60, |s| {
            s.contains("done · removed")
                || (s.contains("Type again to include") && s.contains("> ▏"))
        });
        if s.contains("done · removed") {
            break;
        }
        assert!(
            s.contains("more image") && s.contains("became removable"),
            "{s}"
        );
        eprintln!("more became removable while the dialog was open; typing the word again");
    }
    assert!(
        s.lines()
            .any(|l| l.starts_with("✓ web-") && l.contains("removed")),
        "{s}"
    );
    assert!(
        s.contains("  removed nginx:1.23") || s.contains("  removed nginx:1.24"),
        "{s}"
    );

    // Back to the refreshed plan, then out.
    tmux.keys(&["Escape"]);
    let s = tmux.wait(10, |s| s.contains("preview · c confirm"));
    assert!(s.contains("cleanup plan · pool web"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait(10, |s| !s.contains("cleanup plan"));
}

#[test]
fn edit_in_the_demo_add_preview_apply_and_watch_it_pull() {
    let home = tempfile::tempdir().unwrap();
    let Some(tmux) = terminal(home.path()) else {
        return;
    };
    tmux.keys(&[&format!("{} demo", env!("CARGO_BIN_EXE_kpreload")), "Enter"]);
    tmux.wait(60, |s| s.contains("● live") && s.contains("\nweb "));
    tmux.keys(&[":", "pool web", "Enter"]);
    tmux.wait(10, |s| s.contains("pool web"));

    // Add the small pause 3.10 after nginx (no web node has it).
    tmux.keys(&["e"]);
    tmux.wait(10, |s| s.contains("edit pool web"));
    tmux.keys(&["a"]);
    tmux.wait(10, |s| s.contains("add an image"));
    tmux.keys(&["registry.k8s.io/pause:3.10", "Enter"]);
    let s = tmux.wait(10, |s| s.contains("+ registry.k8s.io/pause:3.10"));
    assert!(
        s.contains("2+ registry.k8s.io/pause:3.10"),
        "second in pull order: {s}"
    );

    // The preview: the server's dry run, what each node pulls; nothing sent yet.
    tmux.keys(&["p"]);
    let s = tmux.wait(20, |s| {
        s.contains("diff: DaemonSet kube-system/image-preloader-web")
    });
    assert!(
        s.contains("+ registry.k8s.io/pause:3.10  (pulled 2nd)"),
        "{s}"
    );
    assert!(s.contains("what each node pulls"), "{s}");
    assert!(
        s.contains("+        image: registry.k8s.io/pause:3.10"),
        "{s}"
    );

    // Apply, and the pool view follows the rollout until every node has it.
    tmux.keys(&["y"]);
    let s = tmux.wait(20, |s| s.contains("configured; following its rollout"));
    assert!(s.contains("pool web"), "{s}");
    assert!(s.contains("pause:3.10"), "a column for the new image: {s}");
    let s = tmux.wait(240, |s| {
        let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("web-")).collect();
        rows.len() == 4 && rows.iter().all(|l| l.matches('✓').count() == 4)
    });
    let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("web-")).collect();
    assert!(
        rows.len() == 4 && rows.iter().all(|l| l.matches('✓').count() == 4),
        "every web node holds all four images: {s}"
    );
    tmux.keys(&["q"]);
    tmux.wait(10, |s| !s.contains("pool web"));
}
