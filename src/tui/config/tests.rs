use super::*;

#[test]
fn the_defaults_bind_every_command() {
    let c = Config::default_config();
    for command in Command::ALL {
        assert!(!c.keys_for(command).is_empty(), "{}", command.name());
    }
    assert_eq!(c.command(&Key::parse("j").unwrap()), Some(Command::Down));
    assert_eq!(
        c.command(&Key::parse("ctrl-c").unwrap()),
        Some(Command::Quit)
    );
}

#[test]
fn a_users_file_replaces_what_it_names() {
    let user = "keys:\n  quit: [x]\ntheme:\n  ok: '#00ff00'\n";
    let c = Config::merged(&[(DEFAULT, "default"), (user, "mine.yaml")]).unwrap();
    assert_eq!(c.command(&Key::parse("x").unwrap()), Some(Command::Quit));
    assert_eq!(c.command(&Key::parse("q").unwrap()), None);
    // x was exclude's by default: the user's file takes it over.
    assert!(c.keys_for(Command::Exclude).is_empty());
    // Within one file, one key for two commands is still a mistake.
    let both = "keys:\n  quit: [x]\n  help: [x]\n";
    let err = Config::merged(&[(DEFAULT, "default"), (both, "mine.yaml")]).unwrap_err();
    assert!(err.contains("bound to both"), "{err}");
    assert_eq!(c.theme.ok, Color::Rgb(0, 255, 0));
    assert_eq!(c.theme.fail, Color::Red);
}

#[test]
fn node_pool_labels_default_to_the_providers_and_a_users_list_replaces_them() {
    let c = Config::default_config();
    assert_eq!(c.node_pool_labels, crate::core::nodepools::DEFAULT_LABELS);
    let user = "nodePools: [workload-type, eks.amazonaws.com/nodegroup]\n";
    let c = Config::merged(&[(DEFAULT, "default"), (user, "mine.yaml")]).unwrap();
    assert_eq!(
        c.node_pool_labels,
        ["workload-type", "eks.amazonaws.com/nodegroup"]
    );
    for (bad, said) in [
        (
            "nodePools: [\"has space\"]\n",
            "mine.yaml:1:13: \"has space\" is not a label key",
        ),
        ("nodePools: [/x]\n", "its prefix is not a DNS subdomain"),
        (
            "nodePools: [\"-x\"]\n",
            "beginning and ending with a letter or digit",
        ),
    ] {
        let err = Config::merged(&[(DEFAULT, "default"), (bad, "mine.yaml")]).unwrap_err();
        assert!(err.contains(said), "{bad}: {err}");
    }
}

#[test]
fn a_bad_file_says_where() {
    let cases = [
        (
            "keys:\n  quit: [q]\n  jump: [x]\n",
            "mine.yaml:3:9: there is no command \"jump\"",
        ),
        (
            "keys:\n  quit: [q, ctrl-]\n",
            "mine.yaml:2:13: \"ctrl-\" is not a key",
        ),
        (
            "theme:\n  ok: greenish\n",
            "mine.yaml:2:7: \"greenish\" is not a colour",
        ),
        (
            "keys: [\n",
            "mine.yaml:1:7: keys: invalid type: sequence, expected a map",
        ),
        (
            "keys:\n  quit: 'q\n",
            "mine.yaml:3:1: found unexpected end of stream",
        ),
        ("colours: {}\n", "mine.yaml:1:1: unknown field `colours`"),
        (
            "keys:\n  help: [q]\n  quit: [q]\n",
            "the key q is bound to both help and quit",
        ),
    ];
    for (text, want) in cases {
        let e = Config::merged(&[(DEFAULT, "default"), (text, "mine.yaml")]).unwrap_err();
        assert!(e.starts_with(want), "{text:?}: {e}");
    }
}

#[test]
fn a_file_that_leaves_no_key_to_quit_is_refused() {
    // Found by fuzz/fuzz_targets/tui_config.rs: `quit:` with nothing after it unbinds q and
    // ctrl-c, and in raw mode nothing else ends the TUI.
    for text in [
        "keys:\n  quit:\n",
        "keys:\n  quit: []\n",
        "keys:\n  exclude: [q, ctrl-c]\n",
    ] {
        let err = Config::parse(text, "mine.yaml").unwrap_err();
        assert_eq!(
            err,
            "mine.yaml: no key is left for quit; bind it to at least one key (the defaults are q and ctrl-c)",
            "{text:?}"
        );
    }
    // Taking over one of quit's keys leaves it the other.
    let c = Config::parse("keys:\n  exclude: [q]\n", "mine.yaml").unwrap();
    assert_eq!(c.keys_for(Command::Quit), [Key::parse("ctrl-c").unwrap()]);
}
