//! The pools screen's free lines: what matters across pools. The slowest pulls under way,
//! the latest failures, and the findings of warning and up, sharing the room an item at a
//! time so that each is told while there is room for it.

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::findings::Severity;
use crate::core::progress::bytes::PullBytes;
use crate::core::progress::{ImageState, PoolProgress};
use crate::core::units;
use crate::tui::app::App;
use crate::tui::views::fit;

/// Pulls kept per pool for the panel: the slowest.
const KEPT: usize = 8;

/// A pull under way, for the panel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UnderWay {
    pub node: String,
    pub image: String,
    pub bytes: Option<PullBytes>,
    pub since: Option<Timestamp>,
}

impl UnderWay {
    /// Seconds until it ends, when its bytes say.
    fn eta(&self) -> Option<f64> {
        self.bytes.as_ref().and_then(PullBytes::eta_seconds)
    }
}

/// The pool's slowest pulls under way: the longest still to go first, then those with no
/// estimate by how long they have run.
pub(crate) fn slowest(pool: &PoolProgress) -> Vec<UnderWay> {
    let mut all: Vec<UnderWay> = pool
        .nodes
        .iter()
        .flat_map(|n| {
            n.images.iter().filter_map(|i| match &i.state {
                ImageState::Pulling { since, bytes } => Some(UnderWay {
                    node: n.node.clone(),
                    image: i.image.clone(),
                    bytes: bytes.clone(),
                    since: *since,
                }),
                _ => None,
            })
        })
        .collect();
    all.sort_by(|a, b| match (a.eta(), b.eta()) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.since.cmp(&b.since),
    });
    all.truncate(KEPT);
    all
}

/// A pool's failing nodes and what fails, for the panel when no event tells it.
pub(crate) fn failing(pool: &PoolProgress) -> Vec<(String, String)> {
    pool.nodes
        .iter()
        .filter_map(|n| match crate::tui::screens::answer::standing(n) {
            crate::tui::screens::answer::Standing::Failing(what) => Some((n.node.clone(), what)),
            _ => None,
        })
        .take(KEPT)
        .collect()
}

/// One section: its heading and its items, each one line or more.
struct Section<'a> {
    heading: String,
    items: Vec<Vec<Line<'a>>>,
    /// Whether an item cut short keeps its last lines (where a kubelet says why).
    keep_end: bool,
}

