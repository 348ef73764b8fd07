//! The persisted file index: what the last successful build of one program, with one
//! set of settings, saw — each file's stamp (size, modification and inode change times,
//! inode), content hash, imports, interface, function hashes and warnings — and what it
//! linked.
//!
//! A fresh process uses it to skip unchanged files entirely: a file whose `stat` matches
//! is not read (unless its timestamp is too close to the build that recorded it to be
//! trusted: git's "racy clean" rule), and a file that is unchanged, and whose imports'
//! interfaces are unchanged, is given to the queries as a summary instead of text.
//!
//! Two files, so that a small edit writes little:
//!
//! - the *head*, `index/<key>`: the header, and per file its stamp, hashes, where its
//!   summary is and a checksum of it, then the import graph and each file's link unit
//!   (read only by the patch path). Replaced whole (a temporary file and a rename) by every build that writes;
//!   checksummed; all a no-op reads. About 130 bytes a file.
//! - the *summaries*, `summaries/<key>`: each file's summary, encoded, one after another
//!   — append-only. A build that changed a few files appends their new summaries in one
//!   write and points the head at them (`write_patched`); the others are not touched. A
//!   full write (an ordinary build, or when dead bytes outweigh live ones) writes a new
//!   file and renames it into place. Each summary is checked against the head's checksum
//!   when it is read, so a summary that does not match (damage, or a log replaced by a
//!   concurrent build after this head was read) reads as none: a miss, not a wrong one.
//!
//! An index can also hold its summaries inline (`encode`): the portable index a remote
//! cache shares is one self-contained blob.
//!
//! Binary, versioned, and checksummed: a truncated, corrupt, foreign or old index reads
//! as no index, and the build falls back to reading every file.

use std::io::{Seek, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use mini_queries::base::{COMPILER_ID, Hash, Import, ModulePath, Note, Signature, Span, Type};
use mini_queries::source::{CodegenSettings, FileSummary, Settings, SummaryFunction, SummaryWarning};
use rustc_hash::FxHashMap;

use super::store::{Blob, Store};
use crate::bytes::{Reader, Writer};
use crate::fs::FileStamp;

const MAGIC: &[u8; 10] = b"mini-index";
/// The index's own format version (the compiler's identity is checked as well).
/// 3: the contracts setting, and each function's contracts hash.
/// 4: stamps with the inode change time; the header names `_start`'s key.
/// 5: each file's warnings (in its summary, and their number with its stamp).
/// 6: summaries in an append-only file of their own, each with a checksum in the head;
///    the import graph and each file's link unit in the head.
/// 7: the whole layout the executable's saved layout replays over.
const INDEX_VERSION: u32 = 7;

/// Where summaries are: in the file beside the head, or after it in the same bytes.
const SUMMARIES_BESIDE: u8 = 0;
const SUMMARIES_INLINE: u8 = 1;

/// The summaries file holds at most this many bytes that no head refers to (beyond as
/// many as it has live ones) before a write compacts it.
const DEAD_BYTES_ALLOWED: u64 = 1 << 20;

/// The index as read from disk. The part every build needs — stamps and what was
/// linked — is decoded at once; the summaries only when a build gets past the no-op
/// check, one by one.
#[derive(Debug)]
pub struct Index {
    /// What the recording build built, and how.
    pub header: Header,
    /// Every file of the program, in program order.
    pub files: Vec<FileEntry>,
    /// Where each file's summary is, in `files`' order.
    summary_refs: Vec<SummaryRef>,
    /// The head's checksum: which head this is (`identity`).
    identity: Hash,
    /// The head as read (mapped, usually).
    bytes: Blob,
    /// Where the files' entries start in `bytes` (they end where `graph` starts).
    entries_at: usize,
    /// The import graph and the files' link units, as `graph` encodes them, in `bytes`
    /// (decoded by `importers` and `file_units`).
    graph: Range<usize>,
    summaries: Summaries,
    decoded: OnceLock<Option<Vec<Arc<FileSummary>>>>,
}

/// Where an index's summaries are.
#[derive(Debug)]
enum Summaries {
    /// After the head, in `Index::bytes`.
    Inline(Range<usize>),
    /// In their own file, mapped on first use (`None`: it cannot be read).
    Beside { path: PathBuf, map: OnceLock<Option<Blob>> },
    /// Nowhere (an index decoded from bytes that said they are beside it).
    Missing,
}

/// One summary's place in the summaries' bytes, and its checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SummaryRef {
    offset: u64,
    len: u32,
    check: u64,
}

/// The checksum of a summary's bytes: the first eight bytes of their blake3 hash.
fn summary_check(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(blake3::hash(bytes).as_bytes()[..8].try_into().expect("8 bytes"))
}

/// What the index says about one file, without its summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub path: ModulePath,
    pub stamp: FileStamp,
    pub content: Hash,
    pub interface: Hash,
    /// How many warnings its summary holds: what a no-op build, which decodes no
    /// summary, needs to know to replay them.
    pub warnings: u32,
}

impl FileEntry {
    /// Whether the stamp alone proves the file unchanged since the index was recorded.
    /// `index_started_at_ns` is the header's: no later than any recorded stamp was taken.
    pub fn stamp_proves_unchanged(&self, now: Option<FileStamp>, index_started_at_ns: i64) -> bool {
        self.stamp.proves_unchanged(now, index_started_at_ns)
    }
}

/// One file as the recording build saw it, summary included. Cheap to clone: the
/// summary is shared with the query input made from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub entry: FileEntry,
    pub summary: Arc<FileSummary>,
}

