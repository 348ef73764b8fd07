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
//! Binary, versioned, and checksummed: a truncated, corrupt, foreign or old index reads
//! as no index, and the build falls back to reading every file.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use mini_queries::base::{COMPILER_ID, Hash, Import, ModulePath, Note, Signature, Span, Type};
use mini_queries::source::{CodegenSettings, FileSummary, Settings, SummaryFunction, SummaryWarning};

use super::store::Blob;
use crate::fs::FileStamp;

const MAGIC: &[u8; 10] = b"mini-index";
/// The index's own format version (the compiler's identity is checked as well).
/// 3: the contracts setting, and each function's contracts hash.
/// 4: stamps with the inode change time; the header names `_start`'s key.
/// 5: each file's warnings (in its summary, and their number with its stamp).
const INDEX_VERSION: u32 = 5;

/// The index as read from disk. The part every build needs — stamps and what was
/// linked — is decoded at once; the summaries only when a build gets past the no-op
/// check.
#[derive(Debug)]
pub struct Index {
    /// What the recording build built, and how.
    pub header: Header,
    /// Every file of the program, in program order.
    pub files: Vec<FileEntry>,
    /// The index as read (mapped, usually).
    bytes: Blob,
    /// Where the summaries' section is in `bytes`, as stored (length, bytes, checksum);
    /// its checksum is verified on first use.
    summaries: std::ops::Range<usize>,
    /// Where each file's summary ends within the section's bytes.
    summary_ends: Vec<u32>,
    checked: OnceLock<Option<std::ops::Range<usize>>>,
    decoded: OnceLock<Option<Vec<Arc<FileSummary>>>>,
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
    /// Keys of the runtime's, the entry wrapper's and `_start`'s objects.
    pub runtime: Hash,
    pub entry: Hash,
    pub start: Hash,
    /// Each link unit's key, by unit index.
    pub units: Vec<(u32, Hash)>,
    /// The executable this program was last linked into, and its stamp right after.
    pub output: Option<(PathBuf, FileStamp)>,
}

impl Index {
    /// Each file's full record; `None` if the summaries are damaged.
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

    /// The encoded summary of file `i` (in `files`' order); `None` if the summaries are
    /// damaged. The section's checksum is verified on first use.
    pub fn summary_bytes(&self, i: usize) -> Option<&[u8]> {
        let range = self
            .checked
            .get_or_init(|| {
                let framed = &self.bytes[self.summaries.clone()];
                let mut r = Reader { bytes: framed, pos: 0 };
                let section = r.section()?;
                let start = self.summaries.start + 8;
                (r.pos == framed.len()).then_some(start..start + section.len())
            })
            .clone()?;
        let section = &self.bytes[range];
        let start = if i == 0 { 0 } else { *self.summary_ends.get(i - 1)? as usize };
        section.get(start..*self.summary_ends.get(i)? as usize)
    }

    /// File `i`'s summary, decoded on its own.
    pub fn summary(&self, i: usize) -> Option<Arc<FileSummary>> {
        match self.decoded.get() {
            Some(decoded) => decoded.as_ref()?.get(i).cloned(),
            None => decode_summary(self.summary_bytes(i)?),
        }
    }

    /// Encodes an index: a checksummed section of stamps, then one of summaries.
    pub fn encode(header: &Header, files: &[FileRecord]) -> Vec<u8> {
        let summaries: Vec<Vec<u8>> = files.iter().map(|f| encode_summary(&f.summary)).collect();
        Index::encode_parts(header, files.iter().map(|f| &f.entry), summaries.iter().map(Vec::as_slice))
    }

