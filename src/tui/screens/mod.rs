//! The screens. Each is a [`Component`]: its rows (what the filter matches and Enter opens),
//! its own commands and keys, its footer hints and help entries, the kubelets it shows, and
//! how it is drawn from the app, read-only. [`Screen`] names where the operator is (the
//! navigation stack holds one [`View`] per screen opened); [`Screen::component`] is the one
//! place a screen's name becomes its behaviour, so a new screen is a new module and a line
//! there.

pub(crate) mod answer;
pub mod edit;
pub mod findings;
pub mod help;
pub mod node;
pub mod nodepool;
pub mod plan;
pub mod pool;
pub mod pools;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::{Action, App};
use super::config::Command;

/// Which screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Pools,
    Pool(String),
    Node(String),
    /// A node pool as the cluster's labels define it.
    NodePool(String),
    /// The cleanup plan (its scope and state are in `App::cleanup`).
    Plan,
    /// The pool editor (its state is in `App::edit`).
    Edit,
    /// Disk and kubelet findings: will preloading hold?
    Findings,
}

impl Screen {
    /// What this screen does.
    pub(crate) fn component(&self) -> Box<dyn Component> {
        match self {
            Screen::Pools => Box::new(pools::Pools),
            Screen::Pool(name) => Box::new(pool::PoolScreen { name: name.clone() }),
            Screen::Node(name) => Box::new(node::NodeScreen { name: name.clone() }),
            Screen::NodePool(name) => Box::new(nodepool::NodePoolScreen { name: name.clone() }),
            Screen::Plan => Box::new(plan::PlanScreen),
            Screen::Edit => Box::new(edit::EditScreen),
            Screen::Findings => Box::new(findings::FindingsScreen),
        }
    }
}

/// One entry of the navigation stack: a screen, and what the operator did on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub screen: Screen,
    pub selected: usize,
    pub filter: String,
    /// The selected image column of the pool matrix (always in view, named in full in its title).
    pub column: usize,
}

impl View {
    pub fn new(screen: Screen) -> View {
        View {
            screen,
            selected: 0,
            filter: String::new(),
            column: 0,
        }
    }
}

/// A row of the current list: what Enter opens, and the text the filter matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub opens: Option<Screen>,
}

/// The footer's hints on a list.
const LIST_HINTS: &[Command] = &[
    Command::Open,
    Command::Cleanup,
    Command::Back,
    Command::Filter,
    Command::Help,
    Command::Quit,
];

/// The footer's hints on the pools list and a pool, when writes are on.
const POOLS_HINTS: &[Command] = &[
    Command::Open,
    Command::Edit,
    Command::Cleanup,
    Command::Findings,
    Command::Help,
    Command::Quit,
];

/// The footer's hints on a pool, when writes are on.
const POOL_HINTS: &[Command] = &[
    Command::Open,
    Command::Edit,
    Command::Suggested,
    Command::Cleanup,
    Command::Help,
    Command::Quit,
];

/// The keys of the current list's rows in view (the nodes whose kubelets a list reads).
fn rows_in_view(app: &App) -> Vec<String> {
    in_view(app, &app.rows())
        .iter()
        .map(|r| r.key.clone())
        .collect()
}

/// The part of the current list a page shows, around the selected row.
fn in_view<'a, T>(app: &App, rows: &'a [T]) -> &'a [T] {
    let (first, count) =
        crate::tui::views::window(app.view().selected, rows.len(), app.page as u16 + 2);
    &rows[first..first + count]
}

/// What a screen is. Reading methods take the app as a read-only context; the key methods
/// change it (and may push effects), and return whether the key was the screen's.
pub(crate) trait Component {
    /// Its name in the footer's trail.
    fn crumb(&self, app: &App) -> String;

    /// Its rows before the filter.
    fn rows(&self, _app: &App) -> Vec<Row> {
        Vec::new()
    }

    /// Columns it scrolls sideways through.
    fn columns(&self, _app: &App) -> usize {
        0
    }

    /// The commands the footer suggests.
    fn hints(&self, read_only: bool) -> &'static [Command];

    /// The key map's section of its own commands in the help ("" for none).
    fn help_section(&self) -> &'static str {
        ""
    }

    /// Whether it shows findings or disks: then they are derived while it is open.
    fn shows_insight(&self) -> bool {
        false
    }

    /// What it needs computed from the cluster before a frame (kept in the app, drawn
    /// read-only).
    fn prepare(&self, _app: &mut App) {}

    /// The nodes whose kubelet it shows (read while it is open).
    fn kubelets(&self, _app: &App) -> Vec<String> {
        Vec::new()
    }

    /// The nodes whose pulls it shows in bytes (their runtimes are read while it is open,
    /// and only while they pull).
    fn pulls_on_screen(&self, app: &App) -> Vec<String> {
        self.kubelets(app)
    }

    /// The nodes `r` reads again.
    fn refresh(&self, app: &App) -> Vec<String> {
        self.kubelets(app)
    }

    /// The pool it is about, for `edit` and `delete`.
    fn pool(&self, _app: &App) -> Option<String> {
        None
    }

    /// A key before the key map sees it (a dialog takes every key): `Some(next)` if taken.
    fn key(&self, _app: &mut App, _key: KeyEvent) -> Option<Option<Action>> {
        None
    }

    /// A command of its own; false when the command is not this screen's.
    fn command(&self, _app: &mut App, _command: Command) -> bool {
        false
    }

    /// Draws it in `area`.
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App);
}