/// Everything an index holds but the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The program's entry and the settings it was built with.
    pub entry_path: String,
    pub settings: Settings,
    /// When the recording build started (ns since the epoch) — or, in watch mode, the
    /// earliest start of the builds whose stats are recorded: no later than any stamp
    /// below was taken, which is what the racy-clean rule needs.
    pub started_at_ns: i64,
    pub functions: u32,
    pub link_key: Hash,
    /// The whole layout that the executable's saved layout (under `link_key`) replays
    /// over, if it is a replay (`link::saved`): this index needs both.
    pub layout_base: Option<Hash>,
    /// Keys of the runtime's, the entry wrapper's and `_start`'s objects.
    pub runtime: Hash,
    pub entry: Hash,
    pub start: Hash,
    /// Each link unit's key, by unit index.
    pub units: Vec<(u32, Hash)>,
    /// The executable this program was last linked into, and its stamp right after.
    pub output: Option<(PathBuf, FileStamp)>,
}

/// The summaries file of the index whose head is at `head`: `summaries/<name>` beside
/// the head's `index/<name>`.
pub fn summaries_path(head: &Path) -> PathBuf {
    let name = head.file_name().unwrap_or_default();
    match head.parent().and_then(Path::parent) {
        Some(cache) => cache.join("summaries").join(name),
        None => PathBuf::from("summaries").join(name),
    }
}

impl Index {
    /// Each file's full record; `None` if a summary is missing or damaged.
    pub fn records(&self) -> Option<Vec<FileRecord>> {
        let summaries = self
            .decoded
            .get_or_init(|| (0..self.files.len()).map(|i| decode_summary(self.summary_bytes(i)?)).collect())
            .as_ref()?;
        Some(
            self.files
                .iter()
                .zip(summaries)
                .map(|(entry, summary)| FileRecord { entry: entry.clone(), summary: summary.clone() })
                .collect(),
        )
    }

    /// All the summaries' bytes, mapped on first use; `None` if they cannot be read.
    fn summary_section(&self) -> Option<&[u8]> {
        match &self.summaries {
            Summaries::Inline(range) => Some(&self.bytes[range.clone()]),
            Summaries::Beside { path, map } => map
                .get_or_init(|| {
                    let file = super::store::open_regular(std::fs::File::options().read(true), path).ok()?;
                    // SAFETY: a summaries file is only appended to or replaced by a
                    // rename, never changed where it was written: the mapped bytes stay.
                    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
                    let len = map.len();
                    Some(Blob::Mapped(map, len))
                })
                .as_deref(),
            Summaries::Missing => None,
        }
    }

    /// The encoded summary of file `i` (in `files`' order), checked against the head;
    /// `None` if it is missing or damaged.
    pub fn summary_bytes(&self, i: usize) -> Option<&[u8]> {
        let r = self.summary_refs.get(i)?;
        let start = usize::try_from(r.offset).ok()?;
        let bytes = self.summary_section()?.get(start..start.checked_add(r.len as usize)?)?;
        (summary_check(bytes) == r.check).then_some(bytes)
    }

    /// File `i`'s summary, decoded on its own.
    pub fn summary(&self, i: usize) -> Option<Arc<FileSummary>> {
        if let Some(Some(decoded)) = self.decoded.get() {
            return decoded.get(i).cloned();
        }
        decode_summary(self.summary_bytes(i)?)
    }

    /// For each file (by position in `files`), the files that import it, in order;
    /// `None` if the graph is damaged.
    pub fn importers(&self) -> Option<Vec<Vec<usize>>> {
        let mut r = Reader { bytes: &self.bytes[self.graph.clone()], pos: 0 };
        let mut importers = vec![Vec::new(); self.files.len()];
        for importer in 0..self.files.len() {
            for _ in 0..r.u32()? {
                importers.get_mut(r.u32()? as usize)?.push(importer);
            }
        }
        Some(importers)
    }

    /// Each file's link unit (`link::link_unit_of` of its path, recorded so that a patch
    /// need not hash every path), in `files`' order; `None` if damaged.
    pub fn file_units(&self) -> Option<Vec<u32>> {
        let mut r = Reader { bytes: &self.bytes[self.graph.clone()], pos: 0 };
        for _ in 0..self.files.len() {
            let count = r.u32()? as usize;
            r.take(count.checked_mul(4)?)?;
        }
        let units: Option<Vec<u32>> = (0..self.files.len()).map(|_| r.u32()).collect();
        (r.pos == r.bytes.len()).then_some(units?)
    }

    /// Encodes a self-contained index, summaries inline (what a remote cache shares).
    pub fn encode(header: &Header, files: &[FileRecord]) -> Vec<u8> {
        let (refs, section) = pack(files.iter(), |f, out| write_summary(out, &f.summary));
        let entries: Vec<&FileEntry> = files.iter().map(|f| &f.entry).collect();
        let imports = graph(&entries, files.iter().map(|f| &*f.summary.imports));
        inline(header, &entries, &refs, &imports, &section.parts())
    }

    /// Writes an index for `files` at `head`: every summary into a new summaries file,
    /// then the head. Both are replaced atomically, the summaries first, so that a head
    /// is never newer than the summaries it points to. Returns the head's `identity`.
    pub fn write(store: &Store, head: &Path, header: &Header, files: &[FileRecord]) -> Result<Hash> {
        let (refs, section) = pack(files.iter(), |f, out| write_summary(out, &f.summary));
        let entries: Vec<&FileEntry> = files.iter().map(|f| &f.entry).collect();
        let imports = graph(&entries, files.iter().map(|f| &*f.summary.imports));
        store.write_file_parts(&summaries_path(head), &section.parts())?;
        drop(section);
        let mut out = Writer(Vec::with_capacity(files.len() * 160));
        let identity = write_head(&mut out, header, &entries, &refs, SUMMARIES_BESIDE, &imports);
        store.write_index(head, &[&out.0])?;
        Ok(identity)
    }

