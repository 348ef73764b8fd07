//! Fault injection for tests: named points of a build where a test makes something
//! happen at exactly that moment — a cancellation (as a newer edit in watch mode would
//! cause), a panic (a bug), a full disk, or its own code (an edit "while the build
//! runs") — so that failure handling is tested deterministically, not by hoping a race
//! happens.
//!
//! Tests arm faults through `Session::faults`; the `mini` binary arms them from
//! `MINI_TEST_FAULT` (`point:action`, comma-separated, e.g. `index-write:cancel`), for
//! tests of the real process. Each armed fault fires once. Nothing is armed otherwise,
//! and a point then costs one uncontended lock.

use std::sync::{Arc, Mutex, PoisonError};

/// Where a fault can fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// A build has taken the stamps of the files it knows, and read none yet.
    AfterStat,
    /// A build has read the files it needs and set its inputs.
    AfterScan,
    /// A build has its diagnostics.
    AfterDiagnostics,
    /// Code generation is about to start.
    Codegen,
    /// Every object is ready; the final link is next.
    BeforeLink,
    /// The index is about to be recorded (in watch mode: after the build was reported).
    IndexWrite,
    /// Watch mode is starting over from the disk cache (`Session::warm`).
    Rebase,
    /// The store is writing a file.
    StoreWrite,
}

impl Point {
    const ALL: [(Point, &'static str); 8] = [
        (Point::AfterStat, "after-stat"),
        (Point::AfterScan, "after-scan"),
        (Point::AfterDiagnostics, "after-diagnostics"),
        (Point::Codegen, "codegen"),
        (Point::BeforeLink, "before-link"),
        (Point::IndexWrite, "index-write"),
        (Point::Rebase, "rebase"),
        (Point::StoreWrite, "store-write"),
    ];

    pub fn name(self) -> &'static str {
        Point::ALL.iter().find(|(p, _)| *p == self).map_or("?", |(_, name)| name)
    }
}

/// What an armed fault does when its point is reached.
pub enum Action {
    /// Cancels the session's build, as a newer edit does in watch mode: the next query
    /// unwinds with `salsa::Cancelled`.
    Cancel,
    /// Panics, as a bug would.
    Panic,
    /// Fails the store's write with "no space left on device" (at `StoreWrite`).
    NoSpace,
    /// Runs the test's code, on the build's thread.
    Run(Box<dyn FnOnce() + Send>),
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Cancel => "Cancel",
            Action::Panic => "Panic",
            Action::NoSpace => "NoSpace",
            Action::Run(_) => "Run",
        })
    }
}

/// The armed faults of a session, shared with the store it opens and with the session
/// watch mode moves to (`Session::fresh`).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<(Point, Action)>>>);

impl Faults {
    /// Arms `action` to fire the next time `point` is reached.
    pub fn arm(&self, point: Point, action: Action) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((point, action));
    }

    /// Arms the faults `MINI_TEST_FAULT` names (`point:action`, comma-separated;
    /// actions `cancel`, `panic`, `no-space`).
    pub fn arm_from_env(&self) -> Result<(), String> {
        let Ok(spec) = std::env::var("MINI_TEST_FAULT") else { return Ok(()) };
        for item in spec.split(',').filter(|s| !s.is_empty()) {
            let (point, action) = item.split_once(':').ok_or_else(|| format!("MINI_TEST_FAULT: '{item}'"))?;
            let point = Point::ALL
                .iter()
                .find(|(_, name)| *name == point)
                .map(|(p, _)| *p)
                .ok_or_else(|| format!("MINI_TEST_FAULT: no point '{point}'"))?;
            let action = match action {
                "cancel" => Action::Cancel,
                "panic" => Action::Panic,
                "no-space" => Action::NoSpace,
                _ => return Err(format!("MINI_TEST_FAULT: no action '{action}'")),
            };
            self.arm(point, action);
        }
        Ok(())
    }

    /// The fault armed first at `point`, disarmed.
    pub fn take(&self, point: Point) -> Option<Action> {
        let mut armed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = armed.iter().position(|(p, _)| *p == point)?;
        let (_, action) = armed.remove(at);
        tracing::debug!(point = point.name(), ?action, "injected fault");
        Some(action)
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Whether any fault is still armed.
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }
}
