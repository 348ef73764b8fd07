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
use std::sync::Arc;

use mini_queries::hash::{COMPILER_ID, Hash};
use mini_queries::imports::Import;
use mini_queries::sema::Signature;
use mini_queries::source::{FileSummary, ModulePath, SummaryFunction};
use mini_queries::syntax::ast::Type;

use crate::driver::FileStamp;

const MAGIC: &[u8; 10] = b"mini-index";

/// A file whose modification time is within this window of the recording build's start
/// is "racy": its stamp cannot prove it unchanged, because another write within the
/// same timestamp tick would look the same. Such files are re-hashed.
pub const RACY_WINDOW_NS: i64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// When the recording build started (ns since the epoch).
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
    pub files: Vec<FileRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub path: ModulePath,
    pub stamp: FileStamp,
    pub content: Hash,
    pub interface: Hash,
    pub imports: Vec<Import>,
    pub functions: Vec<SummaryFunction>,
}

impl FileRecord {
    /// Whether the stamp alone proves the file unchanged since the index was recorded.
    pub fn stamp_proves_unchanged(&self, now: Option<FileStamp>, index_started_at_ns: i64) -> bool {
        now == Some(self.stamp) && self.stamp.mtime_ns + RACY_WINDOW_NS < index_started_at_ns
    }

    pub fn summary(&self) -> FileSummary {
        FileSummary::new(Arc::from(self.imports.as_slice()), self.functions.clone())
    }
}

impl Index {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.files.len() * 160));
        w.bytes_raw(MAGIC);
        w.u32(crate::store::FORMAT_VERSION);
        w.str(COMPILER_ID);
        w.i64(self.started_at_ns);
        w.u32(self.functions);
        w.hash(self.link_key);
        w.hash(self.runtime);
        w.hash(self.entry);
        w.u32(self.units.len() as u32);
        for (index, key) in &self.units {
            w.u32(*index);
            w.hash(*key);
        }
        match &self.output {
            Some((path, stamp)) => {
                w.u8(1);
                w.str(&path.to_string_lossy());
                w.stamp(*stamp);
            }
            None => w.u8(0),
        }
        w.u32(self.files.len() as u32);
        for file in &self.files {
            w.str(file.path.as_str());
            w.stamp(file.stamp);
            w.hash(file.content);
            w.hash(file.interface);
            w.u32(file.imports.len() as u32);
            for import in &file.imports {
                w.str(&import.alias);
                match &import.target {
                    Some(target) => {
                        w.u8(1);
                        w.str(target.as_str());
                    }
                    None => w.u8(0),
                }
            }
            w.u32(file.functions.len() as u32);
            for f in &file.functions {
                w.str(&f.name);
                w.u32(f.signature.params.len() as u32);
                for param in &f.signature.params {
                    w.u8(type_code(*param));
                }
                w.u8(type_code(f.signature.ret));
                w.hash(f.hash);
            }
        }
        let checksum = blake3::hash(&w.0);
        w.bytes_raw(checksum.as_bytes());
        w.0
    }

    /// Decodes an index; `None` for anything damaged, foreign or from another compiler.
    pub fn decode(bytes: &[u8]) -> Option<Index> {
        let body_len = bytes.len().checked_sub(32)?;
        if blake3::hash(&bytes[..body_len]).as_bytes() != &bytes[body_len..] {
            return None;
        }
        let mut r = Reader { bytes: &bytes[..body_len], pos: 0 };
        if r.take(MAGIC.len())? != MAGIC || r.u32()? != crate::store::FORMAT_VERSION || r.str()? != COMPILER_ID {
            return None;
        }
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
            let stamp = r.stamp()?;
            let content = r.hash()?;
            let interface = r.hash()?;
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
                    Some(SummaryFunction { name, signature: Signature { params, ret }, hash })
                })
                .collect::<Option<Vec<_>>>()?;
            files.push(FileRecord { path, stamp, content, interface, imports, functions });
        }
        (r.pos == r.bytes.len()).then_some(Index {
            started_at_ns,
            functions,
            link_key,
            runtime,
            entry,
            units,
            output,
            files,
        })
    }
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

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
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
    fn stamp(&mut self) -> Option<FileStamp> {
        Some(FileStamp { len: self.u64()?, mtime_ns: self.i64()?, inode: self.u64()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        Index {
            started_at_ns: 1_700_000_000_000_000_000,
            functions: 2,
            link_key: Hash([7; 32]),
            runtime: Hash([8; 32]),
            entry: Hash([9; 32]),
            units: vec![(3, Hash([1; 32]))],
            output: Some((PathBuf::from("/tmp/x/main"), FileStamp { len: 10, mtime_ns: 5, inode: 9 })),
            files: vec![FileRecord {
                path: ModulePath::new("lib/m.mini").unwrap(),
                stamp: FileStamp { len: 100, mtime_ns: 42, inode: 77 },
                content: Hash([2; 32]),
                interface: Hash([3; 32]),
                imports: vec![Import { alias: "u".into(), target: ModulePath::new("u.mini") }],
                functions: vec![SummaryFunction {
                    name: "f".into(),
                    signature: Signature { params: vec![Some(Type::I64)], ret: Some(Type::Bool) },
                    hash: Hash([4; 32]),
                }],
            }],
        }
    }

    #[test]
    fn the_index_round_trips() {
        let index = sample();
        assert_eq!(Index::decode(&index.encode()), Some(index));
    }

    #[test]
    fn a_damaged_index_reads_as_none() {
        let bytes = sample().encode();
        assert!(Index::decode(&bytes[..bytes.len() - 1]).is_none());
        let mut flipped = bytes.clone();
        flipped[20] ^= 0x40;
        assert!(Index::decode(&flipped).is_none());
        assert!(Index::decode(b"garbage").is_none());
        assert!(Index::decode(&[]).is_none());
    }
}