    /// Which head this is: its checksum. Two heads with the same identity have the same
    /// bytes, so a session that remembers the identity of the head it last wrote (or
    /// read) knows whether the one on disk is still that one.
    pub fn identity(&self) -> Hash {
        self.identity
    }

    /// Writes this index again at `head` for a build that changed a few files: `entries`
    /// (this index's files, some restamped, in the same order), and the new summaries of
    /// the files in `changed`, by position. The new summaries are appended to the
    /// summaries file in one write, the others are left where they are, and the head is
    /// written last. When the summaries are not in a file of their own (a shared index),
    /// the file cannot be appended to, or dead bytes would outweigh live ones, every
    /// summary is written anew instead — copied as it is. Returns false, writing nothing,
    /// if an unchanged summary needed for that is damaged: the caller builds the ordinary
    /// way, which writes a whole new index. Returns the new head's `identity`.
    pub fn write_patched(
        &self,
        store: &Store,
        head: &Path,
        header: &Header,
        entries: &[FileEntry],
        changed: &FxHashMap<usize, Vec<u8>>,
    ) -> Result<Option<Hash>> {
        assert_eq!(entries.len(), self.files.len(), "a patched index lists the same files");
        let path = summaries_path(head);
        let beside = matches!(&self.summaries, Summaries::Beside { path: own, .. } if *own == path);
        let live: u64 = (0..entries.len())
            .map(|i| changed.get(&i).map_or(self.summary_refs[i].len as u64, |bytes| bytes.len() as u64))
            .sum();
        let appended = match self.summary_section() {
            Some(section) if beside && (section.len() as u64) <= 2 * live + DEAD_BYTES_ALLOWED => {
                append_summaries(&path, entries.len(), changed)
            }
            _ => None,
        };
        let refs = match appended {
            Some(new) => {
                let mut refs = self.summary_refs.clone();
                for (i, r) in new {
                    refs[i] = r;
                }
                refs
            }
            None => {
                // Everything anew: the unchanged summaries copied as they are.
                let mut parts: Vec<&[u8]> = Vec::with_capacity(entries.len());
                for i in 0..entries.len() {
                    match changed.get(&i).map(Vec::as_slice).or_else(|| self.summary_bytes(i)) {
                        Some(bytes) => parts.push(bytes),
                        None => return Ok(None),
                    }
                }
                store.write_file_parts(&path, &parts)?;
                refs_of(&parts)
            }
        };
        // The entries and the graph as they were, copied, with the few that changed
        // written over (an entry's path, and so its place, is the same).
        let mut out = Writer(Vec::with_capacity(self.graph.end - self.entries_at + 512));
        let identity = write_section(&mut out, header, SUMMARIES_BESIDE, entries.len(), |a| {
            let base = a.0.len();
            a.0.extend_from_slice(&self.bytes[self.entries_at..self.graph.end]);
            let mut at = base;
            for (i, (entry, r)) in entries.iter().zip(&refs).enumerate() {
                let path_len = u32::from_le_bytes(a.0[at..at + 4].try_into().expect("4 bytes")) as usize;
                let fields = at + 4 + path_len;
                debug_assert_eq!(&a.0[at + 4..fields], entry.path.as_str().as_bytes(), "the same files");
                if *entry != self.files[i] || *r != self.summary_refs[i] {
                    let mut patched = Writer(Vec::with_capacity(ENTRY_FIELDS));
                    write_entry(&mut patched, entry, r);
                    a.0[fields..fields + ENTRY_FIELDS].copy_from_slice(&patched.0);
                }
                at = fields + ENTRY_FIELDS;
            }
        });
        store.write_index(head, &[&out.0])?;
        Ok(Some(identity))
    }

    /// This index without what only this machine knows — stamps (times, inodes), when
    /// it was recorded, the output's absolute path — for a remote cache to share
    /// (`remote`), with its summaries inline. Its stamps prove nothing, so whoever uses
    /// it re-hashes every file: a summary is taken only for a file whose content hash
    /// matches. The summaries are copied verbatim. `None` if one is damaged.
    pub fn portable(&self) -> Option<Vec<u8>> {
        let header = Header { started_at_ns: 0, output: None, layout_base: None, ..self.header.clone() };
        let entries: Vec<FileEntry> =
            self.files.iter().map(|f| FileEntry { stamp: FileStamp::NONE, ..f.clone() }).collect();
        let parts: Option<Vec<&[u8]>> = (0..self.files.len()).map(|i| self.summary_bytes(i)).collect();
        let parts = parts?;
        let entries: Vec<&FileEntry> = entries.iter().collect();
        Some(inline(&header, &entries, &refs_of(&parts), &self.bytes[self.graph.clone()], &parts))
    }

    /// Reads the index whose head is at `path` (mapped: it is only ever replaced, never
    /// rewritten). Its summaries are read when first used.
    pub fn read(path: &Path) -> Result<Index, IndexError> {
        let file = super::store::open_regular(std::fs::File::options().read(true), path)
            .map_err(|e| IndexError::Unreadable(crate::fs::io_reason(&e)))?;
        // SAFETY: index files are written to a temporary name and renamed into place;
        // a mapped one is never truncated or changed under us.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
            .map_err(|e| IndexError::Unreadable(crate::fs::io_reason(&e)))?;
        let len = map.len();
        Index::from_bytes(Blob::Mapped(map, len), Some(summaries_path(path)))
    }

    /// Decodes an index from its bytes (one with its summaries inline, usually: one
    /// whose summaries are in a file of their own has none here).
    pub fn decode(bytes: &[u8]) -> Result<Index, IndexError> {
        Index::from_bytes(Blob::Owned(bytes.to_vec()), None)
    }

