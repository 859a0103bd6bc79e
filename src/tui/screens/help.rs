//! The help: the active key map's commands for everywhere and for the screen under it, the
//! log's and the config's paths. Drawn over the screen; any key closes it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::app::{Action, App};
use crate::tui::config::{Command, Key};

/// A key while the help is open: it closes the help; quit still quits.
pub fn key(app: &mut App, key: &Key) -> Option<Action> {
    app.help = false;
    (app.config.command(key) == Some(Command::Quit)).then_some(Action::Quit)
}

/// The help, generated from the active keymap.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    // Everywhere's commands, and the current screen's own.
    let here = app.view().screen.component().help_section();
    let commands: Vec<Command> = Command::ALL
        .into_iter()
        .filter(|c| c.screen().is_empty() || c.screen() == here)
        .collect();
    let width = area.width.min(72);
    let height = area.height.min(commands.len() as u16 + 6);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = commands
        .iter()
        .map(|c| {
            let keys: Vec<String> = app.config.keys_for(*c).iter().map(|k| k.label()).collect();
            Line::from(vec![
                Span::styled(
                    format!("{:<16}", keys.join(" ")),
                    Style::new().fg(app.config.theme.accent),
                ),
                Span::raw(c.describe()),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "log: {}",
            app.log_path.as_deref().unwrap_or("(not written)")
        ),
        Style::new().fg(app.config.theme.dim),
    ));
    lines.push(Line::styled(
        format!(
            "config: {}",
            app.config
                .source
                .as_ref()
                .map_or("built-in".to_string(), |p| p.display().to_string())
        ),
        Style::new().fg(app.config.theme.dim),
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" help — any key closes "),
        ),
        popup,
    );
}
