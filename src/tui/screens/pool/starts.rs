//! A pool's workload starts: its hit rate, what the misses cost, the top images and how
//! each stands against the pool's list; and `A`, which adds the costliest miss in the editor.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::reference::ImageRef;
use crate::core::units;
use crate::tui::app::App;

/// The pool's payoff, where the starts watch has counted: hit rate, cost, top images.
pub(super) fn payoff(app: &App, pool: &str) -> Option<crate::core::payoff::Figures> {
    let headroom = app
        .insight
        .as_ref()
        .and_then(|i| crate::core::findings::headroom(pool, &i.nodes));
    app.payoff.figures(pool, headroom)
}

/// `A`: the editor on this pool, adding the image its workloads lost most time pulling.
pub(crate) fn suggested(app: &mut App, pool: &str) {
    if app.read_only {
        app.notice = Some("read-only: the pool's images cannot be edited".into());
        return;
    }
    if !app.payoff.ready(&app.links) {
        app.notice = Some(
            match app.links.get(crate::cluster::watch::Watch::Starts) {
                crate::cluster::watch::Link::Retrying(why) => {
                    format!("the workloads' starts cannot be read: {why}")
                }
                _ => "the workloads' starts are still being read (the kubelet's events in every namespace)".to_string(),
            },
        );
        return;
    }
    let Some(s) = payoff(app, pool).and_then(|f| f.suggestions.into_iter().next()) else {
        app.notice = Some(format!(
            "nothing to suggest: the workloads on {pool}'s nodes pulled no image it does not preload"
        ));
        return;
    };
    let image = ImageRef::familiar_text(&s.image);
    crate::tui::screens::edit::open_adding(app, pool, &image);
}

/// An image's standing against the pool's list, in a few words.
fn mark_of(mark: crate::core::payoff::Mark) -> &'static str {
    use crate::core::payoff::Mark;
    match mark {
        Mark::Preloaded => "preloaded",
        Mark::Evicted => "preloaded, yet pulled",
        Mark::Preloading => "added; not on those nodes yet",
        Mark::Drifted => "another version preloaded",
        Mark::NotPreloaded => "not preloaded",
    }
}

/// Lines the payoff panel takes: its title, the sentence, and up to three images.
pub(super) fn height(f: Option<&crate::core::payoff::Figures>) -> u16 {
    2 + f.map_or(0, |f| f.images.len().min(3) as u16)
}

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    figures: Option<&crate::core::payoff::Figures>,
) {
    use crate::core::payoff::Mark;
    let t = &app.config.theme;
    let mut lines: Vec<Line> = Vec::new();
    use crate::cluster::watch::{Link, Watch};
    match (figures, app.links.get(Watch::Starts)) {
        (None, Link::Retrying(why)) => lines.push(Line::styled(
            format!("the kubelet's image events cannot be read: {why}"),
            Style::new().fg(t.fail),
        )),
        (None, Link::Connecting) => lines.push(Line::styled(
            "reading the kubelet's image events in every namespace…",
            Style::new().fg(t.dim),
        )),
        (None, Link::Live) => lines.push(Line::styled(
            "no workload start counted yet",
            Style::new().fg(t.dim),
        )),
        (Some(f), _) => {
            let style = match f.hit_rate {
                Some(r) if r >= 0.95 => Style::new().fg(t.ok),
                Some(_) => Style::new().fg(t.busy),
                None => Style::new().fg(t.dim),
            };
            let mut line = f.short();
            match app.links.get(Watch::Starts) {
                Link::Live => {}
                Link::Connecting => line.push_str(" · still reading the events"),
                Link::Retrying(why) => line.push_str(&format!(" · not current: {why}")),
            }
            lines.push(Line::styled(line, style));
            let width = usize::from(area.width);
            let shown: Vec<_> = f.images.iter().take(3).collect();
            let mark_width = shown
                .iter()
                .map(|c| mark_of(c.mark).len())
                .max()
                .unwrap_or(0);
            let costs: Vec<String> = shown
                .iter()
                .map(|c| {
                    let cost = if c.pulled > 0 {
                        format!(
                            "{} pull{}, {} lost",
                            c.pulled,
                            if c.pulled == 1 { "" } else { "s" },
                            units::seconds(c.lost())
                        )
                    } else {
                        let ended = c.present + c.failed;
                        let mut text = if ended > 0 {
                            format!("{} of {ended} found it", c.present)
                        } else {
                            String::new()
                        };
                        if c.pulling > 0 {
                            if !text.is_empty() {
                                text.push_str(", ");
                            }
                            text.push_str(&format!("{} pulling now", c.pulling));
                        }
                        text
                    };
                    let size = c
                        .bytes
                        .map(|b| format!(" · {}", units::bytes(b)))
                        .unwrap_or_default();
                    format!("{cost}{size}")
                })
                .collect();
            let familiar: Vec<String> = shown
                .iter()
                .map(|c| ImageRef::familiar_text(&c.image))
                .collect();
            // The names whole where the line has room beside the marks and costs; else cut
            // in the middle, their tags kept.
            let cost_width = costs.iter().map(|c| c.chars().count()).max().unwrap_or(0);
            let name_width = familiar
                .iter()
                .map(|n| n.chars().count())
                .max()
                .unwrap_or(0)
                .min(
                    width
                        .saturating_sub(2 + 2 + mark_width + 2 + cost_width)
                        .max(12),
                );
            for ((c, name), cost) in shown.iter().zip(&familiar).zip(&costs) {
                let name = crate::tui::views::fit::image(name, name_width);
                let mark = mark_of(c.mark);
                let mark_style = match c.mark {
                    Mark::Preloaded => Style::new().fg(t.ok),
                    Mark::Evicted => Style::new().fg(t.fail),
                    Mark::Preloading => Style::new().fg(t.dim),
                    Mark::Drifted | Mark::NotPreloaded => Style::new().fg(t.busy),
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("  {name:<name_width$}  ")),
                    Span::styled(format!("{mark:<mark_width$}  "), mark_style),
                    Span::raw(cost.clone()),
                ]));
            }
        }
    }
    let title = match figures.and_then(|f| f.suggestions.first()) {
        Some(s) if !app.read_only && app.payoff.ready(&app.links) => {
            let name = ImageRef::familiar_text(&s.image);
            format!(" workload starts · A adds {name} to the pool ")
        }
        _ => " workload starts ".to_string(),
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}