    fn from_bytes(bytes: Blob, beside: Option<PathBuf>) -> Result<Index, IndexError> {
        let mut r = Reader { bytes: &bytes, pos: 0 };
        if r.take(MAGIC.len()) != Some(MAGIC) {
            return Err(IndexError::Damaged);
        }
        if r.u32() != Some(INDEX_VERSION) || r.str().as_deref() != Some(COMPILER_ID) {
            return Err(IndexError::OtherVersion);
        }
        let start = r.pos;
        Index::decode_head(bytes, start, beside).ok_or(IndexError::Damaged)
    }

    /// The rest of `from_bytes`, from `start`, after the magic and the versions.
    fn decode_head(bytes: Blob, start: usize, beside: Option<PathBuf>) -> Option<Index> {
        let mut r = Reader { bytes: &bytes, pos: start };
        let a = r.section()?;
        let identity = Hash(bytes[r.pos - 32..r.pos].try_into().ok()?);
        let a_start = r.pos - 32 - a.len();
        let rest = r.pos..bytes.len();

        let mut r = Reader { bytes: a, pos: 0 };
        let entry_path = r.str()?;
        let codegen = CodegenSettings { opt_level: r.u8()?, target: r.str()?.into(), debug_info: r.u8()? != 0 };
        let settings = Settings { codegen, contracts: r.u8()? != 0 };
        let started_at_ns = r.i64()?;
        let functions = r.u32()?;
        let link_key = r.hash()?;
        let layout_base = match r.u8()? {
            0 => None,
            1 => Some(r.hash()?),
            _ => return None,
        };
        let runtime = r.hash()?;
        let entry = r.hash()?;
        let start = r.hash()?;
        let units = (0..r.u32()?).map(|_| Some((r.u32()?, r.hash()?))).collect::<Option<Vec<_>>>()?;
        let output = match r.u8()? {
            0 => None,
            _ => Some((PathBuf::from(r.str()?), r.stamp()?)),
        };
        let place = r.u8()?;
        let file_count = r.u32()? as usize;
        let entries_at = a_start + r.pos;
        let mut files = Vec::with_capacity(file_count.min(1 << 20));
        let mut summary_refs = Vec::with_capacity(file_count.min(1 << 20));
        for _ in 0..file_count {
            let path = r.path()?;
            files.push(FileEntry {
                path,
                stamp: r.stamp()?,
                content: r.hash()?,
                interface: r.hash()?,
                warnings: r.u32()?,
            });
            summary_refs.push(SummaryRef { offset: r.u64()?, len: r.u32()?, check: r.u64()? });
        }
        let graph = a_start + r.pos..a_start + a.len();
        let summaries = match place {
            SUMMARIES_INLINE => {
                let mut r = Reader { bytes: &bytes, pos: rest.start };
                let len = usize::try_from(r.u64()?).ok()?;
                let section = r.pos..r.pos.checked_add(len)?;
                (section.end == bytes.len()).then_some(Summaries::Inline(section))?
            }
            SUMMARIES_BESIDE if rest.is_empty() => match beside {
                Some(path) => Summaries::Beside { path, map: OnceLock::new() },
                None => Summaries::Missing,
            },
            _ => return None,
        };
        let header = Header {
            entry_path,
            settings,
            started_at_ns,
            functions,
            link_key,
            layout_base,
            runtime,
            entry,
            start,
            units,
            output,
        };
        Some(Index {
            header,
            files,
            summary_refs,
            identity,
            bytes,
            entries_at,
            graph,
            summaries,
            decoded: OnceLock::new(),
        })
    }
}

/// Summaries laid out one after another, as the summaries file (or an inline index's
/// section) holds them: in blocks of about `BLOCK` bytes, each summary whole in one.
struct Section {
    blocks: Vec<Vec<u8>>,
}

impl Section {
    /// About how many bytes a block holds: a whole program's summaries (37 MB at
    /// 100,001 files) in one vector would be reallocated as it grows, which holds it
    /// twice and more for a moment at the end of a cold build, its moment of peak memory.
    const BLOCK: usize = 1 << 20;

    fn parts(&self) -> Vec<&[u8]> {
        self.blocks.iter().map(Vec::as_slice).collect()
    }
}

/// Where each of `summaries`, already encoded, is when they are laid out one after
/// another (and written as they are, without copying them together).
fn refs_of(summaries: &[&[u8]]) -> Vec<SummaryRef> {
    let mut offset = 0;
    let refs = summaries.iter().map(|bytes| {
        let r = SummaryRef { offset, len: bytes.len() as u32, check: summary_check(bytes) };
        offset += bytes.len() as u64;
        r
    });
    refs.collect()
}

/// Lays summaries out one after another, each written by `write` right where it goes:
/// where each is, and the bytes.
fn pack<T>(items: impl Iterator<Item = T>, mut write: impl FnMut(T, &mut Writer)) -> (Vec<SummaryRef>, Section) {
    let mut blocks = Vec::new();
    // Where the block being written starts in the section.
    let mut block_at = 0;
    let mut block = Writer(Vec::new());
    let refs = items
        .map(|item| {
            if block.0.len() >= Section::BLOCK {
                block_at += block.0.len();
                blocks.push(std::mem::replace(&mut block.0, Vec::with_capacity(Section::BLOCK * 5 / 4)));
            }
            let start = block.0.len();
            write(item, &mut block);
            let bytes = &block.0[start..];
            SummaryRef { offset: (block_at + start) as u64, len: bytes.len() as u32, check: summary_check(bytes) }
        })
        .collect();
    blocks.push(block.0);
    (refs, Section { blocks })
}

