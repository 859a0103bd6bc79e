//! One node: its preloader's images in order with their state, the images the kubelet
//! reports (size, used by which pods, preloaded by which pool), labels, taints, capacity.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::plan::Scope;
use super::{Component, Row as ListRow};
use crate::core::node_detail::{NodeDetail, NodeImage};
use crate::core::progress::ImageState;
use crate::core::units;
use crate::tui::app::App;
use crate::tui::config::Command;
use crate::tui::views::{highlighted, selected_style};

/// One node.
pub(crate) struct NodeScreen {
    pub name: String,
}

impl Component for NodeScreen {
    fn crumb(&self, _app: &App) -> String {
        format!("node {}", self.name)
    }

    /// The images the kubelet reports.
    fn rows(&self, app: &App) -> Vec<ListRow> {
        app.snapshot
            .nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(self.name.as_str()))
            .and_then(|n| n.status.as_ref()?.images.clone())
            .unwrap_or_default()
            .iter()
            .map(|i| ListRow {
                key: crate::core::node_detail::display_name(i),
                opens: None,
            })
            .collect()
    }

    fn hints(&self, _read_only: bool) -> &'static [Command] {
        super::LIST_HINTS
    }

    fn shows_insight(&self) -> bool {
        true
    }

    fn kubelets(&self, _app: &App) -> Vec<String> {
        vec![self.name.clone()]
    }

    /// Which pods use which image on the node, once per change of pods.
    fn prepare(&self, app: &mut App) {
        let fresh = app
            .uses
            .as_ref()
            .is_some_and(|(n, v, _)| *n == self.name && *v == app.pods_version);
        if !fresh {
            let uses = used_by(&app.snapshot, &self.name);
            app.uses = Some((self.name.clone(), app.pods_version, uses));
        }
    }

    fn command(&self, app: &mut App, command: Command) -> bool {
        if command != Command::Cleanup {
            return false;
        }
        super::plan::open(app, Scope::Node(self.name.clone()));
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app, &self.name);
    }
}

fn draw(frame: &mut Frame, area: Rect, app: &App, name: &str) {
    let Some(node) = app
        .snapshot
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(name))
    else {
        frame.render_widget(
            Paragraph::new(format!("the node {name} is gone; Esc goes back")),
            area,
        );
        return;
    };
    let empty = BTreeMap::new();
    let used = app
        .uses
        .as_ref()
        .filter(|(n, _, _)| n == name)
        .map_or(&empty, |(_, _, u)| u);
    let detail = NodeDetail::of(node, &app.overview, used);
    let info = info_lines(app, &detail);
    let count = |lines: &[Line]| {
        Paragraph::new(lines.to_vec())
            .wrap(Wrap { trim: true })
            .line_count(area.width) as u16
    };
    // The images take what their rows need (half the screen at least, when they have the
    // rows); what the kubelet said lately fills what is left (three lines of it at least),
    // newest kept.
    let images_need = app.rows().len() as u16 + 2;
    let images_least = images_need.min(area.height / 2).max(3);
    let mut top = info;
    let base = count(&top).min(area.height.saturating_sub(images_least));
    let room = area
        .height
        .saturating_sub(images_need.max(images_least))
        .max(area.height.saturating_sub(images_least).min(base + 3));
    let said = said_lines(app, &detail.name);
    let mut kept: Vec<Line> = Vec::new();
    for line in said.into_iter().rev() {
        let mut trial = top.clone();
        trial.push(line.clone());
        trial.extend(kept.iter().cloned());
        if count(&trial) > room {
            break;
        }
        kept.insert(0, line);
    }
    top.extend(kept);
    let top_height = count(&top).min(area.height.saturating_sub(images_least));
    let [top_area, images] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(top).wrap(Wrap { trim: true }), top_area);
    draw_images(frame, images, app, &detail);
}

/// What the kubelet said lately about this node's preloader pods, oldest first.
fn said_lines<'a>(app: &App, node: &str) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let mut recent: Vec<&crate::core::progress::Happening> = app
        .overview
        .pools
        .iter()
        .flat_map(|p| p.recent.iter())
        .filter(|h| h.node == node)
        .collect();
    recent.sort_by_key(|h| h.at);
    recent
        .into_iter()
        .map(|h| {
            Line::from(vec![
                Span::styled(
                    format!("{} ", h.at.strftime("%H:%M:%S")),
                    Style::new().fg(t.dim),
                ),
                Span::styled(
                    h.text.clone(),
                    if h.warning {
                        Style::new().fg(t.fail)
                    } else {
                        Style::new()
                    },
                ),
            ])
        })
        .collect()
}

