//! The pool editor: the image list with what changed, the pickers with their completions,
//! the preview (summary, per-node pulls, diff), and the conflict, failure and delete dialogs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Editor, Mode, Picker, Preview, Step};
use crate::core::adopt::Origin;
use crate::core::reference::ImageRef;
use crate::core::units;
use crate::tui::app::App;
use crate::tui::config::Command;
use crate::tui::views::{dialog, selected_style, window};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(e) = &app.edit else {
        frame.render_widget(Paragraph::new("no editor open; Esc goes back"), area);
        return;
    };
    let [top, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    draw_title(frame, top, app, e);
    match &e.step {
        Step::Preview(p) => draw_preview(frame, body, app, e, p),
        _ => draw_list(frame, body, app, e),
    }
    draw_overlay(frame, app, e);
}

/// The step's box over the list: a picker, the delete, conflict or failure dialog, the wait.
fn draw_overlay(frame: &mut Frame, app: &App, e: &Editor) {
    match &e.step {
        Step::Add(p) => draw_picker(
            frame,
            app,
            e,
            p,
            "add an image",
            "Enter adds the highlighted (↑: as typed) · Tab completes · Esc cancels",
        ),
        Step::Tag(p) => {
            let name = e
                .selected_image()
                .map(|i| i.familiar_name())
                .unwrap_or_default();
            draw_picker(
                frame,
                app,
                e,
                p,
                &format!("another tag for {name}"),
                "newest first; Enter sets the highlighted (↑: as typed), Esc cancels",
            )
        }
        Step::Secrets(p) => draw_picker(
            frame,
            app,
            e,
            p,
            "pull secrets",
            "Secret names in the preloaders' namespace, separated by commas; Enter sets them, Esc cancels",
        ),
        Step::NewName(p) => draw_picker(
            frame,
            app,
            e,
            p,
            "new pool: its name",
            "lowercase letters, digits and '-'; Enter goes on, Esc cancels",
        ),
        Step::NewSelector(p) => draw_selector(frame, app, e, p),
        Step::NewTolerations { proposed, selected } => {
            draw_tolerations(frame, app, proposed, *selected)
        }
        Step::Waiting(what) => {
            dialog(frame, " preview ", vec![Line::raw(what.clone())], 60);
        }
        Step::Applying => {
            let what = if e.deleting {
                "deleting…".to_string()
            } else {
                match &e.mode {
                    Mode::Cluster => "applying (server-side, field manager kpreload)…".into(),
                    Mode::File(p) => format!("writing {}…", p.display()),
                }
            };
            dialog(frame, " apply ", vec![Line::raw(what)], 60);
        }
        Step::Conflict(c) => draw_conflict(frame, app, c),
        Step::Failed(why) => {
            let t = &app.config.theme;
            dialog(
                frame,
                " failed ",
                vec![
                    Line::styled(why.clone(), Style::new().fg(t.fail)),
                    Line::styled("any key: back to the draft", Style::new().fg(t.dim)),
                ],
                80,
            );
        }
        Step::Delete { typed } => draw_delete(frame, app, e, typed),
        Step::List | Step::Preview(_) => {}
    }
}

/// A new pool's label step: the labels chosen so far and how many nodes match them.
fn draw_selector(frame: &mut Frame, app: &App, e: &Editor, p: &Picker) {
    let count = super::matching(&app.snapshot, &e.pool.selector);
    let chosen = e.requirements_text();
    let title = format!(
        "pool {}: node labels — {} · {count} node{} match",
        e.pool.name,
        if chosen.is_empty() {
            "every node".to_string()
        } else {
            chosen.join(", ")
        },
        if count == 1 { "" } else { "s" }
    );
    draw_picker(
        frame,
        app,
        e,
        p,
        &title,
        "key=value; Enter adds it, Enter on an empty line goes on",
    )
}

