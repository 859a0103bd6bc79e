//! The TUI's config file, any text at all, over the defaults. A key is bound to one command
//! at most; what the file binds is what a key press finds; quitting stays possible; what
//! does not parse names the file.
#![no_main]

use kpreload::tui::config::{Command, Config, Key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let c = match Config::parse(text, "config.yaml") {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.trim().is_empty());
            return;
        }
    };
    for (i, (k, command)) in c.keys.iter().enumerate() {
        assert!(
            c.keys[..i].iter().all(|(k2, _)| k2 != k),
            "{k:?} bound twice"
        );
        assert_eq!(c.command(k), Some(*command));
    }
    assert!(
        c.command(&Key::parse("ctrl-c").unwrap()).is_some()
            || c.keys.iter().any(|(_, cmd)| *cmd == Command::Quit),
        "no key quits"
    );
    for l in &c.node_pool_labels {
        assert!(!l.is_empty());
    }
});
