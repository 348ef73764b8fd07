//! Checking a large program in chunks and generating its code in rounds, so that a
//! one-shot build's memory is what the program's results take rather than what making
//! them takes.
//!
//! A cold build reads every file, parses it, lowers and checks every function. Kept to
//! the end, the parse trees, ZIR and checked functions were about 60% of the heap a
//! build of 10,001 files peaked at, and they grow with the program (2.9 GB of memory at
//! 100,001 files). Yet once a file is checked, later stages read none of them: they
//! read the values made from them — signatures, diagnostics, each function's encoded
//! code-generation input (a few hundred bytes where its AIR took a kilobyte or more),
//! hashes, summaries.
//!
//! So a one-shot build of more than a chunk of files checks them a chunk at a time. It
//! asks, for each file of the chunk, everything later stages will read of it (its
//! diagnostics, and its summary, which encodes and hashes its functions), then drops the
//! chunk's trees, ZIR, checked functions and AIR (`transient::evict`). Chunks go from the last file of
//! the import walk's order to the first: a file's imports come after it in that order,
//! so the signatures a chunk's calls read were made, and kept, by the chunks before it.
//!
//! The import walk drops its trees a chunk at a time as well, and the check parses
//! those files again. Keeping them for the check instead parsed each file once, but all
//! the trees lived at once: about 600 MB at 100,001 files, freed chunk by chunk while
//! the check made what it keeps, which the allocator could not fit into that memory:
//! peak RSS 1.32–1.36 GB, against 0.97–1.06 GB when the walk drops them, for a cold
//! build 0–3% slower. The trees the walk made after its last drop are still there when
//! the check starts with them.
//!
//! Code generation then goes in rounds of functions and drops each round's encoded
//! inputs and batches of objects. The session keeps the objects themselves until their link unit
//! is merged and written, and no longer.
//!
//! A dropped value that is read again is computed again, so this changes what a build
//! costs, never what it computes (`a_program_checked_in_chunks_builds_as_one_checked_whole`
//! asserts both). Only one-shot sessions do it, and only above a chunk or a round: a
//! session that lives on (watch mode, the language server) keeps every value, so that
//! an edit can compare the values it recomputes with the old ones and stop early.

use mini_queries::source::{FileContents, SourceFile};
use mini_queries::transient::{self, Transient};

use super::{Emit, Mode, Session};

/// How many files a chunk holds: at 10,001 files, ten chunks; a chunk's trees, ZIR,
/// checked functions and AIR take about 20 MB.
const CHUNK_FILES: usize = 1024;

/// How many functions a round of code generation holds, about: the end of a round
/// leaves a core idle for about one batch, and dropping its values takes the build's
/// thread for about 10 ms.
const ROUND_FUNCTIONS: usize = 8192;

impl Session {
    /// Asks every file's diagnostics, checking large one-shot builds in chunks (see the
    /// module's documentation); `read` is how many files the build read.
    pub(super) fn check_program(&mut self, files: &[SourceFile], read: usize, emit: Emit, jobs: usize) {
        let chunk = self.chunk_files();
        let chunked = self.checks_in_chunks(emit);
        let diagnostics = |db: &mini_queries::Database, file| {
            mini_queries::diagnostics::file_diagnostics(db, file);
        };
        // Summarized files have no trees to drop: their diagnostics are prefetched only.
        let (texts, summarized): (Vec<SourceFile>, Vec<SourceFile>) = match chunked {
            true => files.iter().partition(|file| matches!(file.contents(&self.db), FileContents::Text(_))),
            false => (Vec::new(), Vec::new()),
        };
        if texts.len() <= chunk {
            return self.prefetch(files, read, jobs, diagnostics);
        }
        let _span = tracing::info_span!("check_in_chunks", files = texts.len(), chunk).entered();
        transient::track(&mut self.db, Transient::FrontEnd, true);
        for chunk in texts.rchunks(chunk) {
            self.ask_all(chunk, jobs, |db, file| {
                diagnostics(db, file);
                mini_queries::record::summarize(db, file);
            });
            transient::evict(&mut self.db);
        }
        transient::track(&mut self.db, Transient::FrontEnd, false);
        self.prefetch(&summarized, read, jobs, diagnostics);
    }

    /// Whether a build that emits `emit` checks in chunks, once it has more than a chunk
    /// of files: a one-shot build of code. (`--emit llvm-ir` and `--emit zir` read
    /// every function's ZIR or AIR at the end.)
    pub(super) fn checks_in_chunks(&self, emit: Emit) -> bool {
        self.mode == Mode::OneShot && matches!(emit, Emit::Exe | Emit::Obj)
    }

    /// How many files a chunk holds (`CHUNK_FILES`, unless a test said otherwise).
    pub(super) fn chunk_files(&self) -> usize {
        self.hooks.chunks.map_or(CHUNK_FILES, |(files, _)| files).max(1)
    }

    /// Whether generating `functions` functions goes in rounds: in a one-shot build of
    /// more than a round. Such a build also keeps no object past its unit's merge.
    pub(super) fn in_rounds(&self, functions: usize) -> bool {
        self.mode == Mode::OneShot && functions > self.round()
    }

    /// How many functions of `functions` a round of code generation holds: all of them,
    /// but in rounds (`in_rounds`) a whole number of batches of `batch_size`.
    pub(super) fn round_functions(&self, functions: usize, batch_size: usize) -> usize {
        match self.in_rounds(functions) {
            true => self.round().div_ceil(batch_size) * batch_size,
            false => functions,
        }
    }

    fn round(&self) -> usize {
        self.hooks.chunks.map_or(ROUND_FUNCTIONS, |(_, functions)| functions).max(1)
    }
}
