//! The persisted file index: what the last successful build of one program, with one
//! set of settings, saw — each file's size, modification time, inode, content hash,
//! imports, interface and function hashes — and what it linked.
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

use mini_queries::hash::{COMPILER_ID, Hash};
use mini_queries::imports::Import;
use mini_queries::sema::Signature;
use mini_queries::source::{CodegenSettings, FileSummary, ModulePath, SummaryFunction};
use mini_queries::syntax::ast::Type;

use crate::driver::FileStamp;

const MAGIC: &[u8; 10] = b"mini-index";

/// A file whose modification time is within this window of the recording build's start
/// is "racy": its stamp cannot prove it unchanged, because another write within the
/// same timestamp tick would look the same. Such files are re-hashed.
pub const RACY_WINDOW_NS: i64 = 1_000_000_000;

/// The index as read from disk. The part every build needs — stamps and what was
/// linked — is decoded at once; the summaries only when a build gets past the no-op
/// check.
#[derive(Debug)]
pub struct Index {
    /// When the recording build started (ns since the epoch).
    pub entry_path: String,
    pub settings: CodegenSettings,
    pub started_at_ns: i64,
    pub functions: u32,
    pub link_key: Hash,
    /// Keys of the runtime's and the entry wrapper's objects.
    pub runtime: Hash,
    pub entry: Hash,
    /// Each link unit's key, by unit index.
    pub units: Vec<(u32, Hash)>,
    /// The executable this program was last linked into, and its stamp right after.
    pub output: Option<(PathBuf, FileStamp)>,
    /// Every file of the program, in program order.
    pub files: Vec<FileEntry>,
    summaries: Vec<u8>,
    decoded: OnceLock<Option<Vec<Arc<FileSummary>>>>,
}

/// What the index says about one file, without its summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub path: ModulePath,
    pub stamp: FileStamp,
    pub content: Hash,
    pub interface: Hash,
}

impl FileEntry {
    /// Whether the stamp alone proves the file unchanged since the index was recorded.
    pub fn stamp_proves_unchanged(&self, now: Option<FileStamp>, index_started_at_ns: i64) -> bool {
        now == Some(self.stamp) && self.stamp.mtime_ns + RACY_WINDOW_NS < index_started_at_ns
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
    pub settings: CodegenSettings,
    pub started_at_ns: i64,
    pub functions: u32,
    pub link_key: Hash,
    pub runtime: Hash,
    pub entry: Hash,
    pub units: Vec<(u32, Hash)>,
    pub output: Option<(PathBuf, FileStamp)>,
}

impl Index {
    /// Each file's full record; `None` if the summaries are damaged.
    pub fn records(&self) -> Option<Vec<FileRecord>> {
        let summaries = self.decoded.get_or_init(|| decode_summaries(&self.summaries, self.files.len())).as_ref()?;
        Some(
            self.files
                .iter()
                .zip(summaries)
                .map(|(entry, summary)| FileRecord { entry: entry.clone(), summary: summary.clone() })
                .collect(),
        )
    }

    /// Encodes an index: a checksummed section of stamps, then one of summaries.
    pub fn encode(header: &Header, files: &[FileRecord]) -> Vec<u8> {
        let mut a = Writer(Vec::with_capacity(256 + files.len() * 120));
        a.str(&header.entry_path);
        a.u8(header.settings.opt_level);
        a.str(&header.settings.target);
        a.u8(u8::from(header.settings.debug_info));
        a.i64(header.started_at_ns);
        a.u32(header.functions);
        a.hash(header.link_key);
        a.hash(header.runtime);
        a.hash(header.entry);
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
        a.u32(files.len() as u32);
        for file in files {
            a.str(file.entry.path.as_str());
            a.stamp(file.entry.stamp);
            a.hash(file.entry.content);
            a.hash(file.entry.interface);
        }

        let mut b = Writer(Vec::with_capacity(files.len() * 200));
        for file in files {
            let summary = &file.summary;
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
            }
        }

        let mut out = Writer(Vec::with_capacity(a.0.len() + b.0.len() + 128));
        out.bytes_raw(MAGIC);
        out.u32(crate::store::FORMAT_VERSION);
        out.str(COMPILER_ID);
        for section in [&a.0, &b.0] {
            out.u64(section.len() as u64);
            out.bytes_raw(section);
            out.bytes_raw(blake3::hash(section).as_bytes());
        }
        out.0
    }

