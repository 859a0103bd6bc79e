//! Keeps `demo.tape` honest: its commands after `Show` are replayed in tmux into the current
//! `kpreload` (put on the PATH, as the tape's hidden setup does), with its `Sleep`s, and at
//! every `# expect: TEXT` (or `# expect-not: TEXT`) the screen must (not) show TEXT within
//! a few seconds. A tape command this replay does not know fails the test, so the tape
//! cannot drift into something untested.

use crate::{support, tmux};

use std::path::Path;

use std::time::Duration;
use tmux::{Terminal, Tmux};

/// How much longer than the tape's own sleeps a checkpoint may take to hold.
const GRACE_SECONDS: u64 = 10;

#[derive(Debug, PartialEq)]
enum Step {
    Text(String),
    Key(&'static str, usize),
    Sleep(Duration),
    Expect(String),
    ExpectNot(String),
}

fn duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|v| Duration::from_secs_f64(v / 1000.0));
    }
    let s = text.strip_suffix('s').unwrap_or(text);
    s.parse::<f64>().ok().map(Duration::from_secs_f64)
}

/// The tape's steps after `Show` (the hidden part only builds and sets up the PATH).
fn steps(tape: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut hidden = false;
    for (n, raw) in tape.lines().enumerate() {
        let line = raw.trim();
        let at = || format!("demo.tape:{}: {raw}", n + 1);
        if let Some(text) = line.strip_prefix("# expect: ") {
            out.push(Step::Expect(text.to_string()));
            continue;
        }
        if let Some(text) = line.strip_prefix("# expect-not: ") {
            out.push(Step::ExpectNot(text.to_string()));
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        // `Type@80ms "..."`, `Down@100ms 3`: the speed only matters to the recording.
        let command = command.split('@').next().unwrap_or(command);
        match command {
            "Hide" => hidden = true,
            "Show" => hidden = false,
            "Output" | "Set" | "Require" | "Source" | "Env" => {}
            _ if hidden => {}
            "Type" => {
                let text = rest
                    .trim()
                    .strip_prefix('"')
                    .and_then(|r| r.strip_suffix('"'))
                    .ok_or_else(|| format!("{}: Type needs a \"quoted\" text", at()))?;
                out.push(Step::Text(text.to_string()));
            }
            "Sleep" => out.push(Step::Sleep(
                duration(rest.trim()).ok_or_else(|| format!("{}: not a duration", at()))?,
            )),
            key => {
                let name = match key {
                    "Enter" => "Enter",
                    "Escape" => "Escape",
                    "Backspace" => "BSpace",
                    "Tab" => "Tab",
                    "Space" => "Space",
                    "Up" => "Up",
                    "Down" => "Down",
                    "Left" => "Left",
                    "Right" => "Right",
                    "PageUp" => "PPage",
                    "PageDown" => "NPage",
                    _ => return Err(format!("{}: the replay does not know {key}", at())),
                };
                let count = if rest.trim().is_empty() {
                    1
                } else {
                    rest.trim()
                        .parse()
                        .map_err(|_| format!("{}: not a count", at()))?
                };
                out.push(Step::Key(name, count));
            }
        }
    }
    Ok(out)
}

#[test]
fn the_replay_reads_the_tapes_commands() {
    let tape = "Output x.gif\nHide\nType \"cargo build\"\nEnter\nShow\nType \"kpreload demo\"\nEnter\nSleep 1.5s\n# expect: live\nDown@100ms 2\nSleep 300ms\n# expect-not: error\n";
    assert_eq!(
        steps(tape).unwrap(),
        [
            Step::Text("kpreload demo".into()),
            Step::Key("Enter", 1),
            Step::Sleep(Duration::from_millis(1500)),
            Step::Expect("live".into()),
            Step::Key("Down", 2),
            Step::Sleep(Duration::from_millis(300)),
            Step::ExpectNot("error".into()),
        ]
    );
    assert!(
        steps("Ctrl+C\n")
            .unwrap_err()
            .contains("does not know Ctrl+C")
    );
    assert!(steps("Type nothing-quoted\n").is_err());
}

#[test]
fn demo_tape_replays_against_the_current_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tape = std::fs::read_to_string(root.join("demo.tape")).unwrap();
    let steps = steps(&tape).unwrap();
    assert!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Expect(_)))
            .count()
            >= 10,
        "the tape has too few checkpoints"
    );
    let home = tempfile::tempdir().unwrap();
    // About the cells the tape's 1280×760 pixels hold at its font size; the built
    // `kpreload` first on PATH (the tape types `kpreload`); the repository as the working
    // directory.
    let Some(tmux) = Tmux::start(Terminal {
        columns: 130,
        rows: 38,
        home: home.path(),
        path_first: Path::new(env!("CARGO_BIN_EXE_kpreload")).parent(),
        dir: Some(root),
    }) else {
        return;
    };
    let screen = || tmux.screen();

    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Text(text) => tmux.text(text),
            Step::Key(key, count) => {
                for _ in 0..*count {
                    tmux.keys(&[key]);
                }
            }
            Step::Sleep(d) => std::thread::sleep(*d),
            Step::Expect(text) => {
                let s = support::eventually(GRACE_SECONDS, screen, |s| s.contains(text.as_str()));
                assert!(
                    s.contains(text.as_str()),
                    "step {i} of demo.tape: the screen does not show {text:?}:\n{s}"
                );
            }
            Step::ExpectNot(text) => {
                let s = support::eventually(GRACE_SECONDS, screen, |s| !s.contains(text.as_str()));
                assert!(
                    !s.contains(text.as_str()),
                    "step {i} of demo.tape: the screen still shows {text:?}:\n{s}"
                );
                // And it stays away (a screen still being drawn could bring it back).
                std::thread::sleep(Duration::from_millis(1000));
                let s = screen();
                assert!(
                    !s.contains(text.as_str()),
                    "step {i} of demo.tape: {text:?} came back:\n{s}"
                );
            }
        }
    }
}
