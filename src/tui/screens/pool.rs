//! One pool: nodes × images, each cell the image's state on the node; the slowest node
//! marked; below, its workload starts (`starts`) and its recent pulls and failures.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub(crate) mod matrix;
mod starts;
mod summary;
pub(crate) use starts::suggested;
pub(crate) use summary::pulled_text;

use super::plan::Scope;
use super::{Component, Screen};
use crate::core::progress::{NodeProgress, PoolProgress};
use crate::tui::app::App;
use crate::tui::config::Command;

/// One pool's nodes and images.
pub(crate) struct PoolScreen {
    pub name: String,
}

impl PoolScreen {
    /// The pool as the overview derived it, while it exists.
    fn progress<'a>(&self, app: &'a App) -> Option<&'a PoolProgress> {
        app.overview
            .pools
            .iter()
            .find(|p| p.pool == self.name)
            .map(|p| &**p)
    }
}

impl Component for PoolScreen {
    fn crumb(&self, _app: &App) -> String {
        format!("pool {}", self.name)
    }

    fn rows(&self, app: &App) -> Vec<super::Row> {
        self.progress(app)
            .map(|p| {
                p.nodes
                    .iter()
                    .map(|n| super::Row {
                        key: n.node.clone(),
                        opens: Some(Screen::Node(n.node.clone())),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn columns(&self, app: &App) -> usize {
        self.progress(app).map_or(0, |p| p.images.len())
    }

    fn hints(&self, read_only: bool) -> &'static [Command] {
        if read_only {
            super::LIST_HINTS
        } else {
            super::POOL_HINTS
        }
    }

    fn shows_insight(&self) -> bool {
        true
    }

    fn help_section(&self) -> &'static str {
        "pool"
    }

    /// The rows in view (as `rows_in_view` finds them, without building every row).
    fn kubelets(&self, app: &App) -> Vec<String> {
        let Some(pool) = self.progress(app) else {
            return Vec::new();
        };
        super::in_view(app, &listed(app, pool))
            .iter()
            .map(|n| n.node.clone())
            .collect()
    }

    /// The rows the matrix drew last, exactly (once it has drawn this pool).
    fn pulls_on_screen(&self, app: &App) -> Vec<String> {
        let drawn = app.drawn_rows.borrow();
        if drawn.0 == self.name {
            drawn.1.clone()
        } else {
            Vec::new()
        }
    }

    fn pool(&self, _app: &App) -> Option<String> {
        Some(self.name.clone())
    }

    fn command(&self, app: &mut App, command: Command) -> bool {
        match command {
            Command::Cleanup => super::plan::open(app, Scope::Pool(self.name.clone())),
            Command::Suggested => starts::suggested(app, &self.name),
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app, &self.name);
    }
}

fn draw(frame: &mut Frame, area: Rect, app: &App, name: &str) {
    let Some(pool) = app.overview.pools.iter().find(|p| p.pool == name) else {
        frame.render_widget(
            Paragraph::new(format!(
                "the pool {name} is gone (its preloader was deleted?); Esc goes back"
            )),
            area,
        );
        return;
    };
    let summary =
        Paragraph::new(summary::lines(app, pool)).wrap(ratatui::widgets::Wrap { trim: false });
    // Every line of the head, wrapped at the screen's width, as long as the matrix keeps a
    // few rows and the recent pulls three lines; what is cut is the head's last details.
    let nodes = listed(app, pool);
    let matrix_need = nodes.len() as u16 + 2;
    let most = area.height.saturating_sub(matrix_need.min(6) + 3).max(3);
    let summary_height = (summary.line_count(area.width) as u16).min(most);
    let figures = starts::payoff(app, &pool.pool).filter(|f| f.starts > 0);
    let heights = Heights::of(
        area.height.saturating_sub(summary_height),
        matrix_need,
        starts::height(figures.as_ref()),
    );
    let [summary_area, matrix_area, payoff_area, log] = Layout::vertical([
        Constraint::Length(summary_height),
        Constraint::Length(heights.matrix),
        Constraint::Length(heights.payoff),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(summary, summary_area);
    matrix::draw(frame, matrix_area, app, pool, &nodes);
    starts::draw(frame, payoff_area, app, figures.as_ref());
    draw_recent(frame, log, app, pool);
}

/// The pool's nodes as `PoolScreen::rows` lists them after the filter, without building the
/// rows: a frame needs them, on pools of hundreds of nodes.
fn listed<'a>(app: &App, pool: &'a PoolProgress) -> Vec<&'a NodeProgress> {
    let filter = app.filter();
    pool.nodes
        .iter()
        .filter(|n| filter.keeps(&n.node))
        .collect()
}

/// How the lines below a pool's head are shared: the matrix takes what its rows need (a
/// screenful of them first), then the workload starts, then the matrix the rest of its
/// rows; the recent pulls keep a quarter (3 to 8 lines) and get whatever is left.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Heights {
    pub matrix: u16,
    pub payoff: u16,
    pub log: u16,
}

impl Heights {
    pub(crate) fn of(room: u16, matrix_need: u16, payoff_need: u16) -> Heights {
        let log_least = (room / 4).clamp(3, 8).min(room);
        let mut left = room - log_least;
        let first = matrix_need.min(10).min(left);
        left -= first;
        let payoff = payoff_need.min(left);
        left -= payoff;
        let more = matrix_need.saturating_sub(first).min(left);
        left -= more;
        Heights {
            matrix: first + more,
            payoff,
            log: log_least + left,
        }
    }
}

/// The pool's latest pulls and failures, newest last, as many as the panel holds: each
/// wrapped under its text, the node column as wide as its longest name in view.
fn draw_recent(frame: &mut Frame, log: Rect, app: &App, pool: &PoolProgress) {
    let t = &app.config.theme;
    let room = usize::from(log.height.saturating_sub(1));
    let width = usize::from(log.width);
    let node_width = pool
        .recent
        .iter()
        .rev()
        .take(room.max(1))
        .map(|h| h.node.chars().count())
        .max()
        .unwrap_or(0)
        .min(width / 4);
    // `10:00:05 web-1  `: the time, the node, two spaces.
    let indent = 9 + node_width + 2;
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for h in pool.recent.iter().rev() {
        let style = if h.warning {
            Style::new().fg(t.fail)
        } else {
            Style::new()
        };
        let mut text = crate::tui::views::fit::wrap(&h.text, width.saturating_sub(indent).max(20));
        // The oldest shown may be cut to the lines left (its first ones, ending in `…`).
        let last = used + text.len() > room;
        if last {
            if room == used {
                break;
            }
            text.truncate(room - used);
            if let Some(line) = text.last_mut() {
                line.pop();
                line.push('…');
            }
        }
        used += text.len();
        let mut lines = Vec::new();
        for (k, part) in text.into_iter().enumerate() {
            let lead = if k == 0 {
                format!(
                    "{} {:<node_width$}  ",
                    h.at.strftime("%H:%M:%S"),
                    crate::tui::views::fit::middle(&h.node, node_width)
                )
            } else {
                " ".repeat(indent)
            };
            lines.push(Line::from(vec![
                Span::styled(lead, Style::new().fg(t.dim)),
                Span::styled(part, style),
            ]));
        }
        blocks.push(lines);
        if last {
            break;
        }
    }
    let lines: Vec<Line> = blocks.into_iter().rev().flatten().collect();
    let title = if pool.recent.is_empty() {
        " recent pulls: none yet ".to_string()
    } else {
        " recent pulls ".to_string()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(title)),
        log,
    );
}

#[cfg(test)]
mod tests {
    use super::Heights;

    #[test]
    fn a_small_pool_leaves_its_room_to_the_recent_pulls() {
        // 3 nodes: title, header and 3 rows; the starts want 4.
        assert_eq!(
            Heights::of(40, 5, 4),
            Heights {
                matrix: 5,
                payoff: 4,
                log: 31
            }
        );
    }

    #[test]
    fn a_large_pool_takes_all_but_the_recent_pulls_least() {
        assert_eq!(
            Heights::of(40, 5002, 4),
            Heights {
                matrix: 28,
                payoff: 4,
                log: 8
            }
        );
        // Too little room: the matrix keeps its rows before the starts get any.
        assert_eq!(
            Heights::of(12, 5002, 4),
            Heights {
                matrix: 9,
                payoff: 0,
                log: 3
            }
        );
    }
}