/// The panel, in `area` (its title line included).
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.config.theme;
    let width = usize::from(area.width);
    let sections: Vec<Section> = [
        pulls(app, width),
        failures(app, width),
        findings(app, width),
    ]
    .into_iter()
    .flatten()
    .collect();
    let room = usize::from(area.height.saturating_sub(1));
    let mut lines: Vec<Line> = Vec::new();
    if sections.is_empty() {
        lines.push(Line::styled(
            "nothing pulling, nothing failing, no finding of warning or worse",
            Style::new().fg(t.ok),
        ));
    } else {
        // Each section its heading, then an item at a time from each in turn.
        let headings = sections.len().min(room);
        let mut counts = vec![0usize; sections.len()];
        let mut left = room.saturating_sub(headings);
        loop {
            let mut gave = false;
            for (k, s) in sections.iter().enumerate().take(headings) {
                if let Some(item) = s.items.get(counts[k])
                    && item.len() <= left
                {
                    counts[k] += 1;
                    left -= item.len();
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        // Room left that no whole item fits: the first section with more says what of its
        // next one fits, cut.
        let partial = (left > 0)
            .then(|| (0..headings).find(|k| counts[*k] < sections[*k].items.len()))
            .flatten();
        for (k, s) in sections.into_iter().enumerate().take(headings) {
            let cut = (partial == Some(k)).then(|| s.items[counts[k]].clone());
            let more = s.items.len() - counts[k] - usize::from(cut.is_some());
            let heading = if more > 0 {
                format!("{} ({more} more)", s.heading)
            } else {
                s.heading
            };
            lines.push(Line::styled(
                heading,
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ));
            lines.extend(s.items.into_iter().take(counts[k]).flatten());
            if let Some(item) = cut {
                lines.extend(if s.keep_end {
                    fit::clip_keeping_end(item, left)
                } else {
                    fit::clip(item, left)
                });
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" across pools "),
        ),
        area,
    );
}

/// The slowest pulls under way in every pool.
fn pulls<'a>(app: &App, width: usize) -> Option<Section<'a>> {
    let t = &app.config.theme;
    let mut all: Vec<(&str, &UnderWay)> = app
        .overview
        .pools
        .iter()
        .filter_map(|p| Some((p.pool.as_str(), app.totals.get(&p.pool)?)))
        .flat_map(|(pool, n)| n.slowest.iter().map(move |u| (pool, u)))
        .collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(|(_, a), (_, b)| match (a.eta(), b.eta()) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.since.cmp(&b.since),
    });
    let pool_width = all
        .iter()
        .map(|(p, _)| p.chars().count())
        .max()
        .unwrap_or(0);
    let figures: Vec<String> = all
        .iter()
        .map(|(_, u)| match &u.bytes {
            Some(b) => {
                let eta = b.eta_seconds().map_or(String::new(), |s| {
                    format!(" · ETA {}", units::estimate(Some(s)))
                });
                format!("{}{eta}", super::super::pool::matrix::pull_text(b))
            }
            None => format!(
                "↓ {}",
                u.since.map_or("started".to_string(), |s| {
                    format!(
                        "{} so far",
                        units::seconds(app.now.duration_since(s).as_secs_f64())
                    )
                })
            ),
        })
        .collect();
    let figures_width = figures.iter().map(|f| f.chars().count()).max().unwrap_or(0);
    let names: Vec<String> = all
        .iter()
        .map(|(_, u)| crate::core::reference::ImageRef::familiar_text(&u.image))
        .collect();
    // The figures whole; the node and image names whole when the line has room for them,
    // else sharing it evenly, each cut in the middle.
    let longest_node = all
        .iter()
        .map(|(_, u)| u.node.chars().count())
        .max()
        .unwrap_or(0);
    let longest_name = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let room = width
        .saturating_sub(2 + 2 + pool_width + 2 + 2 + figures_width)
        .max(24);
    let (node_width, name_width) = if longest_node + longest_name <= room {
        (longest_node, longest_name)
    } else if longest_node <= room / 2 {
        (longest_node, room - longest_node)
    } else if longest_name <= room / 2 {
        (room - longest_name, longest_name)
    } else {
        (room / 2, room - room / 2)
    };
    let items = all
        .iter()
        .zip(&names)
        .zip(figures)
        .map(|(((pool, u), name), figures)| {
            let lead = format!(
                "  {:<node_width$}  {pool:<pool_width$}  ",
                fit::middle(&u.node, node_width)
            );
            vec![Line::from(vec![
                Span::styled(lead, Style::new().fg(t.dim)),
                Span::raw(format!("{:<name_width$}  ", fit::image(name, name_width))),
                Span::styled(figures, Style::new().fg(t.busy)),
            ])]
        })
        .collect();
    Some(Section {
        heading: "slowest pulls under way".into(),
        items,
        keep_end: false,
    })
}

/// The latest failures in every pool: the kubelet's warnings newest first, then the failing
/// nodes no warning in view tells of.
fn failures<'a>(app: &App, width: usize) -> Option<Section<'a>> {
    let t = &app.config.theme;
    let mut said: Vec<(&str, &crate::core::progress::Happening)> = app
        .overview
        .pools
        .iter()
        .flat_map(|p| {
            p.recent
                .iter()
                .filter(|h| h.warning)
                .map(move |h| (p.pool.as_str(), h))
        })
        .collect();
    said.sort_by_key(|(_, h)| std::cmp::Reverse(h.at));
    let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    said.retain(|(_, h)| seen.insert((h.node.as_str(), h.text.as_str())));
    let told: std::collections::HashSet<&str> = said.iter().map(|(_, h)| h.node.as_str()).collect();
    // A node's name whole up to a quarter of the line, else cut in the middle.
    let node_room = (width / 4).max(12);
    // The kubelet's words whole, wrapped under their lead: their end says why.
    let item = |lead: String, text: &str| -> Vec<Line<'a>> {
        hanging(
            lead,
            text,
            width,
            Style::new().fg(t.dim),
            Style::new().fg(t.fail),
        )
    };
    let mut items: Vec<Vec<Line>> = said
        .iter()
        .map(|(pool, h)| {
            item(
                format!(
                    "  {} {} ({pool})  ",
                    h.at.strftime("%H:%M:%S"),
                    fit::middle(&h.node, node_room)
                ),
                &h.text,
            )
        })
        .collect();
    for p in &app.overview.pools {
        let Some(n) = app.totals.get(&p.pool) else {
            continue;
        };
        for (node, what) in &n.failing {
            if told.contains(node.as_str()) {
                continue;
            }
            items.push(item(
                format!("  now      {} ({})  ", fit::middle(node, node_room), p.pool),
                what,
            ));
        }
    }
    (!items.is_empty()).then(|| Section {
        heading: "latest failures".into(),
        items,
        keep_end: true,
    })
}

/// The findings of warning and up, worst first.
fn findings<'a>(app: &App, width: usize) -> Option<Section<'a>> {
    let t = &app.config.theme;
    let insight = app.insight.as_ref()?;
    let mut serious: Vec<&crate::core::findings::Finding> = insight
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    if serious.is_empty() {
        return None;
    }
    serious.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let place =
        |f: &crate::core::findings::Finding| f.pool.as_deref().unwrap_or("cluster").to_string();
    // The pools' names aligned, a quarter of the line at most.
    let place_width = serious
        .iter()
        .map(|f| place(f).chars().count())
        .max()
        .unwrap_or(0)
        .min(width / 4);
    let items = serious
        .iter()
        .map(|f| {
            let lead = format!(
                "  {:<8} {:<place_width$}  ",
                f.severity.word(),
                fit::end(&place(f), place_width)
            );
            let colour = if f.severity == Severity::Critical {
                t.fail
            } else {
                t.busy
            };
            let text = format!("{} ({})", f.message, f.nodes_text());
            hanging(lead, &text, width, Style::new().fg(colour), Style::new())
        })
        .collect();
    let key = app
        .config
        .keys_for(crate::tui::config::Command::Findings)
        .first()
        .map(|k| format!(" ({} opens them)", k.label()))
        .unwrap_or_default();
    Some(Section {
        heading: format!("findings of warning and up{key}"),
        items,
        keep_end: false,
    })
}

/// `text` wrapped in `width` under its `lead`, the later lines indented as far as the lead.
fn hanging<'a>(
    lead: String,
    text: &str,
    width: usize,
    lead_style: Style,
    style: Style,
) -> Vec<Line<'a>> {
    let indent = lead.chars().count();
    fit::wrap(text, width.saturating_sub(indent).max(20))
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let lead = if k == 0 {
                lead.clone()
            } else {
                " ".repeat(indent)
            };
            Line::from(vec![
                Span::styled(lead, lead_style),
                Span::styled(part, style),
            ])
        })
        .collect()
}
