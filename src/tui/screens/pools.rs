//! The pools: a row per pool (nodes ready, images, progress, bytes, throughput, ETA,
//! failures), then the nodes no preloader serves.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::plan::Scope;
use super::{Component, Screen};
use crate::core::units;
use crate::tui::app::{App, FINDINGS_PER_POOL, SAMPLE_PER_POOL};
use crate::tui::config::Command;
use crate::tui::views::{gauge, highlighted, selected_style};

mod across;

/// The pools list, the first screen.
pub(crate) struct Pools;

/// A pool's row figures, counted once per derivation instead of once per frame: each is a
/// pass over every image on every node of the pool (250,000 entries at 5,000 nodes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    failures: usize,
    complete: bool,
    nodes_ready: usize,
    images_done: usize,
    images_total: usize,
    pulled: String,
    /// The pool's nodes by where they stand (the screens' first lines).
    pub(crate) counts: super::answer::Counts,
    /// Its slowest pulls under way and its failing nodes (the free lines).
    pub(crate) slowest: Vec<across::UnderWay>,
    pub(crate) failing: Vec<(String, String)>,
}

impl Totals {
    pub(crate) fn of(p: &crate::core::progress::PoolProgress) -> Totals {
        Totals {
            failures: p.failures(),
            complete: p.complete(),
            nodes_ready: p.nodes_ready(),
            images_done: p.images_done(),
            images_total: p.images_total(),
            pulled: super::pool::pulled_text(p),
            counts: super::answer::Counts::of(p),
            slowest: across::slowest(p),
            failing: across::failing(p),
        }
    }
}

impl Component for Pools {
    fn crumb(&self, _app: &App) -> String {
        "pools".into()
    }

    fn rows(&self, app: &App) -> Vec<super::Row> {
        let mut rows: Vec<super::Row> = app
            .overview
            .pools
            .iter()
            .map(|p| super::Row {
                key: p.pool.clone(),
                opens: Some(Screen::Pool(p.pool.clone())),
            })
            .collect();
        rows.extend(app.node_pools.iter().map(|p| super::Row {
            key: p.name.clone(),
            opens: Some(Screen::NodePool(p.name.clone())),
        }));
        rows.extend(app.loose.iter().map(|n| super::Row {
            key: n.clone(),
            opens: Some(Screen::Node(n.clone())),
        }));
        rows
    }

    fn hints(&self, read_only: bool) -> &'static [Command] {
        if read_only {
            super::LIST_HINTS
        } else {
            super::POOLS_HINTS
        }
    }

    fn shows_insight(&self) -> bool {
        true
    }

    /// The node that holds each pool in view back: its pull is the pool's figure to watch.
    fn pulls_on_screen(&self, app: &App) -> Vec<String> {
        let rows = super::rows_in_view(app);
        app.overview
            .pools
            .iter()
            .filter(|p| rows.contains(&p.pool))
            .filter_map(|p| p.slowest.clone())
            .collect()
    }

    /// A few of every pool's nodes, and of every node pool's nothing preloads for.
    fn kubelets(&self, app: &App) -> Vec<String> {
        let mut nodes = app.nodes_per_pool(SAMPLE_PER_POOL);
        nodes.extend(
            app.node_pools
                .iter()
                .filter(|p| p.uncovered())
                .flat_map(|p| p.nodes.iter().take(SAMPLE_PER_POOL).cloned()),
        );
        nodes
    }

    fn refresh(&self, app: &App) -> Vec<String> {
        app.nodes_per_pool(FINDINGS_PER_POOL)
    }

    fn pool(&self, app: &App) -> Option<String> {
        match app.selected_row()?.opens? {
            Screen::Pool(p) => Some(p),
            _ => None,
        }
    }

    fn command(&self, app: &mut App, command: Command) -> bool {
        match command {
            Command::Cleanup => super::plan::open(app, Scope::Cluster),
            Command::NewPool => match app.selected_row().and_then(|r| r.opens) {
                Some(Screen::NodePool(np)) => super::edit::open_new_for_node_pool(app, &np),
                _ => super::edit::open_new_pool(app),
            },
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app);
    }
}

/// Seconds of throughput the pools list draws.
const TREND: usize = 10;
/// The pools list draws the trend from this width on.
const TREND_FROM: u16 = 120;

fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let pools = app.overview.pools.len();
    let (text, tone) = super::answer::pools(
        app.overview
            .pools
            .iter()
            .filter_map(|p| Some((&**p, &app.totals.get(&p.pool)?.counts))),
    );
    // Node pools nothing preloads for are not warm either: said after the preloaders' nodes.
    let (text, tone) = match uncovered_text(&app.node_pools) {
        Some(more) => (
            format!("{text}; {more}"),
            if tone == super::answer::Tone::Ok {
                super::answer::Tone::Busy
            } else {
                tone
            },
        ),
        None => (text, tone),
    };
    let answer = ratatui::widgets::Paragraph::new(Line::styled(text, tone.style(t)))
        .wrap(ratatui::widgets::Wrap { trim: true });
    let answer_height = (answer.line_count(area.width) as u16)
        .clamp(1, 3)
        .min(area.height);
    frame.render_widget(
        answer,
        Rect {
            height: answer_height,
            ..area
        },
    );
    let area = Rect {
        y: area.y + answer_height,
        height: area.height - answer_height,
        ..area
    };
    // The list as tall as its rows (a line for "nothing matches" when it has none), the
    // disks a line per pool, and what matters across pools the rest.
    let table_need = app.rows().len().max(1) as u16 + 2;
    let disks_need = if pools > 0 && area.height >= 14 {
        (pools as u16 + 1).min(6)
    } else {
        0
    };
    let across_least = if area.height >= 30 { 6 } else { 0 };
    let table_height = table_need
        .min(area.height.saturating_sub(disks_need + across_least))
        .max(3.min(area.height));
    let [table_area, disks, across_area] = ratatui::layout::Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(disks_need),
        Constraint::Fill(1),
    ])
    .areas(area);
    if disks_need > 0 {
        draw_disks(frame, disks, app);
    }
    if across_area.height >= 2 && pools > 0 {
        across::draw(frame, across_area, app);
    }
    let area = table_area;
    let rows = app.rows();
    let (first_row, count) =
        crate::tui::views::window(app.view().selected, rows.len(), area.height);
    // The throughput's trend where there is room for it beside the failures.
    let trend = area.width >= TREND_FROM;
    let table_rows: Vec<Row> = rows[first_row..first_row + count]
        .iter()
        .filter_map(|row| table_row(app, row, trend))
        .collect();
    let pools = app.overview.pools.len();
    let title = if app.node_pools.is_empty() {
        format!(
            " pools ({pools}) · nodes in no pool ({}) ",
            app.overview.unpooled.len()
        )
    } else {
        format!(
            " pools ({pools}) · node pools ({}, {} with no preloader) · nodes in neither ({}) ",
            app.node_pools.len(),
            app.node_pools.iter().filter(|p| p.uncovered()).count(),
            app.loose.len()
        )
    };
    let mut names = vec!["POOL", "NODES", "IMAGES", "PROGRESS", "PULLED", "RATE"];
    if trend {
        names.push("TREND");
    }
    names.extend(["ETA", "FAILED"]);
    let header = Row::new(names).style(Style::new().add_modifier(Modifier::BOLD).fg(t.accent));
    // The names as wide as the longest (10 at least, a quarter of the width at most: a
    // longer one is cut by the table), the rest to the last column.
    let name_width = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(10, usize::from(area.width / 4).max(10)) as u16;
    // The figures' columns as wide as their longest (`4999/5000`, `133.87 MB/s`, `unknown`),
    // their headings at least.
    let (mut nodes_width, mut images_width) = (5, 6);
    // (RATE keeps 10, `63.62 MB/s`, so that it does not jump as rates change.)
    let (mut pulled_width, mut rate_width, mut eta_width) = (6, 10, 4);
    for p in &app.overview.pools {
        let total = p.nodes.len().to_string().len();
        nodes_width = nodes_width.max(2 * total + 1);
        if let Some(n) = app.totals.get(&p.pool) {
            images_width = images_width.max(2 * n.images_total.to_string().len() + 1);
            pulled_width = pulled_width.max(n.pulled.chars().count());
        }
        rate_width = rate_width.max(p.throughput.map_or(1, |r| units::rate(r).chars().count()));
        eta_width = eta_width.max(if p.problem.is_some() {
            1
        } else {
            units::estimate(p.eta_seconds).chars().count()
        });
    }
    for np in &app.node_pools {
        nodes_width = nodes_width.max(2 * np.nodes.len().to_string().len() + 1);
        pulled_width = pulled_width.max(super::nodepool::fullest_disk(app, np).width());
    }
    let mut widths = vec![
        Constraint::Length(name_width),
        Constraint::Length(nodes_width as u16 + 1),
        Constraint::Length(images_width as u16 + 2),
        Constraint::Length(13),
        Constraint::Length(pulled_width as u16),
        Constraint::Length(rate_width as u16),
    ];
    if trend {
        widths.push(Constraint::Length(TREND as u16 + 1));
    }
    widths.extend([Constraint::Length(eta_width as u16), Constraint::Fill(1)]);
    let empty = rows.is_empty();
    let table = Table::new(table_rows, widths)
        .header(header)
        .row_highlight_style(selected_style(app))
        .block(Block::default().borders(Borders::TOP).title(title));
    let mut state = TableState::default()
        .with_selected((!empty).then_some(app.view().selected.saturating_sub(first_row)));
    frame.render_stateful_widget(table, area, &mut state);
    if empty && area.height > 3 {
        let text = if !app.links.all_live() {
            "waiting for the cluster…"
        } else if !app.view().filter.is_empty() {
            "nothing matches the filter; Esc clears it"
        } else {
            "no preloaders and no nodes; `kpreload render` makes preloaders from a pools file"
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Line::styled(text, Style::new().fg(t.dim))),
            Rect {
                y: area.y + 2,
                height: 1,
                ..area
            },
        );
    }
}