/// The tolerations proposed for a new pool from its nodes' taints.
fn draw_tolerations(
    frame: &mut Frame,
    app: &App,
    proposed: &[(crate::core::selector::Toleration, bool)],
    selected: usize,
) {
    let t = &app.config.theme;
    let mut lines = vec![Line::raw(
        "Those nodes have taints; the preloader tolerates the checked ones:",
    )];
    for (i, (tol, on)) in proposed.iter().enumerate() {
        let text = format!(
            "[{}] {}={}:{}",
            if *on { "x" } else { " " },
            tol.key,
            tol.value,
            tol.effect.map(|e| e.as_str()).unwrap_or("*")
        );
        let style = if i == selected {
            selected_style(app)
        } else {
            Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    lines.push(Line::styled(
        "Space toggles, Enter goes on to the images, Esc back",
        Style::new().fg(t.dim),
    ));
    dialog(frame, " tolerations ", lines, 70);
}

/// Who changed the preloader in between, and what.
fn draw_conflict(frame: &mut Frame, app: &App, c: &crate::cluster::apply::Conflict) {
    let t = &app.config.theme;
    let mut lines = vec![Line::styled(
        c.summary.clone(),
        Style::new().fg(t.fail).add_modifier(Modifier::BOLD),
    )];
    if !c.managers.is_empty() {
        lines.push(Line::raw(format!("changed by: {}", c.managers.join(", "))));
    }
    for ch in &c.changes {
        let style = match ch.chars().next() {
            Some('+') => Style::new().fg(t.ok),
            Some('-') => Style::new().fg(t.fail),
            _ => Style::new(),
        };
        lines.push(Line::styled(format!("  {ch}"), style));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{} reopens the editor on the new state · Esc back to your draft",
            key(app, Command::Edit)
        ),
        Style::new().fg(t.dim),
    ));
    dialog(frame, " conflict ", lines, 90);
}

/// Deleting a pool's preloader: typed confirmation.
fn draw_delete(frame: &mut Frame, app: &App, e: &Editor, typed: &str) {
    let t = &app.config.theme;
    let what = match &e.mode {
        Mode::Cluster => format!(
            "Delete the DaemonSet {}/{}? Its pods go from every node of the pool; the images stay until a cleanup removes them.",
            e.namespace, e.daemonset
        ),
        Mode::File(p) => format!("Remove pool {} from {}?", e.pool.name, p.display()),
    };
    let lines = vec![
        Line::styled(what, Style::new().add_modifier(Modifier::BOLD)),
        Line::raw(""),
        Line::from(vec![
            Span::raw("Type "),
            Span::styled(
                e.pool.name.clone(),
                Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" and Enter to delete, Esc to keep it:"),
        ]),
        Line::from(vec![
            Span::styled("> ", Style::new().fg(t.accent)),
            Span::raw(typed.to_string()),
            Span::styled("▏", Style::new().fg(t.accent)),
        ]),
    ];
    dialog(frame, &format!(" delete pool {} ", e.pool.name), lines, 76);
}

fn key(app: &App, c: Command) -> String {
    app.config
        .keys_for(c)
        .first()
        .map(|k| k.label())
        .unwrap_or_else(|| c.name().to_string())
}

fn draw_title(frame: &mut Frame, area: Rect, app: &App, e: &Editor) {
    let t = &app.config.theme;
    let target = match &e.mode {
        Mode::Cluster => format!(
            "{}/{} · server-side apply as kpreload",
            e.namespace, e.daemonset
        ),
        Mode::File(p) => format!("GitOps: edits go to {}", p.display()),
    };
    let first = Line::from(vec![
        Span::styled(
            if e.new {
                format!("new pool {}", e.pool.name)
            } else {
                format!("edit pool {}", e.pool.name)
            },
            Style::new().fg(t.accent).add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("  {target}"), Style::new().fg(t.dim)),
        Span::styled(
            if e.pool.pull_secrets.is_empty() {
                String::new()
            } else {
                format!(" · pulls with {}", e.pool.pull_secrets.join(", "))
            },
            Style::new().fg(t.dim),
        ),
    ]);
    let second = {
        let hints: Vec<String> = [
            Command::Add,
            Command::Remove,
            Command::Tag,
            Command::MoveUp,
            Command::MoveDown,
            Command::Undo,
            Command::Preview,
            Command::Back,
        ]
        .iter()
        .map(|c| format!("{} {}", key(app, *c), c.name()))
        .collect();
        Line::styled(hints.join("  "), Style::new().fg(t.dim))
    };
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}

