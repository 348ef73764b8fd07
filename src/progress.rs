//! Build progress: the hook the driver calls (`Progress`), and a one-line display for
//! terminals that redraws in place on stderr (`Terminal`).
//!
//! The driver only reports what it is doing — a phase, and functions compiled of the
//! total — and knows nothing about terminals. `Terminal` stays silent for builds shorter
//! than its delay, so a quick build prints exactly what it printed before; the caller
//! installs it only when stderr is a terminal and output is for people (not JSON, not
//! `--quiet`).

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::render::{plural, thousands};

/// What a build is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading, parsing and type-checking the program.
    Checking,
    /// Generating code for functions (with counts, through `Progress::functions`).
    Compiling,
    /// Merging link units and linking.
    Linking,
}

/// Receives a build's progress. Called from the build's threads, including the code
/// generation workers, so it must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    fn phase(&self, phase: Phase);
    /// `compiled` of `total` functions have their code.
    fn functions(&self, compiled: usize, total: usize);
}

/// How long a build runs before `Terminal` shows anything: "more than a moment".
pub const DEFAULT_DELAY: Duration = Duration::from_millis(250);
/// The least time between two redraws, so that thousands of batches do not flood the
/// terminal.
pub const REDRAW_EVERY: Duration = Duration::from_millis(50);

/// One status line, redrawn in place (`\r`, erase line) on a terminal.
pub struct Terminal<W: Write + Send> {
    start: Instant,
    delay: Duration,
    redraw_every: Duration,
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    phase: Option<Phase>,
    counts: Option<(usize, usize)>,
    /// Something is on the line now.
    drawn: bool,
    last_draw: Option<Instant>,
    /// `finish` was called: nothing more is drawn.
    done: bool,
}

impl Terminal<std::io::Stderr> {
    /// A display on stderr that appears after `MINI_PROGRESS_DELAY_MS` milliseconds (for
    /// tests and for people who want it sooner or never), else `DEFAULT_DELAY`.
    pub fn stderr() -> Terminal<std::io::Stderr> {
        let delay = std::env::var("MINI_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(DEFAULT_DELAY, Duration::from_millis);
        Terminal::new(std::io::stderr(), delay, REDRAW_EVERY)
    }
}

impl<W: Write + Send> Terminal<W> {
    /// Shows nothing until `delay` has passed since now; redraws counts at most every
    /// `redraw_every`.
    pub fn new(out: W, delay: Duration, redraw_every: Duration) -> Terminal<W> {
        let state = State { out, phase: None, counts: None, drawn: false, last_draw: None, done: false };
        Terminal { start: Instant::now(), delay, redraw_every, state: Mutex::new(state) }
    }

    /// Erases the line, if anything is on it; call before printing anything else.
    pub fn clear(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.drawn {
            let _ = write!(state.out, "\r\x1b[K");
            let _ = state.out.flush();
            state.drawn = false;
        }
    }

    /// Erases the line and draws nothing more: for a session that goes on building
    /// after the build this display was for (`mini watch` shows its first build only).
    pub fn finish(&self) {
        self.clear();
        self.state.lock().unwrap_or_else(|e| e.into_inner()).done = true;
    }

    /// Gives back the output (for tests).
    pub fn into_inner(self) -> W {
        self.state.into_inner().unwrap_or_else(|e| e.into_inner()).out
    }

    /// Draws the current state, unless it is too early or was drawn a moment ago.
    /// `always` draws even then (a new phase, the last function).
    fn draw(&self, state: &mut State<W>, always: bool) {
        let now = Instant::now();
        if state.done || now.duration_since(self.start) < self.delay {
            return;
        }
        if !always && state.last_draw.is_some_and(|at| now.duration_since(at) < self.redraw_every) {
            return;
        }
        let text = match (state.phase, state.counts) {
            (Some(Phase::Checking), _) => "Checking…".to_string(),
            (Some(Phase::Compiling), Some((done, total))) => {
                format!("Compiling: {} of {} function{}", thousands(done), thousands(total), plural(total))
            }
            (Some(Phase::Compiling), None) => "Compiling…".to_string(),
            (Some(Phase::Linking), _) => "Linking…".to_string(),
            (None, _) => return,
        };
        let _ = write!(state.out, "\r\x1b[K{text}");
        let _ = state.out.flush();
        state.drawn = true;
        state.last_draw = Some(now);
    }
}

impl<W: Write + Send> Progress for Terminal<W> {
    fn phase(&self, phase: Phase) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.phase != Some(phase) {
            state.phase = Some(phase);
            state.counts = None;
            self.draw(&mut state, true);
        }
    }

    fn functions(&self, compiled: usize, total: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let first = state.phase != Some(Phase::Compiling) || state.counts.is_none();
        state.phase = Some(Phase::Compiling);
        state.counts = Some((compiled, total));
        self.draw(&mut state, first || compiled == total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(progress: Terminal<Vec<u8>>) -> String {
        String::from_utf8(progress.into_inner()).unwrap()
    }

    #[test]
    fn a_build_shorter_than_the_delay_shows_nothing() {
        let progress = Terminal::new(Vec::new(), Duration::from_secs(3600), REDRAW_EVERY);
        progress.phase(Phase::Checking);
        progress.functions(1, 2);
        progress.functions(2, 2);
        progress.phase(Phase::Linking);
        progress.clear();
        assert_eq!(shown(progress), "");
    }

    #[test]
    fn a_finished_display_erases_its_line_and_draws_nothing_more() {
        let progress = Terminal::new(Vec::new(), Duration::ZERO, Duration::ZERO);
        progress.phase(Phase::Checking);
        progress.finish();
        progress.phase(Phase::Compiling);
        progress.functions(1, 2);
        progress.phase(Phase::Linking);
        progress.clear();
        assert_eq!(shown(progress), "\r\x1b[KChecking…\r\x1b[K");
    }

    #[test]
    fn phases_and_the_last_count_are_always_drawn_and_cleared_in_place() {
        let progress = Terminal::new(Vec::new(), Duration::ZERO, Duration::from_secs(3600));
        progress.phase(Phase::Checking);
        progress.functions(1, 1_500);
        // Within the redraw interval: skipped, except the final count.
        progress.functions(2, 1_500);
        progress.functions(1_500, 1_500);
        progress.phase(Phase::Linking);
        progress.clear();
        assert_eq!(
            shown(progress),
            "\r\x1b[KChecking…\r\x1b[KCompiling: 1 of 1,500 functions\r\x1b[KCompiling: 1,500 of 1,500 functions\
             \r\x1b[KLinking…\r\x1b[K"
        );
    }
}
