//! A pool's head: how long until it is warm (its first line), its preloader and figures,
//! each thing wrong, where the bytes under way come from and its disks.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::core::adopt::Origin;
use crate::core::progress::{ImageState, PoolProgress};
use crate::core::units;
use crate::tui::app::App;
use crate::tui::screens::answer;

/// The head's lines, the answer first, the details last.
pub(super) fn lines<'a>(app: &App, pool: &PoolProgress) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let counted;
    let counts = match app.totals.get(&pool.pool) {
        Some(n) => &n.counts,
        None => {
            counted = answer::Counts::of(pool);
            &counted
        }
    };
    let (text, tone) = answer::pool(pool, counts);
    let origin = match pool.origin {
        Origin::Rendered => "rendered by kpreload",
        Origin::HandWritten => "hand-written",
    };
    let mut lines = vec![
        Line::styled(text, tone.style(t)),
        Line::from(vec![
            Span::styled(
                format!("{}/{}", pool.namespace, pool.daemonset),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " ({origin}) · ready {}/{} · images {}/{} · {} · {} · ETA {} · slowest {}",
                pool.nodes_ready(),
                pool.nodes.len(),
                pool.images_done(),
                pool.images_total(),
                pulled_text(pool),
                pool.throughput.map_or("-".into(), units::rate),
                units::estimate(pool.eta_seconds),
                pool.slowest.as_deref().unwrap_or("-"),
            )),
        ]),
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
            format!(
                "{pulls} image pull{} failed; open a node for the kubelet's words",
                if pulls == 1 { "" } else { "s" }
            ),
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
    // What is wrong comes before the figures' details: on a short screen those are cut.
    if let Some(line) = bytes_line(app, pool) {
        lines.push(line);
    }
    lines.push(disk_line(app, &pool.pool));
    lines
}

/// The pool's disk (its fullest node read so far against the GC threshold) and its sizing
/// by the article's formula against its smallest disk.
pub(super) fn disk_line<'a>(app: &App, pool: &str) -> Line<'a> {
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
    let on_screen = crate::tui::screens::rows_in_view(app);
    let shown: Vec<&crate::core::progress::NodeProgress> = pool
        .nodes
        .iter()
        .filter(|n| n.pulling() && on_screen.contains(&n.node))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let pulling: Vec<&str> = shown.iter().map(|n| n.node.as_str()).collect();
    let estimated = shown.iter().flat_map(|n| n.images.iter()).any(|i| {
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