fn draw_list(frame: &mut Frame, area: Rect, app: &App, e: &Editor) {
    let t = &app.config.theme;
    let summary = e.draft.summary();
    let side = if summary.is_empty() {
        0
    } else {
        (summary.len() as u16 + 2).min(area.height / 2)
    };
    let [list, changes] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(side)]).areas(area);
    let original: Vec<String> = e.draft.original.iter().map(ImageRef::normalized).collect();
    let names: Vec<String> = e.draft.original.iter().map(ImageRef::name).collect();
    let (first, count) = window(e.selected, e.draft.images.len(), list.height);
    let platforms = super::check::platforms(app, &e.drafted());
    let mut lines = vec![Line::styled(
        format!(
            "{:>3}  {:<48} {:>10}  {}",
            "#", "IMAGE (pull order)", "SIZE", "SEEN"
        ),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (i, image) in e.draft.images.iter().enumerate().skip(first).take(count) {
        let mark = match original.iter().position(|o| *o == image.normalized()) {
            Some(j) if j == i => " ",
            Some(_) => "↕",
            None if names.contains(&image.name()) => "~",
            None => "+",
        };
        let known = e
            .catalog
            .known
            .iter()
            .find(|k| ImageRef::parse(&k.image).ok().as_ref() == Some(image));
        // The registry's compressed size when it answered, else what a node reports.
        let answer = app.registries.answer(image, &platforms);
        let size = answer
            .and_then(|a| a.found())
            .and_then(|f| f.bytes_for(platforms.first()).or(f.largest()))
            .or_else(|| e.catalog.sizes.get(&image.normalized()).copied())
            .map(units::bytes)
            .unwrap_or_else(|| "?".into());
        let mut seen = known
            .map(|k| k.seen.clone())
            .unwrap_or_else(|| "not on any node yet".into());
        match answer {
            Some(a) if a.refuses(&platforms) => seen = format!("NOT PULLABLE: {}", a.short(None)),
            Some(a) if a.unchecked() => seen = format!("{seen} · {}", a.short(None)),
            _ if app.registries.asking(image, &platforms) => seen = format!("{seen} · asking…"),
            _ => {}
        }
        let text = format!(
            "{:>3}{} {:<48} {:>10}  {}",
            i + 1,
            mark,
            image.written(),
            size,
            seen
        );
        let style = if i == e.selected && matches!(e.step, Step::List) {
            selected_style(app)
        } else {
            match mark {
                _ if seen.starts_with("NOT PULLABLE") => Style::new().fg(t.fail),
                "+" => Style::new().fg(t.ok),
                "~" | "↕" => Style::new().fg(t.busy),
                _ => Style::new(),
            }
        };
        lines.push(Line::styled(text, style));
    }
    if e.draft.images.is_empty() {
        lines.push(Line::styled(
            format!("  no images yet: {} adds one", key(app, Command::Add)),
            Style::new().fg(t.dim),
        ));
    }
    let converts = if e.origin == Origin::HandWritten && e.mode == Mode::Cluster {
        " · hand-written: applying converts it to the rendered form"
    } else {
        ""
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(format!(
            " {} image{}{converts} ",
            e.draft.images.len(),
            if e.draft.images.len() == 1 { "" } else { "s" }
        ))),
        list,
    );
    if side > 0 {
        let lines: Vec<Line> = summary.iter().map(|s| Line::raw(s.clone())).collect();
        frame.render_widget(
            Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(format!(
                " changes — {} previews ",
                key(app, Command::Preview)
            ))),
            changes,
        );
    }
}

fn draw_preview(frame: &mut Frame, area: Rect, app: &App, e: &Editor, p: &Preview) {
    let head = preview_head(app, e, p);
    let rows = (p.pulls.len() as u16 + 2).min(area.height / 3).max(3);
    let width = area.width.max(1) as usize;
    let head_height: usize = head.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    let [top, nodes, diff] = Layout::vertical([
        Constraint::Length(head_height as u16 + 1),
        Constraint::Length(rows),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), top);

    draw_pulls(frame, nodes, app, p, rows);
    draw_diff(frame, diff, app, p);
}

