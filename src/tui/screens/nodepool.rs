//! One node pool as the cluster's labels define it: the label it comes from, the preloaders
//! that serve its nodes (or none), the taints a preloader for it must tolerate, and its
//! nodes; `n` makes a preloader for it with its selector and tolerations filled in.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{Component, Row as ListRow, Screen};
use crate::core::nodepools::NodePool;
use crate::tui::app::App;
use crate::tui::config::Command;
use crate::tui::views::{highlighted, selected_style};

/// One node pool.
pub struct NodePoolScreen {
    pub name: String,
}

impl NodePoolScreen {
    fn of<'a>(&self, app: &'a App) -> Option<&'a NodePool> {
        app.node_pools.iter().find(|p| p.name == self.name)
    }
}

impl Component for NodePoolScreen {
    fn crumb(&self, _app: &App) -> String {
        format!("node pool {}", self.name)
    }

    fn rows(&self, app: &App) -> Vec<ListRow> {
        self.of(app)
            .map(|p| {
                p.nodes
                    .iter()
                    .map(|n| ListRow {
                        key: n.clone(),
                        opens: Some(Screen::Node(n.clone())),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn hints(&self, read_only: bool) -> &'static [Command] {
        if read_only {
            super::LIST_HINTS
        } else {
            &[
                Command::Open,
                Command::NewPool,
                Command::Back,
                Command::Filter,
                Command::Help,
                Command::Quit,
            ]
        }
    }

    fn shows_insight(&self) -> bool {
        true
    }

    /// The rows in view.
    fn kubelets(&self, app: &App) -> Vec<String> {
        super::rows_in_view(app)
    }

    /// Its nodes' disks, not their pulls.
    fn pulls_on_screen(&self, _app: &App) -> Vec<String> {
        Vec::new()
    }

    fn command(&self, app: &mut App, command: Command) -> bool {
        if command != Command::NewPool {
            return false;
        }
        super::edit::open_new_for_node_pool(app, &self.name);
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        let t = &app.config.theme;
        let Some(pool) = self.of(app) else {
            frame.render_widget(
                Paragraph::new(format!(
                    "the node pool {} is gone (its nodes left, or the label changed); Esc goes back",
                    self.name
                )),
                area,
            );
            return;
        };
        let head = head_lines(app, pool);
        let height = (head.len() as u16 + 1).min(area.height / 2).max(2);
        let [top, list] =
            Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
        frame.render_widget(Paragraph::new(head).wrap(Wrap { trim: true }), top);

        let rows = app.rows();
        let (first, count) =
            crate::tui::views::window(app.view().selected, rows.len(), list.height);
        let table_rows: Vec<Row> = rows[first..first + count]
            .iter()
            .map(|r| {
                let served: Vec<&str> = app
                    .overview
                    .pools
                    .iter()
                    .filter(|p| p.nodes.iter().any(|n| n.node == r.key))
                    .map(|p| p.pool.as_str())
                    .collect();
                let preloaded = if served.is_empty() {
                    Line::styled("no preloader", Style::new().fg(t.dim))
                } else {
                    Line::raw(served.join(", "))
                };
                Row::new(vec![
                    Cell::from(highlighted(app, &r.key, Style::new())),
                    Cell::from(preloaded),
                    crate::tui::views::disk::cell(app, &r.key, 12),
                ])
            })
            .collect();
        let table = Table::new(
            table_rows,
            [
                Constraint::Min(14),
                Constraint::Length(16),
                Constraint::Length(22),
            ],
        )
        .header(
            Row::new(vec!["NODE", "PRELOADED BY", "IMAGE DISK"])
                .style(Style::new().add_modifier(Modifier::BOLD).fg(t.accent)),
        )
        .row_highlight_style(selected_style(app))
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(format!(" nodes ({}) ", pool.nodes.len())),
        );
        let mut state = TableState::default()
            .with_selected((!rows.is_empty()).then_some(app.view().selected.saturating_sub(first)));
        frame.render_stateful_widget(table, list, &mut state);
    }
}

/// Where it comes from, who preloads for it, what a preloader for it must tolerate.
fn head_lines<'a>(app: &App, pool: &NodePool) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let mut lines = vec![Line::styled(
        format!(
            "node pool {} · {} node{} · label {}={}",
            pool.name,
            pool.nodes.len(),
            if pool.nodes.len() == 1 { "" } else { "s" },
            pool.source,
            pool.name
        ),
        Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
    )];
    lines.push(if pool.uncovered() {
        let key = app
            .config
            .keys_for(Command::NewPool)
            .first()
            .map(|k| k.label())
            .unwrap_or_default();
        Line::styled(
            format!("no preloader serves it; {key} makes one for it (its selector and tolerations filled in)"),
            Style::new().fg(t.busy),
        )
    } else {
        Line::raw(format!(
            "preloaded by {} on {} of its {} nodes",
            pool.preloaders
                .iter()
                .map(|(p, _, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            pool.covered,
            pool.nodes.len()
        ))
    });
    lines.push(Line::raw(if pool.taints.is_empty() {
        "no taints keep pods off its nodes".to_string()
    } else {
        format!("taints on every node: {}", taints_text(pool))
    }));
    lines
}

/// The fullest image disk among the node pool's kubelets read: `disk 62 %`.
pub(crate) fn fullest_disk<'a>(app: &App, pool: &NodePool) -> Line<'a> {
    let fullest = pool
        .nodes
        .iter()
        .filter_map(|n| match app.kubelets.get(n).map(|r| &r.answer) {
            Some(Ok((_, Some(d)))) => Some(d.percent()),
            _ => None,
        })
        .max_by(f64::total_cmp);
    match fullest {
        Some(p) => Line::raw(format!("disk {p:.0} %")),
        None => Line::raw(""),
    }
}

/// `key=value:Effect, …`
pub(crate) fn taints_text(pool: &NodePool) -> String {
    pool.taints
        .iter()
        .map(|t| {
            if t.value.is_empty() {
                format!("{}:{:?}", t.key, t.effect)
            } else {
                format!("{}={}:{:?}", t.key, t.value, t.effect)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
