//! One pool: nodes × images, each cell the image's state on the node; the slowest node
//! marked; below, its workload starts (`starts`) and its recent pulls and failures.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

mod starts;
pub(crate) use starts::suggested;

use super::plan::Scope;
use super::{Component, Screen};
use crate::core::adopt::Origin;
use crate::core::progress::{ImageState, PoolProgress};
use crate::core::units;
use crate::tui::app::App;
use crate::tui::config::{Command, Theme};
use crate::tui::views::{highlighted, selected_style};

const CELL: u16 = 12;
/// A column with a pull under way in view: `↓ ~1.2/5.4 GB 38 MB/s`.
const PULL_CELL: u16 = 22;

/// One pool's nodes and images.
pub(crate) struct PoolScreen {
    pub name: String,
}

impl Component for PoolScreen {
    fn crumb(&self, _app: &App) -> String {
        format!("pool {}", self.name)
    }

    fn rows(&self, app: &App) -> Vec<super::Row> {
        app.overview
            .pools
            .iter()
            .find(|p| p.pool == self.name)
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
        app.overview
            .pools
            .iter()
            .find(|p| p.pool == self.name)
            .map_or(0, |p| p.images.len())
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

    /// The rows in view.
    fn kubelets(&self, app: &App) -> Vec<String> {
        super::rows_in_view(app)
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
    let t = &app.config.theme;
    let Some(pool) = app.overview.pools.iter().find(|p| p.pool == name) else {
        frame.render_widget(
            Paragraph::new(format!(
                "the pool {name} is gone (its preloader was deleted?); Esc goes back"
            )),
            area,
        );
        return;
    };
    let log_height = (area.height / 4).clamp(3, 8);
    let mut summary_lines = summary(pool, t, disk_line(app, &pool.pool));
    if let Some(line) = bytes_line(app, pool) {
        summary_lines.insert(2, line);
    }
    // Five lines at least (room for one warning); more when a problem, a warning and the
    // failures are all to be said, wrapped at the screen's width.
    let wrapped: usize = summary_lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(usize::from(area.width.max(1))))
        .sum();
    let summary_height = (wrapped as u16).clamp(5, (area.height / 2).max(5));
    let figures = starts::payoff(app, &pool.pool).filter(|f| f.starts > 0);
    // The panel yields to the matrix: the pool's rows first (up to a screenful).
    let matrix_need = (pool.nodes.len() as u16 + 2).min(8);
    let room = area
        .height
        .saturating_sub(summary_height + log_height + matrix_need);
    let payoff_height = starts::height(figures.as_ref()).min(room.max(2));
    let [summary_area, matrix, payoff_area, log] = Layout::vertical([
        Constraint::Length(summary_height),
        Constraint::Min(3),
        Constraint::Length(payoff_height),
        Constraint::Length(log_height),
    ])
    .areas(area);
    starts::draw(frame, payoff_area, app, figures.as_ref());
    frame.render_widget(
        Paragraph::new(summary_lines).wrap(ratatui::widgets::Wrap { trim: false }),
        summary_area,
    );

    draw_matrix(frame, matrix, app, pool);
    draw_recent(frame, log, app, pool);
}

/// Nodes × images: the rows in view, the image columns that fit from the scrolled-to one.
fn draw_matrix(frame: &mut Frame, matrix: Rect, app: &App, pool: &PoolProgress) {
    let t = &app.config.theme;
    // Image columns that fit beside the node column, from the scrolled-to one.
    let node_width = 14u16;
    // Each node's image disk, from its kubelet (read while the row is on screen).
    let disk_width = 15u16;
    let all = app.rows();
    let by_name: std::collections::HashMap<&str, &crate::core::progress::NodeProgress> =
        pool.nodes.iter().map(|n| (n.node.as_str(), n)).collect();
    let (first_row, count) =
        crate::tui::views::window(app.view().selected, all.len(), matrix.height);
    let in_view: Vec<&crate::core::progress::NodeProgress> = all[first_row..first_row + count]
        .iter()
        .filter_map(|r| by_name.get(r.key.as_str()).copied())
        .collect();
    *app.drawn_rows.borrow_mut() = (
        pool.pool.clone(),
        in_view.iter().map(|n| n.node.clone()).collect(),
    );
    // A column is wider while one of its images in view pulls, to show its bytes.
    let width_of = |i: usize| {
        let pulls = in_view.iter().any(|n| {
            n.images
                .get(i)
                .is_some_and(|img| matches!(img.state, ImageState::Pulling { .. }))
        });
        if pulls { PULL_CELL } else { CELL }
    };
    let first = app.view().column.min(pool.images.len().saturating_sub(1));
    let mut room = matrix.width.saturating_sub(node_width + disk_width);
    let mut shown: Vec<usize> = Vec::new();
    for i in first..pool.images.len() {
        let w = width_of(i);
        if w > room && !shown.is_empty() {
            break;
        }
        room = room.saturating_sub(w);
        shown.push(i);
    }
    let mut header = vec![Cell::from("NODE"), Cell::from("DISK (│ GC)")];
    header.extend(
        shown
            .iter()
            .map(|i| Cell::from(short(&pool.images[*i], width_of(*i) as usize - 1))),
    );
    let rows: Vec<Row> = in_view
        .iter()
        .map(|n| {
            let slow = pool.slowest.as_deref() == Some(n.node.as_str()) && !pool.complete();
            let label = match (n.trouble.is_some(), slow) {
                (true, _) => format!("{} ✗", n.node),
                (false, true) => format!("{} ▲", n.node),
                (false, false) => n.node.clone(),
            };
            let base = if n.trouble.is_some() {
                Style::new().fg(t.fail)
            } else if n.ready() {
                Style::new().fg(t.ok)
            } else {
                Style::new()
            };
            let disk = crate::tui::views::disk::cell(app, &n.node, 9);
            let mut cells = vec![Cell::from(highlighted(app, &label, base)), disk];
            for i in &shown {
                let cell = n.images.get(*i).map(|img| cell(&img.state, app, t));
                cells.push(cell.unwrap_or_else(|| Cell::from("")));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(node_width),
        Constraint::Length(disk_width),
    ];
    widths.extend(shown.iter().map(|i| Constraint::Length(width_of(*i))));
    let more = if shown.len() < pool.images.len() {
        format!(
            " · images {}-{} of {} (←/→)",
            first + 1,
            first + shown.len(),
            pool.images.len()
        )
    } else {
        String::new()
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD).fg(t.accent)))
        .row_highlight_style(selected_style(app))
        .block(Block::default().borders(Borders::TOP).title(format!(
            " nodes × images{more} · ▲ slowest {}",
            if pool.nodes.iter().any(|n| n.trouble.is_some()) {
                "· ✗ pod not running "
            } else {
                ""
            }
        )));
    let mut state =
        TableState::default().with_selected(Some(app.view().selected.saturating_sub(first_row)));
    frame.render_stateful_widget(table, matrix, &mut state);
}

/// The pool's latest pulls and failures, newest last.
fn draw_recent(frame: &mut Frame, log: Rect, app: &App, pool: &PoolProgress) {
    let t = &app.config.theme;
    let lines: Vec<Line> = pool
        .recent
        .iter()
        .rev()
        .take(log.height.saturating_sub(1) as usize)
        .rev()
        .map(|h| {
            let style = if h.warning {
                Style::new().fg(t.fail)
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(
                    format!("{} {:<10} ", h.at.strftime("%H:%M:%S"), h.node),
                    Style::new().fg(t.dim),
                ),
                Span::styled(h.text.clone(), style),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" recent pulls "),
        ),
        log,
    );
}

/// The pool's disk (its fullest node read so far against the GC threshold) and its sizing
/// by the article's formula against its smallest disk.
fn disk_line<'a>(app: &App, pool: &str) -> Line<'a> {
    let t = &app.config.theme;
    let Some(insight) = &app.insight else {
        return Line::styled("disk: reading…", Style::new().fg(t.dim));
    };
    let d = insight.pool_disk(pool);
    let mut spans = vec![Span::styled("disk ", Style::new().fg(t.dim))];
    match &d.fullest {
        Some((node, disk)) => {
            spans.extend(crate::tui::views::disk::gauge(disk, d.gc_high, 10, t).spans);
            spans.push(Span::raw(format!(
                " {node}, the fullest of {}/{} read",
                d.read, d.total
            )));
            spans.push(match d.gc_high {
                Some(h) => Span::styled(format!(" · GC at {h} %"), Style::new().fg(t.busy)),
                None => Span::styled(" · GC only when full", Style::new().fg(t.ok)),
            });
        }
        None => spans.push(Span::styled(
            format!("{}/{} kubelets read", d.read, d.total),
            Style::new().fg(t.dim),
        )),
    }
    if let Some(facts) = insight.pool(pool) {
        let smallest = insight
            .nodes
            .iter()
            .filter(|n| n.pool.as_deref() == Some(pool))
            .filter_map(|n| n.disk.map(|d| d.capacity))
            .min();
        let need = facts.sizing().total_bytes;
        spans.push(Span::raw(format!(
            " · sizing: needs {}",
            units::bytes(need)
        )));
        if let Some(cap) = smallest {
            let short = need.saturating_sub(cap);
            spans.push(if short > 0 {
                Span::styled(
                    format!(
                        ", smallest disk {}: short by {}",
                        units::bytes(cap),
                        units::bytes(short)
                    ),
                    Style::new().fg(t.fail),
                )
            } else {
                Span::styled(
                    format!(", smallest disk {}: fits", units::bytes(cap)),
                    Style::new().fg(t.ok),
                )
            });
        }
    }
    Line::from(spans)
}

/// The pool's header: its preloader, its progress, its disks, and each thing wrong (a
/// preloader that cannot be read, DaemonSets that are not whole, failed pulls), all of them.
fn summary<'a>(pool: &PoolProgress, t: &Theme, disk: Line<'a>) -> Vec<Line<'a>> {
    let origin = match pool.origin {
        Origin::Rendered => "rendered by kpreload",
        Origin::HandWritten => "hand-written",
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!("pool {}", pool.pool),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  {}/{} ({origin})",
                pool.namespace, pool.daemonset
            )),
        ]),
        Line::raw(format!(
            "ready {}/{} · images {}/{} · {} · {} · ETA {} · slowest {}",
            pool.nodes_ready(),
            pool.nodes.len(),
            pool.images_done(),
            pool.images_total(),
            pulled_text(pool),
            pool.throughput.map_or("-".into(), units::rate),
            units::estimate(pool.eta_seconds),
            pool.slowest.as_deref().unwrap_or("-"),
        )),
        disk,
    ];
    if let Some(problem) = &pool.problem {
        lines.push(Line::styled(problem.clone(), Style::new().fg(t.fail)));
    }
    if let Some(warning) = &pool.warning {
        lines.push(Line::styled(warning.clone(), Style::new().fg(t.busy)));
    }
    let troubled: Vec<&crate::core::progress::NodeProgress> =
        pool.nodes.iter().filter(|n| n.trouble.is_some()).collect();
    let pulls = pool.failures() - troubled.len();
    if pulls > 0 {
        lines.push(Line::styled(
            format!("{pulls} image pulls failed; open a node for the kubelet's words"),
            Style::new().fg(t.fail),
        ));
    }
    if let Some(first) = troubled
        .first()
        .and_then(|n| Some((&n.node, n.trouble.as_ref()?)))
    {
        let (node, trouble) = first;
        lines.push(Line::styled(
            format!(
                "{} preloader pod{} not running (✗): {node}: {}{}",
                troubled.len(),
                if troubled.len() == 1 { "" } else { "s" },
                trouble.summary(),
                if troubled.len() > 1 { ", …" } else { "" },
            ),
            Style::new().fg(t.fail),
        ));
    }
    lines
}