/// Appends the `changed` summaries to the summaries file at `path` in one write, and
/// returns where each landed; `None` if that could not be done (the caller writes the
/// file anew). Concurrent builds may append to the same file: each write lands whole at
/// the end (`O_APPEND`), and the file position after it says where.
fn append_summaries(
    path: &Path,
    files: usize,
    changed: &FxHashMap<usize, Vec<u8>>,
) -> Option<Vec<(usize, SummaryRef)>> {
    let mut order: Vec<usize> = changed.keys().copied().filter(|&i| i < files).collect();
    order.sort_unstable();
    if order.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&[u8]> = order.iter().map(|i| changed[i].as_slice()).collect();
    let (refs, bytes) = (refs_of(&parts), parts.concat());
    let mut file = super::store::open_regular(std::fs::File::options().append(true), path).ok()?;
    // One write, whole, or the file is written anew: a second write could land after
    // another build's.
    if file.write(&bytes).ok()? != bytes.len() {
        return None;
    }
    let end = file.stream_position().ok()?;
    let base = end.checked_sub(bytes.len() as u64)?;
    Some(order.into_iter().zip(refs).map(|(i, r)| (i, SummaryRef { offset: base + r.offset, ..r })).collect())
}

/// The import graph and the link units as the head stores them: per file, how many
/// files of the index it imports and their positions; then per file its link unit.
/// Both depend on the file list and the files' imports only, which a patched index
/// keeps, so it copies these bytes as they are.
fn graph<'a>(entries: &[&FileEntry], imports: impl Iterator<Item = &'a [Import]>) -> Vec<u8> {
    let position: FxHashMap<&ModulePath, u32> =
        entries.iter().enumerate().map(|(i, entry)| (&entry.path, i as u32)).collect();
    let mut out = Writer(Vec::with_capacity(entries.len() * 16));
    for imports in imports {
        let targets: Vec<u32> =
            imports.iter().filter_map(|i| i.target.as_ref()).filter_map(|t| position.get(t).copied()).collect();
        out.u32(targets.len() as u32);
        for target in targets {
            out.u32(target);
        }
    }
    for entry in entries {
        out.u32(mini_queries::link::link_unit_of(&entry.path));
    }
    out.0
}

/// Why an index could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// It could not be read (the reason): permissions, an I/O error, not a file.
    Unreadable(String),
    /// It is truncated or corrupt.
    Damaged,
    /// Another index format version or another compiler wrote it.
    OtherVersion,
}

/// A self-contained index: the head, then the summaries' section.
fn inline(header: &Header, entries: &[&FileEntry], refs: &[SummaryRef], graph: &[u8], section: &[&[u8]]) -> Vec<u8> {
    let len: usize = section.iter().map(|part| part.len()).sum();
    let mut out = Writer(Vec::with_capacity(len + entries.len() * 160));
    write_head(&mut out, header, entries, refs, SUMMARIES_INLINE, graph);
    out.u64(len as u64);
    for part in section {
        out.bytes_raw(part);
    }
    out.0
}

/// The magic, versions and the checksummed section: the header, each file's entry and
/// summary reference, and the import graph and link units (`graph`'s bytes).
fn write_head(
    out: &mut Writer,
    header: &Header,
    entries: &[&FileEntry],
    refs: &[SummaryRef],
    place: u8,
    graph: &[u8],
) -> Hash {
    write_section(out, header, place, entries.len(), |a| {
        for (entry, r) in entries.iter().zip(refs) {
            a.str(entry.path.as_str());
            write_entry(a, entry, r);
        }
        a.bytes_raw(graph);
    })
}

/// The magic, versions and the checksummed section, whose header `write_section` writes
/// and whose files' entries and graph `body` does, right into `out`.
fn write_section(out: &mut Writer, header: &Header, place: u8, files: usize, body: impl FnOnce(&mut Writer)) -> Hash {
    out.bytes_raw(MAGIC);
    out.u32(INDEX_VERSION);
    out.str(COMPILER_ID);
    let length_at = out.0.len();
    out.u64(0);
    let start = out.0.len();
    let a = out;
    a.str(&header.entry_path);
    a.u8(header.settings.codegen.opt_level);
    a.str(&header.settings.codegen.target);
    a.u8(u8::from(header.settings.codegen.debug_info));
    a.u8(u8::from(header.settings.contracts));
    a.i64(header.started_at_ns);
    a.u32(header.functions);
    a.hash(header.link_key);
    match header.layout_base {
        Some(base) => {
            a.u8(1);
            a.hash(base);
        }
        None => a.u8(0),
    }
    a.hash(header.runtime);
    a.hash(header.entry);
    a.hash(header.start);
    a.u32(header.units.len() as u32);
    for (index, key) in &header.units {
        a.u32(*index);
        a.hash(*key);
    }
    match &header.output {
        Some((path, stamp)) => {
            a.u8(1);
            a.str(&path.to_string_lossy());
            a.stamp(*stamp);
        }
        None => a.u8(0),
    }
    a.u8(place);
    a.u32(files as u32);
    body(a);
    let len = (a.0.len() - start) as u64;
    a.0[length_at..start].copy_from_slice(&len.to_le_bytes());
    let checksum = blake3::hash(&a.0[start..]);
    a.bytes_raw(checksum.as_bytes());
    Hash(*checksum.as_bytes())
}

/// A file's entry after its path: a fixed `ENTRY_FIELDS` bytes.
fn write_entry(a: &mut Writer, entry: &FileEntry, r: &SummaryRef) {
    a.stamp(entry.stamp);
    a.hash(entry.content);
    a.hash(entry.interface);
    a.u32(entry.warnings);
    a.u64(r.offset);
    a.u32(r.len);
    a.u64(r.check);
}

