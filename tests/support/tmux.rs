//! A real terminal for the TUI's tests: one tmux server per use (the tests of a file run at
//! the same time), a clean shell in it, keys sent as a person types them, the screen read
//! back. Stopped when dropped. Used by the `terminal` test binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub struct Tmux {
    socket: String,
}

/// Where and how big the terminal is.
pub struct Terminal<'a> {
    pub columns: u16,
    pub rows: u16,
    /// The shell's HOME (a temporary directory: no user config leaks in).
    pub home: &'a Path,
    /// Put first on the shell's PATH (where the built `kpreload` is), if anything.
    pub path_first: Option<&'a Path>,
    /// The shell's working directory, if not the test's.
    pub dir: Option<&'a Path>,
}

impl Tmux {
    /// A shell in a new tmux server, once its prompt shows; `None` (reported as a skip, a
    /// failure under CI=true) when tmux is not installed.
    pub fn start(t: Terminal<'_>) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            crate::support::missing("tmux", "is not on PATH");
            return None;
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("kpreload-test-{}-{n}", std::process::id()),
        };
        let path = std::env::var("PATH").unwrap_or_default();
        let path = match t.path_first {
            Some(first) => format!("{}:{path}", first.display()),
            None => path,
        };
        let mut command = Command::new("tmux");
        command
            .args(["-L", &tmux.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "t", "-x", &t.columns.to_string()])
            .args(["-y", &t.rows.to_string(), "env", "-i"])
            .arg(format!("HOME={}", t.home.display()))
            .arg(format!("PATH={path}"))
            .args(["TERM=xterm-256color", "PS1=$ ", "bash", "--norc"])
            .arg("--noprofile");
        if let Some(dir) = t.dir {
            command.current_dir(dir);
        }
        assert!(command.status().unwrap().success(), "tmux did not start");
        tmux.wait(10, |s| s.contains("$ "));
        Some(tmux)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    /// Keys by tmux's names (`Enter`, `Escape`, `C-c`) or as text, one argument each.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Text typed literally (no key names).
    pub fn text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "t", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text:?}: {out:?}");
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Waits up to `seconds` for the screen to satisfy `done`; returns the screen.
    pub fn wait(&self, seconds: u64, done: impl Fn(&str) -> bool) -> String {
        crate::support::eventually(seconds, || self.screen(), |s| done(s))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