/// The node's head: what it waits for, readiness, pools, labels, taints, disk, and each
/// preloader's images in order with their state.
fn info_lines<'a>(app: &App, d: &NodeDetail) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let or_dash = |list: &[String]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(", ")
        }
    };
    let pools: Vec<(
        &crate::core::progress::PoolProgress,
        &crate::core::progress::NodeProgress,
    )> = app
        .overview
        .pools
        .iter()
        .filter_map(|p| Some((&**p, p.nodes.iter().find(|n| n.node == d.name)?)))
        .collect();
    let (answer, tone) = super::answer::node(&d.name, &pools, app.now);
    let mut info = vec![
        Line::styled(answer, tone.style(t)),
        Line::from(vec![
            Span::styled(
                "Ready".to_string(),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " {} · pools {} · ephemeral storage {}",
                d.ready,
                if d.pools.is_empty() {
                    "none".to_string()
                } else {
                    d.pools.join(", ")
                },
                d.storage.as_deref().unwrap_or("-")
            )),
        ]),
        Line::raw(format!(
            "labels {} · taints {}",
            or_dash(&d.labels),
            or_dash(&d.taints)
        )),
        crate::tui::views::disk::node_line(app, &d.name),
    ];
    info.extend(preload_lines(app, &d.name));
    info
}

/// The preloader pods' progress on this node, one line per pool.
fn preload_lines<'a>(app: &App, name: &str) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for p in &app.overview.pools {
        let Some(n) = p.nodes.iter().find(|n| n.node == name) else {
            continue;
        };
        let mut spans = vec![Span::styled(
            format!(
                "{} ({}): ",
                p.pool,
                n.pod.as_deref().unwrap_or("no pod yet")
            ),
            Style::new().add_modifier(Modifier::BOLD),
        )];
        let mut remedy = None;
        for (i, img) in n.images.iter().enumerate() {
            if let ImageState::Failed { message, .. } = &img.state {
                remedy = remedy.or_else(|| p.remedy(message));
            }
            let (text, color) = state_words(app, &img.state);
            if i > 0 {
                spans.push(Span::raw(" · "));
            }
            spans.push(Span::raw(format!("{}. {} ", i + 1, img.image)));
            spans.push(Span::styled(text, Style::new().fg(color)));
        }
        lines.push(Line::from(spans));
        for img in n.images.iter() {
            if let ImageState::Pulling { bytes, .. } = &img.state {
                lines.push(gauge_line(app, name, &img.image, bytes.as_ref()));
            }
        }
        if let Some(remedy) = remedy {
            lines.push(Line::styled(
                format!("  → {remedy}"),
                Style::new().fg(app.config.theme.busy),
            ));
        }
        if let Some(trouble) = &n.trouble {
            lines.push(Line::styled(
                format!(
                    "  the preloader pod does not run: {}: {}",
                    trouble.summary(),
                    trouble.message
                ),
                Style::new().fg(app.config.theme.fail),
            ));
        }
    }
    lines
}

/// A pull under way: a gauge, its bytes, rate and ETA (`~` and why, when estimated).
fn gauge_line<'a>(
    app: &App,
    node: &str,
    image: &str,
    bytes: Option<&crate::core::progress::bytes::PullBytes>,
) -> Line<'a> {
    let t = &app.config.theme;
    let why = || {
        app.pulls
            .reason(app.read_only, &app.snapshot, &app.overview, &[node])
            .map_or(String::new(), |w| format!(" ({w})"))
    };
    let Some(b) = bytes else {
        return Line::styled(
            format!("  ↓ {image}: no size or rate known yet{}", why()),
            Style::new().fg(t.dim),
        );
    };
    let approx = if b.estimated { "~" } else { "" };
    let bar = b.total.map_or(String::new(), |total| {
        format!("{} ", bar(b.done as f64 / total.max(1) as f64, 20))
    });
    let amount = match b.total {
        Some(total) => units::fraction(b.done, total),
        None => format!("{} of a size not known yet", units::short_bytes(b.done)),
    };
    let rate = b
        .rate
        .map_or(String::new(), |r| format!(" · {approx}{}", units::rate(r)));
    let eta = b.eta_seconds().map_or(String::new(), |s| {
        format!(" · ETA {}", units::estimate(Some(s)))
    });
    let restarted = match b.restarts {
        0 => String::new(),
        n => format!(" · started over {n}×, bytes kept"),
    };
    let source = if b.estimated {
        format!(" · estimated{}", why())
    } else {
        " · read from the node".to_string()
    };
    let arrow = if b.restarts > 0 { '↻' } else { '↓' };
    Line::from(vec![
        Span::raw(format!(
            "  {arrow} {} ",
            crate::tui::views::fit::image(image, 60)
        )),
        Span::styled(bar, Style::new().fg(t.busy)),
        Span::raw(format!("{approx}{amount}{rate}{eta}{restarted}")),
        Span::styled(source, Style::new().fg(t.dim)),
    ])
}

