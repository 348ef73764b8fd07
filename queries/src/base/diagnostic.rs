//! The vocabulary of diagnostics, shared by the stages that report them, the summaries
//! that record warnings, and the shell that renders them: byte spans, severities, and
//! the secondary positions a diagnostic may point at.

/// A half-open byte range into one file's text. Absolute in the AST, relative to the
/// function start in ZIR (see `zir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub const fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// This span moved so that `base` becomes offset zero.
    pub fn relative_to(self, base: u32) -> Span {
        Span::new(self.start - base, self.end - base)
    }

    pub fn shifted(self, base: u32) -> Span {
        Span::new(self.start + base, self.end + base)
    }
}

/// How bad a diagnostic is. Errors fail the build; warnings are reported and the build
/// goes on (unless `--deny-warnings` makes them errors, which is the shell's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A second position a diagnostic points at, in the same file, with what it says about
/// it: "'x' is first declared here". Its span is relative or absolute like the
/// diagnostic's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Note {
    pub span: Span,
    pub message: String,
}

impl Note {
    pub fn new(span: Span, message: impl Into<String>) -> Note {
        Note { span, message: message.into() }
    }

    pub fn shifted(&self, base: u32) -> Note {
        Note { span: self.span.shifted(base), message: self.message.clone() }
    }
}
