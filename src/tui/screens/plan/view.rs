//! The cleanup plan: settings, totals, each node with what it removes and keeps and why;
//! the confirmation dialog over it; then the run's per-node progress and results.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Cleanup, Phase};
use crate::cluster::removal::report_lines;
use crate::core::cleanup::{display_name, settings_line};
use crate::core::planner::Decision;
use crate::core::units;
use crate::tui::app::App;
use crate::tui::views::{dialog, highlighted, selected_style, window};

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.cleanup else {
        frame.render_widget(Paragraph::new("no plan open; Esc goes back"), area);
        return;
    };
    let lines = summary_lines(app, c);
    let wrapped = Paragraph::new(lines.clone()).wrap(Wrap { trim: false });
    let whole = wrapped.line_count(area.width) as u16;
    // The head is wrapped whole when the list keeps the room its lines need; else the answer
    // is wrapped and the scope and settings take a line each, cut at the end, when that
    // makes the list fit or the whole head would take more than a third of the screen.
    let list_need = app.rows().len() as u16 + 1;
    let answer = Paragraph::new(lines[..1].to_vec()).wrap(Wrap { trim: false });
    let answer_height = answer.line_count(area.width) as u16;
    let short_height = answer_height + lines.len() as u16 - 1;
    let (summary, height) = if whole + list_need <= area.height
        || (short_height + list_need > area.height && whole <= area.height / 3)
    {
        (wrapped, whole)
    } else {
        let mut short: Vec<Line> = Vec::new();
        for line in &lines[1..] {
            short.push(cut(line.clone(), usize::from(area.width)));
        }
        let mut all = lines[..1].to_vec();
        all.extend(short);
        (Paragraph::new(all).wrap(Wrap { trim: false }), short_height)
    };
    let [top, list] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(1)]).areas(area);
    frame.render_widget(summary, top);
    match &c.phase {
        Phase::Preview | Phase::Confirm { .. } => draw_plan(frame, list, app, c),
        Phase::Running {
            total,
            running,
            reports,
        } => draw_run(frame, list, app, c, Some((*total, running)), reports),
        Phase::Done { reports } => draw_run(frame, list, app, c, None, reports),
    }
    if let Phase::Confirm { typed, grew, .. } = &c.phase {
        draw_confirm(frame, app, c, typed, grew);
    }
}

/// A line cut to `width` columns, `…` at the end when something was cut.
fn cut(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut left = width.saturating_sub(1);
    let mut spans = Vec::new();
    let mut style = Style::new();
    for span in line.spans {
        if left == 0 {
            break;
        }
        let text: String = span.content.chars().take(left).collect();
        left -= text.chars().count();
        style = span.style;
        spans.push(Span::styled(text, span.style));
    }
    spans.push(Span::styled("…", style));
    Line::from(spans)
}

