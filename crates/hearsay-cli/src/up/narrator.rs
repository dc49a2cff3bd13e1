//! `hearsay up`'s progress on the terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress on the terminal: one line rewritten in place (an `indicatif` bar), or plain lines
/// when stdout is not a terminal (only when something changed, at most once a second).
pub(super) struct Narrator {
    tty: bool,
    /// The line being rewritten, on a terminal.
    bar: Option<indicatif::ProgressBar>,
    last: String,
    last_at: Option<Instant>,
}

impl Narrator {
    pub(super) fn new() -> Narrator {
        Narrator {
            tty: std::io::stdout().is_terminal(),
            bar: None,
            last: String::new(),
            last_at: None,
        }
    }

    pub(super) fn line(&mut self, text: &str) {
        self.done();
        crate::say(&format!("{text}\n"));
    }

    pub(super) fn progress(&mut self, text: &str) {
        if text == self.last {
            return;
        }
        if self.tty {
            let bar = self.bar.get_or_insert_with(|| {
                let style =
                    indicatif::ProgressStyle::with_template("{msg}").expect("a valid template");
                indicatif::ProgressBar::with_draw_target(
                    None,
                    indicatif::ProgressDrawTarget::stdout(),
                )
                .with_style(style)
            });
            bar.set_message(text.to_string());
        } else if self
            .last_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            crate::say(&format!("{text}\n"));
            self.last_at = Some(Instant::now());
        } else {
            return;
        }
        self.last = text.to_string();
    }

    /// Ends the progress line, leaving its last state on the terminal.
    pub(super) fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            crate::say(&format!("{}\n", self.last));
        }
        self.last.clear();
    }
}