/// The preview's words: the change, what rolls where and what it costs, whether it fits.
fn preview_head<'a>(app: &App, e: &Editor, p: &Preview) -> Vec<Line<'a>> {
    let t = &app.config.theme;
    let fits_known: Vec<_> = p.pulls.iter().filter(|n| n.fits().is_some()).collect();
    let short: Vec<&str> = p
        .pulls
        .iter()
        .filter(|n| n.fits() == Some(false))
        .map(|n| n.node.as_str())
        .collect();
    let bytes: u64 = p.pulls.iter().map(|n| n.bytes).sum();
    let slowest = p
        .pulls
        .iter()
        .filter_map(|n| n.seconds)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let mut head: Vec<Line> = p
        .summary
        .iter()
        .map(|s| Line::styled(s.clone(), Style::new().add_modifier(Modifier::BOLD)))
        .collect();
    let n = p.pulls.len();
    let nodes = format!("{n} node{}", if n == 1 { "" } else { "s" });
    let unknown = p.pulls.iter().any(|x| x.unknown > 0);
    // What is to pull, and how long the slowest node may take: an estimate, or why not.
    let cost = match (bytes, unknown) {
        (0, true) => "sizes unknown (no node holds those images, and their registry has not said)"
            .to_string(),
        (b, true) => format!(
            "{} to pull and more of unknown size, the slowest node over {}",
            units::bytes(b),
            units::estimate(slowest)
        ),
        (0, false) => "nothing to pull: every node holds the images".to_string(),
        (b, false) => format!(
            "{} to pull in all, the slowest node about {}",
            units::bytes(b),
            units::estimate(slowest)
        ),
    };
    let rolls = match &e.mode {
        Mode::Cluster if p.converts.is_some() => format!(
            "The preloader is recreated: its pods start again on all {nodes} at once; {cost}."
        ),
        Mode::Cluster if e.new => {
            format!("The preloader's pods start on the pool's {nodes}; {cost}.")
        }
        Mode::Cluster => {
            format!("The preloader's pods roll on all {nodes} of the pool (10% at a time); {cost}.")
        }
        Mode::File(path) => format!(
            "Writes {}; when your GitOps tool applies it, the preloader's pods roll on the pool's {nodes}; {cost}.",
            path.display()
        ),
    };
    head.push(Line::raw(rolls));
    for r in &p.refusals {
        head.push(Line::styled(
            format!("Cannot be pulled — {r}"),
            Style::new().fg(t.fail).add_modifier(Modifier::BOLD),
        ));
    }
    for u in &p.unchecked {
        head.push(Line::styled(u.clone(), Style::new().fg(t.busy)));
    }
    if p.checking > 0 {
        head.push(Line::styled(
            format!(
                "asking the registries about {} image{}; the sizes follow…",
                p.checking,
                if p.checking == 1 { "" } else { "s" }
            ),
            Style::new().fg(t.dim),
        ));
    }
    if !short.is_empty() {
        head.push(Line::styled(
            format!("Not enough free image-filesystem space on {}: pulls there will fail or push out other images.", short.join(", ")),
            Style::new().fg(t.fail),
        ));
    } else if !fits_known.is_empty() {
        head.push(Line::styled(
            format!(
                "Fits the free space of the {} node{} checked.",
                fits_known.len(),
                if fits_known.len() == 1 { "" } else { "s" }
            ),
            Style::new().fg(t.ok),
        ));
    }
    if let Some(note) = &p.free_note {
        head.push(Line::styled(note.clone(), Style::new().fg(t.busy)));
    }
    head.push(Line::styled(
        format!(
            "{} applies · {} back to the editor · ↑↓ scroll the diff",
            key(app, Command::Apply),
            key(app, Command::Back)
        ),
        Style::new().fg(t.accent),
    ));
    head
}