/// The node pools no preloader serves, for the screen's first line: `3 nodes in 1 node pool
/// with no preloader (gpu-a10)`, the first three named.
fn uncovered_text(node_pools: &[crate::core::nodepools::NodePool]) -> Option<String> {
    let bare: Vec<&crate::core::nodepools::NodePool> =
        node_pools.iter().filter(|p| p.uncovered()).collect();
    if bare.is_empty() {
        return None;
    }
    let nodes: usize = bare.iter().map(|p| p.nodes.len()).sum();
    let mut names: Vec<&str> = bare.iter().take(3).map(|p| p.name.as_str()).collect();
    if bare.len() > 3 {
        names.push("…");
    }
    Some(format!(
        "{nodes} node{} in {} node pool{} with no preloader ({})",
        if nodes == 1 { "" } else { "s" },
        bare.len(),
        if bare.len() == 1 { "" } else { "s" },
        names.join(", ")
    ))
}

/// A node pool label's provider, as operators call it (`eks` for
/// `eks.amazonaws.com/nodegroup`); another label as it is.
fn short_source(label: &str) -> &str {
    match label {
        "cloud.google.com/gke-nodepool" => "gke",
        "eks.amazonaws.com/nodegroup" => "eks",
        "karpenter.sh/nodepool" => "karpenter",
        "kubernetes.azure.com/agentpool" | "agentpool" => "aks",
        "kops.k8s.io/instancegroup" => "kops",
        other => other,
    }
}

