//! An image disk as a gauge: used share filled, the kubelet's GC threshold marked `│`,
//! coloured by how near the threshold it is.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::core::findings::Disk;
use crate::tui::config::Theme;
use crate::tui::insight::share;

/// `████░░░░│░ 43%`: `width` cells, then the percentage. `gc_high`: the threshold in
/// percent (None when the GC is off, or unknown).
pub(crate) fn gauge<'a>(disk: &Disk, gc_high: Option<u32>, width: usize, t: &Theme) -> Line<'a> {
    let used = share(disk);
    let marker = gc_high
        .filter(|h| *h < 100)
        .map(|h| ((h as f64 / 100.0) * width as f64).floor() as usize)
        .map(|m| m.min(width.saturating_sub(1)));
    let colour = match gc_high.filter(|h| *h < 100) {
        Some(h) if used * 100.0 >= h as f64 => t.fail,
        Some(h) if used * 100.0 >= h as f64 - 10.0 => t.busy,
        None if used >= 0.9 => t.fail,
        _ => t.ok,
    };
    let filled = ((used * width as f64).round() as usize).min(width);
    let mut spans = Vec::new();
    for i in 0..width {
        if Some(i) == marker {
            spans.push(Span::styled("│", Style::new().fg(t.busy)));
        } else if i < filled {
            spans.push(Span::styled("█", Style::new().fg(colour)));
        } else {
            spans.push(Span::styled("░", Style::new().fg(t.dim)));
        }
    }
    spans.push(Span::styled(
        format!(" {:>3.0}%", used * 100.0),
        Style::new().fg(colour),
    ));
    Line::from(spans)
}

/// How old a reading is, for a person: `12s ago`, `3m ago`.
pub fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s => format!("{}h ago", s / 3600),
    }
}

/// One node's kubelet line: its image disk as a gauge with the figures, its GC and pull
/// settings, and the reading's age; or that it is being read, or why it cannot be.
pub(crate) fn node_line<'a>(app: &crate::tui::app::App, node: &str) -> Line<'a> {
    use crate::core::units;
    let t = &app.config.theme;
    let label = Span::styled("kubelet ", Style::new().fg(t.dim));
    let Some(reading) = app.kubelets.get(node) else {
        let text = if app.kubelets.is_pending(node) {
            "reading its settings and disk…"
        } else {
            "not read yet"
        };
        return Line::from(vec![label, Span::styled(text, Style::new().fg(t.dim))]);
    };
    let when = Span::styled(
        format!(
            " · read {}",
            age(app.now.as_second() - reading.at.as_second())
        ),
        Style::new().fg(t.dim),
    );
    match &reading.answer {
        Err(e) => Line::from(vec![
            label,
            Span::styled(e.clone(), Style::new().fg(t.fail)),
            when,
        ]),
        Ok((k, disk)) => {
            let high = k.gc_high();
            let mut spans = vec![Span::styled("image disk ", Style::new().fg(t.dim))];
            match disk {
                Some(d) => {
                    spans.extend(gauge(d, k.gc_enabled().then_some(high), 10, t).spans);
                    spans.push(Span::raw(format!(
                        " {} of {}",
                        units::bytes(d.used),
                        units::bytes(d.capacity)
                    )));
                }
                None => spans.push(Span::raw("not reported")),
            }
            let gc = if k.gc_enabled() {
                Span::styled(format!(" · image GC at {high} %"), Style::new().fg(t.busy))
            } else {
                Span::styled(" · image GC only on a full disk", Style::new().fg(t.ok))
            };
            spans.push(gc);
            if let Some(a) = k.max_age() {
                spans.push(Span::styled(
                    format!(" · max GC age {a}"),
                    Style::new().fg(t.busy),
                ));
            }
            spans.push(Span::raw(if k.serialize_image_pulls.unwrap_or(true) {
                " · pulls one at a time".to_string()
            } else {
                match k.max_parallel_image_pulls {
                    Some(n) => format!(" · up to {n} pulls at once"),
                    None => " · pulls in parallel".to_string(),
                }
            }));
            spans.push(when);
            Line::from(spans)
        }
    }
}

/// A node's image disk in a table cell, as its kubelet said (read while the row is on
/// screen): a gauge of `width`, or why there is none.
pub(crate) fn cell<'a>(
    app: &crate::tui::app::App,
    node: &str,
    width: usize,
) -> ratatui::widgets::Cell<'a> {
    use ratatui::widgets::Cell;
    let t = &app.config.theme;
    match app.kubelets.get(node).map(|r| &r.answer) {
        Some(Ok((k, Some(d)))) => {
            Cell::from(gauge(d, k.gc_enabled().then(|| k.gc_high()), width, t))
        }
        Some(Ok((_, None))) => Cell::from("not reported"),
        Some(Err(_)) => Cell::from(Line::styled("unread", Style::new().fg(t.fail))),
        None => Cell::from(Line::styled("…", Style::new().fg(t.dim))),
    }
}