/// The size of `write_entry`'s fields: a stamp, three hashes, the warnings' count, and
/// where the summary is.
const ENTRY_FIELDS: usize = 32 + 32 + 32 + 4 + 8 + 4 + 8;

/// One file's summary in the index's encoding.
pub fn encode_summary(summary: &FileSummary) -> Vec<u8> {
    let mut b = Writer(Vec::with_capacity(64 + summary.functions.len() * 96));
    write_summary(&mut b, summary);
    b.0
}

/// `encode_summary`, appended to `b`.
fn write_summary(b: &mut Writer, summary: &FileSummary) {
    b.u32(summary.imports.len() as u32);
    for import in summary.imports.iter() {
        b.str(&import.alias);
        match &import.target {
            Some(target) => {
                b.u8(1);
                b.str(target.as_str());
            }
            None => b.u8(0),
        }
    }
    b.u32(summary.functions.len() as u32);
    for f in &summary.functions {
        b.str(&f.name);
        b.u32(f.signature.params.len() as u32);
        for param in &f.signature.params {
            b.u8(type_code(*param));
        }
        b.u8(type_code(f.signature.ret));
        b.hash(f.hash);
        b.hash(f.zir);
        b.hash(f.contracts);
    }
    b.u32(summary.warnings.len() as u32);
    for w in &summary.warnings {
        b.span(w.span);
        b.str(&w.message);
        b.u32(w.notes.len() as u32);
        for note in &w.notes {
            b.span(note.span);
            b.str(&note.message);
        }
    }
}

fn decode_summary(bytes: &[u8]) -> Option<Arc<FileSummary>> {
    let mut r = Reader { bytes, pos: 0 };
    let imports = (0..r.u32()?)
        .map(|_| {
            let alias = r.str()?.into();
            let target = match r.u8()? {
                0 => None,
                _ => Some(ModulePath::new(&r.str()?)?),
            };
            Some(Import { alias, target })
        })
        .collect::<Option<Vec<_>>>()?;
    let functions = (0..r.u32()?)
        .map(|_| {
            let name = r.str()?.into();
            let params = (0..r.u32()?).map(|_| from_type_code(r.u8()?)).collect::<Option<Vec<_>>>()?;
            let ret = from_type_code(r.u8()?)?;
            let hash = r.hash()?;
            let zir = r.hash()?;
            let contracts = r.hash()?;
            // Summaries are recorded for files without errors: every header parsed.
            Some(SummaryFunction { name, signature: Signature { params, ret, complete: true }, hash, zir, contracts })
        })
        .collect::<Option<Vec<_>>>()?;
    let warnings = (0..r.u32()?)
        .map(|_| {
            let span = r.span()?;
            let message = r.str()?;
            let notes = (0..r.u32()?).map(|_| Some(Note::new(r.span()?, r.str()?))).collect::<Option<Vec<_>>>()?;
            Some(SummaryWarning { span, message, notes })
        })
        .collect::<Option<Vec<_>>>()?;
    (r.pos == bytes.len()).then(|| Arc::new(FileSummary::new(imports.into(), functions, warnings)))
}

fn type_code(ty: Option<Type>) -> u8 {
    match ty {
        None => 0,
        Some(Type::I32) => 1,
        Some(Type::I64) => 2,
        Some(Type::Bool) => 3,
        Some(Type::Void) => 4,
    }
}

/// `Some(None)` is the error type; `None` is a bad code.
fn from_type_code(code: u8) -> Option<Option<Type>> {
    Some(match code {
        0 => None,
        1 => Some(Type::I32),
        2 => Some(Type::I64),
        3 => Some(Type::Bool),
        4 => Some(Type::Void),
        _ => return None,
    })
}

/// The index's own fields, in the shell's encoding (`crate::bytes`).
trait WriteIndex {
    fn stamp(&mut self, s: FileStamp);
    fn span(&mut self, span: Span);
}

impl WriteIndex for Writer {
    fn stamp(&mut self, s: FileStamp) {
        self.u64(s.len);
        self.i64(s.mtime_ns);
        self.i64(s.ctime_ns);
        self.u64(s.inode);
    }
    fn span(&mut self, span: Span) {
        self.u32(span.start);
        self.u32(span.end);
    }
}

trait ReadIndex<'a> {
    fn section(&mut self) -> Option<&'a [u8]>;
    fn path(&mut self) -> Option<ModulePath>;
    fn stamp(&mut self) -> Option<FileStamp>;
    fn span(&mut self) -> Option<Span>;
}