    /// Encodes an index from each file's entry and encoded summary (`encode_summary`),
    /// so that a build that changed a few files can copy the others' summaries as they
    /// are.
    pub fn encode_parts<'a>(
        header: &Header,
        entries: impl ExactSizeIterator<Item = &'a FileEntry>,
        summaries: impl Iterator<Item = &'a [u8]>,
    ) -> Vec<u8> {
        let mut out = Writer(Vec::with_capacity(entries.len() * 400));
        let mut ends = Vec::with_capacity(entries.len());
        let entries: Vec<&FileEntry> = entries.collect();
        // The summaries' section is built first, into its own buffer, for the ends.
        let mut b = Writer(Vec::with_capacity(entries.len() * 260));
        for summary in summaries {
            b.bytes_raw(summary);
            ends.push(b.0.len() as u32);
        }
        write_head(&mut out, header, &entries, &ends);
        let start = out.0.len();
        out.u64(b.0.len() as u64);
        out.bytes_raw(&b.0);
        out.bytes_raw(blake3::hash(&out.0[start + 8..]).as_bytes());
        out.0
    }

    /// Encodes an index whose summaries are exactly this one's (a build that only
    /// restamped files): the head, then this index's summaries section as stored,
    /// checksum and all — to be written one after the other.
    pub fn encode_restamped(&self, header: &Header, entries: &[FileEntry]) -> (Vec<u8>, &[u8]) {
        let mut out = Writer(Vec::with_capacity(256 + entries.len() * 130));
        let entries: Vec<&FileEntry> = entries.iter().collect();
        write_head(&mut out, header, &entries, &self.summary_ends);
        (out.0, &self.bytes[self.summaries.clone()])
    }

    /// This index without what only this machine knows — stamps (times, inodes), when
    /// it was recorded, the output's absolute path — for a remote cache to share
    /// (`remote`). Its stamps prove nothing, so whoever uses it re-hashes every file:
    /// a summary is taken only for a file whose content hash matches. The summaries are
    /// copied verbatim. `None` if they are damaged.
    pub fn portable(&self) -> Option<Vec<u8>> {
        // Checks the summaries' checksum, which is copied as it is.
        self.summary_bytes(0)?;
        let header = Header { started_at_ns: 0, output: None, ..self.header.clone() };
        let entries: Vec<FileEntry> =
            self.files.iter().map(|f| FileEntry { stamp: FileStamp::NONE, ..f.clone() }).collect();
        let (head, summaries) = self.encode_restamped(&header, &entries);
        Some([head.as_slice(), summaries].concat())
    }

    /// Reads the index at `path` (mapped: it is only ever replaced, never rewritten).
    pub fn read(path: &std::path::Path) -> Result<Index, IndexError> {
        let file = super::store::open_regular(std::fs::File::options().read(true), path)
            .map_err(|e| IndexError::Unreadable(crate::fs::io_reason(&e)))?;
        // SAFETY: index files are written to a temporary name and renamed into place;
        // a mapped one is never truncated or changed under us.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
            .map_err(|e| IndexError::Unreadable(crate::fs::io_reason(&e)))?;
        let len = map.len();
        Index::from_bytes(Blob::Mapped(map, len))
    }

    /// Decodes an index. The summaries are checked when first used (see `records`).
    pub fn decode(bytes: &[u8]) -> Result<Index, IndexError> {
        Index::from_bytes(Blob::Owned(bytes.to_vec()))
    }

    fn from_bytes(bytes: Blob) -> Result<Index, IndexError> {
        let mut r = Reader { bytes: &bytes, pos: 0 };
        if r.take(MAGIC.len()) != Some(MAGIC) {
            return Err(IndexError::Damaged);
        }
        if r.u32() != Some(INDEX_VERSION) || r.str().as_deref() != Some(COMPILER_ID) {
            return Err(IndexError::OtherVersion);
        }
        let start = r.pos;
        Index::decode_head(bytes, start).ok_or(IndexError::Damaged)
    }

    /// The rest of `from_bytes`, from `start`, after the magic and the versions.
    fn decode_head(bytes: Blob, start: usize) -> Option<Index> {
        let mut r = Reader { bytes: &bytes, pos: start };
        let a = r.section()?;
        let summaries = r.pos..bytes.len();

        let mut r = Reader { bytes: a, pos: 0 };
        let entry_path = r.str()?;
        let codegen = CodegenSettings { opt_level: r.u8()?, target: r.str()?.into(), debug_info: r.u8()? != 0 };
        let settings = Settings { codegen, contracts: r.u8()? != 0 };
        let started_at_ns = r.i64()?;
        let functions = r.u32()?;
        let link_key = r.hash()?;
        let runtime = r.hash()?;
        let entry = r.hash()?;
        let start = r.hash()?;
        let units = (0..r.u32()?).map(|_| Some((r.u32()?, r.hash()?))).collect::<Option<Vec<_>>>()?;
        let output = match r.u8()? {
            0 => None,
            _ => Some((PathBuf::from(r.str()?), r.stamp()?)),
        };
        let file_count = r.u32()? as usize;
        let mut files = Vec::with_capacity(file_count.min(1 << 20));
        let mut summary_ends = Vec::with_capacity(file_count.min(1 << 20));
        for _ in 0..file_count {
            let path = r.path()?;
            files.push(FileEntry {
                path,
                stamp: r.stamp()?,
                content: r.hash()?,
                interface: r.hash()?,
                warnings: r.u32()?,
            });
            let end = r.u32()?;
            if summary_ends.last().is_some_and(|&last| end < last) {
                return None;
            }
            summary_ends.push(end);
        }
        let done = r.pos == r.bytes.len();
        let header =
            Header { entry_path, settings, started_at_ns, functions, link_key, runtime, entry, start, units, output };
        done.then_some(Index {
            header,
            files,
            bytes,
            summaries,
            summary_ends,
            checked: OnceLock::new(),
            decoded: OnceLock::new(),
        })
    }
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

