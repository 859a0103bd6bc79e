//! Drawing: the header, the current screen (each draws itself, see [`super::screens`]), the
//! footer, and the help over them; and the pieces the screens share.

pub mod disk;
pub(crate) mod fit;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{App, Input};
use crate::cluster::watch::Link;

/// The screen's three bands: header, body, footer.
fn bands(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area)
}

impl App {
    /// What a frame of this size needs before it is drawn: the page size the lists scroll by,
    /// and the reads of what will be on screen (kubelets, findings). Drawing itself changes
    /// nothing.
    pub fn before_draw(&mut self, area: Rect) {
        let [_, body, _] = bands(area);
        self.page = body.height.saturating_sub(3) as usize;
        self.prepare();
    }
}

/// Draws the app as it is; [`App::before_draw`] comes first.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, footer] = bands(frame.area());
    draw_header(frame, header, app);
    app.view().screen.component().draw(frame, body, app);
    draw_footer(frame, footer, app);
    if app.help {
        super::screens::help::draw(frame, app);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let (state, style) = if app.links.all_live() {
        ("● live".to_string(), Style::new().fg(t.ok))
    } else if let Some((w, why)) = app.links.trouble() {
        (
            format!("◌ reconnecting ({}): {why}", w.resource()),
            Style::new().fg(t.fail),
        )
    } else {
        let mut waiting: Vec<&str> = app
            .links
            .expected()
            .iter()
            .filter(|w| app.links.get(**w) != Link::Live)
            .map(|w| w.resource())
            .collect();
        waiting.dedup();
        (
            format!("◌ connecting: {}", waiting.join(", ")),
            Style::new().fg(t.busy),
        )
    };
    let h = &app.header;
    let first = Line::from(vec![
        Span::styled(
            "kpreload",
            Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  context {}  cluster {}  ns {}{}",
            h.context,
            h.cluster,
            h.namespace,
            if app.read_only { "  read-only" } else { "" }
        )),
    ]);
    let second = Line::from(vec![
        Span::styled(state, style),
        Span::styled(format!("  {}", h.server), Style::new().fg(t.dim)),
    ]);
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let line = match &app.input {
        Some(Input::Filter) => Line::from(vec![
            Span::styled("/", Style::new().fg(t.accent)),
            Span::raw(app.view().filter.clone()),
            Span::styled("▏", Style::new().fg(t.accent)),
        ]),
        Some(Input::Palette(text)) => Line::from(vec![
            Span::styled(":", Style::new().fg(t.accent)),
            Span::raw(text.clone()),
            Span::styled("▏", Style::new().fg(t.accent)),
        ]),
        None => match &app.notice {
            Some(n) => Line::styled(n.clone(), Style::new().fg(t.fail)),
            None => {
                let mut spans = Vec::new();
                let crumbs: Vec<String> = app
                    .stack
                    .iter()
                    .map(|v| v.screen.component().crumb(app))
                    .collect();
                spans.push(Span::styled(
                    crumbs.join(" › "),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
                if !app.view().filter.is_empty() {
                    spans.push(Span::styled(
                        format!("  /{}", app.view().filter),
                        Style::new().fg(t.accent),
                    ));
                }
                let hints = app.view().screen.component().hints(app.read_only);
                for c in hints.iter().copied() {
                    if let Some(k) = app.config.keys_for(c).first() {
                        spans.push(Span::styled(
                            format!("  {} {}", k.label(), c.name()),
                            Style::new().fg(t.dim),
                        ));
                    }
                }
                Line::from(spans)
            }
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A row label with the filter's matches highlighted.
pub(crate) fn highlighted<'a>(app: &App, text: &str, base: Style) -> Line<'a> {
    let hits = app.matches(text);
    if hits.is_empty() {
        return Line::styled(text.to_string(), base);
    }
    let hit = base
        .fg(app.config.theme.accent)
        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    Line::from(
        text.chars()
            .enumerate()
            .map(|(i, c)| Span::styled(c.to_string(), if hits.contains(&i) { hit } else { base }))
            .collect::<Vec<_>>(),
    )
}

/// The selected row's style.
pub(crate) fn selected_style(app: &App) -> Style {
    let t = &app.config.theme;
    if t.plain {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().bg(t.selected).add_modifier(Modifier::BOLD)
    }
}

/// The rows a table of `height` lines (header included) shows so that `selected` is in
/// view: (first row, count). Only those rows are built, so 5,000 rows cost what 50 do.
pub fn window(selected: usize, total: usize, height: u16) -> (usize, usize) {
    let visible = (height as usize).saturating_sub(2).max(1);
    let first = selected
        .saturating_sub(visible - 1)
        .min(total.saturating_sub(visible));
    (first, visible.min(total - first.min(total)))
}

/// A text gauge: `████░░░░ 50%`.
pub(crate) fn gauge(done: usize, total: usize, width: usize) -> String {
    if total == 0 {
        return format!("{:width$}", "-", width = width + 5);
    }
    let filled = done * width / total;
    format!(
        "{}{} {:>3}%",
        "█".repeat(filled),
        "░".repeat(width - filled),
        done * 100 / total
    )
}

/// A box in the middle of the screen, as tall as its wrapped lines.
pub fn dialog(frame: &mut Frame, title: &str, lines: Vec<Line>, max_width: u16) {
    let area = frame.area();
    let width = area.width.min(max_width);
    let inner = width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = (wrapped as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title.to_string()),
        ),
        popup,
    );
}