/// `████████░░░░░░░░`: a share, in `width` cells.
fn bar(share: f64, width: usize) -> String {
    let full = ((share.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// An image's state on the node in the kubelet's terms, and its colour.
fn state_words(app: &App, state: &ImageState) -> (String, ratatui::style::Color) {
    let t = &app.config.theme;
    match state {
        ImageState::Queued => ("queued".to_string(), t.dim),
        ImageState::Pulling { since, .. } => (
            format!(
                "pulling {}",
                since.map_or(String::new(), |s| units::seconds(
                    app.now.duration_since(s).as_secs_f64()
                ))
            ),
            t.busy,
        ),
        ImageState::Pulled { seconds, bytes } => (
            format!(
                "pulled{}{}",
                seconds.map_or(String::new(), |s| format!(" in {}", units::seconds(s))),
                bytes.map_or(String::new(), |b| format!(", {}", units::bytes(b)))
            ),
            t.ok,
        ),
        ImageState::Present => ("already present".to_string(), t.ok),
        ImageState::Failed {
            reason,
            message,
            next_retry,
        } => (
            format!(
                "{reason}: {message}{}",
                next_retry.map_or(String::new(), |r| {
                    let s = r.duration_since(app.now).as_secs_f64();
                    if s > 0.0 {
                        format!(" (retry in ~{})", units::seconds(s))
                    } else {
                        " (retrying)".to_string()
                    }
                })
            ),
            t.fail,
        ),
    }
}

/// The images the kubelet reports, with who uses and who preloads each: the rows in view.
fn draw_images(frame: &mut Frame, area: Rect, app: &App, d: &NodeDetail) {
    let t = &app.config.theme;
    let all = app.rows();
    let (first_row, count) = crate::tui::views::window(app.view().selected, all.len(), area.height);
    // The rows are the node's images in its order, filtered: match them up in one pass.
    let shown: Vec<&NodeImage> = {
        let mut rest = all[first_row..first_row + count].iter().peekable();
        let mut out = Vec::new();
        for i in &d.images {
            let Some(next) = rest.peek() else { break };
            if i.name == next.key {
                out.push(i);
                rest.next();
            }
        }
        out
    };
    // The names whole when they fit beside the other columns; else cut in the middle.
    let longest = |f: &dyn Fn(&NodeImage) -> usize| shown.iter().map(|i| f(i)).max().unwrap_or(0);
    let preloaded_width = longest(&|i| i.preloaded_by.join(", ").chars().count()).max(12);
    let used_width = longest(&|i| i.used_by.join(", ").chars().count()).max(7);
    let name_room = usize::from(area.width).saturating_sub(10 + preloaded_width + 12 + 3);
    let name_width = longest(&|i| i.name.chars().count()).clamp(5, name_room.max(24));
    let used_width = used_width.min(
        usize::from(area.width)
            .saturating_sub(name_width + 10 + preloaded_width + 3)
            .max(7),
    );
    let rows: Vec<Row> = shown
        .into_iter()
        .map(|i| {
            let name = crate::tui::views::fit::image(&i.name, name_width);
            Row::new(vec![
                Cell::from(highlighted(app, &name, Style::new())),
                Cell::from(i.size.map_or("-".into(), units::bytes)),
                Cell::from(i.used_by.join(", ")),
                Cell::from(i.preloaded_by.join(", ")).style(Style::new().fg(t.ok)),
            ])
        })
        .collect();
    let cap = if d.capped {
        format!(
            " · the kubelet lists at most {}: there may be more",
            crate::core::cleanup::STATUS_IMAGES_CAP
        )
    } else {
        String::new()
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(name_width as u16),
            Constraint::Length(10),
            Constraint::Length(used_width as u16),
            Constraint::Length(preloaded_width as u16),
        ],
    )
    .flex(ratatui::layout::Flex::Start)
    .header(
        Row::new(vec!["IMAGE", "SIZE", "USED BY", "PRELOADED BY"])
            .style(Style::new().add_modifier(Modifier::BOLD).fg(t.accent)),
    )
    .row_highlight_style(selected_style(app))
    .block(
        Block::default()
            .borders(Borders::TOP)
            .title(format!(" images on the node ({}){cap} ", d.images.len())),
    );
    let mut state =
        TableState::default().with_selected(Some(app.view().selected.saturating_sub(first_row)));
    frame.render_stateful_widget(table, area, &mut state);
    if d.images.is_empty() && area.height > 3 {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "the kubelet reports no image on this node yet",
                Style::new().fg(t.dim),
            )),
            Rect {
                y: area.y + 2,
                height: 1,
                ..area
            },
        );
    }
}

/// Pods on a node by the images their containers run (normalized names).
fn used_by(
    snapshot: &crate::core::progress::Snapshot,
    node: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &snapshot.workloads {
        if p.node.as_deref() != Some(node) {
            continue;
        }
        let pod = p.name().to_string();
        for image in p.container_images() {
            let normalized = crate::core::reference::ImageRef::parse(image)
                .ok()
                .map(|r| r.normalized());
            if let Some(n) = normalized {
                let list = out.entry(n).or_default();
                if !list.contains(&pod) {
                    list.push(pod.clone());
                }
            }
        }
    }
    out
}