/// The pool's bytes pulled, with what the pulls under way have so far (`~` when some of
/// that is estimated).
pub(crate) fn pulled_text(pool: &PoolProgress) -> String {
    let approx = if pool.estimated() { "~" } else { "" };
    format!("{approx}{}", units::bytes(pool.bytes_with_pulls()))
}

/// While the pool pulls: where the bytes under way come from, and, when they are
/// estimates, why nothing is read from the nodes.
pub(crate) fn bytes_line<'a>(app: &App, pool: &PoolProgress) -> Option<Line<'a>> {
    let t = &app.config.theme;
    let on_screen = super::rows_in_view(app);
    let shown: Vec<&crate::core::progress::NodeProgress> = pool
        .nodes
        .iter()
        .filter(|n| n.pulling() && on_screen.contains(&n.node))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let pulling: Vec<&str> = shown.iter().map(|n| n.node.as_str()).collect();
    let estimated = shown.iter().flat_map(|n| &n.images).any(|i| {
        matches!(&i.state, ImageState::Pulling { bytes, .. } if bytes.as_ref().is_none_or(|b| b.estimated))
    });
    if !estimated {
        return Some(Line::styled(
            format!(
                "bytes read from the nodes' runtimes (ctr content active) · {} on screen pulling",
                pulling.len()
            ),
            Style::new().fg(t.dim),
        ));
    }
    let why = app
        .pulls
        .reason(app.read_only, &app.snapshot, &app.overview, &pulling)
        .unwrap_or_default();
    Some(Line::styled(
        format!("~ bytes estimated (known sizes, earlier rates), not read: {why}"),
        Style::new().fg(t.busy),
    ))
}

