//! A pool's nodes × images. Every column is as wide as its content: the image names whole
//! when the width allows, cut in the middle (the tag kept) only when not; the selected
//! column (←/→) is marked, and its whole reference is in the title.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::core::progress::{ImageState, NodeProgress, PoolProgress};
use crate::core::units;
use crate::tui::app::App;
use crate::tui::config::Theme;
use crate::tui::views::{fit, highlighted, selected_style};

/// The disk column: a 9-cell gauge and its percentage.
const DISK: u16 = 15;
/// An image column keeps this much of its name before a neighbour gets any room.
const LEAST_NAME: usize = 12;

/// Which image columns are shown and how wide each is: the selected one always, then as
/// many of its neighbours as fit at their least; the room left widens them towards their
/// whole names, evenly.
pub(crate) fn columns(
    least: &[usize],
    whole: &[usize],
    selected: usize,
    room: usize,
) -> Vec<(usize, usize)> {
    let n = least.len();
    if n == 0 {
        return Vec::new();
    }
    let selected = selected.min(n - 1);
    // A column costs its width and the space before it.
    let cost = |i: usize| least[i] + 1;
    let (mut first, mut last) = (selected, selected);
    let mut used = cost(selected);
    // Neighbours on the right and the left in turn, so the selected column stays near the
    // middle once the columns scroll.
    loop {
        let mut grew = false;
        if last + 1 < n && used + cost(last + 1) <= room {
            last += 1;
            used += cost(last);
            grew = true;
        }
        if first > 0 && used + cost(first - 1) <= room {
            first -= 1;
            used += cost(first);
            grew = true;
        }
        if !grew {
            break;
        }
    }
    let mut widths: Vec<(usize, usize)> = (first..=last).map(|i| (i, least[i])).collect();
    let mut spare = room.saturating_sub(used);
    while spare > 0 {
        let mut grew = false;
        for (i, w) in widths.iter_mut() {
            if spare > 0 && *w < whole[*i] {
                *w += 1;
                spare -= 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    widths
}

/// Nodes × images: the rows in view, the image columns that fit around the selected one.
/// `all` is the screen's rows (the pool's nodes after the filter), in order.
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    pool: &PoolProgress,
    all: &[&NodeProgress],
) {
    let t = &app.config.theme;
    let (first_row, count) = crate::tui::views::window(app.view().selected, all.len(), area.height);
    let in_view = &all[first_row..first_row + count];
    *app.drawn_rows.borrow_mut() = (
        pool.pool.clone(),
        in_view.iter().map(|n| n.node.clone()).collect(),
    );
    let slow =
        |n: &NodeProgress| pool.slowest.as_deref() == Some(n.node.as_str()) && !pool.complete();
    let mark = |n: &NodeProgress| match (n.trouble.is_some(), slow(n)) {
        (true, _) => " ✗",
        (false, true) => " ▲",
        (false, false) => "",
    };
    // The node names whole up to two fifths of the width; past that cut in the middle,
    // where provider names differ (their ends).
    let node_width = in_view
        .iter()
        .map(|n| n.node.chars().count() + mark(n).chars().count())
        .max()
        .unwrap_or(0)
        .max(4)
        .min((usize::from(area.width) * 2 / 5).max(12));
    let label = |n: &NodeProgress| {
        let m = mark(n);
        format!(
            "{}{m}",
            fit::middle(&n.node, node_width - m.chars().count())
        )
    };
    // The disk column at its gauge's width once a kubelet in view has been read.
    let disk_width = if in_view.iter().any(|n| app.kubelets.get(&n.node).is_some()) {
        DISK
    } else {
        4
    };
    // Each cell's words, once: their widths set the columns.
    let texts: Vec<Vec<(String, Style)>> = in_view
        .iter()
        .map(|n| n.images.iter().map(|i| cell(&i.state, app, t)).collect())
        .collect();
    let images = pool.images.len();
    // The names as people write them (`nginx:1.25`); the title has the whole reference.
    let names: Vec<String> = pool
        .images
        .iter()
        .map(|i| crate::core::reference::ImageRef::familiar_text(i))
        .collect();
    let least: Vec<usize> = (0..images)
        .map(|i| {
            let cells = texts
                .iter()
                .filter_map(|row| row.get(i).map(|(s, _)| s.chars().count()))
                .max()
                .unwrap_or(0);
            cells.max(names[i].chars().count().min(LEAST_NAME))
        })
        .collect();
    let whole: Vec<usize> = (0..images)
        .map(|i| least[i].max(names[i].chars().count()))
        .collect();
    let room = usize::from(area.width).saturating_sub(node_width + 1 + usize::from(disk_width));
    let selected = app.view().column.min(images.saturating_sub(1));
    let shown = columns(&least, &whole, selected, room);

    let bold = Style::new().add_modifier(Modifier::BOLD).fg(t.accent);
    let disk_header = if disk_width == DISK {
        "DISK (│ GC)"
    } else {
        "DISK"
    };
    let mut header = vec![Cell::from("NODE"), Cell::from(disk_header)];
    header.extend(shown.iter().map(|(i, w)| {
        let name = fit::image(&names[*i], *w);
        if *i == selected && images > 1 {
            Cell::from(name).style(bold.add_modifier(Modifier::UNDERLINED))
        } else {
            Cell::from(name)
        }
    }));
    let rows: Vec<Row> = in_view
        .iter()
        .zip(&texts)
        .map(|(n, texts)| {
            let base = if n.trouble.is_some() {
                Style::new().fg(t.fail)
            } else if n.ready() {
                Style::new().fg(t.ok)
            } else {
                Style::new()
            };
            let disk = crate::tui::views::disk::cell(app, &n.node, 9);
            let mut cells = vec![Cell::from(highlighted(app, &label(n), base)), disk];
            for (i, _) in &shown {
                cells.push(match texts.get(*i) {
                    Some((text, style)) => Cell::from(text.clone()).style(*style),
                    None => Cell::from(""),
                });
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(node_width as u16),
        Constraint::Length(disk_width),
    ];
    widths.extend(shown.iter().map(|(_, w)| Constraint::Length(*w as u16)));
    let table = Table::new(rows, widths)
        .column_spacing(1)
        .header(Row::new(header).style(bold))
        .row_highlight_style(selected_style(app))
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(title(pool, selected, &shown, area.width)),
        );
    let mut state =
        TableState::default().with_selected(Some(app.view().selected.saturating_sub(first_row)));
    frame.render_stateful_widget(table, area, &mut state);
}

/// ` nodes × images · image 2/3 docker.io/library/node:20-alpine (←/→) · ▲ slowest `: the
/// selected column's whole reference, which columns are shown when not all, and the marks
/// (the marks and the keys left out when the line has no room for them).
fn title(pool: &PoolProgress, selected: usize, shown: &[(usize, usize)], width: u16) -> String {
    let images = pool.images.len();
    let mut title = " nodes × images".to_string();
    let mut keys = "";
    if let Some(image) = pool.images.get(selected) {
        if images > 1 {
            title.push_str(&format!(" · image {}/{images} {image}", selected + 1));
            keys = " (←/→)";
        } else {
            title.push_str(&format!(" · {image}"));
        }
    }
    if let (Some((first, _)), Some((last, _))) = (shown.first(), shown.last())
        && shown.len() < images
    {
        title.push_str(&format!(" · {}-{} in view", first + 1, last + 1));
    }
    let mut marks = " · ▲ slowest".to_string();
    if pool.nodes.iter().any(|n| n.trouble.is_some()) {
        marks.push_str(" · ✗ pod not running");
    }
    // The whole reference first; what else fits around it.
    let bare = format!(" {}", title.trim_start_matches(" nodes × images · "));
    let candidates = [
        format!("{title}{keys}{marks} "),
        format!("{title}{keys} "),
        format!("{title} "),
        format!("{bare}{keys} "),
        format!("{bare} "),
    ];
    candidates
        .iter()
        .find(|c| c.chars().count() + 2 <= usize::from(width))
        .unwrap_or(&candidates[4])
        .clone()
}

/// A pull in bytes, for a cell: `↓ 1.2/5.4 GB 38 MB/s`; `~` before estimated figures, `↻`
/// for a pull that started over (its bytes kept).
pub(crate) fn pull_text(b: &crate::core::progress::bytes::PullBytes) -> String {
    let arrow = if b.restarts > 0 { '↻' } else { '↓' };
    let approx = if b.estimated { "~" } else { "" };
    let amount = match b.total {
        Some(total) => units::fraction(b.done, total),
        None => units::short_bytes(b.done),
    };
    let rate = b
        .rate
        .map_or(String::new(), |r| format!(" {}", units::short_rate(r)));
    format!("{arrow} {approx}{amount}{rate}")
}

/// An image's state on a node in a few words, and its colour.
pub(crate) fn cell(state: &ImageState, app: &App, t: &Theme) -> (String, Style) {
    match state {
        ImageState::Queued => ("· queued".into(), Style::new().fg(t.dim)),
        ImageState::Pulling { since, bytes } => {
            let text = match bytes {
                Some(b) => pull_text(b),
                None => {
                    let elapsed = since
                        .map(|s| app.now.duration_since(s).as_secs_f64())
                        .map_or(String::new(), units::seconds);
                    format!("↓ {elapsed}")
                }
            };
            (text, Style::new().fg(t.busy))
        }
        ImageState::Pulled { seconds, .. } => (
            format!("✓ {}", seconds.map_or("pulled".to_string(), units::seconds)),
            Style::new().fg(t.ok),
        ),
        ImageState::Present => ("✓ present".into(), Style::new().fg(t.ok)),
        ImageState::Failed { reason, .. } => (
            format!("✗ {}", short_reason(reason)),
            Style::new().fg(t.fail),
        ),
    }
}

/// The kubelet's reason for a failed pull, in a cell's few words.
pub(crate) fn short_reason(reason: &str) -> &str {
    match reason {
        "ImagePullBackOff" => "back-off",
        "ErrImagePull" => "pull failed",
        "InvalidImageName" => "bad name",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::columns;

    #[test]
    fn every_column_whole_when_the_room_allows() {
        // 17 + 14 + 14 and a space before each: 48.
        let shown = columns(&[12, 12, 12], &[17, 14, 14], 0, 48);
        assert_eq!(shown, [(0, 17), (1, 14), (2, 14)]);
    }

    #[test]
    fn short_of_room_the_columns_share_what_there_is() {
        // 39 for three columns at least 12 (and a space): 3 spare, one each.
        let shown = columns(&[12, 12, 12], &[45, 30, 14], 0, 42);
        assert_eq!(shown, [(0, 13), (1, 13), (2, 13)]);
    }

    #[test]
    fn the_selected_column_is_always_shown_with_its_neighbours_when_they_fit() {
        let shown = columns(&[12; 10], &[20; 10], 7, 40);
        assert_eq!(shown, [(6, 13), (7, 12), (8, 12)]);
        // The first: it and the next ones.
        let shown = columns(&[12; 10], &[20; 10], 0, 40);
        assert_eq!(shown, [(0, 13), (1, 12), (2, 12)]);
        // No room even for one: the selected one still.
        assert_eq!(columns(&[12; 3], &[20; 3], 2, 5), [(2, 12)]);
    }
}