/// The magic, versions and the checksummed section of header and stamps.
fn write_head(out: &mut Writer, header: &Header, entries: &[&FileEntry], summary_ends: &[u32]) {
    let mut a = Writer(Vec::with_capacity(256 + entries.len() * 124));
    a.str(&header.entry_path);
    a.u8(header.settings.codegen.opt_level);
    a.str(&header.settings.codegen.target);
    a.u8(u8::from(header.settings.codegen.debug_info));
    a.u8(u8::from(header.settings.contracts));
    a.i64(header.started_at_ns);
    a.u32(header.functions);
    a.hash(header.link_key);
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
    a.u32(entries.len() as u32);
    for (entry, end) in entries.iter().zip(summary_ends) {
        a.str(entry.path.as_str());
        a.stamp(entry.stamp);
        a.hash(entry.content);
        a.hash(entry.interface);
        a.u32(entry.warnings);
        a.u32(*end);
    }
    out.bytes_raw(MAGIC);
    out.u32(INDEX_VERSION);
    out.str(COMPILER_ID);
    out.u64(a.0.len() as u64);
    out.bytes_raw(&a.0);
    out.bytes_raw(blake3::hash(&a.0).as_bytes());
}

/// One file's summary in the index's encoding.
pub fn encode_summary(summary: &FileSummary) -> Vec<u8> {
    let mut b = Writer(Vec::with_capacity(64 + summary.functions.len() * 96));
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
    b.0
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

struct Writer(Vec<u8>);

impl Writer {
    fn bytes_raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.bytes_raw(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes_raw(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes_raw(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes_raw(s.as_bytes());
    }
    fn hash(&mut self, h: Hash) {
        self.bytes_raw(&h.0);
    }
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

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn hash(&mut self) -> Option<Hash> {
        Some(Hash(self.take(32)?.try_into().ok()?))
    }
    /// A length-prefixed section followed by its blake3 checksum.
    fn section(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let bytes = self.bytes.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        let checksum = self.take(32)?;
        (blake3::hash(bytes).as_bytes() == checksum).then_some(bytes)
    }

    /// A module path written by `Writer::str`. Paths in an index were normalized when
    /// written and the section's checksum held, so they are taken as they are.
    fn path(&mut self) -> Option<ModulePath> {
        let len = self.u32()? as usize;
        let text = std::str::from_utf8(self.take(len)?).ok()?;
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
        assert_eq!(shared.header, Header { started_at_ns: 0, output: None, ..header });
        assert!(shared.files.iter().all(|f| f.stamp == FileStamp::NONE));
        let records = shared.records().expect("summaries");
        assert_eq!(
            records.iter().map(|r| &r.summary).collect::<Vec<_>>(),
            files.iter().map(|r| &r.summary).collect::<Vec<_>>()
        );
        assert!(!shared.files[0].stamp_proves_unchanged(Some(files[0].entry.stamp), i64::MAX), "stamps prove nothing");
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
