//! The command line: exit statuses, output locations, JSON messages, robustness.
