//! Will preloading hold? The findings of `kpreload check`, worst first, coloured by
//! severity, each with its pool, nodes and what to do; above them, how many kubelets were
//! read and how long ago; Enter opens the finding's pool, `r` reads the kubelets again.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::answer::Tone;
use super::{Component, Row, Screen};
use crate::core::findings::Severity;
use crate::tui::app::{App, FINDINGS_PER_POOL};
use crate::tui::config::Command;
use crate::tui::views::disk::age;

/// Disk and kubelet findings.
pub(crate) struct FindingsScreen;

impl Component for FindingsScreen {
    fn crumb(&self, _app: &App) -> String {
        "findings".into()
    }

    fn rows(&self, app: &App) -> Vec<Row> {
        app.insight
            .as_ref()
            .map(|i| {
                i.findings
                    .iter()
                    .map(|f| Row {
                        key: format!(
                            "{} {} {}",
                            f.severity.word(),
                            f.code,
                            f.pool.as_deref().unwrap_or("-")
                        ),
                        opens: f.pool.clone().map(Screen::Pool),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn hints(&self, _read_only: bool) -> &'static [Command] {
        &[
            Command::Open,
            Command::Refresh,
            Command::Back,
            Command::Filter,
            Command::Help,
        ]
    }

    fn shows_insight(&self) -> bool {
        true
    }

    fn kubelets(&self, app: &App) -> Vec<String> {
        app.nodes_per_pool(FINDINGS_PER_POOL)
    }

    /// No pull is shown here.
    fn pulls_on_screen(&self, _app: &App) -> Vec<String> {
        Vec::new()
    }

    /// Already here: `f` does nothing.
    fn command(&self, _app: &mut App, command: Command) -> bool {
        command == Command::Findings
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app);
    }
}

fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let [head, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(area);
    let Some(insight) = &app.insight else {
        frame.render_widget(Paragraph::new("reading the cluster…"), area);
        return;
    };
    frame.render_widget(Paragraph::new(head_lines(app, insight)), head);

    let pending = app.kubelets.busy();
    let rows = app.rows();
    if rows.is_empty() {
        let text = if insight.read == 0 && pending > 0 {
            "reading the kubelets…"
        } else if !app.view().filter.is_empty() {
            "nothing matches the filter; Esc clears it"
        } else {
            "no findings: preloading should hold"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, Style::new().fg(t.ok)))
                .block(Block::default().borders(Borders::TOP).title(" findings ")),
            body,
        );
        return;
    }
    // The findings the filter lets through, in order; each takes as many lines as it wraps
    // to, and the selected one is kept in view.
    let shown: Vec<&crate::core::findings::Finding> = insight
        .findings
        .iter()
        .filter(|f| {
            let key = format!(
                "{} {} {}",
                f.severity.word(),
                f.code,
                f.pool.as_deref().unwrap_or("-")
            );
            rows.iter().any(|r| r.key == key)
        })
        .collect();
    let selected = app.view().selected.min(shown.len().saturating_sub(1));
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    let width = body.width.max(1) as usize;
    let rendered =
        |lines: &[Line]| -> usize { lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum() };
    for (i, f) in shown.iter().enumerate() {
        if i == selected {
            selected_line = rendered(&lines);
        }
        let colour = match f.severity {
            Severity::Critical => t.fail,
            Severity::Warning => t.busy,
            Severity::Info => t.dim,
        };
        let mark = if i == selected { "▶ " } else { "  " };
        let nodes = f.nodes_text();
        let title = Style::new().add_modifier(Modifier::BOLD);
        lines.push(Line::from(vec![
            Span::styled(mark, Style::new().fg(t.accent)),
            Span::styled(
                format!("{:<8}", f.severity.word().to_uppercase()),
                Style::new().fg(colour).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!("{} · pool {}", f.code, f.pool.as_deref().unwrap_or("-")),
                if i == selected {
                    title.fg(t.accent)
                } else {
                    title
                },
            ),
        ]));
        lines.push(Line::raw(format!("    {}", f.message)));
        lines.push(Line::styled(
            format!("    nodes: {nodes}"),
            Style::new().fg(t.dim),
        ));
        lines.push(Line::from(vec![
            Span::styled("    do: ", Style::new().fg(t.accent)),
            Span::raw(f.remedy.clone()),
        ]));
    }
    let counts = |s: Severity| insight.findings.iter().filter(|f| f.severity == s).count();
    let title = format!(
        " findings: {} critical · {} warning · {} info ",
        counts(Severity::Critical),
        counts(Severity::Warning),
        counts(Severity::Info)
    );
    let paragraph = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::TOP).title(title));
    // Scroll so the selected finding's first line is in view (wrapped lines counted by
    // width; word wrapping can add a line here and there).
    let height = body.height.saturating_sub(1) as usize;
    let scroll = selected_line.saturating_sub(height.saturating_sub(4)) as u16;
    frame.render_widget(paragraph.scroll((scroll, 0)), body);
}

