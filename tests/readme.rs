//! The README says what the code does: its keybindings table is generated from the default
//! keymap, and the commands it lists exist. `KPRELOAD_BLESS=1 cargo test --test readme`
//! writes the generated table into README.md.

use kpreload::tui::config::Config;

const BEGIN: &str = "<!-- keys: generated from assets/config.yaml by tests/readme.rs -->\n";
const END: &str = "<!-- end of keys -->";

#[test]
fn the_readme_keybindings_are_the_keymaps() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README.md has the keys marker") + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README.md has the end marker");
    let generated = Config::default_config().keys_markdown();
    if std::env::var_os("KPRELOAD_BLESS").is_some() {
        let text = format!("{}{generated}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, text).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        generated,
        "README.md's keys differ from the keymap; KPRELOAD_BLESS=1 cargo test --test readme updates them"
    );
    // Every command the table names is one the keymap knows.
    assert!(generated.contains("| findings |") && generated.contains("`q` `Ctrl-c`"));
}