/// A pull in bytes, for a cell: `↓ 1.2/5.4 GB 38 MB/s`; `~` before estimated figures, `↻`
/// for a pull that started over (its bytes kept).
pub(crate) fn pull_text(b: &crate::core::progress::bytes::PullBytes) -> String {
    let arrow = if b.restarts > 0 { '↻' } else { '↓' };
    let approx = if b.estimated { "~" } else { "" };
    let amount = match b.total {
        Some(total) => units::fraction(b.done, total),
        None => units::short_bytes(b.done),
    };
    let rate = b
        .rate
        .map_or(String::new(), |r| format!(" {}", units::short_rate(r)));
    format!("{arrow} {approx}{amount}{rate}")
}

/// `registry.example.com/team/app:v1.2` → `app:v1.2`, cut to fit.
pub(crate) fn short(image: &str, width: usize) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.chars().count() <= width {
        last.to_string()
    } else {
        let cut: String = last.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn cell<'a>(state: &ImageState, app: &App, t: &Theme) -> Cell<'a> {
    match state {
        ImageState::Queued => Cell::from("· queued").style(Style::new().fg(t.dim)),
        ImageState::Pulling { since, bytes } => {
            let text = match bytes {
                Some(b) => pull_text(b),
                None => {
                    let elapsed = since
                        .map(|s| app.now.duration_since(s).as_secs_f64())
                        .map_or(String::new(), units::seconds);
                    format!("↓ {elapsed}")
                }
            };
            Cell::from(text).style(Style::new().fg(t.busy))
        }
        ImageState::Pulled { seconds, .. } => Cell::from(format!(
            "✓ {}",
            seconds.map_or("pulled".to_string(), units::seconds)
        ))
        .style(Style::new().fg(t.ok)),
        ImageState::Present => Cell::from("✓ present").style(Style::new().fg(t.ok)),
        ImageState::Failed { reason, .. } => {
            let short = match reason.as_str() {
                "ImagePullBackOff" => "back-off",
                "ErrImagePull" => "pull failed",
                "InvalidImageName" => "bad name",
                other => other,
            };
            Cell::from(format!("✗ {short}")).style(Style::new().fg(t.fail))
        }
    }
}
