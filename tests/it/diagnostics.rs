//! Diagnostics snapshots: every error kind, rendered exactly as the user sees it.