impl<'a> ReadIndex<'a> for Reader<'a> {
    /// A length-prefixed section followed by its blake3 checksum.
    fn section(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let bytes = self.take(len)?;
        let checksum = self.take(32)?;
        (blake3::hash(bytes).as_bytes() == checksum).then_some(bytes)
    }

    /// A module path written by `Writer::str`. Paths in an index were normalized when
    /// written and the section's checksum held, so they are taken as they are.
    fn path(&mut self) -> Option<ModulePath> {
        let text = std::str::from_utf8(self.bytes()?).ok()?;
        Some(ModulePath::normalized(text))
    }

    fn stamp(&mut self) -> Option<FileStamp> {
        Some(FileStamp { len: self.u64()?, mtime_ns: self.i64()?, ctime_ns: self.i64()?, inode: self.u64()? })
    }

    fn span(&mut self) -> Option<Span> {
        let (start, end) = (self.u32()?, self.u32()?);
        (start <= end).then_some(Span::new(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Vec<FileRecord>) {
        let header = Header {
            entry_path: "main.mini".into(),
            settings: Settings { codegen: CodegenSettings::host(), contracts: false },
            started_at_ns: 1_700_000_000_000_000_000,
            functions: 1,
            link_key: Hash([7; 32]),
            layout_base: Some(Hash([8; 32])),
            runtime: Hash([8; 32]),
            entry: Hash([9; 32]),
            start: Hash([10; 32]),
            units: vec![(3, Hash([1; 32]))],
            output: Some((PathBuf::from("/tmp/x/main"), FileStamp { len: 10, mtime_ns: 5, ctime_ns: 6, inode: 9 })),
        };
        let files = vec![FileRecord {
            entry: FileEntry {
                path: ModulePath::new("lib/m.mini").unwrap(),
                stamp: FileStamp { len: 100, mtime_ns: 42, ctime_ns: 43, inode: 77 },
                content: Hash([2; 32]),
                interface: Hash([3; 32]),
                warnings: 1,
            },
            summary: Arc::new(FileSummary::new(
                vec![Import { alias: "u".into(), target: ModulePath::new("u.mini") }].into(),
                vec![SummaryFunction {
                    name: "f".into(),
                    signature: Signature { params: vec![Some(Type::I64)], ret: Some(Type::Bool), complete: true },
                    hash: Hash([4; 32]),
                    zir: Hash([5; 32]),
                    contracts: Hash([6; 32]),
                }],
                vec![SummaryWarning {
                    span: Span::new(30, 31),
                    message: "unused constant 'x'".into(),
                    notes: vec![Note::new(Span::new(10, 16), "a note".to_string())],
                }],
            )),
        }];
        (header, files)
    }

    #[test]
    fn the_index_round_trips() {
        let (header, files) = sample();
        let index = Index::decode(&Index::encode(&header, &files)).expect("decodes");
        assert_eq!(index.header, header);
        assert_eq!(index.records(), Some(files.clone()));
        let alone = Index::decode(&Index::encode(&header, &files)).expect("decodes");
        assert_eq!(alone.summary(0), Some(files[0].summary.clone()), "one summary, decoded on its own");
        assert_eq!(alone.summary_bytes(0), Some(&encode_summary(&files[0].summary)[..]));
        assert_eq!(alone.summary(1), None);
    }

    /// What a remote cache shares: the summaries, with no stamp, time or absolute path.
    #[test]
    fn a_portable_index_holds_nothing_only_this_machine_knows() {
        let (header, files) = sample();
        let index = Index::decode(&Index::encode(&header, &files)).expect("decodes");
        let bytes = index.portable().expect("summaries intact");
        assert!(!bytes.windows(b"/tmp/x/main".len()).any(|w| w == b"/tmp/x/main"), "no absolute output path");
        let shared = Index::decode(&bytes).expect("a portable index is an index");
        assert_eq!(shared.header, Header { started_at_ns: 0, output: None, layout_base: None, ..header });
        assert!(shared.files.iter().all(|f| f.stamp == FileStamp::NONE));
        let records = shared.records().expect("summaries");
        assert_eq!(
            records.iter().map(|r| &r.summary).collect::<Vec<_>>(),
            files.iter().map(|r| &r.summary).collect::<Vec<_>>()
        );
        assert!(!shared.files[0].stamp_proves_unchanged(Some(files[0].entry.stamp), i64::MAX), "stamps prove nothing");
    }

    /// `count` files, `lib/m<i>.mini`, each importing the one before it.
    fn program(count: usize) -> (Header, Vec<FileRecord>) {
        let (header, sample) = sample();
        let files = (0..count)
            .map(|i| {
                let mut record = sample[0].clone();
                record.entry.path = ModulePath::new(&format!("lib/m{i}.mini")).unwrap();
                record.entry.content = Hash([i as u8; 32]);
                let imports: Vec<Import> = (i > 0)
                    .then(|| Import { alias: "prev".into(), target: ModulePath::new(&format!("lib/m{}.mini", i - 1)) })
                    .into_iter()
                    .collect();
                record.summary = Arc::new(FileSummary::new(
                    imports.into(),
                    record.summary.functions.clone(),
                    record.summary.warnings.clone(),
                ));
                record
            })
            .collect();
        (header, files)
    }

    fn with_hash(summary: &FileSummary, byte: u8) -> FileSummary {
        let mut functions = summary.functions.clone();
        functions[0].hash = Hash([byte; 32]);
        FileSummary::new(summary.imports.clone(), functions, summary.warnings.clone())
    }

    /// `summary` with `count` functions, the first with hash `byte`.
    fn grown(summary: &FileSummary, count: usize, byte: u8) -> FileSummary {
        let mut functions = vec![summary.functions[0].clone(); count];
        for (i, f) in functions.iter_mut().enumerate() {
            f.name = format!("f{i}").into();
        }
        with_hash(&FileSummary::new(summary.imports.clone(), functions, summary.warnings.clone()), byte)
    }

    /// Summaries of more than a block (`Section::BLOCK`) are laid out across blocks,
    /// each whole in one; written beside the head or inline, every one reads back.
    #[test]
    fn summaries_across_blocks_read_back() {
        let (header, mut files) = program(40);
        for (i, file) in files.iter_mut().enumerate() {
            file.summary = Arc::new(grown(&file.summary, 300 + i * 40, i as u8));
        }
        let total: usize = files.iter().map(|f| encode_summary(&f.summary).len()).sum();
        assert!(total > 3 * Section::BLOCK, "{total} bytes: a few blocks");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let head = dir.path().join("index").join("k");
        Index::write(&store, &head, &header, &files).unwrap();
        assert_eq!(std::fs::metadata(summaries_path(&head)).unwrap().len(), total as u64);
        assert_eq!(Index::read(&head).unwrap().records(), Some(files.clone()), "beside the head");
        assert_eq!(Index::decode(&Index::encode(&header, &files)).unwrap().records(), Some(files), "inline");
    }

    /// A small edit writes little: the new summary is appended to the summaries file,
    /// nothing else of it is rewritten, and the new head reads the new summary and every
    /// old one.
    #[test]
    fn a_patched_index_appends_only_the_changed_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let head = dir.path().join("index").join("k");
        let (header, files) = program(50);
        Index::write(&store, &head, &header, &files).unwrap();
        let log = summaries_path(&head);
        let before = std::fs::read(&log).unwrap();

        let index = Index::read(&head).unwrap();
        let edited = with_hash(&files[7].summary, 0xee);
        let changed: FxHashMap<usize, Vec<u8>> = [(7, encode_summary(&edited))].into_iter().collect();
        let mut entries = index.files.clone();
        entries[7].content = Hash([0xcc; 32]);
        assert!(index.write_patched(&store, &head, &header, &entries, &changed).unwrap().is_some());

        let after = std::fs::read(&log).unwrap();
        assert_eq!(&after[..before.len()], &before[..], "what was there is untouched");
        assert_eq!(&after[before.len()..], &changed[&7][..], "only the new summary is appended");
        let patched = Index::read(&head).unwrap();
        let records = patched.records().expect("every summary reads");
        assert_eq!(*records[7].summary, edited);
        assert_eq!(records[7].entry.content, Hash([0xcc; 32]));
        for (i, record) in records.iter().enumerate().filter(|(i, _)| *i != 7) {
            assert_eq!(record, &files[i]);
        }
        assert_eq!(patched.importers().unwrap()[6], vec![7], "the import graph is carried over");
        let units: Vec<u32> = files.iter().map(|f| mini_queries::link::link_unit_of(&f.entry.path)).collect();
        assert_eq!(patched.file_units(), Some(units), "and the files' link units");
    }

    /// Appends leave dead summaries behind; a write that would let them outweigh the
    /// live ones writes the file anew, so it stays proportional to the program.
    #[test]
    fn dead_summaries_are_dropped_before_they_outweigh_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let head = dir.path().join("index").join("k");
        let (header, files) = program(20);
        Index::write(&store, &head, &header, &files).unwrap();
        let live = std::fs::metadata(summaries_path(&head)).unwrap().len();
        let mut largest = 0;
        // Large summaries (about 100 kB each), so that a few appends fill the allowance.
        for round in 0..40u8 {
            let index = Index::read(&head).unwrap();
            let edited = grown(&files[3].summary, 1000, round);
            let mut changed: FxHashMap<usize, Vec<u8>> = FxHashMap::default();
            changed.insert(3, encode_summary(&edited));
            assert!(index.write_patched(&store, &head, &header, &index.files, &changed).unwrap().is_some());
            largest = largest.max(std::fs::metadata(summaries_path(&head)).unwrap().len());
            assert_eq!(*Index::read(&head).unwrap().summary(3).unwrap(), edited);
        }
        let live = live + encode_summary(&grown(&files[3].summary, 1000, 0)).len() as u64;
        assert!(largest <= 2 * live + DEAD_BYTES_ALLOWED + live, "{largest} bytes for {live} live");
        assert!(largest > 2 * live, "appends happened ({largest} bytes)");
    }

    /// A summaries file that is not the one a head was written with — damaged, or
    /// replaced — gives no summaries, never wrong ones.
    #[test]
    fn summaries_that_do_not_match_the_head_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let head = dir.path().join("index").join("k");
        let (header, files) = program(5);
        Index::write(&store, &head, &header, &files).unwrap();
        let log = summaries_path(&head);
        let mut bytes = std::fs::read(&log).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&log, &bytes).unwrap();
        let index = Index::read(&head).unwrap();
        assert!(index.summary(4).is_none() && index.records().is_none(), "a flipped byte");
        assert_eq!(index.summary(0), Some(files[0].summary.clone()), "the others still read");
        // A patch that must copy every summary (dead bytes outweigh live ones) cannot, and
        // says so rather than write an index that lacks one.
        let garbage = vec![0u8; 2 * DEAD_BYTES_ALLOWED as usize];
        std::fs::write(&log, [bytes.as_slice(), &garbage].concat()).unwrap();
        let index = Index::read(&head).unwrap();
        let changed: FxHashMap<usize, Vec<u8>> = [(0, encode_summary(&files[1].summary))].into_iter().collect();
        let before = std::fs::read(&head).unwrap();
        assert!(index.write_patched(&store, &head, &header, &index.files, &changed).unwrap().is_none());
        assert_eq!(std::fs::read(&head).unwrap(), before, "nothing written");
        std::fs::remove_file(&log).unwrap();
        let index = Index::read(&head).unwrap();
        assert_eq!(index.header, header, "the head alone still reads");
        assert!(index.summary(0).is_none() && index.portable().is_none(), "a missing file");
    }

    #[test]
    fn a_damaged_index_reads_as_none() {
        let (header, files) = sample();
        let bytes = Index::encode(&header, &files);
        assert!(Index::decode(&bytes[..bytes.len() - 1]).map_or(true, |i| i.records().is_none()));
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x40;
        assert_eq!(Index::decode(&flipped).err(), Some(IndexError::Damaged));
        let mut late = bytes.clone();
        let at = late.len() - 40;
        late[at] ^= 0x40;
        assert!(Index::decode(&late).expect("the stamps are intact").records().is_none(), "damaged summaries");
        assert_eq!(Index::decode(b"garbage").err(), Some(IndexError::Damaged));
        assert_eq!(Index::decode(&[]).err(), Some(IndexError::Damaged));
        let mut other = bytes.clone();
        other[MAGIC.len()] ^= 1;
        assert_eq!(Index::decode(&other).err(), Some(IndexError::OtherVersion), "another format version");
    }
}