/// The plan's head: what it removes (its answer, first), its scope and keep, its settings.
fn summary_lines<'a>(app: &App, c: &Cleanup) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let plan = c.effective();
    let keep = match c.keep {
        Some(k) => format!("keep {k}"),
        None => "keep each pool's own".into(),
    };
    let (ok, blocked) = c.runnable();
    let mut second = vec![Span::styled(
        format!(
            "remove {} image{} ({}) on {} of {} node{}",
            plan.remove_images(),
            plural(plan.remove_images()),
            units::bytes(plan.remove_bytes()),
            plan.nodes_to_clean(),
            c.plan.nodes.len(),
            plural(c.plan.nodes.len())
        ),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if !c.excluded.is_empty() {
        second.push(Span::styled(
            format!("  · {} excluded", c.excluded.len()),
            Style::new().fg(t.busy),
        ));
    }
    if !c.plan.problems.is_empty() {
        second.push(Span::styled(
            format!("  · cannot run: {}", c.plan.problems.join("; ")),
            Style::new().fg(t.fail),
        ));
    }
    if !blocked.is_empty() {
        second.push(Span::styled(
            format!(
                "  · cannot run on {} of {} node{} with removals",
                blocked.len(),
                ok.len() + blocked.len(),
                plural(ok.len() + blocked.len())
            ),
            Style::new().fg(t.fail),
        ));
    }
    vec![
        Line::from(second),
        Line::from(vec![
            Span::styled(
                format!("cleanup plan · {} · ", c.scope.label()),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(keep),
            Span::styled(
                format!(
                    "  ({} more, {} fewer, {} exclude a node)",
                    key_label(app, crate::tui::config::Command::KeepMore),
                    key_label(app, crate::tui::config::Command::KeepLess),
                    key_label(app, crate::tui::config::Command::Exclude),
                ),
                Style::new().fg(t.dim),
            ),
        ]),
        Line::styled(
            settings_line(&plan)
                .split(" · ")
                .skip(1)
                .collect::<Vec<_>>()
                .join(" · "),
            Style::new().fg(t.dim),
        ),
    ]
}

fn key_label(app: &App, command: crate::tui::config::Command) -> String {
    app.config
        .keys_for(command)
        .first()
        .map_or("-".into(), |k| k.label())
}

fn draw_plan(frame: &mut Frame, area: Rect, app: &App, c: &Cleanup) {
    let t = &app.config.theme;
    let rows = app.rows();
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let lines: Vec<_> = c
        .lines()
        .into_iter()
        .filter(|l| keys.contains(&c.line_key(l)))
        .collect();
    let selected = app.view().selected;
    // The top border takes a line; `window` counts a header and a border of its own.
    let (first, count) = window(selected, lines.len(), area.height + 1);
    let width = c
        .plan
        .nodes
        .iter()
        .flat_map(|n| n.plan.images.iter().map(|i| display_name(i).len()))
        .max()
        .unwrap_or(10)
        .min(48);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(first).take(count) {
        let Some(n) = c.plan.nodes.iter().find(|n| n.plan.node == line.node) else {
            continue;
        };
        let excluded = c.excluded.contains(&n.plan.node);
        let mut row = match line.image {
            None => {
                let mut spans = vec![
                    highlighted(app, &n.plan.node, Style::new().add_modifier(Modifier::BOLD))
                        .spans
                        .into_iter()
                        .collect::<Vec<_>>(),
                ];
                let removals = n.plan.removals().count();
                let mut text = format!(
                    "  {} · remove {removals} ({})",
                    n.plan.pool.as_deref().unwrap_or("no pool"),
                    units::bytes(n.plan.remove_bytes)
                );
                if n.facts.capped {
                    text.push_str(
                        " · status.images at the kubelet's cap: a deep scan may find more",
                    );
                }
                spans.push(vec![Span::raw(text)]);
                if excluded {
                    spans.push(vec![Span::styled(
                        "  excluded",
                        Style::new().fg(t.busy).add_modifier(Modifier::BOLD),
                    )]);
                } else if let Some(why) = n.facts.blocked().filter(|_| removals > 0) {
                    spans.push(vec![Span::styled(
                        format!("  cannot run here: {why}"),
                        Style::new().fg(t.fail),
                    )]);
                }
                Line::from(spans.concat())
            }
            Some(idx) => {
                let img = &n.plan.images[idx];
                let (word, style) = match img.decision {
                    Decision::Remove if excluded => ("remove", Style::new().fg(t.dim)),
                    Decision::Remove => ("remove", Style::new().fg(t.fail)),
                    Decision::Keep => ("keep", Style::new().fg(t.ok)),
                };
                let name = display_name(img);
                Line::from(vec![
                    Span::styled(format!("    {word:<7}"), style),
                    Span::raw(format!("{name:<width$}  ")),
                    Span::raw(format!("{:>10}  ", units::bytes(img.size))),
                    Span::styled(img.reason.to_string(), Style::new().fg(t.dim)),
                ])
            }
        };
        if i == selected {
            row = row.patch_style(selected_style(app));
        }
        out.push(row);
    }
    if lines.is_empty() {
        out.push(Line::styled(
            "no nodes in this plan (yet): the cluster view is still loading, or the filter hides them",
            Style::new().fg(t.dim),
        ));
    }
    frame.render_widget(
        Paragraph::new(out).block(Block::default().borders(Borders::TOP).title(format!(
            " {} · {} confirm · {} back ",
            if app.read_only {
                "read-only: preview"
            } else {
                "preview"
            },
            key_label(app, crate::tui::config::Command::Cleanup),
            key_label(app, crate::tui::config::Command::Back),
        ))),
        area,
    );
}

fn draw_run(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    c: &Cleanup,
    running: Option<(usize, &std::collections::BTreeSet<String>)>,
    reports: &[crate::cluster::removal::NodeReport],
) {
    let t = &app.config.theme;
    let mut out = Vec::new();
    let (title, total) = match running {
        Some((total, _)) => (
            format!(" removing · {} of {total} nodes done ", reports.len()),
            total,
        ),
        None => {
            let removed: usize = reports.iter().map(|r| r.removed()).sum();
            let freed: u64 = reports.iter().map(|r| r.freed()).sum();
            let failed = reports.iter().filter(|r| r.failed()).count();
            (
                format!(
                    " done · removed {removed} image{} and freed {} on {} node{}{} · {} back to the refreshed plan ",
                    plural(removed),
                    units::bytes(freed),
                    reports.len(),
                    plural(reports.len()),
                    if failed > 0 {
                        format!(" · {failed} failed")
                    } else {
                        String::new()
                    },
                    key_label(app, crate::tui::config::Command::Back)
                ),
                reports.len(),
            )
        }
    };
    let _ = total;
    for r in reports {
        let lines = report_lines(r);
        let style = if r.failed() {
            Style::new().fg(t.fail)
        } else {
            Style::new().fg(t.ok)
        };
        for (i, l) in lines.into_iter().enumerate() {
            out.push(if i == 0 {
                Line::styled(
                    format!("✓ {l}").replacen("✓", if r.failed() { "✗" } else { "✓" }, 1),
                    style,
                )
            } else {
                Line::styled(l, Style::new().fg(t.dim))
            });
        }
    }
    if let Some((_, now)) = running {
        for node in now {
            out.push(Line::styled(
                format!("◐ {node}: removing…"),
                Style::new().fg(t.busy),
            ));
        }
        let done: std::collections::BTreeSet<&str> =
            reports.iter().map(|r| r.node.as_str()).collect();
        for n in &c.effective().nodes {
            let name = n.plan.node.as_str();
            if n.plan.removals().next().is_some()
                && n.facts.blocked().is_none()
                && !done.contains(name)
                && !now.contains(name)
            {
                out.push(Line::styled(
                    format!("· {name}: waiting"),
                    Style::new().fg(t.dim),
                ));
            }
        }
    }
    let skip = out
        .len()
        .saturating_sub(area.height.saturating_sub(1) as usize);
    let out: Vec<Line> = out.into_iter().skip(skip).collect();
    frame.render_widget(
        Paragraph::new(out).block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}

fn draw_confirm(frame: &mut Frame, app: &App, c: &Cleanup, typed: &str, grew: &[String]) {
    let t = &app.config.theme;
    let plan = c.runnable_plan();
    let (ok, blocked) = c.runnable();
    let mut lines = vec![
        Line::styled(
            format!(
                "Remove {} image{} ({}) from {} node{}: {}.",
                plan.remove_images(),
                plural(plan.remove_images()),
                units::bytes(plan.remove_bytes()),
                ok.len(),
                plural(ok.len()),
                ok.join(", ")
            ),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Line::raw(
            "Right before removing, each node's images and containers are listed again; an \
             image in use by then is kept. Nothing is forced.",
        ),
    ];
    if !blocked.is_empty() {
        lines.push(Line::styled(
            format!("Not on {}: cleanup cannot run there.", blocked.join(", ")),
            Style::new().fg(t.fail),
        ));
    }
    if !grew.is_empty() {
        lines.push(Line::styled(
            format!(
                "Since you opened this, {} more image{} became removable: {}. Type again to include {}.",
                grew.len(),
                plural(grew.len()),
                grew.join(", "),
                if grew.len() == 1 { "it" } else { "them" }
            ),
            Style::new().fg(t.busy),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::raw("Type "),
        Span::styled(
            c.scope.word().to_string(),
            Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" and Enter to go on, Esc to go back:"),
    ]));
    lines.push(Line::from(vec![
        Span::styled("> ", Style::new().fg(t.accent)),
        Span::raw(typed.to_string()),
        Span::styled("▏", Style::new().fg(t.accent)),
    ]));
    dialog(frame, &format!(" cleanup {} ", c.scope.label()), lines, 76);
}