/// What each node pulls: images, bytes, time, free space, whether it fits.
fn draw_pulls(frame: &mut Frame, nodes: Rect, app: &App, p: &Preview, rows: u16) {
    let t = &app.config.theme;
    let mut lines = vec![Line::styled(
        format!(
            "{:<22} {:>6} {:>16} {:>9} {:>10}  {}",
            "NODE", "PULLS", "BYTES", "TIME", "FREE", "FITS"
        ),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for n in p.pulls.iter().take(rows.saturating_sub(2) as usize) {
        let fits = match n.fits() {
            Some(true) => Span::styled("yes", Style::new().fg(t.ok)),
            Some(false) => Span::styled("NO", Style::new().fg(t.fail).add_modifier(Modifier::BOLD)),
            None => Span::styled("?", Style::new().fg(t.dim)),
        };
        // Images nobody has pulled yet have no known size.
        let (bytes, time) = match (n.unknown, n.bytes) {
            (0, _) => (units::bytes(n.bytes), units::estimate(n.seconds)),
            (k, 0) => (format!("{k} of unknown size"), "?".to_string()),
            (k, b) => (
                format!("{} + {k}?", units::bytes(b)),
                format!(">{}", units::estimate(n.seconds)),
            ),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{:<22} {:>6} {:>16} {:>9} {:>10}  ",
                n.node,
                n.images.len(),
                bytes,
                time,
                n.free.map(units::bytes).unwrap_or_else(|| "?".into())
            )),
            fits,
        ]));
    }
    if p.pulls.len() + 2 > rows as usize {
        lines.push(Line::styled(
            format!("… and {} more nodes", p.pulls.len() + 2 - rows as usize),
            Style::new().fg(t.dim),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" what each node pulls "),
        ),
        nodes,
    );
}

/// The DaemonSet's diff, scrolled.
fn draw_diff(frame: &mut Frame, diff: Rect, app: &App, p: &Preview) {
    let t = &app.config.theme;
    let visible = diff.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = p
        .diff
        .iter()
        .skip(p.scroll)
        .take(visible)
        .map(|l| {
            let style = match l.sign {
                '+' => Style::new().fg(t.ok),
                '-' => Style::new().fg(t.fail),
                '…' => Style::new().fg(t.dim),
                _ => Style::new(),
            };
            Line::styled(
                if l.sign == '…' {
                    "…".to_string()
                } else {
                    format!("{}{}", l.sign, l.text)
                },
                style,
            )
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(format!(" diff: {} ", p.diff_of)),
        ),
        diff,
    );
}

fn draw_picker(frame: &mut Frame, app: &App, e: &Editor, p: &Picker, title: &str, help: &str) {
    let t = &app.config.theme;
    let choices = e.choices(&app.snapshot);
    let highlight = p.highlight(&choices);
    // The typed text is what Enter takes when no completion is highlighted.
    let typed_style = if highlight.is_none() && !choices.is_empty() && !p.text.is_empty() {
        selected_style(app)
    } else {
        Style::new()
    };
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", Style::new().fg(t.accent)),
        Span::styled(p.text.clone(), typed_style),
        Span::styled("▏", Style::new().fg(t.accent)),
    ])];
    if let Some(image) = &p.checking {
        let host = ImageRef::parse(image)
            .map(|i| i.registry().to_string())
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("asking {host} whether it has {image}… (Esc cancels)"),
            Style::new().fg(t.busy),
        ));
    }
    if let Some(err) = &p.error {
        lines.push(Line::styled(err.clone(), Style::new().fg(t.fail)));
    }
    for (i, (text, note)) in choices.iter().enumerate() {
        let style = if highlight == Some(i) {
            selected_style(app)
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {text:<44}"), style),
            Span::styled(format!(" {note}"), Style::new().fg(t.dim)),
        ]));
    }
    if choices.is_empty() && p.text.is_empty() {
        lines.push(Line::styled(
            "  (nothing known to complete from)",
            Style::new().fg(t.dim),
        ));
    }
    lines.push(Line::styled(help.to_string(), Style::new().fg(t.dim)));
    dialog(frame, &format!(" {title} "), lines, 80);
}
