//! One node: its preloader's images in order with their state, the images the kubelet
//! reports (size, used by which pods, preloaded by which pool), labels, taints, capacity.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ContainerImage;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{highlighted, selected_style};
use crate::core::progress::ImageState;
use crate::core::reference::ImageRef;
use crate::core::units;
use crate::tui::app::App;

/// The kubelet's default cap on `status.images`.
const KUBELET_CAP: usize = 50;

/// An image's name to show: its first tagged name, else its first name.
pub fn display_name(i: &ContainerImage) -> String {
    let names = i.names.as_deref().unwrap_or_default();
    let name = names
        .iter()
        .find(|n| !n.contains('@'))
        .or(names.first())
        .map_or("<unnamed>", String::as_str);
    // As people write them: nginx:1.25, not docker.io/library/nginx:1.25.
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, name: &str) {
    let t = &app.config.theme;
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
    let status = node.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map_or("Unknown".to_string(), |c| c.status.clone());
    let labels: Vec<String> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("kubernetes.io/") && !k.starts_with("beta.kubernetes.io/"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let taints: Vec<String> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}={}:{}",
                t.key,
                t.value.as_deref().unwrap_or(""),
                t.effect
            )
        })
        .collect();
    let storage = status
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("ephemeral-storage"))
        .map_or("-".to_string(), |q| q.0.clone());
    let pools: Vec<&str> = app
        .overview
        .pools
        .iter()
        .filter(|p| p.nodes.iter().any(|n| n.node == name))
        .map(|p| p.pool.as_str())
        .collect();

    // The preloader pods' progress on this node, one line per pool.
    let mut preload_lines = Vec::new();
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
        for (i, img) in n.images.iter().enumerate() {
            let (text, color) = match &img.state {
                ImageState::Queued => ("queued".to_string(), t.dim),
                ImageState::Pulling { since } => (
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
            };
            if i > 0 {
                spans.push(Span::raw(" · "));
            }
            spans.push(Span::raw(format!("{}. {} ", i + 1, img.image)));
            spans.push(Span::styled(text, Style::new().fg(color)));
        }
        preload_lines.push(Line::from(spans));
    }

    let mut info = vec![
        Line::from(vec![
            Span::styled(
                format!("node {name}"),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  Ready {ready} · pools {} · ephemeral storage {storage}",
                if pools.is_empty() {
                    "none".to_string()
                } else {
                    pools.join(", ")
                }
            )),
        ]),
        Line::raw(format!(
            "labels {} · taints {}",
            if labels.is_empty() {
                "-".to_string()
            } else {
                labels.join(", ")
            },
            if taints.is_empty() {
                "-".to_string()
            } else {
                taints.join(", ")
            }
        )),
    ];
    info.push(super::disk::node_line(app, name));
    info.extend(preload_lines);
    // What the kubelet said lately about this node's preloader pods.
    let mut recent: Vec<&crate::core::progress::Happening> = app
        .overview
        .pools
        .iter()
        .flat_map(|p| p.recent.iter())
        .filter(|h| h.node == name)
        .collect();
    recent.sort_by_key(|h| h.at);
    for h in recent.iter().rev().take(4).rev() {
        info.push(Line::from(vec![
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
        ]));
    }
    let info_height = (info.len() as u16 + 2).min(area.height / 2).max(3);
    let [top, images] =
        Layout::vertical([Constraint::Length(info_height), Constraint::Min(3)]).areas(area);
    frame.render_widget(Paragraph::new(info).wrap(Wrap { trim: true }), top);

    // Images the kubelet reports, with who uses and who preloads each.
    let listed: &[ContainerImage] = status.and_then(|s| s.images.as_deref()).unwrap_or_default();
    let empty = BTreeMap::new();
    let used = app
        .uses
        .as_ref()
        .filter(|(n, _, _)| n == name)
        .map_or(&empty, |(_, _, u)| u);
    let preloads: Vec<(String, Vec<String>)> = app
        .overview
        .pools
        .iter()
        .filter(|p| p.nodes.iter().any(|n| n.node == name))
        .map(|p| {
            (
                p.pool.clone(),
                p.images.iter().filter_map(|i| normalize(i)).collect(),
            )
        })
        .collect();
    let all = app.rows();
    let (first_row, count) = super::window(app.view().selected, all.len(), images.height);
    // The rows are the node's images in its order, filtered: match them up in one pass.
    let shown: Vec<&ContainerImage> = {
        let mut rest = all[first_row..first_row + count].iter().peekable();
        let mut out = Vec::new();
        for i in listed {
            let Some(next) = rest.peek() else { break };
            if display_name(i) == next.key {
                out.push(i);
                rest.next();
            }
        }
        out
    };
    let rows: Vec<Row> = shown
        .into_iter()
        .map(|i| {
            // The kubelet lists names normalized already (docker.io/library/nginx:1.25).
            let names: Vec<&String> = i.names.iter().flatten().collect();
            let users: Vec<&str> = names
                .iter()
                .flat_map(|n| used.get(n.as_str()).into_iter().flatten())
                .map(String::as_str)
                .collect();
            let by: Vec<&str> = preloads
                .iter()
                .filter(|(_, imgs)| imgs.iter().any(|x| names.contains(&x)))
                .map(|(p, _)| p.as_str())
                .collect();
            Row::new(vec![
                Cell::from(highlighted(app, &display_name(i), Style::new())),
                Cell::from(i.size_bytes.map_or("-".into(), |s| units::bytes(s as u64))),
                Cell::from(users.join(", ")),
                Cell::from(by.join(", ")).style(Style::new().fg(t.ok)),
            ])
        })
        .collect();
    let cap = if listed.len() >= KUBELET_CAP {
        format!(" · the kubelet lists at most {KUBELET_CAP}: there may be more")
    } else {
        String::new()
    };
    let table = Table::new(
        rows,
        [
            Constraint::Min(24),
            Constraint::Length(10),
            Constraint::Min(12),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(vec!["IMAGE", "SIZE", "USED BY", "PRELOADED BY"])
            .style(Style::new().add_modifier(Modifier::BOLD).fg(t.accent)),
    )
    .row_highlight_style(selected_style(app))
    .block(
        Block::default()
            .borders(Borders::TOP)
            .title(format!(" images on the node ({}){cap} ", listed.len())),
    );
    let mut state =
        TableState::default().with_selected(Some(app.view().selected.saturating_sub(first_row)));
    frame.render_stateful_widget(table, images, &mut state);
}

fn normalize(name: &str) -> Option<String> {
    ImageRef::parse(name).ok().map(|r| r.normalized())
}