    /// Decodes an index; `None` for anything damaged, foreign or from another compiler.
    /// The summaries are checked when first used (see `records`).
    pub fn decode(bytes: &[u8]) -> Option<Index> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC || r.u32()? != crate::store::FORMAT_VERSION || r.str()? != COMPILER_ID {
            return None;
        }
        let a = r.section()?;
        let summaries = bytes[r.pos..].to_vec();

        let mut r = Reader { bytes: a, pos: 0 };
        let entry_path = r.str()?;
        let settings = CodegenSettings { opt_level: r.u8()?, target: r.str()?.into(), debug_info: r.u8()? != 0 };
        let started_at_ns = r.i64()?;
        let functions = r.u32()?;
        let link_key = r.hash()?;
        let runtime = r.hash()?;
        let entry = r.hash()?;
        let units = (0..r.u32()?).map(|_| Some((r.u32()?, r.hash()?))).collect::<Option<Vec<_>>>()?;
        let output = match r.u8()? {
            0 => None,
            _ => Some((PathBuf::from(r.str()?), r.stamp()?)),
        };
        let file_count = r.u32()? as usize;
        let mut files = Vec::with_capacity(file_count.min(1 << 20));
        for _ in 0..file_count {
            let path = ModulePath::new(&r.str()?)?;
            files.push(FileEntry { path, stamp: r.stamp()?, content: r.hash()?, interface: r.hash()? });
        }
        (r.pos == r.bytes.len()).then_some(Index {
            entry_path,
            settings,
            started_at_ns,
            functions,
            link_key,
            runtime,
            entry,
            units,
            output,
            files,
            summaries,
            decoded: OnceLock::new(),
        })
    }
}

fn decode_summaries(bytes: &[u8], files: usize) -> Option<Vec<Arc<FileSummary>>> {
    let mut r = Reader { bytes, pos: 0 };
    let section = r.section()?;
    let mut r = Reader { bytes: section, pos: 0 };
    let mut summaries = Vec::with_capacity(files);
    for _ in 0..files {
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
                Some(SummaryFunction { name, signature: Signature { params, ret }, hash, zir })
            })
            .collect::<Option<Vec<_>>>()?;
        summaries.push(Arc::new(FileSummary::new(imports.into(), functions)));
    }
    (r.pos == r.bytes.len()).then_some(summaries)
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
        self.u64(s.inode);
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

    fn stamp(&mut self) -> Option<FileStamp> {
        Some(FileStamp { len: self.u64()?, mtime_ns: self.i64()?, inode: self.u64()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Vec<FileRecord>) {
        let header = Header {
            entry_path: "main.mini".into(),
            settings: CodegenSettings::host(),
            started_at_ns: 1_700_000_000_000_000_000,
            functions: 1,
            link_key: Hash([7; 32]),
            runtime: Hash([8; 32]),
            entry: Hash([9; 32]),
            units: vec![(3, Hash([1; 32]))],
            output: Some((PathBuf::from("/tmp/x/main"), FileStamp { len: 10, mtime_ns: 5, inode: 9 })),
        };
        let files = vec![FileRecord {
            entry: FileEntry {
                path: ModulePath::new("lib/m.mini").unwrap(),
                stamp: FileStamp { len: 100, mtime_ns: 42, inode: 77 },
                content: Hash([2; 32]),
                interface: Hash([3; 32]),
            },
            summary: Arc::new(FileSummary::new(
                vec![Import { alias: "u".into(), target: ModulePath::new("u.mini") }].into(),
                vec![SummaryFunction {
                    name: "f".into(),
                    signature: Signature { params: vec![Some(Type::I64)], ret: Some(Type::Bool) },
                    hash: Hash([4; 32]),
                    zir: Hash([5; 32]),
                }],
            )),
        }];
        (header, files)
    }

    #[test]
    fn the_index_round_trips() {
        let (header, files) = sample();
        let index = Index::decode(&Index::encode(&header, &files)).expect("decodes");
        assert_eq!(index.units, header.units);
        assert_eq!(index.output, header.output);
        assert_eq!(index.records(), Some(files));
    }

    #[test]
    fn a_damaged_index_reads_as_none() {
        let (header, files) = sample();
        let bytes = Index::encode(&header, &files);
        assert!(Index::decode(&bytes[..bytes.len() - 1]).is_none_or(|i| i.records().is_none()));
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x40;
        assert!(Index::decode(&flipped).is_none());
        let mut late = bytes.clone();
        let at = late.len() - 40;
        late[at] ^= 0x40;
        assert!(Index::decode(&late).expect("the stamps are intact").records().is_none(), "damaged summaries");
        assert!(Index::decode(b"garbage").is_none());
        assert!(Index::decode(&[]).is_none());
    }
}
