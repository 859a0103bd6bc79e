//! Keybindings and theme: an embedded default merged with the user's file
//! (`$KPRELOAD_CONFIG`, else `$XDG_CONFIG_HOME/kpreload/config.yaml`). A bad file is an error
//! with its line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use serde::Deserialize;

pub(crate) const DEFAULT: &str = include_str!("../../assets/config.yaml");

/// What a key can do, named in kebab-case as in the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Command {
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Palette,
    Help,
    Quit,
    Cleanup,
    KeepMore,
    KeepLess,
    Exclude,
    Edit,
    NewPool,
    DeletePool,
    Add,
    Remove,
    Tag,
    Pin,
    PullSecrets,
    MoveUp,
    MoveDown,
    Undo,
    Preview,
    Apply,
    Findings,
    Refresh,
    Suggested,
}

impl Command {
    pub const ALL: [Command; 34] = [
        Command::Up,
        Command::Down,
        Command::Left,
        Command::Right,
        Command::PageUp,
        Command::PageDown,
        Command::Top,
        Command::Bottom,
        Command::Open,
        Command::Back,
        Command::Filter,
        Command::Palette,
        Command::Help,
        Command::Quit,
        Command::Cleanup,
        Command::KeepMore,
        Command::KeepLess,
        Command::Exclude,
        Command::Edit,
        Command::NewPool,
        Command::DeletePool,
        Command::Add,
        Command::Remove,
        Command::Tag,
        Command::Pin,
        Command::PullSecrets,
        Command::MoveUp,
        Command::MoveDown,
        Command::Undo,
        Command::Preview,
        Command::Apply,
        Command::Findings,
        Command::Refresh,
        Command::Suggested,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::Left => "left",
            Command::Right => "right",
            Command::PageUp => "page-up",
            Command::PageDown => "page-down",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::Open => "open",
            Command::Back => "back",
            Command::Filter => "filter",
            Command::Palette => "command",
            Command::Help => "help",
            Command::Quit => "quit",
            Command::Cleanup => "cleanup",
            Command::KeepMore => "keep-more",
            Command::KeepLess => "keep-less",
            Command::Exclude => "exclude",
            Command::Edit => "edit",
            Command::NewPool => "new-pool",
            Command::DeletePool => "delete-pool",
            Command::Add => "add",
            Command::Remove => "remove",
            Command::Tag => "tag",
            Command::Pin => "pin",
            Command::PullSecrets => "pull-secrets",
            Command::MoveUp => "move-up",
            Command::MoveDown => "move-down",
            Command::Undo => "undo",
            Command::Preview => "preview",
            Command::Apply => "apply",
            Command::Findings => "findings",
            Command::Refresh => "refresh",
            Command::Suggested => "add-suggested",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Command::Up => "move up",
            Command::Down => "move down",
            Command::Left => "select the image column to the left",
            Command::Right => "select the image column to the right",
            Command::PageUp => "a page up",
            Command::PageDown => "a page down",
            Command::Top => "first row",
            Command::Bottom => "last row",
            Command::Open => "open the selected pool or node",
            Command::Back => "back to the previous view (or clear the filter)",
            Command::Filter => "fuzzy-filter the list",
            Command::Palette => "command: pool|node|edit NAME, findings, ns NS, q",
            Command::Help => "this help",
            Command::Quit => "quit",
            Command::Cleanup => "cleanup plan here; in the plan: confirm and run",
            Command::KeepMore => "plan: keep one more version per line",
            Command::KeepLess => "plan: keep one fewer version (at least 1)",
            Command::Exclude => "plan: leave the selected node out, or back in",
            Command::Edit => "edit the pool's images (on a pool)",
            Command::NewPool => "new pool: name, node labels, tolerations, images",
            Command::DeletePool => "delete the pool's preloader (type its name to confirm)",
            Command::Add => "editor: add an image after the selected one",
            Command::Remove => "editor: remove the selected image",
            Command::Tag => "editor: change the selected image's tag",
            Command::Pin => {
                "editor: pin the selected image to the digest most of the pool's nodes hold"
            }
            Command::PullSecrets => {
                "editor: the Secrets the pool's images are pulled with (imagePullSecrets)"
            }
            Command::MoveUp => "editor: pull the selected image earlier",
            Command::MoveDown => "editor: pull the selected image later",
            Command::Undo => "editor: undo the last change",
            Command::Preview => "editor: preview the change (diff, pulls, disk)",
            Command::Apply => "preview: apply it (server-side, or to the pools file)",
            Command::Findings => "will preloading hold? image GC, disk, pulls, sizing",
            Command::Refresh => "read the kubelets on screen again (disk, GC, pulls)",
            Command::Suggested => "pool: add its workloads' costliest pull (editor)",
        }
    }

    /// Where the command does something: everywhere, in the cleanup plan, or in the editor.
    pub fn screen(self) -> &'static str {
        match self {
            Command::KeepMore | Command::KeepLess | Command::Exclude => "plan",
            Command::Add
            | Command::Remove
            | Command::Tag
            | Command::Pin
            | Command::PullSecrets
            | Command::MoveUp
            | Command::MoveDown
            | Command::Undo
            | Command::Preview
            | Command::Apply => "editor",
            Command::Suggested => "pool",
            _ => "",
        }
    }

    fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A key as the config writes it: `q`, `G`, `enter`, `ctrl-c`, `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub fn parse(text: &str) -> Option<Key> {
        let (ctrl, rest) = match text.strip_prefix("ctrl-") {
            Some(r) => (true, r),
            None => (false, text),
        };
        let code = match rest {
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "tab" => KeyCode::Tab,
            "space" => KeyCode::Char(' '),
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
            _ => return None,
        };
        Some(Key { code, ctrl })
    }

    pub fn of(event: &KeyEvent) -> Key {
        Key {
            code: event.code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".into(),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub accent: Color,
    pub ok: Color,
    pub busy: Color,
    pub fail: Color,
    pub dim: Color,
    pub selected: Color,
    /// NO_COLOR: no colours at all; emphasis by bold and reverse only.
    pub plain: bool,
}

impl Theme {
    pub fn plain(mut self) -> Theme {
        for c in [
            &mut self.accent,
            &mut self.ok,
            &mut self.busy,
            &mut self.fail,
            &mut self.dim,
            &mut self.selected,
        ] {
            *c = Color::Reset;
        }
        self.plain = true;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub keys: Vec<(Key, Command)>,
    pub theme: Theme,
    /// The node labels that name a node's pool (the providers'), first match wins.
    pub node_pool_labels: Vec<String>,
    /// Where the user's file was looked for.
    pub source: Option<PathBuf>,
}

impl Config {
    pub fn command(&self, key: &Key) -> Option<Command> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, c)| *c)
    }

    pub(crate) fn keys_for(&self, command: Command) -> Vec<Key> {
        self.keys
            .iter()
            .filter(|(_, c)| *c == command)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The keymap as a Markdown table (the README's, generated so it cannot drift).
    pub fn keys_markdown(&self) -> String {
        let mut out = String::from("| keys | command | what it does |\n|---|---|---|\n");
        for c in Command::ALL {
            let keys: Vec<String> = self
                .keys_for(c)
                .iter()
                .map(|k| match k.label().as_str() {
                    "|" => "`\\|`".to_string(),
                    l => format!("`{l}`"),
                })
                .collect();
            let describe = c.describe().replace('|', "\\|");
            out.push_str(&format!(
                "| {} | {} | {describe} |\n",
                keys.join(" "),
                c.name()
            ));
        }
        out
    }

    /// The defaults alone.
    pub fn default_config() -> Config {
        Config::merged(&[(DEFAULT, "the built-in config")]).expect("the built-in config is valid")
    }

    /// Loads the defaults and the user's file, if there is one.
    pub fn load() -> Result<Config, String> {
        let path = user_path();
        let user = match &path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => Some(t),
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && std::env::var_os("KPRELOAD_CONFIG").is_none() =>
                {
                    None
                }
                Err(e) => {
                    return Err(format!(
                        "cannot read the config {}: {}",
                        p.display(),
                        crate::core::pools::io_reason(&e)
                    ));
                }
            },
            None => None,
        };
        let mut docs = vec![(DEFAULT, "the built-in config".to_string())];
        if let (Some(text), Some(p)) = (&user, &path) {
            docs.push((text.as_str(), p.display().to_string()));
        }
        let refs: Vec<(&str, &str)> = docs.iter().map(|(t, n)| (*t, n.as_str())).collect();
        let mut c = Config::merged(&refs)?;
        c.source = path;
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            c.theme = c.theme.plain();
        }
        Ok(c)
    }

    /// The defaults and one file's text (`name` is what errors call it), as `load` reads
    /// them.
    pub fn parse(text: &str, name: &str) -> Result<Config, String> {
        Config::merged(&[(DEFAULT, "the built-in config"), (text, name)])
    }

    /// Merges files in order: a later file's binding of a command replaces the earlier one;
    /// a later theme colour replaces the earlier one.
    pub(crate) fn merged(docs: &[(&str, &str)]) -> Result<Config, String> {
        let mut keys: BTreeMap<Command, Vec<Key>> = BTreeMap::new();
        let mut colors: BTreeMap<String, Color> = BTreeMap::new();
        let mut node_pool_labels: Vec<String> = Vec::new();
        for (text, name) in docs {
            let file: File = if text.trim().is_empty() {
                File::default()
            } else {
                serde_yaml::from_str(text).map_err(|e| match e.location() {
                    Some(l) => format!(
                        "{name}:{}:{}: {}",
                        l.line(),
                        l.column(),
                        strip_location(&e.to_string())
                    ),
                    None => format!("{name}: {e}"),
                })?
            };
            let places = crate::core::yaml_places::places(text);
            let place = |path: &str| -> String {
                match places.first().and_then(|p| p.get(path)) {
                    Some((l, c)) => format!("{name}:{l}:{c}"),
                    None => name.to_string(),
                }
            };
            let mut named: Vec<(Command, Vec<Key>)> = Vec::new();
            for (command, list) in file.keys {
                let Some(c) = Command::from_name(&command) else {
                    let known: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
                    return Err(format!(
                        "{}: there is no command {command:?}; the commands are {}",
                        place(&format!("keys.{command}")),
                        known.join(", ")
                    ));
                };
                let mut parsed = Vec::new();
                for (i, k) in list.iter().enumerate() {
                    let key = Key::parse(k).ok_or_else(|| {
                        format!(
                            "{}: {k:?} is not a key; write a letter, or up, down, left, right, pageup, pagedown, home, end, enter, esc, backspace, tab, space, with ctrl- before it if you like",
                            place(&format!("keys.{command}[{i}]"))
                        )
                    })?;
                    parsed.push(key);
                }
                named.push((c, parsed));
            }
            // A key this file binds is taken from whatever an earlier file (the defaults)
            // bound it to: `quit: [x]` wins over the default `exclude: [x]`.
            let commands: Vec<Command> = named.iter().map(|(c, _)| *c).collect();
            for (c, parsed) in named {
                for (other, old) in keys.iter_mut() {
                    if !commands.contains(other) {
                        old.retain(|k| !parsed.contains(k));
                    }
                }
                keys.insert(c, parsed);
            }
            if let Some(list) = file.node_pools {
                for (i, key) in list.iter().enumerate() {
                    if let Some(problem) = label_key_problem(key) {
                        return Err(format!(
                            "{}: {key:?} is not a label key: {problem}",
                            place(&format!("nodePools[{i}]"))
                        ));
                    }
                }
                // A later file's list replaces the earlier one.
                node_pool_labels = list;
            }
            for (field, value) in file.theme {
                if !THEME_FIELDS.contains(&field.as_str()) {
                    return Err(format!(
                        "{}: the theme has no colour {field:?}; it has {}",
                        place(&format!("theme.{field}")),
                        THEME_FIELDS.join(", ")
                    ));
                }
                let color: Color = value.parse().map_err(|_| {
                    format!(
                        "{}: {value:?} is not a colour; use a name (red, darkgray, …), an index (0-255) or #rrggbb",
                        place(&format!("theme.{field}"))
                    )
                })?;
                colors.insert(field, color);
            }
        }
        let mut list: Vec<(Key, Command)> = Vec::new();
        for (c, ks) in &keys {
            for k in ks {
                if let Some((_, other)) = list.iter().find(|(k2, _)| k2 == k) {
                    return Err(format!(
                        "the key {} is bound to both {} and {}; give one of them another key",
                        k.label(),
                        other.name(),
                        c.name()
                    ));
                }
                list.push((*k, *c));
            }
        }
        // A TUI no key leaves (raw mode: ctrl-c is a key like any other) is a trap.
        if !list.iter().any(|(_, c)| *c == Command::Quit) {
            let name = docs.last().map_or("the config", |(_, n)| *n);
            return Err(format!(
                "{name}: no key is left for quit; bind it to at least one key (the defaults are q and ctrl-c)"
            ));
        }
        let color = |f: &str| colors.get(f).copied().unwrap_or(Color::Reset);
        Ok(Config {
            keys: list,
            theme: Theme {
                accent: color("accent"),
                ok: color("ok"),
                busy: color("busy"),
                fail: color("fail"),
                dim: color("dim"),
                selected: color("selected"),
                plain: false,
            },
            node_pool_labels,
            source: None,
        })
    }
}

/// Why a text is not a label key (`[prefix/]name`, the name 63 characters at most of
/// letters, digits, `-`, `_`, `.`, beginning and ending with a letter or digit).
fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || p.split('.').any(|l| l.is_empty()))
    {
        return Some("its prefix is not a DNS subdomain".into());
    }
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 63 {
        return Some("the name after the prefix must be 1 to 63 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || !ends_ok(name.chars().next())
        || !ends_ok(name.chars().last())
    {
        return Some(
            "use letters, digits, '-', '_' and '.', beginning and ending with a letter or digit"
                .into(),
        );
    }
    None
}

const THEME_FIELDS: [&str; 6] = ["accent", "ok", "busy", "fail", "dim", "selected"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    theme: BTreeMap<String, String>,
    /// The node labels that name a node's pool, first match wins.
    #[serde(default, rename = "nodePools")]
    node_pools: Option<Vec<String>>,
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn user_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KPRELOAD_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("kpreload").join("config.yaml"))
}

#[cfg(test)]
mod tests;
