//! Progress bars for payload transfers, drawn on stderr only when stderr is a terminal
//! (a script or a test sees nothing).

use std::io::IsTerminal as _;

/// A byte-counting progress bar, or nothing when stderr is not a terminal.
#[derive(Debug, Clone)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar for `total` bytes (a spinner with a byte count when the total is unknown),
    /// labelled `message`.
    #[must_use]
    pub fn bytes(total: Option<u64>, message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = match total {
            Some(total) => {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{msg} {wide_bar} {bytes}/{total_bytes} {percent}% {bytes_per_sec} {eta}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => {
                let bar = indicatif::ProgressBar::new_spinner();
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{msg} {spinner} {bytes} {bytes_per_sec}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_message(message.to_owned());
        Self(Some(bar))
    }

    /// A bar that draws nothing.
    #[must_use]
    pub fn hidden() -> Self {
        Self(None)
    }

    /// `n` more bytes moved.
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Removes the bar (the command prints its own result line).
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