/// How many kubelets were read and how long ago, and the keys that matter here.
/// Will preloading hold: the worst finding's severity, how many there are, the worst one;
/// never "holds" before a kubelet has been read.
fn answer(insight: &crate::tui::insight::Insight, answered: usize) -> (String, Tone) {
    let count = |s: Severity| insight.findings.iter().filter(|f| f.severity == s).count();
    let (critical, warnings) = (count(Severity::Critical), count(Severity::Warning));
    let worst = insight.findings.iter().max_by_key(|f| f.severity).map(|f| {
        format!(
            "the worst: {} on {}",
            f.code,
            f.pool
                .as_deref()
                .map_or("the cluster".to_string(), |p| format!("pool {p}"))
        )
    });
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let unread = insight.read.saturating_sub(answered);
    if critical > 0 {
        let mut text = format!("preloading will not hold: {critical} critical");
        if warnings > 0 {
            text.push_str(&format!(", {}", plural(warnings, "warning")));
        }
        text.push_str(&format!(" ({})", worst.unwrap_or_default()));
        return (text, Tone::Fail);
    }
    if warnings > 0 {
        return (
            format!(
                "preloading is at risk: {} ({})",
                plural(warnings, "warning"),
                worst.unwrap_or_default()
            ),
            Tone::Busy,
        );
    }
    if answered == 0 {
        return (
            "not known yet whether preloading holds: no kubelet has answered".into(),
            Tone::Dim,
        );
    }
    let nodes = plural(answered, "node");
    if unread > 0 {
        return (
            format!(
                "preloading holds on the {nodes} read; {} could not be read",
                plural(unread, "kubelet")
            ),
            Tone::Busy,
        );
    }
    (
        format!("preloading holds: no finding of warning or worse on the {nodes} read"),
        Tone::Ok,
    )
}

fn head_lines<'a>(app: &App, insight: &crate::tui::insight::Insight) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let pending = app.kubelets.busy();
    let answered = insight.nodes.iter().filter(|n| n.kubelet.is_some()).count();
    let answer = answer(insight, answered);
    let mut first = vec![Span::raw(format!(
        "kubelets read on {answered} of {} pool node{} (up to 10 per pool)",
        insight.total,
        if insight.total == 1 { "" } else { "s" }
    ))];
    if insight.read > answered {
        first.push(Span::styled(
            format!(", {} unread", insight.read - answered),
            Style::new().fg(t.fail),
        ));
    }
    if let Some(oldest) = insight.oldest {
        first.push(Span::styled(
            format!(
                " · oldest {}",
                age(app.now.as_second() - oldest.as_second())
            ),
            Style::new().fg(t.dim),
        ));
    }
    if pending > 0 {
        first.push(Span::styled(
            format!(" · reading {pending}…"),
            Style::new().fg(t.busy),
        ));
    }
    let keys = |c| {
        app.config
            .keys_for(c)
            .first()
            .map(|k| k.label())
            .unwrap_or_default()
    };
    let second = Line::styled(
        format!(
            "{} reads them again · {} opens the finding's pool · as `kpreload check`",
            keys(crate::tui::config::Command::Refresh),
            keys(crate::tui::config::Command::Open)
        ),
        Style::new().fg(t.dim),
    );
    vec![
        Line::styled(answer.0, answer.1.style(t)),
        Line::from(first),
        second,
    ]
}