/// One row of the list: a pool, a node pool, or a node in neither.
fn table_row<'a>(app: &'a App, row: &super::Row, trend: bool) -> Option<Row<'a>> {
    let t = &app.config.theme;
    let mut row = match &row.opens {
        Some(Screen::Pool(name)) => {
            let p = app.overview.pools.iter().find(|p| &p.pool == name)?;
            let counted;
            let n = match app.totals.get(name) {
                Some(n) => n,
                None => {
                    counted = Totals::of(p);
                    &counted
                }
            };
            let state = if p.problem.is_some() || n.failures > 0 {
                Style::new().fg(t.fail)
            } else if n.complete {
                Style::new().fg(t.ok)
            } else {
                Style::new().fg(t.busy)
            };
            vec![
                Cell::from(highlighted(app, &p.pool, Style::new())),
                Cell::from(format!("{}/{}", n.nodes_ready, p.nodes.len())),
                Cell::from(format!("{}/{}", n.images_done, n.images_total)),
                Cell::from(gauge(n.images_done, n.images_total, 8)).style(state),
                Cell::from(n.pulled.clone()),
                Cell::from(p.throughput.map_or("-".into(), units::rate)),
                Cell::from(app.pulls.sparkline(&p.pool, TREND)).style(Style::new().fg(t.busy)),
                Cell::from(match &p.problem {
                    Some(_) => "-".to_string(),
                    None => units::estimate(p.eta_seconds),
                }),
                // A split pool's missing shard is told after failures, in the busy
                // colour: the pool is incomplete, nothing has failed.
                match (&p.problem, n.failures, &p.warning) {
                    (Some(problem), _, _) => Cell::from(problem.clone()).fg(t.fail),
                    (None, 0, Some(warning)) => Cell::from(warning.clone()).fg(t.busy),
                    (None, 0, None) => Cell::from(""),
                    (None, n, _) => Cell::from(format!("{n} failed")).fg(t.fail),
                },
            ]
        }
        Some(Screen::NodePool(name)) => {
            let np = app.node_pools.iter().find(|p| &p.name == name)?;
            let serving = if np.uncovered() {
                Line::styled("no preloader", Style::new().fg(t.busy))
            } else {
                Line::raw(format!(
                    "by {}",
                    np.preloaders
                        .iter()
                        .map(|(p, _, _)| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            };
            // The provider's short name for the label (the node pool's screen shows it
            // whole): the taints beside it then fit where the row has room.
            let mut about = short_source(&np.source).to_string();
            if !np.taints.is_empty() {
                about.push_str(&format!(" · taint {}", super::nodepool::taints_text(np)));
            }
            vec![
                Cell::from(highlighted(app, name, Style::new())),
                Cell::from(format!("{}/{}", np.covered, np.nodes.len())),
                Cell::from("-"),
                Cell::from(serving),
                Cell::from(super::nodepool::fullest_disk(app, np)),
                Cell::from(""),
                Cell::from(""),
                Cell::from(""),
                Cell::from(Line::styled(about, Style::new().fg(t.dim))),
            ]
        }
        Some(Screen::Node(name)) => vec![
            Cell::from(highlighted(app, name, Style::new().fg(t.dim))),
            Cell::from(""),
            Cell::from(""),
            Cell::from(Line::styled("no pool", Style::new().fg(t.dim))),
        ],
        _ => return None,
    };
    if !trend && row.len() > 6 {
        row.remove(6);
    }
    Some(Row::new(row))
}

/// A line per pool: its fullest image disk among the nodes read (a few per pool), the GC
/// threshold, and how many findings are a warning or worse.
fn draw_disks(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let key = app
        .config
        .keys_for(crate::tui::config::Command::Findings)
        .first()
        .map(|k| k.label())
        .unwrap_or_default();
    let Some(insight) = &app.insight else {
        return;
    };
    let serious = insight.serious();
    // The names aligned, as wide as the longest (12 at least, a quarter of the width at most).
    let name_width = app
        .overview
        .pools
        .iter()
        .map(|p| p.pool.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(12, usize::from(area.width / 4).max(12));
    let lines: Vec<Line> = app
        .overview
        .pools
        .iter()
        .take(area.height.saturating_sub(1) as usize)
        .map(|p| {
            let d = insight.pool_disk(&p.pool);
            let mut spans = vec![ratatui::text::Span::raw(format!(
                "{:<name_width$} ",
                p.pool
            ))];
            match &d.fullest {
                Some((node, disk)) => {
                    spans.extend(crate::tui::views::disk::gauge(disk, d.gc_high, 12, t).spans);
                    spans.push(ratatui::text::Span::styled(
                        format!(" fullest {node} · {}/{} read", d.read, d.total),
                        Style::new().fg(t.dim),
                    ));
                }
                None => spans.push(ratatui::text::Span::styled(
                    format!("{}/{} kubelets read", d.read, d.total),
                    Style::new().fg(t.dim),
                )),
            }
            spans.push(match d.gc_high {
                Some(h) => {
                    ratatui::text::Span::styled(format!(" · GC at {h} %"), Style::new().fg(t.busy))
                }
                None if d.read > 0 => {
                    ratatui::text::Span::styled(" · GC when full", Style::new().fg(t.ok))
                }
                None => ratatui::text::Span::raw(""),
            });
            if let Some(n) = serious.get(&p.pool) {
                spans.push(ratatui::text::Span::styled(
                    format!(" · {n} warning{}", if *n == 1 { "" } else { "s" }),
                    Style::new().fg(t.fail),
                ));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(
        ratatui::widgets::Paragraph::new(lines).block(
            Block::default().borders(Borders::TOP).title(format!(
                " image disks (│ marks the kubelet's GC threshold) · {key} findings "
            )),
        ),
        area,
    );
}
