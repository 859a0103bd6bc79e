//! The built binary in a real terminal: tmux runs `kpreload demo`, keys go in as a person types
//! them, and the screen is read back; and `demo.tape` replayed against the current code.

#[path = "../support/mod.rs"]
mod support;
#[path = "../support/tmux.rs"]
mod tmux;

mod demo;
mod tape;
